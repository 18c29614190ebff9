use super::*;

fn owner_ref(uid: &str, block: bool) -> OwnerRef {
    OwnerRef {
        uid: uid.into(),
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: format!("cm-{uid}"),
        block,
    }
}

fn node(uid: &str, owners: Vec<OwnerRef>) -> Node {
    Node {
        res: 0,
        namespace: Some("default".into()),
        name: format!("cm-{uid}"),
        uid: uid.into(),
        owners,
        deleting: false,
        finalizers: vec![],
    }
}

fn deleting(mut n: Node, finalizer: &str) -> Node {
    n.deleting = true;
    n.finalizers.push(finalizer.into());
    n
}

#[test]
fn new_dependent_is_dirty_and_indexed() {
    let mut g = Graph::default();
    assert!(g.upsert(node("o", vec![])).is_empty());
    assert_eq!(g.upsert(node("d", vec![owner_ref("o", false)])), vec!["d"]);
    assert_eq!(g.dependents("o").len(), 1);
    // An unchanged update needs nothing.
    assert!(g.upsert(node("d", vec![owner_ref("o", false)])).is_empty());
    // Dropping the reference unlinks it.
    g.upsert(node("d", vec![]));
    assert!(g.dependents("o").is_empty());
}

#[test]
fn removing_owner_marks_dependents() {
    let mut g = Graph::default();
    g.upsert(node("o", vec![]));
    g.upsert(node("a", vec![owner_ref("o", false)]));
    g.upsert(node("b", vec![owner_ref("o", false)]));
    let mut dirty = g.remove("o");
    dirty.sort();
    assert_eq!(dirty, vec!["a", "b"]);
    let mut kicked = HashSet::new();
    match g.step("a", &mut kicked) {
        Step::Judge(states) => assert_eq!(states[0].1, OwnerState::Unknown),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn relist_forgets_unlisted_objects_of_that_resource_only() {
    let mut g = Graph::default();
    g.upsert(node("o", vec![]));
    let mut other = node("x", vec![]);
    other.res = 1;
    g.upsert(other);
    g.upsert(node("d", vec![owner_ref("o", false)]));
    let listed: HashSet<String> = ["d".to_string()].into();
    assert_eq!(g.retain_listed(0, &listed), vec!["d"]);
    assert!(g.get("o").is_none());
    assert!(g.get("x").is_some());
}

#[test]
fn judge_background_orphan_and_shared_owners() {
    let item = node("d", vec![owner_ref("a", false), owner_ref("b", false)]);
    let gone = [
        (owner_ref("a", false), OwnerState::Absent),
        (owner_ref("b", false), OwnerState::Absent),
    ];
    assert_eq!(
        judge(&item, &gone, false),
        Verdict::Delete(Policy::Background)
    );
    let one_left = [
        (owner_ref("a", false), OwnerState::Absent),
        (owner_ref("b", false), OwnerState::Present),
    ];
    assert_eq!(
        judge(&item, &one_left, false),
        Verdict::DropRefs(vec!["a".into()])
    );
    let unknown = [(owner_ref("a", false), OwnerState::Unknown)];
    assert_eq!(judge(&item, &unknown, false), Verdict::Keep);
    let orphaning = deleting(node("d", vec![]), ORPHAN);
    assert_eq!(
        judge(&orphaning, &gone, false),
        Verdict::Delete(Policy::Orphan)
    );
}

#[test]
fn judge_foreground_owner_cascades() {
    let item = node("d", vec![owner_ref("o", true)]);
    let waiting = [(owner_ref("o", true), OwnerState::Waiting)];
    assert_eq!(
        judge(&item, &waiting, true),
        Verdict::Delete(Policy::Foreground)
    );
    assert_eq!(
        judge(&item, &waiting, false),
        Verdict::Delete(Policy::Background)
    );
}

#[test]
fn foreground_owner_waits_for_blocking_dependents() {
    let mut g = Graph::default();
    g.upsert(node("o", vec![]));
    g.upsert(node("blocker", vec![owner_ref("o", true)]));
    g.upsert(node("loose", vec![owner_ref("o", false)]));
    // The owner is marked for foreground deletion: it must be processed.
    assert!(g
        .upsert(deleting(node("o", vec![]), FOREGROUND))
        .contains(&"o".to_string()));
    let mut kicked = HashSet::new();
    match g.step("o", &mut kicked) {
        Step::Process(mut uids) => {
            uids.sort();
            assert_eq!(uids, vec!["blocker", "loose"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    // Dependents see their owner waiting.
    match g.step("blocker", &mut kicked) {
        Step::Judge(states) => assert_eq!(states[0].1, OwnerState::Waiting),
        other => panic!("unexpected {other:?}"),
    }
    // Already kicked: no second scan while the blocker remains.
    assert_eq!(g.step("o", &mut kicked), Step::Nothing);
    // The non-blocking dependent going does not release the owner.
    g.remove("loose");
    assert_eq!(g.step("o", &mut kicked), Step::Nothing);
    // The blocking one going marks the owner and releases it.
    assert_eq!(g.remove("blocker"), vec!["o"]);
    assert_eq!(g.step("o", &mut kicked), Step::RemoveFinalizer(FOREGROUND));
}

#[test]
fn orphaning_owner_lists_its_dependents() {
    let mut g = Graph::default();
    g.upsert(node("o", vec![]));
    g.upsert(node("d", vec![owner_ref("o", true)]));
    assert_eq!(g.upsert(deleting(node("o", vec![]), ORPHAN)), vec!["o"]);
    match g.step("o", &mut HashSet::new()) {
        Step::Orphan(deps) => assert_eq!(deps.iter().map(|d| &d.uid).collect::<Vec<_>>(), ["d"]),
        other => panic!("unexpected {other:?}"),
    }
    // A deleting object without our finalizers is left to others.
    g.upsert(deleting(node("p", vec![]), "example.com/hold"));
    assert_eq!(g.step("p", &mut HashSet::new()), Step::Nothing);
}
