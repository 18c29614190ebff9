use super::*;
use k8s_openapi::api::apps::v1::{
    DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn template(image: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some([("app".to_string(), "web".to_string())].into()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "web".into(),
                image: Some(image.into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

fn deployment(replicas: i32, surge: IntOrString, unavailable: IntOrString) -> Deployment {
    Deployment {
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(surge),
                    max_unavailable: Some(unavailable),
                }),
            }),
            template: template("v1"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pct(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}

#[test]
fn fnv_matches_reference_vectors() {
    // Published FNV-1a 32-bit test vectors.
    assert_eq!(fnv32a(b""), 0x811c9dc5);
    assert_eq!(fnv32a(b"a"), 0xe40c292c);
    assert_eq!(fnv32a(b"foobar"), 0xbf9cf968);
}

#[test]
fn safe_encoding_maps_digits_like_upstream() {
    // '0' (48) % 27 = 21 → '4' ... '6' (54) % 27 = 0 → 'b'.
    assert_eq!(safe_encode("0123456789"), "456789bcdf");
}

#[test]
fn hash_depends_on_template_and_collisions_only() {
    let a = compute_hash(&template("v1"), None);
    assert_eq!(a, compute_hash(&template("v1"), None));
    assert_ne!(a, compute_hash(&template("v2"), None));
    assert_ne!(a, compute_hash(&template("v1"), Some(1)));
    assert!(a.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
    assert!(!a.is_empty() && a.len() <= 10);
}

#[test]
fn template_equality_ignores_hash_label_and_empties() {
    let a = template("v1");
    let mut b = a.clone();
    b.metadata
        .as_mut()
        .unwrap()
        .labels
        .as_mut()
        .unwrap()
        .insert(HASH_LABEL.into(), "abc".into());
    b.metadata.as_mut().unwrap().annotations = Some(BTreeMap::new());
    assert!(equal_ignore_hash(&a, &b));
    assert!(!equal_ignore_hash(&a, &template("v2")));
}

#[test]
fn surge_rounds_up_and_unavailable_down() {
    assert_eq!(scaled_value(&pct("25%"), 10, true), Ok(3));
    assert_eq!(scaled_value(&pct("25%"), 10, false), Ok(2));
    assert_eq!(scaled_value(&IntOrString::Int(7), 10, false), Ok(7));
    assert!(scaled_value(&pct("abc"), 10, true).is_err());

    let d = deployment(4, pct("25%"), pct("25%"));
    assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 1));
    let d = deployment(1, pct("25%"), pct("25%"));
    assert_eq!((max_surge(&d), max_unavailable(&d)), (1, 0));
    // Both resolving to zero would stall a rollout: unavailable becomes 1.
    let d = deployment(3, IntOrString::Int(0), pct("10%"));
    assert_eq!((max_surge(&d), max_unavailable(&d)), (0, 1));
    // Never more unavailable than replicas.
    let d = deployment(2, IntOrString::Int(1), IntOrString::Int(5));
    assert_eq!(max_unavailable(&d), 2);
}

#[test]
fn revision_bump_records_history_on_reuse() {
    let mut d = deployment(3, pct("25%"), pct("25%"));
    d.metadata.annotations = Some(
        [
            ("kubernetes.io/change-cause".to_string(), "undo".to_string()),
            (REVISION.to_string(), "2".to_string()),
        ]
        .into(),
    );
    let mut fresh = BTreeMap::new();
    assert!(set_new_rs_annotations(&d, &mut fresh, 1, false));
    assert_eq!(fresh[REVISION], "1");
    assert_eq!(fresh[DESIRED_REPLICAS], "3");
    assert_eq!(fresh[MAX_REPLICAS], "4");
    assert_eq!(fresh["kubernetes.io/change-cause"], "undo");
    assert!(!fresh.contains_key(REVISION_HISTORY));

    // Rolled back to: revision 1 becomes 3 and 1 goes to the history.
    assert!(set_new_rs_annotations(&d, &mut fresh, 3, true));
    assert_eq!(fresh[REVISION], "3");
    assert_eq!(fresh[REVISION_HISTORY], "1");
    assert!(!set_new_rs_annotations(&d, &mut fresh, 3, true));
    assert!(set_new_rs_annotations(&d, &mut fresh, 5, true));
    assert_eq!(fresh[REVISION_HISTORY], "1,3");
}

fn rs(replicas: i32, max: Option<i32>) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            annotations: max.map(|m| [(MAX_REPLICAS.to_string(), m.to_string())].into()),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec {
            replicas: Some(replicas),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn proportions_follow_previous_size() {
    // Was sized for 10+3=13 max (surge 25% of 10); now 20 replicas → 25 max.
    let d = deployment(20, pct("25%"), pct("25%"));
    let a = rs(8, Some(13));
    // 8 * 25 / 13 = 15.38 → 15, so +7; capped by what remains to add.
    assert_eq!(proportion(&a, &d, 12, 0), 7);
    assert_eq!(proportion(&a, &d, 12, 10), 2);
    assert_eq!(proportion(&rs(0, Some(13)), &d, 12, 0), 0);
    // Scaling down to zero takes the whole RS.
    let zero = deployment(0, pct("25%"), pct("25%"));
    assert_eq!(proportion(&a, &zero, -8, 0), -8);
}
