//! Pod volumes and volume mounts.

use crate::errors::{forbidden, invalid, not_found, required, FieldError, Path};
use crate::names::{dns1123_label, dns1123_subdomain};
use crate::value::{arr, i, sz};
use serde_json::Value;
use std::collections::HashSet;

/// Validates `spec.volumes` and returns the set of declared names for mount checks.
pub fn validate_volumes(spec: &Value, p: &Path, errs: &mut Vec<FieldError>) -> HashSet<String> {
    let mut names = HashSet::new();
    for (idx, vol) in arr(spec, "volumes").iter().enumerate() {
        let vp = p.index(idx);
        let name = sz(vol, "name");
        if name.is_empty() {
            errs.push(required(&vp.child("name"), ""));
        } else {
            for m in dns1123_label(name) {
                errs.push(invalid(&vp.child("name"), name, m));
            }
            if !names.insert(name.to_string()) {
                errs.push(crate::errors::duplicate(&vp.child("name"), name));
            }
        }
        let sources: Vec<&String> = vol
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, v)| k.as_str() != "name" && !v.is_null())
                    .map(|(k, _)| k)
                    .collect()
            })
            .unwrap_or_default();
        if sources.is_empty() {
            errs.push(required(&vp, "must specify a volume type"));
        }
        for extra in sources.iter().skip(1) {
            errs.push(forbidden(
                &vp.child(extra),
                "may not specify more than 1 volume type",
            ));
        }
        validate_source(vol, &vp, errs);
    }
    names
}

fn validate_mode(v: &Value, key: &str, p: &Path, errs: &mut Vec<FieldError>) {
    if let Some(mode) = i(v, key) {
        if !(0..=0o777).contains(&mode) {
            errs.push(invalid(
                &p.child(key),
                mode,
                "must be a number between 0 and 0777 (octal), both inclusive",
            ));
        }
    }
}

fn validate_items(src: &Value, p: &Path, errs: &mut Vec<FieldError>) {
    for (idx, item) in arr(src, "items").iter().enumerate() {
        let ip = p.child("items").index(idx);
        let key = sz(item, "key");
        if key.is_empty() {
            errs.push(required(&ip.child("key"), ""));
        }
        let path = sz(item, "path");
        if path.is_empty() {
            errs.push(required(&ip.child("path"), ""));
        } else {
            validate_local_path(path, &ip.child("path"), errs);
        }
        validate_mode(item, "mode", &ip, errs);
    }
}

fn validate_local_path(path: &str, p: &Path, errs: &mut Vec<FieldError>) {
    if path.starts_with('/') {
        errs.push(invalid(p, path, "must be a relative path"));
    }
    if path.split('/').any(|seg| seg == "..") {
        errs.push(invalid(p, path, "must not contain '..'"));
    }
}

fn validate_source(vol: &Value, vp: &Path, errs: &mut Vec<FieldError>) {
    if let Some(cm) = vol.get("configMap").filter(|v| v.is_object()) {
        let p = vp.child("configMap");
        let name = sz(cm, "name");
        if !name.is_empty() {
            for m in dns1123_subdomain(name) {
                errs.push(invalid(&p.child("name"), name, m));
            }
        }
        validate_mode(cm, "defaultMode", &p, errs);
        validate_items(cm, &p, errs);
    }
    if let Some(sec) = vol.get("secret").filter(|v| v.is_object()) {
        let p = vp.child("secret");
        let name = sz(sec, "secretName");
        if !name.is_empty() {
            for m in dns1123_subdomain(name) {
                errs.push(invalid(&p.child("secretName"), name, m));
            }
        }
        validate_mode(sec, "defaultMode", &p, errs);
        validate_items(sec, &p, errs);
    }
    if let Some(hp) = vol.get("hostPath").filter(|v| v.is_object()) {
        let p = vp.child("hostPath");
        if sz(hp, "path").is_empty() {
            errs.push(required(&p.child("path"), ""));
        }
        let ty = sz(hp, "type");
        let valid = [
            "",
            "DirectoryOrCreate",
            "Directory",
            "FileOrCreate",
            "File",
            "Socket",
            "CharDevice",
            "BlockDevice",
        ];
        if !valid.contains(&ty) {
            errs.push(crate::errors::not_supported(
                &p.child("type"),
                ty,
                &valid[1..],
            ));
        }
    }
    if let Some(pvc) = vol.get("persistentVolumeClaim").filter(|v| v.is_object()) {
        if sz(pvc, "claimName").is_empty() {
            errs.push(required(
                &vp.child("persistentVolumeClaim").child("claimName"),
                "",
            ));
        }
    }
    if let Some(ed) = vol.get("emptyDir").filter(|v| v.is_object()) {
        let medium = sz(ed, "medium");
        if !matches!(medium, "" | "Memory" | "HugePages") && !medium.starts_with("HugePages-") {
            errs.push(crate::errors::not_supported(
                &vp.child("emptyDir").child("medium"),
                medium,
                &["", "Memory", "HugePages"],
            ));
        }
    }
    if let Some(d) = vol.get("downwardAPI").filter(|v| v.is_object()) {
        validate_mode(d, "defaultMode", &vp.child("downwardAPI"), errs);
    }
    if let Some(pr) = vol.get("projected").filter(|v| v.is_object()) {
        validate_mode(pr, "defaultMode", &vp.child("projected"), errs);
    }
}

pub fn validate_volume_mounts(
    c: &Value,
    p: &Path,
    volumes: &HashSet<String>,
    errs: &mut Vec<FieldError>,
) {
    let mut paths = HashSet::new();
    for (idx, m) in arr(c, "volumeMounts").iter().enumerate() {
        let mp = p.index(idx);
        let name = sz(m, "name");
        if name.is_empty() {
            errs.push(required(&mp.child("name"), ""));
        } else if !volumes.contains(name) {
            errs.push(not_found(&mp.child("name"), name));
        }
        let mount_path = sz(m, "mountPath");
        if mount_path.is_empty() {
            errs.push(required(&mp.child("mountPath"), ""));
        } else if !paths.insert(mount_path.to_string()) {
            errs.push(invalid(
                &mp.child("mountPath"),
                mount_path,
                "must be unique",
            ));
        }
        let sub = sz(m, "subPath");
        if !sub.is_empty() {
            validate_local_path(sub, &mp.child("subPath"), errs);
        }
    }
}
