use super::*;
use crate::pods::observed::SandboxInfo;
use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn pod(init: &[&str], regular: &[&str], policy: &str) -> Pod {
    let c = |n: &&str| Container {
        name: n.to_string(),
        image: Some(format!("img-{n}")),
        ..Default::default()
    };
    Pod {
        metadata: ObjectMeta {
            name: Some("p".into()),
            namespace: Some("default".into()),
            uid: Some("u".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            init_containers: (!init.is_empty()).then(|| init.iter().map(c).collect()),
            containers: regular.iter().map(c).collect(),
            restart_policy: Some(policy.into()),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some("Pending".into()),
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

fn container(
    name: &str,
    kind: Kind,
    state: State,
    exit: i32,
    restarts: u32,
    at: i64,
) -> ContainerInfo {
    ContainerInfo {
        id: format!("{name}-{restarts}"),
        sandbox_id: "sb".into(),
        name: name.into(),
        kind,
        restart_count: restarts,
        state,
        created_at: at,
        started_at: at * 1_000_000_000,
        finished_at: if state == State::Exited {
            (at + 1) * 1_000_000_000
        } else {
            0
        },
        exit_code: exit,
        reason: String::new(),
        message: String::new(),
        image_ref: "sha256:1".into(),
        spec_image: String::new(),
        hash: String::new(),
    }
}

fn observed(containers: Vec<ContainerInfo>) -> Observed {
    let mut containers = containers;
    containers.sort_by_key(|c| std::cmp::Reverse(c.created_at));
    Observed {
        sandboxes: vec![SandboxInfo {
            id: "sb".into(),
            attempt: 0,
            ready: true,
            created_at: 1,
            ips: vec!["10.244.0.5".into()],
        }],
        containers,
    }
}

fn run(
    pod: &Pod,
    obs: &Observed,
    waiting: &HashMap<(Kind, String), Waiting>,
    ready: Option<bool>,
) -> PodStatus {
    let probes = move |_: &str| (ready, None);
    build(&Inputs {
        pod,
        observed: obs,
        waiting,
        probes: &probes,
        host_ip: "192.168.1.2".parse().unwrap(),
        now: Timestamp::from_second(1_700_000_000).unwrap(),
        terminating: false,
    })
}

fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a PodCondition {
    s.conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == t)
        .unwrap()
}

#[test]
fn nothing_started_is_pending_container_creating() {
    let p = pod(&[], &["app"], "Always");
    let s = run(&p, &Observed::default(), &HashMap::new(), None);
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let cs = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        cs.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("ContainerCreating")
    );
    assert_eq!(cs.image, "img-app");
    assert_eq!(cond(&s, "PodReadyToStartContainers").status, "False");
    assert_eq!(cond(&s, "Ready").status, "False");
    assert_eq!(
        cond(&s, "Ready").message.as_deref(),
        Some("containers with unready status: [app]")
    );
    assert_eq!(cond(&s, "PodScheduled").status, "True");
    assert_eq!(s.pod_ip, None);
    assert_eq!(s.host_ip.as_deref(), Some("192.168.1.2"));
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
}

#[test]
fn running_container_makes_the_pod_running_and_ready() {
    let p = pod(&[], &["app"], "Always");
    let obs = observed(vec![container(
        "app",
        Kind::Regular,
        State::Running,
        0,
        0,
        10,
    )]);
    let s = run(&p, &obs, &HashMap::new(), None);
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.5"));
    let cs = &s.container_statuses.as_ref().unwrap()[0];
    assert!(cs.ready);
    assert_eq!(cs.started, Some(true));
    assert_eq!(cs.container_id.as_deref(), Some("containerd://app-0"));
    assert_eq!(cs.image_id, "sha256:1");
    assert_eq!(cond(&s, "Ready").status, "True");
    assert_eq!(cond(&s, "ContainersReady").status, "True");
    assert_eq!(cond(&s, "PodReadyToStartContainers").status, "True");
    // A failing readiness probe keeps it out of Ready.
    let s = run(&p, &obs, &HashMap::new(), Some(false));
    assert!(!s.container_statuses.as_ref().unwrap()[0].ready);
    assert_eq!(
        cond(&s, "Ready").reason.as_deref(),
        Some("ContainersNotReady")
    );
}

#[test]
fn transition_time_only_moves_when_status_flips() {
    let mut p = pod(&[], &["app"], "Always");
    let obs = observed(vec![container(
        "app",
        Kind::Regular,
        State::Running,
        0,
        0,
        10,
    )]);
    let s1 = run(&p, &obs, &HashMap::new(), None);
    p.status = Some(s1.clone());
    let probes = |_: &str| (None, None);
    let s2 = build(&Inputs {
        pod: &p,
        observed: &obs,
        waiting: &HashMap::new(),
        probes: &probes,
        host_ip: "192.168.1.2".parse().unwrap(),
        now: Timestamp::from_second(1_800_000_000).unwrap(),
        terminating: false,
    });
    assert_eq!(s1, s2);
}

#[test]
fn crash_loop_shows_waiting_with_last_state() {
    let p = pod(&[], &["app"], "Always");
    let obs = observed(vec![
        container("app", Kind::Regular, State::Exited, 1, 1, 20),
        container("app", Kind::Regular, State::Exited, 1, 0, 10),
    ]);
    let waiting = HashMap::from([(
        (Kind::Regular, "app".to_string()),
        Waiting {
            reason: "CrashLoopBackOff".into(),
            message: "back-off 10s".into(),
        },
    )]);
    let s = run(&p, &obs, &waiting, None);
    // Restarting under Always counts as Running.
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let cs = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(cs.restart_count, 1);
    assert_eq!(
        cs.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("CrashLoopBackOff")
    );
    let last = cs.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.exit_code, 1);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    assert_eq!(last.container_id.as_deref(), Some("containerd://app-1"));
}

#[test]
fn phases_by_restart_policy() {
    let done_ok = observed(vec![container(
        "app",
        Kind::Regular,
        State::Exited,
        0,
        0,
        10,
    )]);
    let done_bad = observed(vec![container(
        "app",
        Kind::Regular,
        State::Exited,
        2,
        0,
        10,
    )]);
    let none = HashMap::new();
    let phase_of = |policy: &str, obs: &Observed| {
        run(&pod(&[], &["app"], policy), obs, &none, None)
            .phase
            .unwrap()
    };
    assert_eq!(phase_of("Never", &done_ok), "Succeeded");
    assert_eq!(phase_of("Never", &done_bad), "Failed");
    assert_eq!(phase_of("OnFailure", &done_ok), "Succeeded");
    assert_eq!(phase_of("OnFailure", &done_bad), "Running");
    assert_eq!(phase_of("Always", &done_ok), "Running");
    let s = run(&pod(&[], &["app"], "Never"), &done_ok, &none, None);
    assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodCompleted"));
    let t = s.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(t.reason.as_deref(), Some("Completed"));
}

#[test]
fn init_containers_gate_initialization() {
    let p = pod(&["setup"], &["app"], "Always");
    let obs = observed(vec![container(
        "setup",
        Kind::Init,
        State::Running,
        0,
        0,
        10,
    )]);
    let s = run(&p, &obs, &HashMap::new(), None);
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(
        cond(&s, "Initialized").message.as_deref(),
        Some("containers with incomplete status: [setup]")
    );
    let app = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        app.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("PodInitializing")
    );
    let obs = observed(vec![
        container("setup", Kind::Init, State::Exited, 0, 0, 10),
        container("app", Kind::Regular, State::Running, 0, 0, 20),
    ]);
    let s = run(&p, &obs, &HashMap::new(), None);
    assert_eq!(cond(&s, "Initialized").status, "True");
    assert_eq!(s.phase.as_deref(), Some("Running"));
    // A failed init container with restartPolicy Never fails the pod.
    let p = pod(&["setup"], &["app"], "Never");
    let obs = observed(vec![container(
        "setup",
        Kind::Init,
        State::Exited,
        1,
        0,
        10,
    )]);
    assert_eq!(
        run(&p, &obs, &HashMap::new(), None).phase.as_deref(),
        Some("Failed")
    );
}

#[test]
fn terminal_phase_sticks_and_terminating_pods_finish() {
    let mut p = pod(&[], &["app"], "Always");
    let killed = observed(vec![container(
        "app",
        Kind::Regular,
        State::Exited,
        137,
        0,
        10,
    )]);
    let probes = |_: &str| (None, None);
    let s = build(&Inputs {
        pod: &p,
        observed: &killed,
        waiting: &HashMap::new(),
        probes: &probes,
        host_ip: "192.168.1.2".parse().unwrap(),
        now: Timestamp::from_second(1_700_000_000).unwrap(),
        terminating: true,
    });
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    p.status.as_mut().unwrap().phase = Some("Succeeded".into());
    let running = observed(vec![container(
        "app",
        Kind::Regular,
        State::Running,
        0,
        0,
        10,
    )]);
    assert_eq!(
        run(&p, &running, &HashMap::new(), None).phase.as_deref(),
        Some("Succeeded")
    );
}

#[test]
fn patch_body_carries_conditions_and_atomic_lists() {
    let p = pod(&[], &["app"], "Always");
    let s = run(&p, &Observed::default(), &HashMap::new(), None);
    let v = strategic_patch(&s);
    assert_eq!(v["containerStatuses"][0]["name"], "app");
    assert_eq!(v["containerStatuses"].as_array().unwrap().len(), 1);
    let types: Vec<&str> = v["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled"
        ]
    );
    assert!(v.get("initContainerStatuses").is_none());
}
