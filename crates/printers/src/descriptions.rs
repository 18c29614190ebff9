//! Human-readable text for the `description` field of each Table column definition.
//! Clients only display this text (for example in `kubectl explain`-style tooling), so it
//! is our own short wording; the column names, types, formats and priorities next to it
//! are what clients actually depend on.

// Shared by many kinds.
pub const META_NAME: &str = "Name of the object.";
pub const META_CREATED: &str = "Time since the object was created.";
pub const CONTAINERS: &str = "Container names in the pod template.";
pub const IMAGES: &str = "Container images in the pod template.";
pub const READY_PODS: &str = "Pods ready out of desired.";
pub const CONTROLLER: &str = "Object that owns this one.";
pub const REVISION: &str = "Revision number this object records.";

// Pods and pod templates.
pub const POD_READY: &str = "Containers ready out of total.";
pub const POD_STATUS: &str = "Summary of the pod's current state.";
pub const POD_RESTARTS: &str = "Total container restarts, with time since the most recent one.";
pub const POD_IP: &str = "IP address assigned to the pod.";
pub const POD_NODE_NAME: &str = "Node the pod is bound to.";
pub const POD_NOMINATED_NODE: &str = "Node picked for the pod after preemption, if any.";
pub const POD_READINESS_GATES: &str = "Readiness gates that are satisfied out of total.";
pub const POD_NODE_SELECTOR: &str = "Node labels a node needs for these pods to run there.";
pub const POD_LABELS: &str = "Labels given to pods made from the template.";

// ReplicationControllers.
pub const RC_SPEC_REPLICAS: &str = "Replicas requested.";
pub const RC_STATUS_REPLICAS: &str = "Replicas that currently exist.";
pub const RC_STATUS_READY: &str = "Replicas that are ready.";
pub const RC_SPEC_SELECTOR: &str = "Labels used to pick the managed pods.";

// Services, Endpoints and EndpointSlices.
pub const SVC_TYPE: &str = "How the service is exposed.";
pub const SVC_CLUSTER_IP: &str = "Virtual IP of the service inside the cluster.";
pub const SVC_EXTERNAL_IPS: &str = "Addresses outside the cluster that reach the service.";
pub const SVC_PORTS: &str = "Ports the service serves.";
pub const SVC_SELECTOR: &str = "Labels of the pods that receive the service's traffic.";
pub const ENDPOINTS_SUBSETS: &str = "Addresses and ports backing the service.";
pub const SLICE_ADDRESS_TYPE: &str = "Kind of address in this slice (IPv4, IPv6 or FQDN).";
pub const SLICE_PORTS: &str = "Ports listed in this slice.";
pub const SLICE_ENDPOINTS: &str = "Endpoint addresses listed in this slice.";

// Nodes and namespaces.
pub const NODE_STATUS: &str = "Whether the node is ready, plus scheduling state.";
pub const NODE_ROLES: &str = "Roles taken from the node's role labels.";
pub const NODE_KUBELET_VERSION: &str = "Kubelet version on the node.";
pub const NODE_INTERNAL_IP: &str = "Node address reachable inside the cluster.";
pub const NODE_EXTERNAL_IP: &str = "Node address reachable from outside the cluster.";
pub const NODE_OS_IMAGE: &str = "Operating system the node runs.";
pub const NODE_KERNEL_VERSION: &str = "Kernel version on the node.";
pub const NODE_RUNTIME_VERSION: &str = "Container runtime and version on the node.";
pub const NAMESPACE_STATUS: &str = "Lifecycle phase of the namespace.";

// Events.
pub const EVENT_LAST_TIMESTAMP: &str = "Time since the event last happened.";
pub const EVENT_TYPE: &str = "Event severity, such as Normal or Warning.";
pub const EVENT_REASON: &str = "Short code saying why the event happened.";
pub const EVENT_INVOLVED_OBJECT: &str = "Object the event refers to.";
pub const EVENT_FIELD_PATH: &str = "Part of the object the event refers to, if narrower.";
pub const EVENT_SOURCE: &str = "Component that reported the event.";
pub const EVENT_MESSAGE: &str = "Event details in plain words.";
pub const EVENT_FIRST_TIMESTAMP: &str = "Time since the event first happened.";
pub const EVENT_COUNT: &str = "How many times the event happened.";

// Config and accounts.
pub const SECRET_TYPE: &str = "Kind of secret.";
pub const SECRET_DATA: &str = "Number of keys in the secret.";
pub const CONFIGMAP_DATA: &str = "Number of keys in the config map.";
pub const SA_SECRETS: &str = "Number of secrets listed for the account.";
pub const QUOTA_REQUEST: &str = "Used out of allowed for each quota other than limits.";
pub const QUOTA_LIMIT: &str = "Used out of allowed for each limits quota.";

// ReplicaSets, Deployments and DaemonSets.
pub const RS_SPEC_REPLICAS: &str = "Pods requested.";
pub const RS_STATUS_REPLICAS: &str = "Pods that currently exist.";
pub const RS_STATUS_READY: &str = "Pods that are ready.";
pub const RS_SPEC_SELECTOR: &str = "Labels used to pick the managed pods.";
pub const DEPLOY_UPDATED: &str = "Pods running the latest template.";
pub const DEPLOY_AVAILABLE: &str = "Pods available to serve.";
pub const DEPLOY_SELECTOR: &str = "Labels used to pick the managed pods.";
pub const DS_DESIRED: &str = "Nodes that should run a daemon pod.";
pub const DS_CURRENT: &str = "Nodes running a daemon pod.";
pub const DS_READY: &str = "Nodes whose daemon pod is ready.";
pub const DS_UPDATED: &str = "Nodes running the latest daemon pod template.";
pub const DS_AVAILABLE: &str = "Nodes whose daemon pod is available.";
pub const DS_SELECTOR: &str = "Labels used to pick the managed pods.";

// Jobs and CronJobs.
pub const JOB_STATUS: &str = "Current state of the job.";
pub const JOB_SUCCEEDED: &str = "Pods finished successfully out of required.";
pub const JOB_DURATION: &str = "How long the job ran or has been running.";
pub const JOB_SELECTOR: &str = "Labels used to pick the job's pods.";
pub const CRONJOB_SCHEDULE: &str = "Cron expression for when jobs start.";
pub const CRONJOB_TIMEZONE: &str = "Time zone the schedule uses.";
pub const CRONJOB_SUSPEND: &str = "Whether new runs are paused.";
pub const CRONJOB_ACTIVE: &str = "Number of jobs running now.";
pub const CRONJOB_LAST_SCHEDULE: &str = "Time since a job was last started.";

// Coordination and scale.
pub const LEASE_HOLDER: &str = "Identity currently holding the lease.";
pub const SCALE_SPEC_REPLICAS: &str = "Replicas requested for the target.";
pub const SCALE_STATUS_REPLICAS: &str = "Replicas the target currently has.";
