#!/usr/bin/env python3
"""Regenerates src/field_ext_table.rs from upstream Go API types.

Reads the `// +marker` comments and struct tags of the Go types in k8s.io/api and
k8s.io/apimachinery (at the tag matching the Kubernetes version we emulate) and writes
the per-field OpenAPI extension table: patch strategy, patch merge key, list type,
list-map keys and map type. k8s-openapi's schemars output lacks these, so the OpenAPI
builder overlays them.

Usage: gen_field_ext.py <k8s.io/api git dir> <k8s.io/apimachinery git dir> <tag> > src/field_ext_table.rs
"""
import re
import subprocess
import sys

STABLE = re.compile(r"^[a-z]+/v[0-9]+/[a-z_]+\.go$")
SKIP = ("generated", "zz_", "_test.go", "register.go", "doc.go", "conversion.go", "helper")

TYPE_RE = re.compile(r"^type (\w+) struct \{")
FIELD_RE = re.compile(r"^\s+(?:(\w+)\s+)?([\w\.\*\[\]]+)\s+`([^`]*)`")
MARK_RE = re.compile(r"^\s*//\s*\+(\w+)=(.*)$")


def git_files(repo, tag, prefix_filter):
    out = subprocess.run(["git", "-C", repo, "ls-tree", "-r", "--name-only", tag],
                         capture_output=True, text=True, check=True).stdout.split()
    return [p for p in out if prefix_filter(p) and not any(s in p for s in SKIP)]


def git_show(repo, tag, path):
    return subprocess.run(["git", "-C", repo, "show", f"{tag}:{path}"],
                          capture_output=True, text=True, check=True).stdout


def tag_value(tags, key):
    m = re.search(key + r':"([^"]*)"', tags)
    return m.group(1) if m else None


def parse(src, prefix, fields, struct_ext, inlines):
    markers = []          # markers of the pending comment block
    current = None
    for line in src.splitlines():
        if current is None:
            m = TYPE_RE.match(line)
            if m:
                current = prefix + "." + m.group(1)
                for k, v in markers:
                    if k == "structType" and v.strip() == "atomic":
                        struct_ext[current] = "atomic"
                    if k == "mapType" and v.strip() == "atomic":
                        struct_ext[current] = "atomic"
                markers = []
                continue
            mm = MARK_RE.match(line)
            if mm:
                markers.append((mm.group(1), mm.group(2).strip()))
            elif not line.strip().startswith("//"):
                markers = []
            continue
        if line.startswith("}"):
            current = None
            markers = []
            continue
        mm = MARK_RE.match(line)
        if mm:
            markers.append((mm.group(1), mm.group(2).strip()))
            continue
        if line.strip().startswith("//") or not line.strip():
            continue
        fm = FIELD_RE.match(line)
        if not fm:
            markers = []
            continue
        name, typ, tags = fm.groups()
        json_tag = tag_value(tags, "json")
        if json_tag is None:
            markers = []
            continue
        json_name = json_tag.split(",")[0]
        if json_name == "-":
            markers = []
            continue
        if json_name == "" and "inline" in json_tag:
            inner = (name or typ).lstrip("*").split(".")[-1]
            # embedded type of the same package (TypeMeta lives in meta and is harmless)
            inlines.setdefault(current, []).append(prefix + "." + inner)
            markers = []
            continue
        ext = {}
        strategy = tag_value(tags, "patchStrategy")
        merge_key = tag_value(tags, "patchMergeKey")
        for k, v in markers:
            if k == "patchStrategy" and not strategy:
                strategy = v
            elif k == "patchMergeKey" and not merge_key:
                merge_key = v
            elif k == "listType":
                ext["list_type"] = v
            elif k == "listMapKey":
                ext.setdefault("list_map_keys", []).append(v)
            elif k in ("mapType", "structType"):
                ext["map_type"] = v
        if strategy:
            ext["patch_strategy"] = strategy
        if merge_key:
            ext["patch_merge_key"] = merge_key
        if ext:
            fields[(current, json_name)] = ext
        markers = []


def rs_opt(v):
    return "None" if v is None else f'Some("{v}")'


def main():
    api, apimachinery, tag = sys.argv[1:4]
    fields, struct_ext, inlines = {}, {}, {}
    for path in git_files(api, tag, lambda p: STABLE.match(p) is not None):
        group, version, _ = path.split("/")
        parse(git_show(api, tag, path), f"io.k8s.api.{group}.{version}", fields, struct_ext, inlines)
    for path in git_files(apimachinery, tag, lambda p: p.startswith("pkg/apis/meta/v1/")
                          and p.count("/") == 4 and p.endswith(".go")):
        parse(git_show(apimachinery, tag, path), "io.k8s.apimachinery.pkg.apis.meta.v1",
              fields, struct_ext, inlines)
    # Inline embedding flattens the embedded struct's fields into the outer definition.
    changed = True
    while changed:
        changed = False
        for outer, inners in inlines.items():
            for inner in inners:
                for (d, f), ext in list(fields.items()):
                    if d == inner and (outer, f) not in fields:
                        fields[(outer, f)] = ext
                        changed = True
    print("// @generated by tools/gen_field_ext.py from k8s.io/api and k8s.io/apimachinery", tag)
    print("// Do not edit by hand; rerun the generator (see its docstring).")
    print()
    print("use crate::field_ext::FieldExt;")
    print()
    print("/// Per-field OpenAPI extensions, sorted by (definition, field) for binary search.")
    print("pub(crate) static FIELD_EXTENSIONS: &[FieldExt] = &[")
    for (d, f) in sorted(fields):
        e = fields[(d, f)]
        keys = ", ".join(f'"{k}"' for k in e.get("list_map_keys", []))
        print(f'    FieldExt {{ definition: "{d}", field: "{f}", '
              f'patch_strategy: {rs_opt(e.get("patch_strategy"))}, '
              f'patch_merge_key: {rs_opt(e.get("patch_merge_key"))}, '
              f'list_type: {rs_opt(e.get("list_type"))}, list_map_keys: &[{keys}], '
              f'map_type: {rs_opt(e.get("map_type"))} }},')
    print("];")
    print()
    print("/// Definitions marked `+structType=atomic`, sorted.")
    print("pub(crate) static ATOMIC_STRUCTS: &[&str] = &[")
    for d in sorted(struct_ext):
        print(f'    "{d}",')
    print("];")


if __name__ == "__main__":
    main()
