//! Watches Services and EndpointSlices into the zone's index.

use std::fmt::Debug;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Api;
use tokio::sync::mpsc;

use crate::index::Index;
use crate::zone::Zone;
use crate::{Error, Result};

/// Index operations for one watched kind.
trait Indexed: Clone + Debug + Send + 'static {
    const KIND: &'static str;
    fn apply(index: &mut Index, obj: &Self);
    fn delete(index: &mut Index, obj: &Self);
    fn replace(index: &mut Index, list: &[Self]);
}

impl Indexed for Service {
    const KIND: &'static str = "services";
    fn apply(index: &mut Index, obj: &Self) {
        index.apply_service(obj);
    }
    fn delete(index: &mut Index, obj: &Self) {
        index.delete_service(obj);
    }
    fn replace(index: &mut Index, list: &[Self]) {
        index.replace_services(list);
    }
}

impl Indexed for EndpointSlice {
    const KIND: &'static str = "endpointslices";
    fn apply(index: &mut Index, obj: &Self) {
        index.apply_slice(obj);
    }
    fn delete(index: &mut Index, obj: &Self) {
        index.delete_slice(obj);
    }
    fn replace(index: &mut Index, list: &[Self]) {
        index.replace_slices(list);
    }
}

/// Runs both watches until one ends (they retry with backoff, so only on shutdown).
/// Each sends its kind on `synced` after its first full list.
pub(crate) async fn run(
    client: kube::Client,
    zone: Zone,
    synced: mpsc::UnboundedSender<&'static str>,
) -> Result<()> {
    let services = watch_kind::<Service>(Api::all(client.clone()), zone.clone(), synced.clone());
    let slices = watch_kind::<EndpointSlice>(Api::all(client), zone, synced);
    tokio::select! {
        r = services => r,
        r = slices => r,
    }
}

async fn watch_kind<K>(
    api: Api<K>,
    zone: Zone,
    synced: mpsc::UnboundedSender<&'static str>,
) -> Result<()>
where
    K: Indexed + kube::Resource<DynamicType = ()> + serde::de::DeserializeOwned + Sync,
{
    let mut events = watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    // Objects of a relist in progress; swapped in whole at InitDone so a relist never
    // shows a half-empty zone.
    let mut relist: Option<Vec<K>> = None;
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => {
                let done = matches!(event, Event::InitDone);
                apply_event(&zone, &mut relist, event);
                if done {
                    // Only the first one matters to the receiver; later sends may fail.
                    let _ = synced.send(K::KIND);
                }
            }
            Err(e) => tracing::warn!(kind = K::KIND, error = %e, "dns watch"),
        }
    }
    Err(Error::Watch {
        kind: K::KIND,
        message: "watch stream ended".into(),
    })
}

/// Applies one watch event to the zone.
fn apply_event<K: Indexed>(zone: &Zone, relist: &mut Option<Vec<K>>, event: Event<K>) {
    match event {
        Event::Apply(obj) => zone.update(|i| K::apply(i, &obj)),
        Event::Delete(obj) => zone.update(|i| K::delete(i, &obj)),
        Event::Init => *relist = Some(Vec::new()),
        Event::InitApply(obj) => relist.get_or_insert_with(Vec::new).push(obj),
        Event::InitDone => {
            let list = relist.take().unwrap_or_default();
            zone.update(|i| K::replace(i, &list));
            tracing::debug!(kind = K::KIND, count = list.len(), "dns index synced");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{headless, service, slice};
    use crate::zone::Answer;
    use hickory_proto::rr::{Name, RecordType};

    fn a(zone: &Zone, name: &str) -> Answer {
        zone.lookup(&Name::from_ascii(name).unwrap(), RecordType::A)
    }

    #[test]
    fn relist_swaps_in_whole_and_drops_vanished_objects() {
        let zone = Zone::new("cluster.local", 30).unwrap();
        let mut svcs = None;
        apply_event(
            &zone,
            &mut svcs,
            Event::Apply(service("ns", "gone", &["10.96.0.1"], &[])),
        );
        assert!(matches!(
            a(&zone, "gone.ns.svc.cluster.local."),
            Answer::Found { .. }
        ));

        apply_event(&zone, &mut svcs, Event::Init);
        apply_event(
            &zone,
            &mut svcs,
            Event::InitApply(headless("ns", "h", &[], false)),
        );
        // Mid-relist the old state still answers.
        assert!(matches!(
            a(&zone, "gone.ns.svc.cluster.local."),
            Answer::Found { .. }
        ));
        apply_event(&zone, &mut svcs, Event::InitDone);
        assert_eq!(a(&zone, "gone.ns.svc.cluster.local."), Answer::NxDomain);

        let mut slices = None;
        apply_event(
            &zone,
            &mut slices,
            Event::Apply(slice(
                "ns",
                "h",
                "h-1",
                "IPv4",
                &[("10.1.0.1", None, true)],
                &[],
            )),
        );
        assert!(matches!(
            a(&zone, "h.ns.svc.cluster.local."),
            Answer::Found { .. }
        ));
        apply_event(
            &zone,
            &mut slices,
            Event::Delete(slice("ns", "h", "h-1", "IPv4", &[], &[])),
        );
        assert_eq!(a(&zone, "h.ns.svc.cluster.local."), Answer::NxDomain);
    }
}
