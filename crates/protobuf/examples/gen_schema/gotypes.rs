//! Reads the Go type declarations next to a `generated.proto`. The proto file
//! alone cannot say how a field appears in JSON: the Go struct tag carries the
//! JSON name, `omitempty` and `inline`, and the Go type says whether the field
//! is a pointer (present-or-absent) or a plain value (zero means "unset").

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::Path;

#[derive(Debug, Clone)]
pub struct GoField {
    pub json_name: String,
    pub omitempty: bool,
    pub inline: bool,
    pub pointer: bool,
}

#[derive(Debug, Default)]
pub struct GoPackage {
    /// (struct name, protobuf field number) → field facts.
    pub fields: HashMap<(String, u32), GoField>,
    /// Named slice types (`type Verbs []string`): protobuf wraps them in a
    /// message with one repeated `items` field but JSON shows the bare array.
    pub slice_types: HashSet<String>,
    /// Group and version from register.go, plus every `&Kind{}` registered.
    pub group_version: Option<(String, String)>,
    pub kinds: Vec<String>,
}

fn tag_value<'a>(tag: &'a str, key: &str) -> Option<&'a str> {
    let needle = format!("{key}:\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')?;
    Some(&tag[start..start + end])
}

fn parse_field_line(line: &str) -> Option<(u32, GoField)> {
    let (decl, tag) = line.split_once('`')?;
    let pb = tag_value(tag, "protobuf")?;
    let number: u32 = pb.split(',').nth(1)?.parse().ok()?;
    let decl: Vec<&str> = decl.split_whitespace().collect();
    let go_type = match decl.as_slice() {
        [_name, ty] => *ty,
        [ty] => *ty,
        _ => return None,
    };
    let json = tag_value(tag, "json").unwrap_or("");
    let mut parts = json.split(',');
    let json_name = parts.next().unwrap_or("").to_string();
    let opts: Vec<&str> = parts.collect();
    let inline = json_name.is_empty() && opts.contains(&"inline");
    Some((
        number,
        GoField {
            json_name,
            omitempty: opts.contains(&"omitempty"),
            inline,
            pointer: go_type.starts_with('*'),
        },
    ))
}

fn scan_source(src: &str, pkg: &mut GoPackage) {
    let mut current: Option<String> = None;
    for line in src.lines() {
        if let Some(rest) = line.strip_prefix("type ") {
            let mut it = rest.split_whitespace();
            let name = it.next().unwrap_or("").to_string();
            let kind = it.next().unwrap_or("");
            if kind == "struct" && rest.trim_end().ends_with('{') {
                current = Some(name);
            } else if kind.starts_with("[]") {
                pkg.slice_types.insert(name);
            }
            continue;
        }
        if line == "}" {
            current = None;
            continue;
        }
        if let Some(st) = &current {
            if let Some((num, f)) = parse_field_line(line.trim()) {
                pkg.fields.insert((st.clone(), num), f);
            }
        }
    }
}

fn scan_register(src: &str, pkg: &mut GoPackage) {
    let group = src
        .lines()
        .find_map(|l| l.trim().strip_prefix("const GroupName = "))
        .map(|g| g.trim().trim_matches('"').to_string());
    let version = src.lines().find_map(|l| {
        if !l.contains("SchemeGroupVersion = ") {
            return None;
        }
        let start = l.find("Version:")? + "Version:".len();
        let v = l[start..].trim_start().strip_prefix('"')?;
        Some(v[..v.find('"')?].to_string())
    });
    if let (Some(g), Some(v)) = (group, version) {
        pkg.group_version = Some((g, v));
    }
    let mut rest = src;
    while let Some(i) = rest.find('&') {
        rest = &rest[i + 1..];
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !ident.is_empty() && rest[ident.len()..].starts_with("{}") {
            pkg.kinds.push(ident);
        }
    }
}

pub fn load(dir: &Path) -> std::io::Result<GoPackage> {
    let mut pkg = GoPackage::default();
    let mut names: Vec<_> = fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| {
            n.ends_with(".go")
                && !n.ends_with("_test.go")
                && !n.starts_with("zz_generated")
                && !n.ends_with(".pb.go")
        })
        .collect();
    names.sort();
    for n in names {
        let src = fs::read_to_string(dir.join(&n))?;
        if n == "register.go" {
            scan_register(&src, &mut pkg);
        }
        scan_source(&src, &mut pkg);
    }
    Ok(pkg)
}
