use super::*;
use k8s_openapi::api::apps::v1::{DeploymentSpec, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn deployment(replicas: i32, generation: i64) -> Deployment {
    Deployment {
        metadata: ObjectMeta {
            name: Some("web".into()),
            generation: Some(generation),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            progress_deadline_seconds: Some(600),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn rs(name: &str, spec: i32, actual: i32, available: i32) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(spec),
            ..Default::default()
        }),
        status: Some(ReplicaSetStatus {
            replicas: actual,
            ready_replicas: Some(available),
            available_replicas: Some(available),
            ..Default::default()
        }),
    }
}

#[test]
fn mid_rollout_counts_and_availability() {
    let d = deployment(4, 2);
    let (new, old) = (rs("new", 2, 2, 1), rs("old", 3, 3, 3));
    let s = calculate(&[&old, &new], Some(&new), &d);
    assert_eq!(s.replicas, Some(5));
    assert_eq!(s.updated_replicas, Some(2));
    assert_eq!(s.available_replicas, Some(4));
    assert_eq!(s.unavailable_replicas, Some(1));
    assert_eq!(s.observed_generation, Some(2));
    // 4 available >= 4 - maxUnavailable(1).
    assert_eq!(get(&s, AVAILABLE).map(|c| c.status.as_str()), Some("True"));
    assert!(!complete(&d, &s));
    let thin = calculate(&[&rs("new", 4, 4, 2)], None, &d);
    assert_eq!(
        get(&thin, AVAILABLE).and_then(|c| c.reason.as_deref()),
        Some("MinimumReplicasUnavailable")
    );
}

#[test]
fn progressing_then_complete() {
    let mut d = deployment(2, 1);
    let new = rs("new", 2, 1, 0);
    let s = rollout(&[&new], Some(&new), &d);
    let c = get(&s, PROGRESSING).unwrap();
    assert_eq!(c.reason.as_deref(), Some("ReplicaSetUpdated"));
    assert_eq!(
        c.message.as_deref(),
        Some("ReplicaSet \"new\" is progressing.")
    );
    d.status = Some(s);
    let done = rs("new", 2, 2, 2);
    let s = rollout(&[&done], Some(&done), &d);
    assert!(complete(&d, &s));
    assert_eq!(
        get(&s, PROGRESSING).and_then(|c| c.reason.as_deref()),
        Some(NEW_RS_AVAILABLE)
    );
    assert!(recheck_after(&d, &s).is_none());
}

#[test]
fn stalls_time_out_after_the_deadline() {
    let mut d = deployment(2, 1);
    // Nothing moved since the last status: 2 updated, none ready.
    let mut st = DeploymentStatus {
        replicas: Some(2),
        updated_replicas: Some(2),
        ..Default::default()
    };
    let mut c = condition(PROGRESSING, "True", "ReplicaSetUpdated", "x");
    let long_ago = Timestamp::from_second(now().as_second() - 601).unwrap();
    c.last_update_time = Some(Time(long_ago));
    set(&mut st, c);
    d.status = Some(st.clone());
    assert!(timed_out(&d, &st, now().as_second()));
    let stuck = rs("new", 2, 2, 0);
    let s = rollout(&[&stuck], Some(&stuck), &d);
    let c = get(&s, PROGRESSING).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref()),
        ("False", Some(TIMED_OUT))
    );
}

#[test]
fn setting_same_condition_keeps_it() {
    let mut st = DeploymentStatus::default();
    let mut first = condition(AVAILABLE, "True", "MinimumReplicasAvailable", "a");
    first.last_transition_time = Some(Time(Timestamp::from_second(1000).unwrap()));
    set(&mut st, first.clone());
    set(
        &mut st,
        condition(AVAILABLE, "True", "MinimumReplicasAvailable", "b"),
    );
    assert_eq!(st.conditions.as_ref().unwrap(), &vec![first.clone()]);
    // Same status, new reason: replaced but the transition time is kept.
    set(&mut st, condition(AVAILABLE, "True", "Other", "c"));
    let c = get(&st, AVAILABLE).unwrap();
    assert_eq!(c.reason.as_deref(), Some("Other"));
    assert_eq!(c.last_transition_time, first.last_transition_time);
}
