#!/usr/bin/env python3
"""Packs, verifies and unpacks single-layer OCI image layout tarballs.

    oci.py pack --rootfs DIR --out FILE.tar --ref REF [--ref REF...]
                [--entrypoint JSON] [--cmd JSON] [--env K=V...]
                [--port 8080/tcp...] [--workdir DIR]
    oci.py verify FILE.tar --ref REF [--ref REF...]
    oci.py extract FILE.tar DEST

Output is deterministic: fixed timestamps, root ownership, sorted entries,
normalised modes and gzip headers without names or times, so the same inputs
always give the same digests. Python standard library only, so it runs on a
machine without network access.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile

# 2024-01-01T00:00:00Z; any fixed value works, zero upsets some tools.
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1704067200"))
CREATED = "2024-01-01T00:00:00Z"

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
ANN_REF = "org.opencontainers.image.ref.name"
ANN_CONTAINERD = "io.containerd.image.name"


class Invalid(Exception):
    """The tarball does not hold a well-formed image."""


def canonical_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def clean(name):
    """Drops a leading "./" so names compare the same however a tar spells them."""
    return name[2:] if name.startswith("./") else name


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def split_ref(ref):
    """Returns (repository, tag) of a full reference such as host/repo:tag."""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon <= slash or "@" in ref:
        raise ValueError(f"reference {ref!r} needs an explicit :tag")
    return ref[:colon], ref[colon + 1:]


def fixed_info(name, kind, mode, size=0, target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = target
    info.mtime = EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def layer_from_rootfs(root):
    """Tars ROOT with normalised metadata; returns the uncompressed bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, root)
            entries = [(d, True) for d in dirnames] + [(f, False) for f in filenames]
            for name, _ in sorted(entries):
                path = os.path.join(dirpath, name)
                arc = name if rel_dir == "." else f"{rel_dir}/{name}"
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    tar.addfile(fixed_info(arc, tarfile.SYMTYPE, 0o777, target=os.readlink(path)))
                elif stat.S_ISDIR(st.st_mode):
                    # Keep the sticky bit so /tmp stays world-writable and safe.
                    mode = 0o1777 if st.st_mode & stat.S_ISVTX else 0o755
                    tar.addfile(fixed_info(arc, tarfile.DIRTYPE, mode))
                elif stat.S_ISREG(st.st_mode):
                    mode = 0o755 if st.st_mode & 0o111 else 0o644
                    with open(path, "rb") as f:
                        data = f.read()
                    tar.addfile(fixed_info(arc, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
                else:
                    raise ValueError(f"unsupported file type at {path}")
    return buf.getvalue()


def gzip_bytes(data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(data)
    return buf.getvalue()


def pack(args):
    layer_tar = layer_from_rootfs(args.rootfs)
    layer_gz = gzip_bytes(layer_tar)
    container_config = {
        "Env": args.env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "WorkingDir": args.workdir,
    }
    if args.entrypoint:
        container_config["Entrypoint"] = json.loads(args.entrypoint)
    if args.cmd:
        container_config["Cmd"] = json.loads(args.cmd)
    if args.port:
        container_config["ExposedPorts"] = {p: {} for p in args.port}
    config = {
        "created": CREATED,
        "architecture": "amd64",
        "os": "linux",
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer_tar)]},
        "history": [{"created": CREATED, "created_by": "rkube images/build.sh"}],
    }
    config_bytes = canonical_json(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": sha256(config_bytes), "size": len(config_bytes)},
        "layers": [{"mediaType": MT_LAYER_GZ, "digest": sha256(layer_gz), "size": len(layer_gz)}],
    }
    manifest_bytes = canonical_json(manifest)
    index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [
            {
                "mediaType": MT_MANIFEST,
                "digest": sha256(manifest_bytes),
                "size": len(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                # containerd names the image after its own annotation; the
                # OCI one holds only the tag, as containerd's exporter writes it.
                "annotations": {ANN_CONTAINERD: ref, ANN_REF: split_ref(ref)[1]},
            }
            for ref in args.ref
        ],
    }
    files = [
        ("oci-layout", canonical_json({"imageLayoutVersion": "1.0.0"})),
        ("index.json", canonical_json(index)),
    ]
    blobs = {sha256(b): b for b in (layer_gz, config_bytes, manifest_bytes)}
    tmp = args.out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(fixed_info(d, tarfile.DIRTYPE, 0o755))
        for digest in sorted(blobs):
            data = blobs[digest]
            name = "blobs/sha256/" + digest.split(":", 1)[1]
            tar.addfile(fixed_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
        for name, data in files:
            tar.addfile(fixed_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    os.replace(tmp, args.out)
    print(f"{args.out}: manifest {sha256(manifest_bytes)} refs {' '.join(args.ref)}")


class Image:
    """A loaded image tarball whose blobs have been checked against digests."""

    def __init__(self, path):
        self.path = path
        with tarfile.open(path) as tar:
            self.files = {
                clean(m.name): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()
            }

    def json_file(self, name):
        if name not in self.files:
            raise Invalid(f"missing {name}")
        try:
            return json.loads(self.files[name])
        except ValueError as e:
            raise Invalid(f"{name} is not JSON: {e}") from e

    def blob(self, desc, what):
        digest, size = desc.get("digest", ""), desc.get("size")
        algo, _, hexpart = digest.partition(":")
        if algo != "sha256" or len(hexpart) != 64:
            raise Invalid(f"{what}: bad digest {digest!r}")
        name = "blobs/sha256/" + hexpart
        if name not in self.files:
            raise Invalid(f"{what}: blob {name} is missing")
        data = self.files[name]
        if sha256(data) != digest:
            raise Invalid(f"{what}: blob {digest} has content digest {sha256(data)}")
        if size != len(data):
            raise Invalid(f"{what}: descriptor size {size} but blob {digest} is {len(data)} bytes")
        return data

    def manifests(self):
        """Yields (descriptor, manifest, config, [uncompressed layer tars])."""
        for i, desc in enumerate(self.json_file("index.json").get("manifests") or []):
            manifest = json.loads(self.blob(desc, f"index.json manifests[{i}]"))
            config = json.loads(self.blob(manifest.get("config", {}), "manifest config"))
            layers = []
            for j, ldesc in enumerate(manifest.get("layers") or []):
                raw = self.blob(ldesc, f"manifest layers[{j}]")
                if ldesc.get("mediaType") == MT_LAYER_GZ:
                    raw = gzip.decompress(raw)
                elif ldesc.get("mediaType") != MT_LAYER_TAR:
                    raise Invalid(f"layers[{j}]: unsupported media type {ldesc.get('mediaType')!r}")
                layers.append(raw)
            yield desc, manifest, config, layers


def is_dynamic_elf(data):
    """True if DATA is a 64-bit ELF with a PT_INTERP segment (needs ld.so)."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff = int.from_bytes(data[0x20:0x28], "little")
    phentsize = int.from_bytes(data[0x36:0x38], "little")
    phnum = int.from_bytes(data[0x38:0x3A], "little")
    for k in range(phnum):
        off = phoff + k * phentsize
        if int.from_bytes(data[off:off + 4], "little") == 3:  # PT_INTERP
            return True
    return False


def check_manifest(desc, manifest, config, layers):
    if desc.get("mediaType") != MT_MANIFEST or manifest.get("mediaType") != MT_MANIFEST:
        raise Invalid("manifest media type is not " + MT_MANIFEST)
    if manifest.get("schemaVersion") != 2:
        raise Invalid("manifest schemaVersion is not 2")
    if manifest["config"].get("mediaType") != MT_CONFIG:
        raise Invalid("config media type is not " + MT_CONFIG)
    if (config.get("architecture"), config.get("os")) != ("amd64", "linux"):
        raise Invalid(f"config platform is {config.get('os')}/{config.get('architecture')}")
    rootfs = config.get("rootfs") or {}
    diff_ids = rootfs.get("diff_ids") or []
    if rootfs.get("type") != "layers" or len(diff_ids) != len(layers) or not layers:
        raise Invalid(f"rootfs.diff_ids has {len(diff_ids)} entries for {len(layers)} layers")
    for j, (want, layer) in enumerate(zip(diff_ids, layers)):
        if sha256(layer) != want:
            raise Invalid(f"diff_ids[{j}] is {want} but the layer's tar is {sha256(layer)}")
    cc = config.get("config") or {}
    argv = (cc.get("Entrypoint") or []) + (cc.get("Cmd") or [])
    if not argv:
        raise Invalid("config has neither Entrypoint nor Cmd")
    if not any(e.startswith("PATH=") for e in cc.get("Env") or []):
        raise Invalid("config Env has no PATH")
    if not cc.get("WorkingDir", "").startswith("/"):
        raise Invalid("config WorkingDir is not absolute")
    names = {}
    for layer in layers:
        with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
            for m in tar.getmembers():
                name = "/" + clean(m.name)
                names[name] = m
                if m.isfile() and is_dynamic_elf(tar.extractfile(m).read(4096)):
                    raise Invalid(f"{name} is dynamically linked")
    prog = argv[0]
    candidates = [prog] if prog.startswith("/") else [f"/bin/{prog}", f"/usr/bin/{prog}"]
    if not any(c in names for c in candidates):
        raise Invalid(f"program {prog} is not in the image")
    return cc


def verify(args):
    img = Image(args.tarball)
    layout = img.json_file("oci-layout")
    if layout.get("imageLayoutVersion") != "1.0.0":
        raise Invalid(f"oci-layout version {layout.get('imageLayoutVersion')!r}")
    index = img.json_file("index.json")
    if index.get("schemaVersion") != 2:
        raise Invalid("index.json schemaVersion is not 2")
    seen = []
    for desc, manifest, config, layers in img.manifests():
        ann = desc.get("annotations") or {}
        full = ann.get(ANN_CONTAINERD, "")
        try:
            tag = split_ref(full)[1]
        except ValueError as e:
            raise Invalid(f"{ANN_CONTAINERD}: {e}") from e
        if ann.get(ANN_REF) != tag:
            raise Invalid(f"{ANN_REF} is {ann.get(ANN_REF)!r}, expected the tag {tag!r} of {full}")
        if (desc.get("platform") or {}).get("architecture") != "amd64":
            raise Invalid(f"{full}: index platform is not amd64")
        cc = check_manifest(desc, manifest, config, layers)
        seen.append(full)
        print(f"ok {full} {desc['digest']} entrypoint={cc.get('Entrypoint')} cmd={cc.get('Cmd')}")
    if sorted(seen) != sorted(args.ref):
        raise Invalid(f"image names are {sorted(seen)}, expected {sorted(args.ref)}")


def extract(args):
    """Unpacks the first image's layers into DEST (no whiteout handling: ours have none)."""
    img = Image(args.tarball)
    for _, _, _, layers in img.manifests():
        for layer in layers:
            with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
                for m in tar.getmembers():
                    parts = m.name.split("/")
                    if m.name.startswith("/") or ".." in parts:
                        raise Invalid(f"unsafe path in layer: {m.name}")
                # "tar" keeps modes and links but still refuses absolute names.
                opts = {"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}
                tar.extractall(args.dest, **opts)
        return
    raise Invalid("no manifests")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", required=True)
    pk = sub.add_parser("pack")
    pk.add_argument("--rootfs", required=True)
    pk.add_argument("--out", required=True)
    pk.add_argument("--ref", action="append", required=True)
    pk.add_argument("--entrypoint")
    pk.add_argument("--cmd")
    pk.add_argument("--env", action="append")
    pk.add_argument("--port", action="append")
    pk.add_argument("--workdir", default="/")
    vf = sub.add_parser("verify")
    vf.add_argument("tarball")
    vf.add_argument("--ref", action="append", required=True)
    ex = sub.add_parser("extract")
    ex.add_argument("tarball")
    ex.add_argument("dest")
    args = p.parse_args()
    try:
        {"pack": pack, "verify": verify, "extract": extract}[args.action](args)
    except (Invalid, ValueError, OSError, tarfile.TarError, KeyError) as e:
        print(f"oci.py {args.action}: {getattr(args, 'tarball', getattr(args, 'out', ''))}: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
