//! The CRI labels, annotations and paths that tie runtime objects to pods — the same
//! keys upstream's kubelet uses, so `crictl` output looks familiar and a restarted
//! kubelet (or the node API server) finds a pod's sandbox and containers by label.

use std::path::{Path, PathBuf};

pub const POD_NAME: &str = "io.kubernetes.pod.name";
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const POD_UID: &str = "io.kubernetes.pod.uid";
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// Annotations on containers.
pub const CONTAINER_RESTART_COUNT: &str = "io.kubernetes.container.restartCount";
pub const CONTAINER_HASH: &str = "io.kubernetes.container.hash";
pub const TERMINATION_MESSAGE_PATH: &str = "io.kubernetes.container.terminationMessagePath";
pub const POD_TERMINATION_GRACE_PERIOD: &str = "io.kubernetes.pod.terminationGracePeriod";
/// Set on init containers so status and restart logic can tell them apart.
pub const CONTAINER_KIND: &str = "rkube.io/container-kind";

/// `<pod_log_dir>/<namespace>_<name>_<uid>`, upstream's /var/log/pods layout.
pub fn pod_log_dir(pod_log_dir: &Path, namespace: &str, name: &str, uid: &str) -> PathBuf {
    pod_log_dir.join(format!("{namespace}_{name}_{uid}"))
}

/// The log path of one container attempt, relative to the pod's log directory.
pub fn container_log_path(container: &str, restart_count: u32) -> String {
    format!("{container}/{restart_count}.log")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_paths_follow_the_var_log_pods_layout() {
        let dir = pod_log_dir(Path::new("/d/pods"), "default", "web", "u-1");
        assert_eq!(dir, PathBuf::from("/d/pods/default_web_u-1"));
        assert_eq!(container_log_path("app", 3), "app/3.log");
    }
}
