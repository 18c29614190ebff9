//! `GET /pods`: the pods this node runs, as far as the runtime knows them (one entry per
//! ready sandbox). Upstream lists the pod manager's specs; without access to the pod
//! workers we report identity and phase only.

use http::{Response, StatusCode};
use rkube_cri::{api, RuntimeClient};

use super::response::{self, Body};
use crate::meta;

pub async fn handle(runtime: &RuntimeClient) -> Response<Body> {
    match runtime.list_pod_sandbox(None).await {
        Ok(list) => response::json(pod_list(&list).to_string()),
        Err(e) => response::error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn pod_list(sandboxes: &[api::PodSandbox]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = sandboxes
        .iter()
        .filter(|s| s.state == api::PodSandboxState::SandboxReady as i32)
        .filter_map(|s| {
            let name = s.labels.get(meta::POD_NAME)?;
            let namespace = s.labels.get(meta::POD_NAMESPACE)?;
            let uid = s.labels.get(meta::POD_UID).cloned().unwrap_or_default();
            // The pod's own labels ride along on the sandbox; ours are bookkeeping.
            let labels: serde_json::Map<String, serde_json::Value> = s
                .labels
                .iter()
                .filter(|(k, _)| !k.starts_with("io.kubernetes."))
                .map(|(k, v)| (k.clone(), v.clone().into()))
                .collect();
            Some(serde_json::json!({
                "metadata": {"name": name, "namespace": namespace, "uid": uid, "labels": labels},
                "status": {"phase": "Running"},
            }))
        })
        .collect();
    serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn lists_ready_sandboxes_with_pod_labels() {
        let sb = |id: &str, ready: bool| api::PodSandbox {
            id: id.into(),
            state: if ready {
                api::PodSandboxState::SandboxReady as i32
            } else {
                api::PodSandboxState::SandboxNotready as i32
            },
            labels: HashMap::from([
                (meta::POD_NAME.to_string(), format!("pod-{id}")),
                (meta::POD_NAMESPACE.to_string(), "default".to_string()),
                (meta::POD_UID.to_string(), format!("uid-{id}")),
                ("app".to_string(), "web".to_string()),
            ]),
            ..Default::default()
        };
        let v = pod_list(&[sb("a", true), sb("b", false)]);
        assert_eq!(v["kind"], "PodList");
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["metadata"]["name"], "pod-a");
        assert_eq!(items[0]["metadata"]["uid"], "uid-a");
        assert_eq!(
            items[0]["metadata"]["labels"],
            serde_json::json!({"app": "web"})
        );
    }
}
