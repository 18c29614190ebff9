//! Pod status from what the runtime holds, as upstream's kubelet computes it: container
//! statuses, phase (getPhase), and the PodReadyToStartContainers / Initialized /
//! ContainersReady / Ready conditions. Pure: every input is passed in.

use std::collections::HashMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::containers::Kind;
use super::observed::{ContainerInfo, Observed, State};
use super::resources;

/// A waiting reason the worker decided on (image pull failure, back-off, bad config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

/// Probe results of a running container: (ready, started); None = no such probe.
pub type ProbeLookup<'a> = &'a dyn Fn(&str) -> (Option<bool>, Option<bool>);

pub struct Inputs<'a> {
    pub pod: &'a Pod,
    pub observed: &'a Observed,
    /// Keyed by (kind, container name).
    pub waiting: &'a HashMap<(Kind, String), Waiting>,
    pub probes: ProbeLookup<'a>,
    pub host_ip: IpAddr,
    pub now: Timestamp,
    /// The pod is being torn down: its containers will not restart.
    pub terminating: bool,
}

/// CRI nanoseconds to metav1.Time (whole seconds, as the API stores them).
pub fn time_of(unix_nanos: i64) -> Option<Time> {
    if unix_nanos <= 0 {
        return None;
    }
    Timestamp::from_second(unix_nanos / 1_000_000_000)
        .ok()
        .map(Time)
}

fn seconds(t: Timestamp) -> Time {
    Time(Timestamp::from_second(t.as_second()).unwrap_or(t))
}

fn terminated(c: &ContainerInfo) -> ContainerStateTerminated {
    ContainerStateTerminated {
        exit_code: c.exit_code,
        reason: Some(if c.reason.is_empty() {
            if c.exit_code == 0 {
                "Completed"
            } else {
                "Error"
            }
            .to_string()
        } else {
            c.reason.clone()
        }),
        message: Some(c.message.clone()).filter(|m| !m.is_empty()),
        started_at: time_of(c.started_at),
        finished_at: time_of(c.finished_at),
        container_id: Some(format!("containerd://{}", c.id)),
        signal: None,
    }
}

fn waiting_state(reason: &str, message: &str) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message: Some(message.to_string()).filter(|m| !m.is_empty()),
        }),
        ..Default::default()
    }
}

/// One container's status.
fn container_status(
    inp: &Inputs<'_>,
    kind: Kind,
    spec: &Container,
    default_reason: &str,
) -> ContainerStatus {
    let (latest, previous) = inp.observed.latest(kind, &spec.name);
    let override_ = inp.waiting.get(&(kind, spec.name.clone()));
    let spec_image = spec.image.clone().unwrap_or_default();
    let mut st = ContainerStatus {
        name: spec.name.clone(),
        image: spec_image.clone(),
        image_id: String::new(),
        ready: false,
        restart_count: 0,
        started: Some(false),
        ..Default::default()
    };
    let Some(c) = latest else {
        let (reason, message) = match override_ {
            Some(w) => (w.reason.as_str(), w.message.as_str()),
            None => (default_reason, ""),
        };
        st.state = Some(waiting_state(reason, message));
        return st;
    };
    st.restart_count = c.restart_count as i32;
    if !c.spec_image.is_empty() {
        st.image = c.spec_image.clone();
    }
    st.image_id = c.image_ref.clone();
    st.container_id = Some(format!("containerd://{}", c.id));
    let last = previous
        .filter(|p| p.state == State::Exited)
        .map(|p| ContainerState {
            terminated: Some(terminated(p)),
            ..Default::default()
        });
    match c.state {
        State::Running => {
            let (ready, started) = (inp.probes)(&c.id);
            let started = started.unwrap_or(true);
            st.started = Some(started);
            st.ready = started && ready.unwrap_or(true) && !inp.terminating;
            st.state = Some(ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: time_of(c.started_at),
                }),
                ..Default::default()
            });
            st.last_state = last;
        }
        State::Exited => {
            let term = ContainerState {
                terminated: Some(terminated(c)),
                ..Default::default()
            };
            match override_ {
                // Waiting to be restarted (back-off): the exit becomes lastState.
                Some(w) => {
                    st.state = Some(waiting_state(&w.reason, &w.message));
                    st.last_state = Some(term);
                }
                None => {
                    st.state = Some(term);
                    st.last_state = last;
                }
            }
        }
        State::Created | State::Unknown => {
            let (reason, message) = match override_ {
                Some(w) => (w.reason.as_str(), w.message.as_str()),
                None => (default_reason, ""),
            };
            st.state = Some(waiting_state(reason, message));
            st.last_state = last;
        }
    }
    if st.last_state.is_none() {
        st.last_state = Some(ContainerState::default());
    }
    st
}

fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

fn is_terminated(s: &ContainerStatus) -> Option<i32> {
    s.state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .map(|t| t.exit_code)
}

fn is_running(s: &ContainerStatus) -> bool {
    s.state.as_ref().is_some_and(|st| st.running.is_some())
}

fn last_exit(s: &ContainerStatus) -> Option<i32> {
    s.last_state
        .as_ref()
        .and_then(|st| st.terminated.as_ref())
        .map(|t| t.exit_code)
}

/// Upstream's getPhase.
pub fn phase(
    pod: &Pod,
    init: &[ContainerStatus],
    regular: &[ContainerStatus],
    terminal: bool,
) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "Pending";
    };
    let policy = spec.restart_policy.as_deref().unwrap_or("Always");
    let any_regular_started = regular
        .iter()
        .any(|s| is_running(s) || is_terminated(s).is_some() || last_exit(s).is_some());
    let mut pending_init = 0;
    let mut sidecars_stopped = true;
    for (c, s) in spec.init_containers.iter().flatten().zip(init) {
        if is_sidecar(c) {
            if is_running(s) {
                sidecars_stopped = false;
            } else if !any_regular_started {
                pending_init += 1;
            }
            continue;
        }
        match is_terminated(s) {
            Some(0) => {}
            Some(_) if policy == "Never" => return "Failed",
            _ => {
                if policy == "Never" && last_exit(s).is_some_and(|e| e != 0) {
                    return "Failed";
                }
                pending_init += 1;
            }
        }
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in regular {
        if is_running(s) {
            running += 1;
        } else if let Some(code) = is_terminated(s) {
            stopped += 1;
            if code == 0 {
                succeeded += 1;
            }
        } else if last_exit(s).is_some() {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if (pending_init > 0 && !any_regular_started) || waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        let all_ok = stopped == succeeded && sidecars_stopped;
        if terminal {
            return if all_ok { "Succeeded" } else { "Failed" };
        }
        return match policy {
            "Always" => "Running",
            _ if all_ok => "Succeeded",
            "Never" => "Failed",
            _ => "Running",
        };
    }
    "Pending"
}

fn names(list: &[&str]) -> String {
    format!("[{}]", list.join(" "))
}

fn condition(type_: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.map(str::to_string),
        message,
        ..Default::default()
    }
}

/// The whole status to write, starting from the stored one so fields and conditions
/// owned by others stay.
pub fn build(inp: &Inputs<'_>) -> PodStatus {
    let pod = inp.pod;
    let old = pod.status.clone().unwrap_or_default();
    let mut status = old.clone();
    let empty = Vec::new();
    let spec_init = pod
        .spec
        .as_ref()
        .and_then(|s| s.init_containers.as_ref())
        .unwrap_or(&empty);
    let spec_regular = pod.spec.as_ref().map(|s| &s.containers).unwrap_or(&empty);
    let default_reason = if spec_init.is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let init: Vec<ContainerStatus> = spec_init
        .iter()
        .map(|c| container_status(inp, Kind::Init, c, default_reason))
        .collect();
    let regular: Vec<ContainerStatus> = spec_regular
        .iter()
        .map(|c| container_status(inp, Kind::Regular, c, default_reason))
        .collect();

    let old_phase = old.phase.as_deref();
    let phase = match old_phase {
        // Terminal phases never change back.
        Some(p @ ("Succeeded" | "Failed")) => p.to_string(),
        _ => phase(pod, &init, &regular, inp.terminating).to_string(),
    };

    // Conditions.
    let any_regular_started = regular
        .iter()
        .any(|s| is_running(s) || is_terminated(s).is_some() || last_exit(s).is_some());
    let incomplete: Vec<&str> = spec_init
        .iter()
        .zip(&init)
        .filter(|(c, s)| {
            if is_sidecar(c) {
                s.started != Some(true)
            } else {
                is_terminated(s) != Some(0)
            }
        })
        .map(|(c, _)| c.name.as_str())
        .collect();
    let initialized = if incomplete.is_empty() || any_regular_started {
        condition("Initialized", true, None, None)
    } else if phase == "Succeeded" {
        condition("Initialized", true, Some("PodCompleted"), None)
    } else {
        condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: {}",
                names(&incomplete)
            )),
        )
    };
    let unready: Vec<&str> = spec_init
        .iter()
        .zip(&init)
        .filter(|(c, s)| is_sidecar(c) && !s.ready)
        .chain(spec_regular.iter().zip(&regular).filter(|(_, s)| !s.ready))
        .map(|(c, _)| c.name.as_str())
        .collect();
    let containers_ready = if phase == "Succeeded" {
        condition("ContainersReady", false, Some("PodCompleted"), None)
    } else if unready.is_empty() {
        condition("ContainersReady", true, None, None)
    } else {
        condition(
            "ContainersReady",
            false,
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: {}",
                names(&unready)
            )),
        )
    };
    let old_conditions = old.conditions.clone().unwrap_or_default();
    let gate_problem = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_ref())
        .into_iter()
        .flatten()
        .find_map(
            |g| match old_conditions.iter().find(|c| c.type_ == g.condition_type) {
                None => Some(format!(
                    "corresponding condition of pod readiness gate \"{}\" does not exist.",
                    g.condition_type
                )),
                Some(c) if c.status != "True" => Some(format!(
                    "the status of pod readiness gate \"{}\" is not \"True\", but {}",
                    g.condition_type, c.status
                )),
                _ => None,
            },
        );
    let ready = if containers_ready.status != "True" {
        PodCondition {
            type_: "Ready".into(),
            ..containers_ready.clone()
        }
    } else if let Some(message) = gate_problem {
        condition(
            "Ready",
            false,
            Some("ReadinessGatesNotReady"),
            Some(message),
        )
    } else {
        condition("Ready", true, None, None)
    };
    let host_network = pod
        .spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false);
    let sandbox_ok = inp
        .observed
        .ready_sandbox()
        .is_some_and(|s| host_network || !s.ips.is_empty())
        && !matches!(phase.as_str(), "Succeeded" | "Failed");
    let ready_to_start = condition("PodReadyToStartContainers", sandbox_ok, None, None);

    let ours = [ready_to_start, initialized, ready, containers_ready];
    let mut conditions: Vec<PodCondition> = Vec::new();
    for mut c in ours {
        let prev = old_conditions.iter().find(|o| o.type_ == c.type_);
        c.last_transition_time = match prev {
            Some(p) if p.status == c.status => p.last_transition_time.clone(),
            _ => Some(seconds(inp.now)),
        };
        c.last_probe_time = prev.and_then(|p| p.last_probe_time.clone());
        conditions.push(c);
    }
    for o in &old_conditions {
        if !conditions.iter().any(|c| c.type_ == o.type_) {
            conditions.push(o.clone());
        }
    }
    // A pod we run is scheduled; the binding normally says so, but keep it true here
    // when nothing recorded it.
    let bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
    if bound && !conditions.iter().any(|c| c.type_ == "PodScheduled") {
        let mut scheduled = condition("PodScheduled", true, None, None);
        scheduled.last_transition_time = Some(seconds(inp.now));
        conditions.push(scheduled);
    }

    status.phase = Some(phase);
    status.conditions = Some(conditions);
    status.init_container_statuses = (!spec_init.is_empty()).then_some(init);
    status.container_statuses = Some(regular);
    status.host_ip = Some(inp.host_ip.to_string());
    status.host_ips = Some(vec![HostIP {
        ip: inp.host_ip.to_string(),
    }]);
    let ips: Vec<String> = if host_network {
        vec![inp.host_ip.to_string()]
    } else {
        inp.observed.pod_ips().to_vec()
    };
    if let Some(first) = ips.first() {
        status.pod_ip = Some(first.clone());
        status.pod_ips = Some(ips.iter().map(|ip| PodIP { ip: ip.clone() }).collect());
    }
    if status.start_time.is_none() {
        status.start_time = Some(seconds(inp.now));
    }
    if status.qos_class.is_none() {
        status.qos_class = Some(resources::qos_class(pod).to_string());
    }
    status
}

/// The status as a strategic merge patch body: conditions merge by type (so a condition
/// another writer adds at the same moment, like the scheduler's PodScheduled, stays);
/// the container status lists are atomic in the schema and so replaced whole.
pub fn strategic_patch(status: &PodStatus) -> serde_json::Value {
    serde_json::to_value(status).unwrap_or_default()
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
