use serde_json::{json, Value};

use super::now;
use crate::{column_definitions, row_cells, row_conditions};

const KNOWN: &[(&str, &str)] = &[
    ("", "pods"),
    ("", "podtemplates"),
    ("", "replicationcontrollers"),
    ("", "services"),
    ("", "endpoints"),
    ("", "nodes"),
    ("", "namespaces"),
    ("", "configmaps"),
    ("", "secrets"),
    ("", "serviceaccounts"),
    ("", "events"),
    ("", "resourcequotas"),
    ("", "limitranges"),
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("apps", "controllerrevisions"),
    ("batch", "jobs"),
    ("batch", "cronjobs"),
    ("coordination.k8s.io", "leases"),
    ("discovery.k8s.io", "endpointslices"),
    ("events.k8s.io", "events"),
    ("apps", "deployments/scale"),
];

fn names(group: &str, resource: &str) -> Vec<String> {
    column_definitions(group, resource)
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

fn default_names(group: &str, resource: &str) -> Vec<String> {
    column_definitions(group, resource)
        .iter()
        .filter(|c| c["priority"] == 0)
        .map(|c| c["name"].as_str().unwrap().to_uppercase())
        .collect()
}

#[test]
fn rows_match_columns_even_for_empty_objects() {
    let sparse = json!({"metadata": {"name": "x", "creationTimestamp": "2024-05-01T11:00:00Z"}});
    for (g, r) in KNOWN {
        let cols = column_definitions(g, r);
        assert_eq!(
            row_cells(g, r, &json!({}), now()).len(),
            cols.len(),
            "{g}/{r}"
        );
        assert_eq!(row_cells(g, r, &sparse, now()).len(), cols.len(), "{g}/{r}");
        for c in &cols {
            let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, ["name", "type", "format", "description", "priority"]);
            assert!(
                !c["description"].as_str().unwrap().is_empty(),
                "{g}/{r} {c}"
            );
        }
    }
}

#[test]
fn exactly_one_name_column_for_named_kinds() {
    for (g, r) in KNOWN.iter().filter(|(_, r)| !r.ends_with("/scale")) {
        let n = column_definitions(g, r)
            .iter()
            .filter(|c| c["format"] == "name")
            .count();
        assert_eq!(n, 1, "{g}/{r}");
    }
    assert!(column_definitions("apps", "deployments/scale")
        .iter()
        .all(|c| c["format"] == ""));
}

#[test]
fn headers_as_kubectl_prints_them() {
    assert_eq!(
        default_names("", "pods"),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    );
    assert_eq!(
        names("", "pods")[5..],
        ["IP", "Node", "Nominated Node", "Readiness Gates"]
    );
    assert_eq!(
        default_names("apps", "deployments"),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(
        names("apps", "deployments")[5..],
        ["Containers", "Images", "Selector"]
    );
    assert_eq!(
        names("", "services"),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    assert_eq!(
        default_names("", "nodes"),
        ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    );
    assert_eq!(
        default_names("", "events"),
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    );
    assert_eq!(names("", "events"), names("events.k8s.io", "events"));
    assert_eq!(
        default_names("batch", "jobs"),
        ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"]
    );
    assert_eq!(
        default_names("batch", "cronjobs"),
        [
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE"
        ]
    );
    assert_eq!(
        default_names("apps", "daemonsets"),
        [
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE"
        ]
    );
    assert_eq!(
        names("", "resourcequotas"),
        ["Name", "Request", "Limit", "Age"]
    );
    assert_eq!(
        names("", "podtemplates"),
        ["Name", "Containers", "Images", "Pod Labels"]
    );
}

#[test]
fn column_types() {
    let types = |g: &str, r: &str| -> Vec<String> {
        column_definitions(g, r)
            .iter()
            .map(|c| c["type"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        types("apps", "replicasets")[..4],
        ["string", "integer", "integer", "integer"]
    );
    assert_eq!(types("batch", "cronjobs")[3], "boolean");
    assert_eq!(types("", "limitranges"), ["string", "date"]);
    assert!(types("", "pods").iter().all(|t| t == "string"));
}

#[test]
fn unknown_resources_get_the_default_table() {
    let cols = column_definitions("", "limitranges");
    assert_eq!(cols.len(), 2);
    assert_eq!(cols[0]["name"], "Name");
    assert_eq!(cols[0]["format"], "name");
    assert_eq!(cols[1]["name"], "Created At");
    assert_eq!(cols[1]["type"], "date");
    let lr = json!({"metadata": {"name": "limits", "creationTimestamp": "2024-04-30T08:15:00Z"}});
    assert_eq!(
        row_cells("", "limitranges", &lr, now()),
        vec![json!("limits"), json!("2024-04-30T08:15:00Z")]
    );
    // Group matters: a same-named resource elsewhere is not the core printer.
    assert_eq!(column_definitions("example.com", "pods").len(), 2);
    let bare = json!({"metadata": {"name": "w"}});
    assert_eq!(
        row_cells("example.com", "widgets", &bare, now())[1],
        json!("0001-01-01T00:00:00Z")
    );
}

#[test]
fn pod_row_conditions() {
    let done = json!({"status": {"phase": "Succeeded"}});
    let c: Value = row_conditions("", "pods", &done).unwrap();
    assert_eq!(c[0]["type"], "Completed");
    assert_eq!(c[0]["reason"], "Succeeded");
    let failed = json!({"status": {"phase": "Failed"}});
    assert_eq!(
        row_conditions("", "pods", &failed).unwrap()[0]["reason"],
        "Failed"
    );
    assert!(row_conditions("", "pods", &json!({"status": {"phase": "Running"}})).is_none());
    assert!(row_conditions("apps", "deployments", &done).is_none());
}

/// Descriptions are our own one-line summaries: short, a single sentence or phrase, and
/// never carrying doc links (long linked text is a sign of pasted API docs).
#[test]
fn descriptions_are_short_own_summaries() {
    for (g, r) in KNOWN {
        for c in column_definitions(g, r) {
            let desc = c["description"].as_str().unwrap();
            assert!(desc.len() <= 80, "{g}/{r} {desc}");
            assert!(!desc.contains("http"), "{g}/{r} {desc}");
            assert!(!desc.contains('\n'), "{g}/{r} {desc}");
            assert!(desc.ends_with('.'), "{g}/{r} {desc}");
        }
    }
}

#[test]
fn node_address_columns_describe_different_addresses() {
    let cols = column_definitions("", "nodes");
    let desc = |n: &str| {
        cols.iter()
            .find(|c| c["name"] == n)
            .map(|c| c["description"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_ne!(desc("Internal-IP"), desc("External-IP"));
}
