//! The service account controller (a "default" ServiceAccount in every namespace) and the
//! root CA publisher (the "kube-root-ca.crt" ConfigMap in every namespace, holding the
//! cluster CA so pods can verify the API server). Both are driven per namespace.

use crate::{Context, Error, Result};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_ACCOUNT: &str = "default";
pub const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";
const DESCRIPTION_KEY: &str = "kubernetes.io/description";
/// The annotation upstream's publisher sets, which clients may read.
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

pub async fn run(ctx: Arc<Context>) -> Result<()> {
    let client = ctx.client.clone();
    let by_namespace =
        |meta: &ObjectMeta| meta.namespace.as_deref().map(ObjectRef::<Namespace>::new);
    let mut controller = Controller::new(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .watches(
        Api::<ServiceAccount>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={DEFAULT_ACCOUNT}")),
        move |sa| by_namespace(&sa.metadata),
    );
    if !ctx.options.root_ca_pem.is_empty() {
        controller = controller.watches(
            Api::<ConfigMap>::all(client.clone()),
            watcher::Config::default().fields(&format!("metadata.name={ROOT_CA_CONFIGMAP}")),
            move |cm| by_namespace(&cm.metadata),
        );
    }
    controller
        .run(reconcile, error_policy, ctx)
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "serviceaccount controller");
            }
        })
        .await;
    Ok(())
}

fn error_policy(_ns: Arc<Namespace>, e: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %e, "serviceaccount / root CA sync");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(ns: Arc<Namespace>, ctx: Arc<Context>) -> Result<Action> {
    // Nothing new goes into a namespace on its way out.
    let terminating = ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating");
    if terminating {
        return Ok(Action::await_change());
    }
    let name = ns.name_any();
    ensure_default_account(&ctx.client, &name).await?;
    if !ctx.options.root_ca_pem.is_empty() {
        publish_root_ca(&ctx.client, &name, &ctx.options.root_ca_pem).await?;
    }
    Ok(Action::await_change())
}

/// Errors that mean "someone else got there first" or "the namespace is going away".
fn benign(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if matches!(s.code, 403 | 404 | 409))
}

async fn ensure_default_account(client: &Client, ns: &str) -> Result<()> {
    let api = Api::<ServiceAccount>::namespaced(client.clone(), ns);
    if api.get_opt(DEFAULT_ACCOUNT).await?.is_some() {
        return Ok(());
    }
    let sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(DEFAULT_ACCOUNT.into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    match api.create(&PostParams::default(), &sa).await {
        Ok(_) => Ok(()),
        Err(e) if benign(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The ConfigMap content the publisher maintains, or None when `current` already has it.
pub fn root_ca_wanted(current: Option<&ConfigMap>, pem: &str) -> Option<ConfigMap> {
    let data: BTreeMap<String, String> = [("ca.crt".to_string(), pem.to_string())].into();
    let mut cm = current.cloned().unwrap_or_else(|| ConfigMap {
        metadata: ObjectMeta {
            name: Some(ROOT_CA_CONFIGMAP.into()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    });
    let described = cm
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DESCRIPTION_KEY))
        .is_some_and(|d| !d.is_empty());
    if current.is_some() && cm.data.as_ref() == Some(&data) && described {
        return None;
    }
    cm.data = Some(data);
    cm.binary_data = None;
    cm.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(DESCRIPTION_KEY.into(), DESCRIPTION.into());
    Some(cm)
}

async fn publish_root_ca(client: &Client, ns: &str, pem: &str) -> Result<()> {
    let api = Api::<ConfigMap>::namespaced(client.clone(), ns);
    let current = api.get_opt(ROOT_CA_CONFIGMAP).await?;
    let Some(wanted) = root_ca_wanted(current.as_ref(), pem) else {
        return Ok(());
    };
    let result = if current.is_some() {
        api.replace(ROOT_CA_CONFIGMAP, &PostParams::default(), &wanted)
            .await
    } else {
        api.create(&PostParams::default(), &wanted).await
    };
    match result {
        Ok(_) => Ok(()),
        // A conflict means it changed under us: the watch brings it back for another try.
        Err(e) if benign(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_ca_is_created_repaired_and_left_alone_when_right() {
        let created = root_ca_wanted(None, "PEM").unwrap();
        assert_eq!(created.metadata.name.as_deref(), Some(ROOT_CA_CONFIGMAP));
        assert_eq!(created.data.as_ref().unwrap()["ca.crt"], "PEM");
        assert!(root_ca_wanted(Some(&created), "PEM").is_none());

        let mut tampered = created.clone();
        tampered.data = Some([("ca.crt".to_string(), "OTHER".to_string())].into());
        tampered
            .metadata
            .labels
            .get_or_insert_with(BTreeMap::new)
            .insert("keep".into(), "me".into());
        let fixed = root_ca_wanted(Some(&tampered), "PEM").unwrap();
        assert_eq!(fixed.data.as_ref().unwrap()["ca.crt"], "PEM");
        assert_eq!(fixed.metadata.labels.as_ref().unwrap()["keep"], "me");

        let mut bare = created;
        bare.metadata.annotations = None;
        let described = root_ca_wanted(Some(&bare), "PEM").unwrap();
        assert_eq!(
            described.metadata.annotations.unwrap()[DESCRIPTION_KEY],
            DESCRIPTION
        );
    }
}
