use super::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

fn pod(name: &str, owner: Option<&str>) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            owner_references: owner.map(|uid| {
                vec![OwnerReference {
                    uid: uid.into(),
                    controller: Some(true),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn names(pods: Vec<Arc<CachedPod>>) -> Vec<String> {
    let mut n: Vec<String> = pods.iter().map(|p| p.name.clone()).collect();
    n.sort();
    n
}

/// (old name, new name) of one change.
type Names = (Option<String>, Option<String>);

/// The changes waiting on `rx`, and whether Synced came.
fn drain(rx: &mut mpsc::UnboundedReceiver<PodEvent>) -> (Vec<Names>, bool) {
    let name = |p: &Option<Arc<CachedPod>>| p.as_ref().map(|p| p.name.clone());
    let (mut changes, mut synced) = (Vec::new(), false);
    while let Ok(e) = rx.try_recv() {
        match e {
            PodEvent::Changed { old, new } => changes.push((name(&old), name(&new))),
            PodEvent::Synced => synced = true,
        }
    }
    changes.sort();
    (changes, synced)
}

#[test]
fn indexes_owned_and_orphans() {
    let c = Pods::default();
    assert!(!c.is_ready());
    c.apply(Event::Init);
    c.apply(Event::InitApply(pod("a", Some("u1"))));
    c.apply(Event::InitDone);
    assert!(c.is_ready());
    c.apply(Event::Apply(pod("o", None)));
    assert_eq!(names(c.candidates("ns", "u1")), ["a", "o"]);
    assert!(c.candidates("other", "u2").is_empty());

    // Adopting the orphan moves it out of the orphan index.
    c.apply(Event::Apply(pod("o", Some("u2"))));
    assert_eq!(names(c.candidates("ns", "u1")), ["a"]);
    assert_eq!(names(c.owned_by(&["u2".into()])), ["o"]);

    c.apply(Event::Delete(pod("a", Some("u1"))));
    assert!(c.owned_by(&["u1".into()]).is_empty());
    assert_eq!(c.len(), 1);
    assert!(c.get("ns", "o").is_some());
}

#[test]
fn subscribers_see_every_change_with_the_previous_state() {
    let c = Pods::default();
    let mut early = c.subscribe();
    c.apply(Event::Init);
    c.apply(Event::InitApply(pod("a", None)));
    assert_eq!(
        drain(&mut early),
        (vec![], false),
        "nothing before the list is complete"
    );
    c.apply(Event::InitDone);
    assert_eq!(drain(&mut early), (vec![(None, Some("a".into()))], true));

    c.apply(Event::Apply(pod("a", Some("u"))));
    c.apply(Event::Apply(pod("b", None)));
    assert_eq!(
        drain(&mut early).0,
        vec![
            (None, Some("b".into())),
            (Some("a".into()), Some("a".into()))
        ]
    );
    let mut store_before = None;
    c.apply(Event::Delete(pod("a", None)));
    while let Ok(PodEvent::Changed { old, new: None }) = early.try_recv() {
        store_before = old;
    }
    // The deletion carries what the store held (owned), not the tombstone.
    let old = store_before.unwrap();
    assert_eq!(owner_uid(&old), Some("u"));

    // A late subscriber starts from the current content.
    let mut late = c.subscribe();
    assert_eq!(drain(&mut late), (vec![(None, Some("b".into()))], true));
}

#[test]
fn relist_reports_what_vanished_and_what_is_there() {
    let c = Pods::default();
    c.apply(Event::Init);
    c.apply(Event::InitApply(pod("a", None)));
    c.apply(Event::InitApply(pod("b", Some("u"))));
    c.apply(Event::InitDone);
    let mut rx = c.subscribe();
    drain(&mut rx);
    c.apply(Event::Init);
    c.apply(Event::InitApply(pod("a", None)));
    c.apply(Event::InitApply(pod("c", None)));
    // Until the relist completes, the old content stays.
    assert_eq!(c.len(), 2);
    c.apply(Event::InitDone);
    assert_eq!(
        drain(&mut rx),
        (
            vec![
                (None, Some("c".into())),
                (Some("a".into()), Some("a".into())),
                (Some("b".into()), None),
            ],
            true
        )
    );
    assert!(c.owned_by(&["u".into()]).is_empty());
    assert_eq!(names(c.candidates("ns", "x")), ["a", "c"]);
}

#[test]
fn namespaces_are_ranges() {
    let c = Pods::default();
    for (ns, name) in [("a", "p1"), ("a", "p2"), ("ab", "p3"), ("b", "p4")] {
        let mut p = pod(name, None);
        p.metadata.namespace = Some(ns.into());
        c.apply(Event::Apply(p));
    }
    assert_eq!(names(c.in_namespace("a")), ["p1", "p2"]);
    assert_eq!(names(c.in_namespace("ab")), ["p3"]);
    assert!(c.in_namespace("c").is_empty());
}
