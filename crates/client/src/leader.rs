//! Leader election over a coordination.k8s.io/v1 Lease, so that two instances of a
//! component never both act.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use std::time::Duration;
use tokio::sync::watch;

const LEASE_SECONDS: i32 = 15;
const RENEW_EVERY: Duration = Duration::from_secs(5);
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Held while this instance leads; `lost` resolves when leadership is gone.
pub struct Leadership {
    lost: watch::Receiver<bool>,
}

impl Leadership {
    pub async fn lost(&mut self) {
        let _ = self.lost.wait_for(|lost| *lost).await;
    }
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// One attempt to take or renew the lease; true when we hold it afterwards.
async fn try_acquire(api: &Api<Lease>, name: &str, identity: &str) -> bool {
    let current = match api.get_opt(name).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "reading lease");
            return false;
        }
    };
    let Some(mut lease) = current else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(identity.into()),
                lease_duration_seconds: Some(LEASE_SECONDS),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..Default::default()
            }),
        };
        return api.create(&PostParams::default(), &lease).await.is_ok();
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    let held_by_us = spec.holder_identity.as_deref() == Some(identity);
    let expired = spec.renew_time.as_ref().is_none_or(|t| {
        let duration = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
        k8s_openapi::jiff::Timestamp::now().as_second() - t.0.as_second() > duration
    });
    if !held_by_us && !expired {
        return false;
    }
    if !held_by_us {
        spec.holder_identity = Some(identity.into());
        spec.acquire_time = Some(now());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.lease_duration_seconds = Some(LEASE_SECONDS);
    spec.renew_time = Some(now());
    api.replace(name, &PostParams::default(), &lease)
        .await
        .is_ok()
}

/// Waits until this instance holds lease `name` in kube-system, then keeps renewing it.
pub async fn acquire(client: Client, name: &str, identity: &str) -> Leadership {
    let api: Api<Lease> = Api::namespaced(client, "kube-system");
    while !try_acquire(&api, name, identity).await {
        tokio::time::sleep(RETRY_EVERY).await;
    }
    tracing::info!(lease = name, identity, "became leader");
    let (tx, rx) = watch::channel(false);
    let (name, identity) = (name.to_string(), identity.to_string());
    tokio::spawn(async move {
        let mut last_ok = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            if try_acquire(&api, &name, &identity).await {
                last_ok = tokio::time::Instant::now();
            } else if last_ok.elapsed() > Duration::from_secs(LEASE_SECONDS as u64) {
                tracing::warn!(lease = %name, "lost leadership");
                let _ = tx.send(true);
                return;
            }
        }
    });
    Leadership { lost: rx }
}
