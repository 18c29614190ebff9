use serde_json::{json, Value};

use super::now;
use crate::row_cells;

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": "2024-05-01T08:56:00Z"})
}

fn svc(spec: Value, status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("web"),
           "spec": spec, "status": status})
}

#[test]
fn cluster_ip_service() {
    let s = svc(
        json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
               "selector": {"app": "web", "tier": "fe"},
               "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                         {"name": "dns", "port": 53, "protocol": "UDP"}]}),
        json!({"loadBalancer": {}}),
    );
    assert_eq!(
        row_cells("", "services", &s, now()),
        vec![
            json!("web"),
            json!("ClusterIP"),
            json!("10.96.0.10"),
            json!("<none>"),
            json!("80/TCP,53/UDP"),
            json!("3h4m"),
            json!("app=web,tier=fe"),
        ]
    );
}

#[test]
fn node_port_and_headless() {
    let np = svc(
        json!({"type": "NodePort", "clusterIPs": ["10.96.4.2"], "externalIPs": ["1.2.3.4"],
               "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
        json!({}),
    );
    let c = row_cells("", "services", &np, now());
    assert_eq!(c[3], "1.2.3.4");
    assert_eq!(c[4], "80:30080/TCP");
    assert_eq!(c[6], "<none>");
    let headless = svc(
        json!({"clusterIP": "None", "clusterIPs": ["None"]}),
        json!({}),
    );
    let c = row_cells("", "services", &headless, now());
    assert_eq!(c[1], "ClusterIP");
    assert_eq!(c[2], "None");
    assert_eq!(c[4], "<none>");
    let no_ip = svc(
        json!({"type": "ExternalName", "externalName": "db.example.com"}),
        json!({}),
    );
    let c = row_cells("", "services", &no_ip, now());
    assert_eq!(c[2], "<none>");
    assert_eq!(c[3], "db.example.com");
}

#[test]
fn load_balancer_service() {
    let spec = json!({"type": "LoadBalancer", "clusterIPs": ["10.96.1.1"],
                      "ports": [{"port": 8080, "nodePort": 31234, "protocol": "TCP"}]});
    let pending = svc(spec.clone(), json!({"loadBalancer": {}}));
    let c = row_cells("", "services", &pending, now());
    assert_eq!(c[3], "<pending>");
    assert_eq!(c[4], "8080:31234/TCP");
    let ready = svc(
        spec.clone(),
        json!({"loadBalancer": {"ingress": [
            {"hostname": "a1b2c3d4e5f6-1234567890.eu-west-1.elb.amazonaws.com"},
            {"ip": "203.0.113.7"}, {"ip": "198.51.100.2"}]}}),
    );
    // Server-side tables are always the wide form: no 16-character clipping.
    assert_eq!(
        row_cells("", "services", &ready, now())[3],
        "198.51.100.2,203.0.113.7,a1b2c3d4e5f6-1234567890.eu-west-1.elb.amazonaws.com"
    );
    let mut with_ext = spec;
    with_ext["externalIPs"] = json!(["192.0.2.9"]);
    let s = svc(
        with_ext,
        json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}]}}),
    );
    assert_eq!(
        row_cells("", "services", &s, now())[3],
        "203.0.113.7,192.0.2.9"
    );
}

#[test]
fn endpoints() {
    let ep = json!({"metadata": meta("web"), "subsets": [
        {"addresses": [{"ip": "10.244.0.5"}, {"ip": "10.244.1.7"}],
         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
    ]});
    assert_eq!(
        row_cells("", "endpoints", &ep, now()),
        vec![
            json!("web"),
            json!("10.244.0.5:8080,10.244.1.7:8080"),
            json!("3h4m")
        ]
    );
    let many = json!({"metadata": meta("big"), "subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}],
         "ports": [{"port": 80}, {"port": 443}]},
        {"addresses": [{"ip": "10.0.1.1"}]}
    ]});
    assert_eq!(
        row_cells("", "endpoints", &many, now())[1],
        "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 4 more..."
    );
    let none = json!({"metadata": meta("empty")});
    assert_eq!(row_cells("", "endpoints", &none, now())[1], "<none>");
}

#[test]
fn nodes() {
    let node = json!({"metadata": {"name": "control-plane", "creationTimestamp": "2024-03-01T12:00:00Z",
        "labels": {"node-role.kubernetes.io/control-plane": "",
                   "node-role.kubernetes.io/etcd": "", "kubernetes.io/hostname": "cp"}},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"},
                           {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "Hostname", "address": "cp"},
                          {"type": "InternalIP", "address": "192.168.49.2"}],
            "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Ubuntu 22.04.4 LTS",
                         "kernelVersion": "6.8.0-45-generic",
                         "containerRuntimeVersion": "containerd://1.7.22"}}});
    assert_eq!(
        row_cells("", "nodes", &node, now()),
        vec![
            json!("control-plane"),
            json!("Ready,SchedulingDisabled"),
            json!("control-plane,etcd"),
            json!("61d"),
            json!("v1.33.1"),
            json!("192.168.49.2"),
            json!("<none>"),
            json!("Ubuntu 22.04.4 LTS"),
            json!("6.8.0-45-generic"),
            json!("containerd://1.7.22"),
        ]
    );
    let worker = json!({"metadata": {"name": "w", "labels": {"kubernetes.io/role": "worker"}},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
    let c = row_cells("", "nodes", &worker, now());
    assert_eq!(c[1], "NotReady");
    assert_eq!(c[2], "worker");
    assert_eq!(c[3], "<unknown>");
    assert_eq!(c[7], "<unknown>");
    let bare = json!({"metadata": {"name": "b"}});
    let c = row_cells("", "nodes", &bare, now());
    assert_eq!(c[1], "Unknown");
    assert_eq!(c[2], "<none>");
}

#[test]
fn simple_core_kinds() {
    let ns = json!({"metadata": meta("kube-system"), "status": {"phase": "Terminating"}});
    assert_eq!(
        row_cells("", "namespaces", &ns, now()),
        vec![json!("kube-system"), json!("Terminating"), json!("3h4m")]
    );
    let cm = json!({"metadata": meta("cfg"), "data": {"a": "1", "b": "2"},
                    "binaryData": {"c": "AAE="}});
    assert_eq!(
        row_cells("", "configmaps", &cm, now()),
        vec![json!("cfg"), json!(3), json!("3h4m")]
    );
    let secret = json!({"metadata": meta("tls"), "type": "kubernetes.io/tls",
                        "data": {"tls.crt": "Zm9v", "tls.key": "YmFy"},
                        "stringData": {"extra": "x", "tls.key": "y"}});
    assert_eq!(
        row_cells("", "secrets", &secret, now()),
        vec![
            json!("tls"),
            json!("kubernetes.io/tls"),
            json!(3),
            json!("3h4m")
        ]
    );
    let opaque = json!({"metadata": meta("o")});
    assert_eq!(
        row_cells("", "secrets", &opaque, now())[1..3],
        [json!("Opaque"), json!(0)]
    );
    let sa = json!({"metadata": meta("default"), "secrets": [{"name": "default-token"}]});
    assert_eq!(
        row_cells("", "serviceaccounts", &sa, now()),
        vec![json!("default"), json!(1), json!("3h4m")]
    );
}

#[test]
fn rc_and_pod_template() {
    let tmpl = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}},
                      "spec": {"containers": [{"name": "web", "image": "nginx"}]}});
    let rc = json!({"metadata": meta("web"),
        "spec": {"replicas": 2, "selector": {"app": "web"}, "template": tmpl},
        "status": {"replicas": 2, "readyReplicas": 1}});
    assert_eq!(
        row_cells("", "replicationcontrollers", &rc, now()),
        vec![
            json!("web"),
            json!(2),
            json!(2),
            json!(1),
            json!("3h4m"),
            json!("web"),
            json!("nginx"),
            json!("app=web"),
        ]
    );
    let pt = json!({"metadata": meta("tmpl"), "template": tmpl});
    assert_eq!(
        row_cells("", "podtemplates", &pt, now()),
        vec![
            json!("tmpl"),
            json!("web"),
            json!("nginx"),
            json!("app=web,tier=fe")
        ]
    );
}

#[test]
fn resource_quota() {
    let rq = json!({"metadata": meta("compute"),
        "spec": {"hard": {"pods": "10"}},
        "status": {"hard": {"requests.cpu": "1", "pods": "10", "limits.memory": "2Gi",
                            "limits.cpu": "2", "requests.memory": "1Gi"},
                   "used": {"requests.cpu": "500m", "pods": "3", "limits.cpu": "1",
                            "requests.memory": "256Mi"}}});
    assert_eq!(
        row_cells("", "resourcequotas", &rq, now()),
        vec![
            json!("compute"),
            json!("pods: 3/10, requests.cpu: 500m/1, requests.memory: 256Mi/1Gi"),
            json!("limits.cpu: 1/2, limits.memory: 0/2Gi"),
            json!("3h4m"),
        ]
    );
}

#[test]
fn core_events() {
    let ev = json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web-7d4b9c.17c3a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-7d4b9c", "fieldPath": "spec.containers{web}"},
        "reason": "Pulled", "type": "Normal",
        "message": "Successfully pulled image \"nginx\"\n",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": "2024-05-01T11:40:00Z", "lastTimestamp": "2024-05-01T11:58:00Z",
        "count": 3});
    assert_eq!(
        row_cells("", "events", &ev, now()),
        vec![
            json!("2m"),
            json!("Normal"),
            json!("Pulled"),
            json!("pod/web-7d4b9c"),
            json!("spec.containers{web}"),
            json!("kubelet, node-1"),
            json!("Successfully pulled image \"nginx\""),
            json!("20m"),
            json!(3),
            json!("web-7d4b9c.17c3a"),
        ]
    );
    let new_style = json!({"metadata": {"name": "e2"}, "type": "Normal", "reason": "Scheduled",
        "involvedObject": {"kind": "Pod", "name": "p"},
        "eventTime": "2024-05-01T11:59:50.123456Z", "reportingComponent": "default-scheduler",
        "reportingController": "default-scheduler", "reportingInstance": "sched-1",
        "message": "Successfully assigned default/p to node-1"});
    let c = row_cells("", "events", &new_style, now());
    assert_eq!(c[0], "9s");
    assert_eq!(c[5], "default-scheduler, sched-1");
    assert_eq!(c[7], "9s");
    assert_eq!(c[8], json!(1));
    let series = json!({"metadata": {"name": "e3"}, "involvedObject": {"kind": "Node"},
        "eventTime": "2024-05-01T10:00:00.000000Z",
        "series": {"count": 7, "lastObservedTime": "2024-05-01T11:55:00.000000Z"}});
    let c = row_cells("", "events", &series, now());
    assert_eq!(c[0], "5m");
    assert_eq!(c[3], "node");
    assert_eq!(c[7], "120m");
    assert_eq!(c[8], json!(7));
}

#[test]
fn events_api_group() {
    let ev = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "web.1"},
        "regarding": {"kind": "Deployment", "name": "web"},
        "note": "Scaled up replica set web-5d8f to 3", "reason": "ScalingReplicaSet",
        "type": "Normal", "deprecatedSource": {"component": "deployment-controller"},
        "deprecatedFirstTimestamp": "2024-05-01T11:00:00Z",
        "deprecatedLastTimestamp": "2024-05-01T11:30:00Z", "deprecatedCount": 2});
    assert_eq!(
        row_cells("events.k8s.io", "events", &ev, now()),
        vec![
            json!("30m"),
            json!("Normal"),
            json!("ScalingReplicaSet"),
            json!("deployment/web"),
            json!(""),
            json!("deployment-controller"),
            json!("Scaled up replica set web-5d8f to 3"),
            json!("60m"),
            json!(2),
            json!("web.1"),
        ]
    );
}

#[test]
fn lease_slice_scale() {
    let lease = json!({"metadata": meta("node-1"),
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}});
    assert_eq!(
        row_cells("coordination.k8s.io", "leases", &lease, now()),
        vec![json!("node-1"), json!("node-1"), json!("3h4m")]
    );
    let slice = json!({"metadata": meta("web-abcde"), "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "metrics"}, {}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]},
                      {"addresses": ["10.0.0.3"]}, {"addresses": ["10.0.0.4", "10.0.0.5"]}]});
    assert_eq!(
        row_cells("discovery.k8s.io", "endpointslices", &slice, now()),
        vec![
            json!("web-abcde"),
            json!("IPv4"),
            json!("8080,metrics,*"),
            json!("10.0.0.1,10.0.0.2,10.0.0.3 + 2 more..."),
            json!("3h4m"),
        ]
    );
    let empty = json!({"metadata": meta("e"), "addressType": "IPv6"});
    let c = row_cells("discovery.k8s.io", "endpointslices", &empty, now());
    assert_eq!(c[2..4], [json!("<unset>"), json!("<unset>")]);
    let scale = json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta("web"),
        "spec": {"replicas": 5}, "status": {"replicas": 3, "selector": "app=web"}});
    assert_eq!(
        row_cells("apps", "deployments/scale", &scale, now()),
        vec![json!("web"), json!(5), json!(3), json!("3h4m")]
    );
}
