//! The Rust types whose schemas we can serve, keyed by group/version/kind.
//!
//! k8s-openapi has no runtime type registry, so the kinds we can describe are listed here;
//! a kind the API server serves that is missing from this list still gets paths (so kubectl
//! sees `fieldValidation`) but no schema.

use k8s_openapi::api::{
    apps, autoscaling, batch, certificates, coordination, core, discovery, events, networking,
    node, policy, rbac, scheduling, storage,
};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta;
use schemars::{JsonSchema, SchemaGenerator};
use std::borrow::Cow;

/// One kind with a generated schema.
pub(crate) struct KindType {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    /// Upstream definition name (k8s-openapi's schema name).
    pub name: fn() -> Cow<'static, str>,
    /// Registers the type (and everything it reaches) with the generator.
    pub add: fn(&mut SchemaGenerator),
    /// Whether upstream also defines `<Kind>List` for it (false for subresource kinds).
    pub has_list: bool,
}

macro_rules! kinds {
    ($( $g:literal $v:literal $k:literal $t:ty, $list:literal; )*) => {
        &[$(KindType {
            group: $g,
            version: $v,
            kind: $k,
            name: <$t as JsonSchema>::schema_name,
            add: |g| { g.subschema_for::<$t>(); },
            has_list: $list,
        },)*]
    };
}

pub(crate) static KINDS: &[KindType] = kinds! {
    "" "v1" "Namespace" core::v1::Namespace, true;
    "" "v1" "Pod" core::v1::Pod, true;
    "" "v1" "Service" core::v1::Service, true;
    "" "v1" "Endpoints" core::v1::Endpoints, true;
    "" "v1" "ConfigMap" core::v1::ConfigMap, true;
    "" "v1" "Secret" core::v1::Secret, true;
    "" "v1" "ServiceAccount" core::v1::ServiceAccount, true;
    "" "v1" "Event" core::v1::Event, true;
    "" "v1" "Node" core::v1::Node, true;
    "" "v1" "ReplicationController" core::v1::ReplicationController, true;
    "" "v1" "LimitRange" core::v1::LimitRange, true;
    "" "v1" "ResourceQuota" core::v1::ResourceQuota, true;
    "" "v1" "PodTemplate" core::v1::PodTemplate, true;
    "" "v1" "PersistentVolume" core::v1::PersistentVolume, true;
    "" "v1" "PersistentVolumeClaim" core::v1::PersistentVolumeClaim, true;
    "" "v1" "Binding" core::v1::Binding, false;
    "apps" "v1" "Deployment" apps::v1::Deployment, true;
    "apps" "v1" "ReplicaSet" apps::v1::ReplicaSet, true;
    "apps" "v1" "StatefulSet" apps::v1::StatefulSet, true;
    "apps" "v1" "DaemonSet" apps::v1::DaemonSet, true;
    "apps" "v1" "ControllerRevision" apps::v1::ControllerRevision, true;
    "batch" "v1" "Job" batch::v1::Job, true;
    "batch" "v1" "CronJob" batch::v1::CronJob, true;
    "coordination.k8s.io" "v1" "Lease" coordination::v1::Lease, true;
    "discovery.k8s.io" "v1" "EndpointSlice" discovery::v1::EndpointSlice, true;
    "events.k8s.io" "v1" "Event" events::v1::Event, true;
    "autoscaling" "v1" "Scale" autoscaling::v1::Scale, false;
    "autoscaling" "v1" "HorizontalPodAutoscaler" autoscaling::v1::HorizontalPodAutoscaler, true;
    "autoscaling" "v2" "HorizontalPodAutoscaler" autoscaling::v2::HorizontalPodAutoscaler, true;
    "policy" "v1" "Eviction" policy::v1::Eviction, false;
    "policy" "v1" "PodDisruptionBudget" policy::v1::PodDisruptionBudget, true;
    "rbac.authorization.k8s.io" "v1" "Role" rbac::v1::Role, true;
    "rbac.authorization.k8s.io" "v1" "ClusterRole" rbac::v1::ClusterRole, true;
    "rbac.authorization.k8s.io" "v1" "RoleBinding" rbac::v1::RoleBinding, true;
    "rbac.authorization.k8s.io" "v1" "ClusterRoleBinding" rbac::v1::ClusterRoleBinding, true;
    "networking.k8s.io" "v1" "Ingress" networking::v1::Ingress, true;
    "networking.k8s.io" "v1" "IngressClass" networking::v1::IngressClass, true;
    "networking.k8s.io" "v1" "NetworkPolicy" networking::v1::NetworkPolicy, true;
    "storage.k8s.io" "v1" "StorageClass" storage::v1::StorageClass, true;
    "scheduling.k8s.io" "v1" "PriorityClass" scheduling::v1::PriorityClass, true;
    "node.k8s.io" "v1" "RuntimeClass" node::v1::RuntimeClass, true;
    "certificates.k8s.io" "v1" "CertificateSigningRequest" certificates::v1::CertificateSigningRequest, true;
    "apiextensions.k8s.io" "v1" "CustomResourceDefinition" apiextensions::v1::CustomResourceDefinition, true;
};

/// Definition names of meta types every document carries (operation bodies and replies).
pub(crate) const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
pub(crate) const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
pub(crate) const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
pub(crate) const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
pub(crate) const LIST_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta";

/// Registers the meta types with the generator.
pub(crate) fn add_meta_types(g: &mut SchemaGenerator) {
    g.subschema_for::<meta::v1::Status>();
    g.subschema_for::<meta::v1::DeleteOptions>();
    g.subschema_for::<meta::v1::WatchEvent<()>>();
    g.subschema_for::<meta::v1::Patch>();
    g.subschema_for::<meta::v1::ListMeta>();
    g.subschema_for::<meta::v1::ObjectMeta>();
}

/// The registered kind for a group/version/kind.
pub(crate) fn find(group: &str, version: &str, kind: &str) -> Option<&'static KindType> {
    KINDS
        .iter()
        .find(|k| k.group == group && k.version == version && k.kind == kind)
}
