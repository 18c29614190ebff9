//! containerd's config.toml and the CNI conflist, as pure functions of the
//! data dir layout and the options, so they can be checked without a runtime.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::{CriError, Result};
use crate::supervisor::ContainerdOptions;

/// Linux refuses interface names of IFNAMSIZ (16) bytes or more.
const MAX_IFNAME: usize = 15;
/// sun_path holds 108 bytes including the terminating NUL; containerd also
/// listens on `<socket>.ttrpc`, which is 6 bytes longer.
const MAX_SOCKET_PATH: usize = 107 - ".ttrpc".len();

/// Where everything of our containerd lives under the data dir. Nothing is
/// shared with a distribution containerd (which uses /var/lib/containerd,
/// /run/containerd and /run/containerd/containerd.sock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub base: PathBuf,
    pub config: PathBuf,
    pub root: PathBuf,
    pub state: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub runc_root: PathBuf,
    pub opt: PathBuf,
    /// Registry host configs (`<host>/hosts.toml`), e.g. for a plain-HTTP registry.
    pub certs_d: PathBuf,
    pub cni_conf_dir: PathBuf,
    pub cni_ipam_dir: PathBuf,
    /// Container logs when the kubelet gives a relative directory; the
    /// kubelet normally passes an absolute one per pod.
    pub pod_logs: PathBuf,
}

impl Paths {
    pub fn new(data_dir: &Path) -> Paths {
        let base = data_dir.join("containerd");
        let cni = data_dir.join("cni");
        Paths {
            config: base.join("config.toml"),
            root: base.join("root"),
            state: base.join("state"),
            socket: base.join("containerd.sock"),
            log: base.join("containerd.log"),
            opt: base.join("opt"),
            certs_d: base.join("certs.d"),
            runc_root: data_dir.join("runc"),
            cni_conf_dir: cni.join("net.d"),
            cni_ipam_dir: cni.join("ipam"),
            pod_logs: data_dir.join("pods"),
            base,
        }
    }

    /// The conflist file our containerd reads (the only one in its conf dir).
    pub fn conflist(&self) -> PathBuf {
        self.cni_conf_dir.join("10-rkube.conflist")
    }
}

/// Quotes a string as a TOML basic string.
fn toml_str(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn p(path: &Path) -> String {
    toml_str(&path.to_string_lossy())
}

/// containerd 1.6 configuration (format version 2) for the CRI plugin on
/// cgroup v1 with cgroupfs. `restrict_oom_score_adj` is required where root
/// lacks CAP_SYS_RESOURCE: without it runc cannot set the OOM score the
/// kubelet asks for and every sandbox fails to start.
pub fn containerd_config(paths: &Paths, options: &ContainerdOptions) -> String {
    format!(
        r#"# Written by rkube on every start; edits are overwritten.
version = 2
root = {root}
state = {state}

[grpc]
  address = {socket}

[plugins."io.containerd.internal.v1.opt"]
  path = {opt}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = {sandbox}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_tls_streaming = false
  netns_mounts_under_state_dir = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = {cni_bin}
    conf_dir = {cni_conf}
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = {certs_d}
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = {runc_root}
"#,
        root = p(&paths.root),
        state = p(&paths.state),
        socket = p(&paths.socket),
        opt = p(&paths.opt),
        sandbox = toml_str(&options.sandbox_image),
        cni_bin = p(&options.cni_bin_dir),
        cni_conf = p(&paths.cni_conf_dir),
        certs_d = p(&paths.certs_d),
        runc_root = p(&paths.runc_root),
    )
}

/// The CNI network: a bridge with host-local addresses from the node's pod
/// CIDR and portmap for hostPort. containerd sets up the loopback interface
/// itself, so it is not in the chain.
pub fn cni_conflist(paths: &Paths, options: &ContainerdOptions) -> String {
    let doc = serde_json::json!({
        "cniVersion": "1.0.0",
        "name": options.network_name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": options.bridge,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "dataDir": paths.cni_ipam_dir.to_string_lossy(),
                    "ranges": [[{"subnet": options.pod_subnet}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
        ],
    });
    // Serialising a json! value cannot fail; the fallback keeps this total.
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| doc.to_string())
}

/// Rejects options that would only fail later inside containerd or CNI with
/// a less helpful message.
pub(crate) fn validate(paths: &Paths, options: &ContainerdOptions) -> Result<()> {
    let bridge = &options.bridge;
    if bridge.is_empty()
        || bridge.len() > MAX_IFNAME
        || !bridge
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(CriError::InvalidOption {
            name: "bridge",
            message: format!("{bridge:?} is not an interface name of 1 to {MAX_IFNAME} characters"),
        });
    }
    parse_cidr(&options.pod_subnet).map_err(|message| CriError::InvalidOption {
        name: "pod_subnet",
        message,
    })?;
    if options.network_name.is_empty() {
        return Err(CriError::InvalidOption {
            name: "network_name",
            message: "empty".to_string(),
        });
    }
    let len = paths.socket.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(CriError::InvalidOption {
            name: "data_dir",
            message: format!(
                "socket path {} is {len} bytes; unix sockets allow {MAX_SOCKET_PATH} here: use a shorter data dir",
                paths.socket.display()
            ),
        });
    }
    Ok(())
}

/// Parses `addr/prefix` and requires the address to be the network address.
pub(crate) fn parse_cidr(cidr: &str) -> std::result::Result<(IpAddr, u8), String> {
    let (addr, prefix) = cidr
        .split_once('/')
        .ok_or_else(|| format!("{cidr:?} is not a CIDR (address/prefix)"))?;
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("{cidr:?}: {addr:?} is not an IP address"))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| format!("{cidr:?}: {prefix:?} is not a prefix length"))?;
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    if prefix > bits {
        return Err(format!("{cidr:?}: prefix longer than {bits} bits"));
    }
    let host_bits = match addr {
        IpAddr::V4(a) => {
            let v = u32::from(a);
            v.checked_shl(u32::from(prefix)).unwrap_or(0)
        }
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v.checked_shl(u32::from(prefix)).unwrap_or(0) != 0) as u32
        }
    };
    if host_bits != 0 {
        return Err(format!("{cidr:?} has host bits set"));
    }
    Ok((addr, prefix))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
