//! The CRI container config of one container: command and args with $(VAR)
//! expansion, env, mounts, log path, resources, security context, and the labels and
//! annotations that let us (and a restarted kubelet) recognise it.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use rkube_cri::api;

use super::{resources, sandbox};
use crate::meta;

/// Which of the pod's lists a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Init,
    Regular,
}

impl Kind {
    pub fn field_path(self, name: &str) -> String {
        match self {
            Kind::Init => format!("spec.initContainers{{{name}}}"),
            Kind::Regular => format!("spec.containers{{{name}}}"),
        }
    }
}

/// Annotation holding the image as written in the spec; the runtime may only know
/// the image id it was created from.
pub const SPEC_IMAGE: &str = "rkube.io/spec-image";
/// Value of `meta::CONTAINER_KIND` on init containers.
pub const KIND_INIT: &str = "init";

/// Upstream's default masked and read-only /proc and /sys paths for unprivileged
/// containers.
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Expands `$(NAME)` from `env`; `$$` is a literal `$`; unknown names stay as written
/// (upstream's expansion.Expand).
pub fn expand(input: &str, env: &HashMap<&str, &str>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('(') {
            match tail.find(')') {
                Some(end) => {
                    let name = &tail[..end];
                    match env.get(name) {
                        Some(v) => out.push_str(v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &tail[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = tail;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A stable hash of the container's spec (resources aside, which may change in
/// place): a different hash means the spec changed (e.g. a new image) and the
/// container must be replaced. FNV-1a, so it survives kubelet rebuilds.
pub fn spec_hash(container: &Container) -> String {
    let mut c = container.clone();
    c.resources = None;
    c.resize_policy = None;
    let text = serde_json::to_string(&c).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:x}")
}

fn security_context(pod: &Pod, c: &Container) -> api::LinuxContainerSecurityContext {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let sc = c.security_context.as_ref();
    let privileged = sc.and_then(|s| s.privileged).unwrap_or(false);
    let caps = sc.and_then(|s| s.capabilities.as_ref());
    let mut supplemental: Vec<i64> = psc
        .and_then(|p| p.supplemental_groups.clone())
        .unwrap_or_default();
    supplemental.extend(psc.and_then(|p| p.fs_group));
    let unmasked = privileged || sc.and_then(|s| s.proc_mount.as_deref()) == Some("Unmasked");
    let paths = |list: &[&str]| -> Vec<String> {
        if unmasked {
            Vec::new()
        } else {
            list.iter().map(|p| p.to_string()).collect()
        }
    };
    api::LinuxContainerSecurityContext {
        capabilities: caps.map(|c| api::Capability {
            add_capabilities: c.add.clone().unwrap_or_default(),
            drop_capabilities: c.drop.clone().unwrap_or_default(),
            ..Default::default()
        }),
        privileged,
        namespace_options: Some(sandbox::namespace_options(pod)),
        run_as_user: sc
            .and_then(|s| s.run_as_user)
            .or_else(|| psc.and_then(|p| p.run_as_user))
            .map(|value| api::Int64Value { value }),
        run_as_group: sc
            .and_then(|s| s.run_as_group)
            .or_else(|| psc.and_then(|p| p.run_as_group))
            .map(|value| api::Int64Value { value }),
        readonly_rootfs: sc
            .and_then(|s| s.read_only_root_filesystem)
            .unwrap_or(false),
        supplemental_groups: supplemental,
        no_new_privs: sc.and_then(|s| s.allow_privilege_escalation) == Some(false),
        masked_paths: paths(MASKED_PATHS),
        readonly_paths: paths(READONLY_PATHS),
        ..Default::default()
    }
}

/// What a container config is built from besides the pod and the container.
pub struct Inputs<'a> {
    pub kind: Kind,
    pub restart_count: u32,
    /// The image id (or reference) the runtime resolved the spec image to.
    pub image_ref: &'a str,
    pub envs: Vec<api::KeyValue>,
    pub mounts: Vec<api::Mount>,
    pub qos: &'a str,
    pub memory_capacity: i64,
}

pub fn container_config(pod: &Pod, c: &Container, inp: Inputs<'_>) -> api::ContainerConfig {
    let env_map: HashMap<&str, &str> = inp
        .envs
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()))
        .collect();
    let command: Vec<String> = c
        .command
        .iter()
        .flatten()
        .map(|s| expand(s, &env_map))
        .collect();
    let args: Vec<String> = c
        .args
        .iter()
        .flatten()
        .map(|s| expand(s, &env_map))
        .collect();
    let mut labels: HashMap<String, String> = [
        (meta::POD_NAME, pod.metadata.name.clone()),
        (meta::POD_NAMESPACE, pod.metadata.namespace.clone()),
        (meta::POD_UID, pod.metadata.uid.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.unwrap_or_default()))
    .collect();
    labels.insert(meta::CONTAINER_NAME.into(), c.name.clone());
    if inp.kind == Kind::Init {
        labels.insert(meta::CONTAINER_KIND.into(), KIND_INIT.into());
    }
    let grace = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(30);
    let mut annotations: HashMap<String, String> = HashMap::new();
    annotations.insert(
        meta::CONTAINER_RESTART_COUNT.into(),
        inp.restart_count.to_string(),
    );
    annotations.insert(meta::CONTAINER_HASH.into(), spec_hash(c));
    annotations.insert(
        meta::TERMINATION_MESSAGE_PATH.into(),
        c.termination_message_path
            .clone()
            .unwrap_or_else(|| "/dev/termination-log".into()),
    );
    annotations.insert(meta::POD_TERMINATION_GRACE_PERIOD.into(), grace.to_string());
    annotations.insert(SPEC_IMAGE.into(), c.image.clone().unwrap_or_default());
    let spec_image = c.image.clone().unwrap_or_default();
    api::ContainerConfig {
        metadata: Some(api::ContainerMetadata {
            name: c.name.clone(),
            attempt: inp.restart_count,
        }),
        image: Some(api::ImageSpec {
            image: inp.image_ref.to_string(),
            user_specified_image: spec_image,
            ..Default::default()
        }),
        command,
        args,
        working_dir: c.working_dir.clone().unwrap_or_default(),
        envs: inp.envs.clone(),
        mounts: inp.mounts,
        labels,
        annotations,
        log_path: meta::container_log_path(&c.name, inp.restart_count),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        tty: c.tty.unwrap_or(false),
        linux: Some(api::LinuxContainerConfig {
            resources: Some(resources::linux_resources(c, inp.qos, inp.memory_capacity)),
            security_context: Some(security_context(pod, c)),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, SecurityContext};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn expansion_follows_kubelet_rules() {
        let env: HashMap<&str, &str> = [("A", "1"), ("B", "two")].into();
        assert_eq!(expand("x$(A)y$(B)", &env), "x1ytwo");
        assert_eq!(expand("$(C) stays", &env), "$(C) stays");
        assert_eq!(expand("$$(A) and $5", &env), "$(A) and $5");
        assert_eq!(expand("open $(A", &env), "open $(A");
    }

    #[test]
    fn hash_changes_with_the_image_only() {
        let mut c = Container {
            name: "app".into(),
            image: Some("a:1".into()),
            ..Default::default()
        };
        let h1 = spec_hash(&c);
        c.resources = Some(Default::default());
        assert_eq!(spec_hash(&c), h1);
        c.image = Some("a:2".into());
        assert_ne!(spec_hash(&c), h1);
    }

    #[test]
    fn config_carries_identity_command_and_logs() {
        let c = Container {
            name: "app".into(),
            image: Some("busybox".into()),
            command: Some(vec!["sh".into(), "-c".into()]),
            args: Some(vec!["echo $(GREETING)".into()]),
            tty: Some(true),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        };
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                containers: vec![c.clone()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let cfg = container_config(
            &pod,
            &c,
            Inputs {
                kind: Kind::Init,
                restart_count: 3,
                image_ref: "sha256:abc",
                envs: vec![api::KeyValue {
                    key: "GREETING".into(),
                    value: "hi".into(),
                }],
                mounts: Vec::new(),
                qos: "BestEffort",
                memory_capacity: 0,
            },
        );
        assert_eq!(cfg.command, vec!["sh", "-c"]);
        assert_eq!(cfg.args, vec!["echo hi"]);
        assert_eq!(cfg.log_path, "app/3.log");
        assert_eq!(cfg.metadata.as_ref().unwrap().attempt, 3);
        assert!(cfg.tty);
        assert_eq!(cfg.image.as_ref().unwrap().image, "sha256:abc");
        assert_eq!(cfg.labels[meta::CONTAINER_NAME], "app");
        assert_eq!(cfg.labels[meta::POD_UID], "u");
        assert_eq!(cfg.labels[meta::CONTAINER_KIND], KIND_INIT);
        assert_eq!(cfg.annotations[meta::CONTAINER_RESTART_COUNT], "3");
        assert_eq!(cfg.annotations[SPEC_IMAGE], "busybox");
        let sc = cfg.linux.unwrap().security_context.unwrap();
        assert!(sc.no_new_privs);
        assert!(sc.masked_paths.contains(&"/proc/kcore".to_string()));
    }
}
