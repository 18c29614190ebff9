//! Host set-up and clean-up around the runtime: forwarding and br_netfilter
//! for pod networking, and removal of what containerd and CNI leave behind
//! (the bridge, mounts under the data dir, pod cgroups).

use std::path::{Path, PathBuf};
use std::process::Command;

use tracing::{debug, warn};

use crate::error::{CriError, Result};

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
const BRIDGE_SYSCTLS: &str = "/proc/sys/net/bridge";

/// Writes `value` to a sysctl file unless it already holds it.
fn set_sysctl(path: &Path, value: &str) -> std::io::Result<()> {
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == value) {
        return Ok(());
    }
    std::fs::write(path, value)
}

/// Turns on IPv4 forwarding and makes bridged traffic pass iptables/nftables,
/// which service NAT between pods on one bridge needs (the reply is bridged
/// and must be un-NATed). Failures (no module, read-only /proc) are warnings:
/// pods still run, only some traffic paths break.
pub fn enable_pod_networking() -> Vec<String> {
    let mut warnings = Vec::new();
    if let Err(e) = set_sysctl(Path::new(IP_FORWARD), "1") {
        warnings.push(format!("cannot enable net.ipv4.ip_forward: {e}"));
    }
    if !Path::new(BRIDGE_SYSCTLS).exists() {
        match Command::new("modprobe").arg("br_netfilter").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => warnings.push(format!(
                "modprobe br_netfilter: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => warnings.push(format!("cannot run modprobe br_netfilter: {e}")),
        }
    }
    for name in ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"] {
        let path = Path::new(BRIDGE_SYSCTLS).join(name);
        if let Err(e) = set_sysctl(&path, "1") {
            warnings.push(format!("cannot enable net.bridge.{name}: {e}"));
        }
    }
    for w in &warnings {
        warn!("{w}");
    }
    warnings
}

/// Deletes a network interface; Ok(false) when it does not exist.
pub fn delete_link(name: &str) -> Result<bool> {
    if !Path::new("/sys/class/net").join(name).exists() {
        return Ok(false);
    }
    let out = Command::new("ip")
        .args(["link", "del", name])
        .output()
        .map_err(|e| CriError::io("cannot run", "ip", e))?;
    if out.status.success() {
        Ok(true)
    } else {
        Err(CriError::Command {
            command: format!("ip link del {name}"),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Undoes the octal escapes (`\040` for a space) of /proc/self/mountinfo.
fn unescape_mount_path(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(d)) = (bytes[i], octal) {
            let value = d.iter().fold(0u16, |acc, b| acc * 8 + u16::from(b - b'0'));
            if let Ok(v) = u8::try_from(value) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points (field 5) and filesystem types from mountinfo text.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<(PathBuf, String)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            let mount_point = fields.get(4)?;
            let fstype = fields.get(sep + 1)?;
            Some((
                PathBuf::from(unescape_mount_path(mount_point)),
                fstype.to_string(),
            ))
        })
        .collect()
}

fn mounts() -> Result<Vec<(PathBuf, String)>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| CriError::io("cannot read", "/proc/self/mountinfo", e))?;
    Ok(parse_mountinfo(&text))
}

/// Mount points strictly below `dir`, deepest first (the order they can be
/// unmounted in).
pub(crate) fn mounts_below(all: &[(PathBuf, String)], dir: &Path) -> Vec<PathBuf> {
    let mut below: Vec<PathBuf> = all
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| p != dir && p.starts_with(dir))
        .collect();
    below.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    below.dedup();
    below
}

/// Lazily unmounts everything mounted below `dir` (sandbox netns and shm,
/// container rootfs left by a crashed runtime). Returns how many were unmounted.
pub fn unmount_below(dir: &Path) -> Result<usize> {
    let mut count = 0;
    for mount_point in mounts_below(&mounts()?, dir) {
        let out = Command::new("umount")
            .arg("--lazy")
            .arg(&mount_point)
            .output()
            .map_err(|e| CriError::io("cannot run", "umount", e))?;
        if out.status.success() {
            count += 1;
        } else {
            debug!(path = %mount_point.display(), "umount: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    Ok(count)
}

/// Removes a cgroup (e.g. a pod's `/kubepods/besteffort/pod<uid>`) and its
/// children from every mounted hierarchy. containerd leaves the pod level
/// behind after RemovePodSandbox; the kubelet owns it. Cgroup directories
/// can only be removed with rmdir, children first. Returns how many
/// directories were removed.
pub fn remove_cgroup(cgroup: &str) -> Result<usize> {
    let relative = cgroup.trim_start_matches('/');
    if relative.is_empty() || relative.split('/').any(|c| c == "..") {
        return Err(CriError::InvalidOption {
            name: "cgroup",
            message: format!("{cgroup:?} is not a cgroup below the root"),
        });
    }
    let mut removed = 0;
    for (mount_point, fstype) in mounts()? {
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let dir = mount_point.join(relative);
        if dir.is_dir() {
            removed += rmdir_tree(&dir)?;
        }
    }
    Ok(removed)
}

fn rmdir_tree(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| CriError::io("cannot list", dir, e))?;
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            removed += rmdir_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(removed + 1),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(removed),
        Err(e) => Err(CriError::io("cannot remove cgroup", dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw
30 22 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
31 22 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
40 22 0:50 / /data/containerd/state/netns/cni-1 rw shared:5 - nsfs nsfs rw
41 22 0:51 / /data/containerd/state/sandboxes/a/shm rw - tmpfs shm rw
42 41 0:52 / /data/containerd/state/sandboxes/a/shm/deeper rw - tmpfs x rw
43 22 0:53 / /data/my\\040dir/x rw - tmpfs t rw
44 22 0:54 / /data2/other rw - tmpfs t rw
";

    #[test]
    fn mountinfo_fields_and_escapes() {
        let all = parse_mountinfo(MOUNTINFO);
        assert_eq!(all.len(), 8);
        assert_eq!(
            all[1],
            (PathBuf::from("/sys/fs/cgroup/memory"), "cgroup".to_string())
        );
        assert_eq!(all[3].1, "nsfs");
        assert_eq!(all[6].0, PathBuf::from("/data/my dir/x"));
    }

    #[test]
    fn mounts_below_is_deepest_first_and_excludes_siblings() {
        let all = parse_mountinfo(MOUNTINFO);
        let below = mounts_below(&all, Path::new("/data"));
        assert_eq!(
            below[0],
            PathBuf::from("/data/containerd/state/sandboxes/a/shm/deeper")
        );
        assert_eq!(below.len(), 4);
        assert!(!below.contains(&PathBuf::from("/data2/other")));
        assert!(mounts_below(&all, Path::new("/data/containerd/state/netns/cni-1")).is_empty());
    }

    #[test]
    fn remove_cgroup_rejects_root_and_escapes() {
        assert!(remove_cgroup("/").is_err());
        assert!(remove_cgroup("/kubepods/../etc").is_err());
    }

    #[test]
    fn rmdir_tree_removes_children_first() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("pod1");
        std::fs::create_dir_all(top.join("c1/x")).unwrap();
        std::fs::create_dir_all(top.join("c2")).unwrap();
        assert_eq!(rmdir_tree(&top).unwrap(), 4);
        assert!(!top.exists());
    }
}
