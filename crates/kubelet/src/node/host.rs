//! Facts about this machine for the Node object: CPUs, memory, disk, identity and OS.
//! Parsers take text so they are tested on sample /proc contents.

use std::ffi::CStr;
use std::path::Path;

/// Online CPUs (upstream counts online cores through cAdvisor).
pub fn online_cpus() -> u32 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).ok().filter(|n| *n > 0).unwrap_or(1)
}

/// A /proc/meminfo field in bytes (the file gives kB).
pub fn meminfo_bytes(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, rest) = line.split_once(':')?;
        if name.trim() != field {
            return None;
        }
        let mut parts = rest.split_whitespace();
        let value: u64 = parts.next()?.parse().ok()?;
        let unit = parts.next().unwrap_or("");
        Some(if unit.eq_ignore_ascii_case("kb") {
            value * 1024
        } else {
            value
        })
    })
}

fn meminfo(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_bytes(&text, field)
}

pub fn memory_total_bytes() -> Option<u64> {
    meminfo("MemTotal")
}

pub fn memory_available_bytes() -> Option<u64> {
    meminfo("MemAvailable")
}

/// (size, available to unprivileged users) in bytes and (inodes, free inodes) of a
/// filesystem, from one statvfs call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilesystemUsage {
    pub bytes: (u64, u64),
    pub inodes: (u64, u64),
}

// statvfs field widths differ between targets.
#[allow(clippy::unnecessary_cast)]
pub fn filesystem_usage(path: &Path) -> Option<FilesystemUsage> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes only into `st`, and `c` is a valid NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    Some(FilesystemUsage {
        bytes: (st.f_blocks as u64 * frsize, st.f_bavail as u64 * frsize),
        inodes: (st.f_files as u64, st.f_favail as u64),
    })
}

/// (size, available to unprivileged users) of the filesystem holding `path`, in bytes.
pub fn filesystem_bytes(path: &Path) -> Option<(u64, u64)> {
    filesystem_usage(path).map(|u| u.bytes)
}

/// PRETTY_NAME of an os-release file, unquoted.
pub fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.trim().strip_prefix("PRETTY_NAME=")?;
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        Some(unquoted.replace("\\\"", "\""))
    })
}

pub fn os_image() -> String {
    ["/etc/os-release", "/usr/lib/os-release"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| pretty_name(&t))
        .unwrap_or_else(|| "Linux".into())
}

/// `uname -r`.
pub fn kernel_release() -> String {
    // SAFETY: uname fills the zeroed struct; its fields are NUL-terminated C strings.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return String::new();
    }
    unsafe { CStr::from_ptr(uts.release.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

pub fn machine_id() -> String {
    read_trimmed("/etc/machine-id")
        .or_else(|| read_trimmed("/var/lib/dbus/machine-id"))
        .unwrap_or_default()
}

/// The DMI product UUID (root-only on most machines), else the machine id.
pub fn system_uuid() -> String {
    read_trimmed("/sys/class/dmi/id/product_uuid").unwrap_or_else(machine_id)
}

pub fn boot_id() -> String {
    read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default()
}

/// Kubernetes' name for this architecture.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// (pid_max, processes running now), for PID pressure.
pub fn pid_usage() -> Option<(u64, u64)> {
    let max: u64 = read_trimmed("/proc/sys/kernel/pid_max")?.parse().ok()?;
    let running = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .count() as u64;
    Some((max, running))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       16318412 kB\nMemFree:         1234567 kB\nMemAvailable:    8123456 kB\nHugePages_Total:       0\n";

    #[test]
    fn meminfo_fields_are_converted_to_bytes() {
        assert_eq!(meminfo_bytes(MEMINFO, "MemTotal"), Some(16318412 * 1024));
        assert_eq!(meminfo_bytes(MEMINFO, "MemAvailable"), Some(8123456 * 1024));
        assert_eq!(meminfo_bytes(MEMINFO, "HugePages_Total"), Some(0));
        assert_eq!(meminfo_bytes(MEMINFO, "Missing"), None);
        assert_eq!(meminfo_bytes(MEMINFO, "Mem"), None);
    }

    #[test]
    fn os_release_pretty_name_is_unquoted() {
        let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";
        assert_eq!(
            pretty_name(text).as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(
            pretty_name("PRETTY_NAME=Alpine\n").as_deref(),
            Some("Alpine")
        );
        assert_eq!(pretty_name("ID=x\n"), None);
    }

    #[test]
    fn host_facts_are_plausible() {
        assert!(online_cpus() >= 1);
        let (total, avail) = filesystem_bytes(Path::new("/")).unwrap();
        assert!(total > 0 && avail <= total);
        assert!(!kernel_release().is_empty());
    }
}
