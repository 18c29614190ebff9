use super::apply;
use serde_json::json;

#[test]
fn deployment_defaults() {
    let mut d = json!({"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},
        "template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"web","image":"nginx"}]}}}});
    apply("apps", "deployments", &mut d);
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"25%","maxSurge":"25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    assert_eq!(spec["template"]["spec"]["restartPolicy"], "Always");
    assert_eq!(
        spec["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "Always"
    );
    assert!(spec["template"]["spec"].get("enableServiceLinks").is_none());
}

#[test]
fn deployment_recreate_has_no_rolling_update() {
    let mut d = json!({"spec":{"strategy":{"type":"Recreate"},"replicas":3}});
    apply("apps", "deployments", &mut d);
    assert_eq!(d["spec"]["strategy"], json!({"type":"Recreate"}));
    assert_eq!(d["spec"]["replicas"], 3);
}

#[test]
fn replicaset_and_rc_defaults() {
    let mut rs = json!({"spec":{"template":{"spec":{"containers":[]}}}});
    apply("apps", "replicasets", &mut rs);
    assert_eq!(rs["spec"]["replicas"], 1);
    let mut rc = json!({"metadata":{"name":"r"},"spec":{"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"i:1"}]}}}});
    apply("", "replicationcontrollers", &mut rc);
    assert_eq!(rc["spec"]["selector"], json!({"app":"a"}));
    assert_eq!(rc["metadata"]["labels"], json!({"app":"a"}));
    assert_eq!(rc["spec"]["replicas"], 1);
    assert_eq!(rc["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");
}

#[test]
fn statefulset_defaults() {
    let mut s = json!({"spec":{"template":{"spec":{"containers":[]}},"volumeClaimTemplates":[{"metadata":{"name":"d"},"spec":{}}]}});
    apply("apps", "statefulsets", &mut s);
    let spec = &s["spec"];
    assert_eq!(spec["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        spec["updateStrategy"],
        json!({"type":"RollingUpdate","rollingUpdate":{"partition":0}})
    );
    assert_eq!(
        spec["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted":"Retain","whenScaled":"Retain"})
    );
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(
        spec["volumeClaimTemplates"][0]["spec"]["volumeMode"],
        "Filesystem"
    );
    assert_eq!(
        spec["volumeClaimTemplates"][0]["status"]["phase"],
        "Pending"
    );
}

#[test]
fn daemonset_defaults() {
    let mut d = json!({"spec":{}});
    apply("apps", "daemonsets", &mut d);
    assert_eq!(
        d["spec"]["updateStrategy"],
        json!({"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":1,"maxSurge":0}})
    );
    assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
    let mut d = json!({"spec":{"updateStrategy":{"type":"OnDelete"}}});
    apply("apps", "daemonsets", &mut d);
    assert_eq!(d["spec"]["updateStrategy"], json!({"type":"OnDelete"}));
}

#[test]
fn job_defaults_and_selector() {
    let mut j = json!({"metadata":{"name":"pi","uid":"u-1"},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"perl:5"}]}}}});
    apply("batch", "jobs", &mut j);
    let spec = &j["spec"];
    assert_eq!(spec["completions"], 1);
    assert_eq!(spec["parallelism"], 1);
    assert_eq!(spec["backoffLimit"], 6);
    assert_eq!(spec["completionMode"], "NonIndexed");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(
        spec["selector"],
        json!({"matchLabels":{"batch.kubernetes.io/controller-uid":"u-1"}})
    );
    assert_eq!(spec["template"]["metadata"]["labels"]["job-name"], "pi");
    assert_eq!(
        spec["template"]["metadata"]["labels"]["batch.kubernetes.io/controller-uid"],
        "u-1"
    );
    assert_eq!(j["metadata"]["labels"]["job-name"], "pi");
    // parallelism alone leaves completions unset
    let mut j = json!({"spec":{"parallelism":3,"template":{"spec":{}}}});
    apply("batch", "jobs", &mut j);
    assert!(j["spec"].get("completions").is_none());
}

#[test]
fn cronjob_defaults() {
    let mut c = json!({"spec":{"schedule":"* * * * *","jobTemplate":{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}}});
    apply("batch", "cronjobs", &mut c);
    let spec = &c["spec"];
    assert_eq!(spec["concurrencyPolicy"], "Allow");
    assert_eq!(spec["suspend"], false);
    assert_eq!(spec["successfulJobsHistoryLimit"], 3);
    assert_eq!(spec["failedJobsHistoryLimit"], 1);
    assert_eq!(
        spec["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"],
        "Always"
    );
    assert!(spec["jobTemplate"]["spec"].get("backoffLimit").is_none());
}

#[test]
fn service_defaults() {
    let mut s = json!({"spec":{"selector":{"app":"a"},"ports":[{"port":80},{"port":443,"targetPort":"https"}]}});
    apply("", "services", &mut s);
    let spec = &s["spec"];
    assert_eq!(spec["type"], "ClusterIP");
    assert_eq!(spec["sessionAffinity"], "None");
    assert_eq!(spec["ports"][0]["protocol"], "TCP");
    assert_eq!(spec["ports"][0]["targetPort"], 80);
    assert_eq!(spec["ports"][1]["targetPort"], "https");
    assert_eq!(spec["internalTrafficPolicy"], "Cluster");
    assert_eq!(spec["ipFamilyPolicy"], "SingleStack");
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert!(spec.get("externalTrafficPolicy").is_none());

    let mut s =
        json!({"spec":{"type":"LoadBalancer","sessionAffinity":"ClientIP","ports":[{"port":80}]}});
    apply("", "services", &mut s);
    assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(s["spec"]["allocateLoadBalancerNodePorts"], true);
    assert_eq!(
        s["spec"]["sessionAffinityConfig"]["clientIP"]["timeoutSeconds"],
        10800
    );

    let mut s = json!({"spec":{"type":"ExternalName","externalName":"example.com"}});
    apply("", "services", &mut s);
    assert!(s["spec"].get("ipFamilyPolicy").is_none());
    assert!(s["spec"].get("internalTrafficPolicy").is_none());
}

#[test]
fn secret_defaults_merge_string_data() {
    let mut s = json!({"data":{"a":"eA=="},"stringData":{"b":"hi","a":"y"}});
    apply("", "secrets", &mut s);
    assert_eq!(s["type"], "Opaque");
    assert_eq!(s["data"], json!({"a":"eQ==","b":"aGk="}));
    assert!(s.get("stringData").is_none());
}

#[test]
fn namespace_defaults() {
    let mut n = json!({"metadata":{"name":"dev"}});
    apply("", "namespaces", &mut n);
    assert_eq!(
        n["metadata"]["labels"]["kubernetes.io/metadata.name"],
        "dev"
    );
    assert_eq!(n["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(n["status"]["phase"], "Active");
    // A stored namespace being finalized keeps its (emptied) finalizer list.
    let mut n = json!({"metadata":{"name":"dev","resourceVersion":"5"},"spec":{"finalizers":[]},"status":{"phase":"Terminating"}});
    apply("", "namespaces", &mut n);
    assert_eq!(n["spec"]["finalizers"], json!([]));
    assert_eq!(n["status"]["phase"], "Terminating");
}

#[test]
fn node_endpoints_slices_limitranges() {
    let mut n = json!({"status":{"capacity":{"cpu":"2"}}});
    apply("", "nodes", &mut n);
    assert_eq!(n["status"]["allocatable"], json!({"cpu":"2"}));

    let mut e = json!({"subsets":[{"ports":[{"port":80}]}]});
    apply("", "endpoints", &mut e);
    assert_eq!(e["subsets"][0]["ports"][0]["protocol"], "TCP");

    let mut es = json!({"addressType":"IPv4","ports":[{"port":80}]});
    apply("discovery.k8s.io", "endpointslices", &mut es);
    assert_eq!(
        es["ports"][0],
        json!({"port":80,"name":"","protocol":"TCP"})
    );

    let mut lr =
        json!({"spec":{"limits":[{"type":"Container","max":{"cpu":"2"},"min":{"memory":"1Mi"}}]}});
    apply("", "limitranges", &mut lr);
    let item = &lr["spec"]["limits"][0];
    assert_eq!(item["default"], json!({"cpu":"2"}));
    assert_eq!(item["defaultRequest"], json!({"cpu":"2","memory":"1Mi"}));
}

#[test]
fn podtemplate_defaults_and_unknown_fields_kept() {
    let mut p = json!({"template":{"spec":{"containers":[{"name":"c","image":"x:1","futureField":7}]}},"extra":true});
    apply("", "podtemplates", &mut p);
    assert_eq!(p["template"]["spec"]["containers"][0]["futureField"], 7);
    assert_eq!(
        p["template"]["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    assert_eq!(p["extra"], true);
}
