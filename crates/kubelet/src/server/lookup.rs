//! Finding a pod's sandbox and containers in the runtime by the labels every kubelet-made
//! object carries (crate::meta), so the server needs nothing from the pod workers.

use std::collections::HashMap;

use rkube_cri::api;
use rkube_cri::RuntimeClient;

use super::route::PodRef;
use crate::error::Result;
use crate::meta;

fn pod_labels(pod: &PodRef) -> HashMap<String, String> {
    let mut l = HashMap::from([
        (meta::POD_NAMESPACE.to_string(), pod.namespace.clone()),
        (meta::POD_NAME.to_string(), pod.name.clone()),
    ]);
    if let Some(uid) = &pod.uid {
        l.insert(meta::POD_UID.to_string(), uid.clone());
    }
    l
}

/// The pod's sandboxes, the one to use first: ready before not ready, then newest.
pub async fn sandboxes(runtime: &RuntimeClient, pod: &PodRef) -> Result<Vec<api::PodSandbox>> {
    let filter = api::PodSandboxFilter {
        label_selector: pod_labels(pod),
        ..Default::default()
    };
    let mut list = runtime.list_pod_sandbox(Some(filter)).await?;
    list.sort_by_key(|s| {
        let ready = s.state == api::PodSandboxState::SandboxReady as i32;
        std::cmp::Reverse((ready, s.created_at))
    });
    Ok(list)
}

/// The attempt number of a container: CRI metadata, else the restartCount annotation.
pub fn attempt(c: &api::Container) -> u32 {
    let from_meta = c.metadata.as_ref().map(|m| m.attempt).unwrap_or(0);
    let from_annotation = c
        .annotations
        .get(meta::CONTAINER_RESTART_COUNT)
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    from_meta.max(from_annotation)
}

/// Orders containers newest attempt first (creation time breaks ties).
pub fn newest_first(list: &mut [api::Container]) {
    list.sort_by_key(|c| std::cmp::Reverse((attempt(c), c.created_at)));
}

/// The attempts of one container of the pod, newest first. When the pod's name was reused
/// by a new pod (another uid), only the newest pod's containers count.
pub async fn containers(
    runtime: &RuntimeClient,
    pod: &PodRef,
    container: &str,
) -> Result<Vec<api::Container>> {
    let mut labels = pod_labels(pod);
    labels.insert(meta::CONTAINER_NAME.to_string(), container.to_string());
    let filter = api::ContainerFilter {
        label_selector: labels,
        ..Default::default()
    };
    let mut list = runtime.list_containers(Some(filter)).await?;
    if pod.uid.is_none() {
        let newest_uid = list
            .iter()
            .max_by_key(|c| c.created_at)
            .and_then(|c| c.labels.get(meta::POD_UID).cloned());
        if let Some(uid) = newest_uid {
            list.retain(|c| c.labels.get(meta::POD_UID) == Some(&uid));
        }
    }
    newest_first(&mut list);
    Ok(list)
}

pub fn is_running(c: &api::Container) -> bool {
    c.state == api::ContainerState::ContainerRunning as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctr(id: &str, attempt: u32, created: i64, restart: Option<&str>) -> api::Container {
        api::Container {
            id: id.into(),
            metadata: Some(api::ContainerMetadata {
                name: "app".into(),
                attempt,
            }),
            created_at: created,
            annotations: restart
                .map(|r| HashMap::from([(meta::CONTAINER_RESTART_COUNT.to_string(), r.into())]))
                .unwrap_or_default(),
            ..Default::default()
        }
    }

    #[test]
    fn newest_attempt_comes_first() {
        let mut l = vec![
            ctr("a0", 0, 10, None),
            ctr("a2", 2, 5, None),
            ctr("a1", 1, 30, None),
            // Metadata lost the attempt but the annotation has it.
            ctr("a3", 0, 1, Some("3")),
        ];
        newest_first(&mut l);
        let ids: Vec<&str> = l.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["a3", "a2", "a1", "a0"]);
        let mut tie = vec![ctr("old", 1, 1, None), ctr("new", 1, 2, None)];
        newest_first(&mut tie);
        assert_eq!(tie[0].id, "new");
    }
}
