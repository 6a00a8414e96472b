//! Server-side Table responses (`meta.k8s.io/v1` Table), as kube-apiserver v1.33 sends them.
//!
//! `kubectl get` asks the server for a Table and prints its cells as they come, so the
//! columns, cell types and strings here are ports of the apiserver's printers
//! (`pkg/printers/internalversion/printers.go`, `AddHandlers` and the `print*` functions),
//! of the default table convertor (`k8s.io/apiserver/pkg/registry/rest/table.go`), and of
//! the custom-resource convertor with its default `Age` column (apiextensions-apiserver).
//! The apiserver always fills the wide (priority 1) cells; kubectl hides them without
//! `-o wide`.

use std::collections::BTreeMap;
use std::str::FromStr;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{
    ControllerRevision, DaemonSet, Deployment, ReplicaSet, StatefulSet,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Endpoints, Event, Namespace, Node, PersistentVolume,
    PersistentVolumeClaim, Pod, PodSpec, PodTemplateSpec, Secret, Service,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::{StorageClass, VolumeAttachment};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, MicroTime, ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use kcops_pod::pod_status::{self, age, timestamp};

/// What each row carries besides its cells (the `includeObject` query parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IncludeObject {
    /// `includeObject=None`: rows carry no object.
    None,
    /// The default: a `PartialObjectMetadata` with the object's metadata.
    #[default]
    Metadata,
    /// `includeObject=Object`: the full object (kubectl asks for it with `--sort-by`).
    Object,
}

impl IncludeObject {
    /// Reads the query value; absent, empty or unknown values mean `Metadata`.
    pub fn parse(value: Option<&str>) -> Self {
        Self::try_parse(value).unwrap_or_default()
    }

    /// Strict reading: an unknown value is the apiserver's 400 BadRequest message.
    pub fn try_parse(value: Option<&str>) -> Result<Self, String> {
        value.unwrap_or("").parse()
    }
}

impl FromStr for IncludeObject {
    /// The message the apiserver puts in its 400 BadRequest.
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "Metadata" => Ok(Self::Metadata),
            "None" => Ok(Self::None),
            "Object" => Ok(Self::Object),
            other => Err(format!("unrecognized includeObject value: {other:?}")),
        }
    }
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";

/// One column: name, type, format, priority, description.
type Col = (&'static str, &'static str, &'static str, i32, &'static str);

const NAME: Col = ("Name", "string", "name", 0, NAME_DESC);
const AGE: Col = ("Age", "string", "", 0, AGE_DESC);
const CONTAINERS: Col = ("Containers", "string", "", 1, CONTAINERS_DESC);
const IMAGES: Col = ("Images", "string", "", 1, IMAGES_DESC);

#[rustfmt::skip]
const POD_COLS: &[Col] = &[
    NAME,
    ("Ready", "string", "", 0, "The aggregate readiness state of this pod for accepting traffic."),
    ("Status", "string", "", 0, "The aggregate status of the containers in this pod."),
    ("Restarts", "string", "", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
    AGE,
    ("IP", "string", "", 1, "IP address allocated to the pod."),
    ("Node", "string", "", 1, "NodeName indicates in which node this pod is scheduled."),
    ("Nominated Node", "string", "", 1, "nominatedNodeName is set only when this pod preempts other pods on the node."),
    ("Readiness Gates", "string", "", 1, "If specified, all readiness gates will be evaluated for pod readiness."),
];

#[rustfmt::skip]
const NODE_COLS: &[Col] = &[
    NAME,
    ("Status", "string", "", 0, "The status of the node"),
    ("Roles", "string", "", 0, "The roles of the node"),
    AGE,
    ("Version", "string", "", 0, "Kubelet Version reported by the node."),
    ("Internal-IP", "string", "", 1, "List of addresses reachable to the node."),
    ("External-IP", "string", "", 1, "List of addresses reachable to the node."),
    ("OS-Image", "string", "", 1, "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    ("Kernel-Version", "string", "", 1, "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    ("Container-Runtime", "string", "", 1, "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
];

#[rustfmt::skip]
const PV_COLS: &[Col] = &[
    NAME,
    ("Capacity", "string", "", 0, "capacity is the description of the persistent volume's resources and capacity."),
    ("Access Modes", "string", "", 0, "accessModes contains all ways the volume can be mounted."),
    ("Reclaim Policy", "string", "", 0, "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
    ("Status", "string", "", 0, "phase indicates if a volume is available, bound to a claim, or released by a claim."),
    ("Claim", "string", "", 0, "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
    ("StorageClass", "string", "", 0, "StorageClass of the pv"),
    ("VolumeAttributesClass", "string", "", 0, "VolumeAttributesClass of the pv"),
    ("Reason", "string", "", 0, "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI."),
    AGE,
    ("VolumeMode", "string", "", 1, "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
];

#[rustfmt::skip]
const PVC_COLS: &[Col] = &[
    NAME,
    ("Status", "string", "", 0, "phase represents the current phase of PersistentVolumeClaim."),
    ("Volume", "string", "", 0, "volumeName is the binding reference to the PersistentVolume backing this claim."),
    ("Capacity", "string", "", 0, "capacity represents the actual resources of the underlying volume."),
    ("Access Modes", "string", "", 0, "accessModes contains the actual access modes the volume backing the PVC has."),
    ("StorageClass", "string", "", 0, "StorageClass of the pvc"),
    ("VolumeAttributesClass", "string", "", 0, "VolumeAttributesClass of the pvc"),
    AGE,
    ("VolumeMode", "string", "", 1, "volumeMode defines what type of volume is required by the claim."),
];

#[rustfmt::skip]
const STORAGE_CLASS_COLS: &[Col] = &[
    NAME,
    ("Provisioner", "string", "", 0, "provisioner indicates the type of the provisioner."),
    ("ReclaimPolicy", "string", "", 0, "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class."),
    ("VolumeBindingMode", "string", "", 0, "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."),
    ("AllowVolumeExpansion", "string", "", 0, "allowVolumeExpansion shows whether the storage class allow volume expand."),
    AGE,
];

#[rustfmt::skip]
const STATEFUL_SET_COLS: &[Col] = &[
    NAME,
    ("Ready", "string", "", 0, "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

#[rustfmt::skip]
const DAEMON_SET_COLS: &[Col] = &[
    NAME,
    ("Desired", "integer", "", 0, "The total number of nodes that should be running the daemon pod."),
    ("Current", "integer", "", 0, "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
    ("Ready", "integer", "", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
    ("Up-to-date", "integer", "", 0, "The total number of nodes that are running updated daemon pod"),
    ("Available", "integer", "", 0, "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
    ("Node Selector", "string", "", 0, "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE,
    CONTAINERS,
    IMAGES,
    ("Selector", "string", "", 1, "A label query over pods that are managed by the daemon set."),
];

#[rustfmt::skip]
const DEPLOYMENT_COLS: &[Col] = &[
    NAME,
    ("Ready", "string", "", 0, "Number of the pod with ready state"),
    ("Up-to-date", "string", "", 0, "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    ("Available", "string", "", 0, "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    CONTAINERS,
    IMAGES,
    ("Selector", "string", "", 1, "Label selector for pods."),
];

#[rustfmt::skip]
const REPLICA_SET_COLS: &[Col] = &[
    NAME,
    ("Desired", "integer", "", 0, "Replicas is the number of desired replicas."),
    ("Current", "integer", "", 0, "Replicas is the most recently observed number of replicas."),
    ("Ready", "integer", "", 0, "The number of ready replicas for this replica set."),
    AGE,
    CONTAINERS,
    IMAGES,
    ("Selector", "string", "", 1, "Selector is a label query over pods that should match the replica count."),
];

#[rustfmt::skip]
const EVENT_COLS: &[Col] = &[
    ("Last Seen", "string", "", 0, "The time at which the most recent occurrence of this event was recorded."),
    ("Type", "string", "", 0, "Type of this event (Normal, Warning), new types could be added in the future"),
    ("Reason", "string", "", 0, "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    ("Object", "string", "", 0, "The object that this event is about."),
    ("Subobject", "string", "", 1, "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement."),
    ("Source", "string", "", 1, "The component reporting this event. Should be a short machine understandable string."),
    ("Message", "string", "", 0, "A human-readable description of the status of this operation."),
    ("First Seen", "string", "", 1, "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)"),
    ("Count", "string", "", 1, "The number of times this event has occurred."),
    ("Name", "string", "name", 1, NAME_DESC),
];

#[rustfmt::skip]
const NAMESPACE_COLS: &[Col] = &[
    NAME,
    ("Status", "string", "", 0, "The status of the namespace"),
    AGE,
];

#[rustfmt::skip]
const SERVICE_COLS: &[Col] = &[
    NAME,
    ("Type", "string", "", 0, "type determines how the Service is exposed."),
    ("Cluster-IP", "string", "", 0, "clusterIP is the IP address of the service and is usually assigned randomly."),
    ("External-IP", "string", "", 0, "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    ("Port(s)", "string", "", 0, "The list of ports that are exposed by this service."),
    AGE,
    ("Selector", "string", "", 1, "Route service traffic to pods with label keys and values matching this selector."),
];

#[rustfmt::skip]
const CONFIG_MAP_COLS: &[Col] = &[
    NAME,
    ("Data", "string", "", 0, "Data contains the configuration data."),
    AGE,
];

#[rustfmt::skip]
const SECRET_COLS: &[Col] = &[
    NAME,
    ("Type", "string", "", 0, "Used to facilitate programmatic handling of secret data."),
    ("Data", "string", "", 0, "Data contains the secret data."),
    AGE,
];

#[rustfmt::skip]
const ENDPOINTS_COLS: &[Col] = &[
    NAME,
    ("Endpoints", "string", "", 0, "The set of all endpoints is the union of all subsets."),
    AGE,
];

#[rustfmt::skip]
const LEASE_COLS: &[Col] = &[
    NAME,
    ("Holder", "string", "", 0, "holderIdentity contains the identity of the holder of a current lease."),
    AGE,
];

#[rustfmt::skip]
const VOLUME_ATTACHMENT_COLS: &[Col] = &[
    NAME,
    ("Attacher", "string", "name", 0, "attacher indicates the name of the volume driver that MUST handle this request. This is the name returned by GetPluginName()."),
    ("PV", "string", "", 0, "persistentVolumeName represents the name of the persistent volume to attach."),
    ("Node", "string", "", 0, "nodeName represents the node that the volume should be attached to."),
    ("Attached", "boolean", "", 0, "attached indicates the volume is successfully attached. This field must only be set by the entity completing the attach operation, i.e. the external-attacher."),
    AGE,
];

#[rustfmt::skip]
const PDB_COLS: &[Col] = &[
    NAME,
    ("Min Available", "string", "", 0, "The minimum number of pods that must be available."),
    ("Max Unavailable", "string", "", 0, "The maximum number of pods that may be unavailable."),
    ("Allowed Disruptions", "integer", "", 0, "Calculated number of pods that may be disrupted at this time."),
    AGE,
];

#[rustfmt::skip]
const CONTROLLER_REVISION_COLS: &[Col] = &[
    NAME,
    ("Controller", "string", "", 0, "Controller of the object"),
    ("Revision", "string", "", 0, "Revision indicates the revision of the state represented by Data."),
    AGE,
];

/// The default convertor of built-in resources without a printer (`kubectl get crd`).
const DEFAULT_COLS: &[Col] = &[NAME, ("Created At", "date", "", 0, AGE_DESC)];

/// Custom resources without additionalPrinterColumns get a `date` Age column.
const CUSTOM_COLS: &[Col] = &[NAME, ("Age", "date", "", 0, AGE_DESC)];

/// The printer the apiserver uses for a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Printer {
    Pods,
    Nodes,
    PersistentVolumes,
    PersistentVolumeClaims,
    StorageClasses,
    StatefulSets,
    DaemonSets,
    Deployments,
    ReplicaSets,
    Events,
    Namespaces,
    Services,
    ConfigMaps,
    Secrets,
    Endpoints,
    Leases,
    VolumeAttachments,
    PodDisruptionBudgets,
    ControllerRevisions,
    Default,
    Custom,
}

impl Printer {
    fn for_plural(plural: &str) -> Self {
        match plural {
            "pods" => Self::Pods,
            "nodes" => Self::Nodes,
            "persistentvolumes" => Self::PersistentVolumes,
            "persistentvolumeclaims" => Self::PersistentVolumeClaims,
            "storageclasses" => Self::StorageClasses,
            "statefulsets" => Self::StatefulSets,
            "daemonsets" => Self::DaemonSets,
            "deployments" => Self::Deployments,
            "replicasets" => Self::ReplicaSets,
            "events" => Self::Events,
            "namespaces" => Self::Namespaces,
            "services" => Self::Services,
            "configmaps" => Self::ConfigMaps,
            "secrets" => Self::Secrets,
            "endpoints" => Self::Endpoints,
            "leases" => Self::Leases,
            "volumeattachments" => Self::VolumeAttachments,
            "poddisruptionbudgets" => Self::PodDisruptionBudgets,
            "controllerrevisions" => Self::ControllerRevisions,
            "customresourcedefinitions" => Self::Default,
            _ => Self::Custom,
        }
    }

    fn columns(self) -> &'static [Col] {
        match self {
            Self::Pods => POD_COLS,
            Self::Nodes => NODE_COLS,
            Self::PersistentVolumes => PV_COLS,
            Self::PersistentVolumeClaims => PVC_COLS,
            Self::StorageClasses => STORAGE_CLASS_COLS,
            Self::StatefulSets => STATEFUL_SET_COLS,
            Self::DaemonSets => DAEMON_SET_COLS,
            Self::Deployments => DEPLOYMENT_COLS,
            Self::ReplicaSets => REPLICA_SET_COLS,
            Self::Events => EVENT_COLS,
            Self::Namespaces => NAMESPACE_COLS,
            Self::Services => SERVICE_COLS,
            Self::ConfigMaps => CONFIG_MAP_COLS,
            Self::Secrets => SECRET_COLS,
            Self::Endpoints => ENDPOINTS_COLS,
            Self::Leases => LEASE_COLS,
            Self::VolumeAttachments => VOLUME_ATTACHMENT_COLS,
            Self::PodDisruptionBudgets => PDB_COLS,
            Self::ControllerRevisions => CONTROLLER_REVISION_COLS,
            Self::Default => DEFAULT_COLS,
            Self::Custom => CUSTOM_COLS,
        }
    }

    /// Cells (and row conditions) of one object; `None` when it does not parse.
    fn row(self, obj: &Value, now: Timestamp) -> Option<Row> {
        let plain = |cells| {
            Some(Row {
                cells,
                conditions: None,
            })
        };
        match self {
            Self::Pods => pod_row(&parse(obj)?, &parse(obj)?, now),
            Self::Nodes => plain(node_cells(&parse(obj)?, now)),
            Self::PersistentVolumes => plain(pv_cells(&parse(obj)?, now)),
            Self::PersistentVolumeClaims => plain(pvc_cells(&parse(obj)?, now)),
            Self::StorageClasses => plain(storage_class_cells(&parse(obj)?, now)),
            Self::StatefulSets => plain(stateful_set_cells(&parse(obj)?, now)),
            Self::DaemonSets => plain(daemon_set_cells(&parse(obj)?, now)),
            Self::Deployments => plain(deployment_cells(&parse(obj)?, now)),
            Self::ReplicaSets => plain(replica_set_cells(&parse(obj)?, now)),
            Self::Events => plain(event_cells(&parse_event(obj)?, now)),
            Self::Namespaces => plain(namespace_cells(&parse(obj)?, now)),
            Self::Services => plain(service_cells(&parse(obj)?, now)),
            Self::ConfigMaps => plain(config_map_cells(&parse(obj)?, now)),
            Self::Secrets => plain(secret_cells(&parse(obj)?, now)),
            Self::Endpoints => plain(endpoints_cells(&parse(obj)?, now)),
            Self::Leases => plain(lease_cells(&parse(obj)?, now)),
            Self::VolumeAttachments => plain(volume_attachment_cells(&parse(obj)?, now)),
            Self::PodDisruptionBudgets => plain(pdb_cells(&parse(obj)?, now)),
            Self::ControllerRevisions => plain(controller_revision_cells(&parse(obj)?, now)),
            Self::Default => plain(default_cells(obj)),
            Self::Custom => plain(custom_cells(obj, now)),
        }
    }
}

struct Row {
    cells: Vec<Value>,
    conditions: Option<Value>,
}

/// Column definitions of a resource's Table (watch events carry them in their first Table).
pub fn column_definitions(plural: &str) -> Vec<Value> {
    Printer::for_plural(plural)
        .columns()
        .iter()
        .map(|(name, ty, format, priority, desc)| {
            json!({"name": name, "type": ty, "format": format,
                   "description": desc, "priority": priority})
        })
        .collect()
}

/// A Table of `objects`, as the apiserver answers a list or get with `as=Table`.
///
/// `metadata.resourceVersion` is left empty for the caller to fill (and `continue`).
pub fn table(
    plural: &str,
    objects: &[Value],
    include_object: IncludeObject,
    now: Timestamp,
) -> Value {
    let printer = Printer::for_plural(plural);
    let rows: Vec<Value> = objects
        .iter()
        .map(|obj| {
            let row = printer
                .row(obj, now)
                .unwrap_or_else(|| fallback_row(printer.columns(), obj, now));
            let mut out = Map::new();
            out.insert("cells".into(), Value::Array(row.cells));
            if let Some(conditions) = row.conditions {
                out.insert("conditions".into(), conditions);
            }
            // RawExtension has no omitempty effect in Go: an absent object is `null`.
            let object = match include_object {
                IncludeObject::None => Value::Null,
                IncludeObject::Metadata => partial_object_metadata(obj),
                IncludeObject::Object => obj.clone(),
            };
            out.insert("object".into(), object);
            Value::Object(out)
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": ""},
        "columnDefinitions": column_definitions(plural),
        "rows": rows,
    })
}

fn partial_object_metadata(obj: &Value) -> Value {
    let metadata = obj.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
    })
}

fn parse<T: DeserializeOwned>(obj: &Value) -> Option<T> {
    T::deserialize(obj).ok()
}

/// Shows what can be shown of an object its type does not accept: name, age, blanks.
fn fallback_row(columns: &[Col], obj: &Value, now: Timestamp) -> Row {
    let meta = obj.get("metadata");
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let created = meta
        .and_then(|m| m.get("creationTimestamp"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok());
    let cells = columns
        .iter()
        .map(|&(col, ty, format, _, _)| match (col, ty, format) {
            (_, _, "name") => json!(name),
            ("Age", _, _) => json!(age(created, now)),
            (_, "integer", _) => json!(0),
            _ => json!("<unknown>"),
        })
        .collect();
    Row {
        cells,
        conditions: None,
    }
}

// ---- shared helpers (ports of the Go helpers the printers call) ----

fn name_of(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn age_of(meta: &ObjectMeta, now: Timestamp) -> String {
    age(meta.creation_timestamp.as_ref().and_then(timestamp), now)
}

fn micro(t: &MicroTime) -> Option<Timestamp> {
    timestamp(&Time(t.0))
}

fn str_or<'a>(s: &'a Option<String>, default: &'a str) -> &'a str {
    s.as_deref().filter(|s| !s.is_empty()).unwrap_or(default)
}

/// `layoutContainerCells`: container names and images, comma separated.
fn container_cells(containers: &[Container]) -> (String, String) {
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let images: Vec<&str> = containers
        .iter()
        .map(|c| c.image.as_deref().unwrap_or(""))
        .collect();
    (names.join(","), images.join(","))
}

fn template_containers(template: Option<&PodTemplateSpec>) -> &[Container] {
    template
        .and_then(|t| t.spec.as_ref())
        .map(|s: &PodSpec| s.containers.as_slice())
        .unwrap_or_default()
}

/// `labels.FormatLabels`: sorted `k=v` pairs, `<none>` when empty.
fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    let mut pairs: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

/// `metav1.LabelSelectorAsSelector(sel).String()`; `Err` when the selector is invalid.
fn selector_string(sel: Option<&LabelSelector>) -> Result<String, ()> {
    let Some(sel) = sel else {
        return Ok(String::new());
    };
    let mut reqs: Vec<(String, String)> = Vec::new();
    for (k, v) in sel.match_labels.iter().flatten() {
        reqs.push((k.clone(), format!("{k}={v}")));
    }
    for expr in sel.match_expressions.iter().flatten() {
        let mut values: Vec<&str> = expr.values.iter().flatten().map(String::as_str).collect();
        values.sort_unstable();
        let key = &expr.key;
        let text = match expr.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => return Err(()),
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" | "DoesNotExist" if !values.is_empty() => return Err(()),
            "Exists" => key.clone(),
            "DoesNotExist" => format!("!{key}"),
            _ => return Err(()),
        };
        reqs.push((key.clone(), text));
    }
    reqs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(reqs
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(","))
}

/// `metav1.FormatLabelSelector`: `<none>` when empty, `<error>` when invalid.
fn format_label_selector(sel: Option<&LabelSelector>) -> String {
    match selector_string(sel) {
        Ok(s) if s.is_empty() => "<none>".to_string(),
        Ok(s) => s,
        Err(()) => "<error>".to_string(),
    }
}

/// `helper.GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order, once each.
fn access_modes(modes: Option<&Vec<String>>) -> String {
    let modes = modes.map(Vec::as_slice).unwrap_or_default();
    let has = |m: &str| modes.iter().any(|x| x == m);
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

fn beta_class(meta: &ObjectMeta) -> Option<String> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(BETA_STORAGE_CLASS))
        .cloned()
}

fn storage_quantity(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> String {
    match map.and_then(|m| m.get("storage")) {
        Some(q) => canonical_quantity(&q.0),
        None => "0".to_string(),
    }
}

/// `resource.Quantity.String()`: the canonical form the apiserver prints ("2048Mi" is "2Gi").
fn canonical_quantity(raw: &str) -> String {
    parse_quantity(raw.trim())
        .and_then(|(m, s, f)| canonicalize(m, s, f))
        .unwrap_or_else(|| raw.to_string())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum QFormat {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// Parses a quantity into mantissa × 10^scale and its format.
fn parse_quantity(s: &str) -> Option<(i128, i32, QFormat)> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') || whole.len() + frac.len() > 30 {
        return None;
    }
    let mut mantissa: i128 = 0;
    for b in whole.bytes().chain(frac.bytes()) {
        mantissa = mantissa * 10 + i128::from(b - b'0');
    }
    let mut scale = -i32::try_from(frac.len()).ok()?;
    let mut format = QFormat::DecimalSI;
    match suffix {
        "" => {}
        "n" => scale -= 9,
        "u" => scale -= 6,
        "m" => scale -= 3,
        "k" => scale += 3,
        "M" => scale += 6,
        "G" => scale += 9,
        "T" => scale += 12,
        "P" => scale += 15,
        "E" => scale += 18,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => {
            let power = "KMGTPE".find(&suffix[..1])? as u32 + 1;
            mantissa = mantissa.checked_mul(1024i128.checked_pow(power)?)?;
            format = QFormat::BinarySI;
        }
        exp if exp.starts_with(['e', 'E']) => {
            scale += exp[1..].parse::<i32>().ok()?;
            format = QFormat::DecimalExponent;
        }
        _ => return None,
    }
    // Quantities keep nanounits at most; smaller fractions round up.
    if scale < -9 {
        let div = 10i128.checked_pow(u32::try_from(-9 - scale).ok()?)?;
        mantissa = (mantissa + div - 1) / div;
        scale = -9;
    }
    if negative {
        mantissa = -mantissa;
    }
    Some((mantissa, scale, format))
}

fn canonicalize(mut mantissa: i128, mut scale: i32, format: QFormat) -> Option<String> {
    if mantissa == 0 {
        return Some("0".to_string());
    }
    while mantissa % 10 == 0 {
        mantissa /= 10;
        scale += 1;
    }
    let mut format = format;
    if format == QFormat::BinarySI {
        let value = if scale >= 0 {
            mantissa.checked_mul(10i128.checked_pow(u32::try_from(scale).ok()?)?)
        } else {
            None
        };
        match value {
            Some(v) if v.abs() >= 1024 => {
                let (mut amount, mut power) = (v, 0usize);
                while amount % 1024 == 0 && power < 6 {
                    amount /= 1024;
                    power += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
                return Some(format!("{amount}{suffix}"));
            }
            // Small or fractional binary values are shown as decimal, as Go does.
            _ => format = QFormat::DecimalSI,
        }
    }
    match scale.rem_euclid(3) {
        1 => {
            mantissa = mantissa.checked_mul(10)?;
            scale -= 1;
        }
        2 => {
            mantissa = mantissa.checked_mul(100)?;
            scale -= 2;
        }
        _ => {}
    }
    let suffix = match (format, scale) {
        (QFormat::DecimalExponent, 0) => String::new(),
        (QFormat::DecimalExponent, e) => format!("e{e}"),
        (_, -9) => "n".into(),
        (_, -6) => "u".into(),
        (_, -3) => "m".into(),
        (_, 0) => String::new(),
        (_, 3) => "k".into(),
        (_, 6) => "M".into(),
        (_, 9) => "G".into(),
        (_, 12) => "T".into(),
        (_, 15) => "P".into(),
        (_, 18) => "E".into(),
        (_, e) => format!("e{e}"),
    };
    Some(format!("{mantissa}{suffix}"))
}

// ---- printers ----

/// `shown` is the console's own pod type, which the STATUS/READY/RESTARTS port reads.
fn pod_row(pod: &Pod, shown: &kcops_pod::pod::Pod, now: Timestamp) -> Option<Row> {
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    let (ready, reason, restarts) = pod_status::pod_columns(shown, now);
    let mut cells = vec![
        json!(name_of(&pod.metadata)),
        json!(ready),
        json!(reason),
        json!(restarts),
        json!(age_of(&pod.metadata, now)),
    ];
    // v1 -> internal conversion fills podIPs from podIP when only the latter is set.
    let ip = status
        .and_then(|s| s.pod_ips.as_ref())
        .and_then(|ips| ips.first())
        .map(|ip| ip.ip.clone())
        .or_else(|| status.and_then(|s| s.pod_ip.clone()))
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| "<none>".into());
    let node = spec
        .map(|s| str_or(&s.node_name, "<none>"))
        .unwrap_or("<none>");
    let nominated = status
        .map(|s| str_or(&s.nominated_node_name, "<none>"))
        .unwrap_or("<none>");
    let gates = spec
        .and_then(|s| s.readiness_gates.as_deref())
        .unwrap_or_default();
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = status
            .and_then(|s| s.conditions.as_deref())
            .unwrap_or_default();
        let true_count = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| c.type_ == g.condition_type)
                    .is_some_and(|c| c.status == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    cells.extend([
        json!(ip),
        json!(node),
        json!(nominated),
        json!(readiness_gates),
    ]);
    let conditions = match status.and_then(|s| s.phase.as_deref()) {
        Some("Succeeded") => Some(json!([{"type": "Completed", "status": "True",
            "reason": "Succeeded", "message": "The pod has completed successfully."}])),
        Some("Failed") => Some(json!([{"type": "Completed", "status": "True",
            "reason": "Failed", "message": "The pod failed."}])),
        _ => None,
    };
    Some(Row { cells, conditions })
}

/// `findNodeRoles`: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role` values.
fn node_roles(meta: &ObjectMeta) -> String {
    let mut roles: Vec<&str> = Vec::new();
    for (k, v) in meta.labels.iter().flatten() {
        if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
            if !role.is_empty() {
                roles.push(role);
            }
        } else if k == "kubernetes.io/role" && !v.is_empty() {
            roles.push(v);
        }
    }
    roles.sort_unstable();
    roles.dedup();
    if roles.is_empty() {
        "<none>".to_string()
    } else {
        roles.join(",")
    }
}

fn node_cells(node: &Node, now: Timestamp) -> Vec<Value> {
    let status = node.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().rev().find(|c| c.type_ == "Ready"));
    let mut state = vec![match ready {
        Some(c) if c.status == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        state.push("SchedulingDisabled");
    }
    let info = status.and_then(|s| s.node_info.as_ref());
    let info_field = |f: fn(&k8s_openapi::api::core::v1::NodeSystemInfo) -> &String| {
        info.map(f)
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| "<unknown>".to_string())
    };
    let address = |ty: &str| {
        status
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == ty))
            .map(|a| a.address.clone())
            .unwrap_or_else(|| "<none>".to_string())
    };
    vec![
        json!(name_of(&node.metadata)),
        json!(state.join(",")),
        json!(node_roles(&node.metadata)),
        json!(age_of(&node.metadata, now)),
        json!(info.map(|i| i.kubelet_version.as_str()).unwrap_or("")),
        json!(address("InternalIP")),
        json!(address("ExternalIP")),
        json!(info_field(|i| &i.os_image)),
        json!(info_field(|i| &i.kernel_version)),
        json!(info_field(|i| &i.container_runtime_version)),
    ]
}

fn pv_cells(pv: &PersistentVolume, now: Timestamp) -> Vec<Value> {
    let spec = pv.spec.clone().unwrap_or_default();
    let status = pv.status.clone().unwrap_or_default();
    let claim = spec
        .claim_ref
        .as_ref()
        .map(|c| {
            format!(
                "{}/{}",
                c.namespace.as_deref().unwrap_or(""),
                c.name.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default();
    // Creation defaults: reclaim policy Retain, phase Pending, volume mode Filesystem.
    let phase = if pv.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else {
        str_or(&status.phase, "Pending")
    };
    let class = beta_class(&pv.metadata)
        .unwrap_or_else(|| spec.storage_class_name.clone().unwrap_or_default());
    vec![
        json!(name_of(&pv.metadata)),
        json!(storage_quantity(spec.capacity.as_ref())),
        json!(access_modes(spec.access_modes.as_ref())),
        json!(str_or(&spec.persistent_volume_reclaim_policy, "Retain")),
        json!(phase),
        json!(claim),
        json!(class),
        json!(str_or(&spec.volume_attributes_class_name, "<unset>")),
        json!(status.reason.as_deref().unwrap_or("")),
        json!(age_of(&pv.metadata, now)),
        json!(str_or(&spec.volume_mode, "Filesystem")),
    ]
}

fn pvc_cells(pvc: &PersistentVolumeClaim, now: Timestamp) -> Vec<Value> {
    let spec = pvc.spec.clone().unwrap_or_default();
    let status = pvc.status.clone().unwrap_or_default();
    let phase = if pvc.metadata.deletion_timestamp.is_some() {
        "Terminating"
    } else {
        str_or(&status.phase, "Pending")
    };
    let volume = spec.volume_name.clone().unwrap_or_default();
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            storage_quantity(status.capacity.as_ref()),
            access_modes(status.access_modes.as_ref()),
        )
    };
    let class = beta_class(&pvc.metadata)
        .or_else(|| spec.storage_class_name.clone())
        .unwrap_or_default();
    vec![
        json!(name_of(&pvc.metadata)),
        json!(phase),
        json!(volume),
        json!(capacity),
        json!(modes),
        json!(class),
        json!(str_or(&spec.volume_attributes_class_name, "<unset>")),
        json!(age_of(&pvc.metadata, now)),
        json!(str_or(&spec.volume_mode, "Filesystem")),
    ]
}

fn storage_class_cells(sc: &StorageClass, now: Timestamp) -> Vec<Value> {
    let annotations = sc.metadata.annotations.as_ref();
    let is_default = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ]
    .iter()
    .any(|k| annotations.and_then(|a| a.get(*k)).map(String::as_str) == Some("true"));
    let mut name = name_of(&sc.metadata);
    if is_default {
        name.push_str(" (default)");
    }
    vec![
        json!(name),
        json!(sc.provisioner),
        json!(str_or(&sc.reclaim_policy, "Delete")),
        json!(str_or(&sc.volume_binding_mode, "Immediate")),
        json!(sc.allow_volume_expansion.unwrap_or(false)),
        json!(age_of(&sc.metadata, now)),
    ]
}

fn stateful_set_cells(sts: &StatefulSet, now: Timestamp) -> Vec<Value> {
    let spec = sts.spec.as_ref();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = sts
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let (names, images) = container_cells(template_containers(spec.map(|s| &s.template)));
    vec![
        json!(name_of(&sts.metadata)),
        json!(format!("{ready}/{desired}")),
        json!(age_of(&sts.metadata, now)),
        json!(names),
        json!(images),
    ]
}

fn daemon_set_cells(ds: &DaemonSet, now: Timestamp) -> Vec<Value> {
    let spec = ds.spec.as_ref();
    let status = ds.status.clone().unwrap_or_default();
    let template = spec.map(|s| &s.template);
    let node_selector = template
        .and_then(|t| t.spec.as_ref())
        .and_then(|s| s.node_selector.as_ref());
    let (names, images) = container_cells(template_containers(template));
    vec![
        json!(name_of(&ds.metadata)),
        json!(status.desired_number_scheduled),
        json!(status.current_number_scheduled),
        json!(status.number_ready),
        json!(status.updated_number_scheduled.unwrap_or(0)),
        json!(status.number_available.unwrap_or(0)),
        json!(format_labels(node_selector)),
        json!(age_of(&ds.metadata, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(spec.map(|s| &s.selector))),
    ]
}

fn deployment_cells(d: &Deployment, now: Timestamp) -> Vec<Value> {
    let spec = d.spec.as_ref();
    let status = d.status.clone().unwrap_or_default();
    let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
    let selector =
        selector_string(spec.map(|s| &s.selector)).unwrap_or_else(|()| "<invalid>".into());
    let (names, images) = container_cells(template_containers(spec.map(|s| &s.template)));
    vec![
        json!(name_of(&d.metadata)),
        json!(format!(
            "{}/{}",
            status.ready_replicas.unwrap_or(0),
            desired
        )),
        json!(status.updated_replicas.unwrap_or(0)),
        json!(status.available_replicas.unwrap_or(0)),
        json!(age_of(&d.metadata, now)),
        json!(names),
        json!(images),
        json!(selector),
    ]
}

fn replica_set_cells(rs: &ReplicaSet, now: Timestamp) -> Vec<Value> {
    let spec = rs.spec.as_ref();
    let status = rs.status.clone().unwrap_or_default();
    let (names, images) =
        container_cells(template_containers(spec.and_then(|s| s.template.as_ref())));
    vec![
        json!(name_of(&rs.metadata)),
        json!(spec.and_then(|s| s.replicas).unwrap_or(1)),
        json!(status.replicas),
        json!(status.ready_replicas.unwrap_or(0)),
        json!(age_of(&rs.metadata, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(spec.map(|s| &s.selector))),
    ]
}

/// Reads an `events.k8s.io/v1` Event into the core shape, as the apiserver's conversion does.
fn parse_event(obj: &Value) -> Option<Event> {
    let is_new_api = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("events.k8s.io/"));
    if !is_new_api {
        return parse(obj);
    }
    let mut core = Map::new();
    let renames = [
        ("metadata", "metadata"),
        ("regarding", "involvedObject"),
        ("related", "related"),
        ("note", "message"),
        ("reason", "reason"),
        ("type", "type"),
        ("action", "action"),
        ("eventTime", "eventTime"),
        ("series", "series"),
        ("reportingController", "reportingComponent"),
        ("reportingInstance", "reportingInstance"),
        ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"),
    ];
    for (from, to) in renames {
        if let Some(v) = obj.get(from) {
            core.insert(to.to_string(), v.clone());
        }
    }
    parse(&Value::Object(core))
}

fn event_cells(e: &Event, now: Timestamp) -> Vec<Value> {
    let first = match e.first_timestamp.as_ref().and_then(timestamp) {
        Some(t) => age(Some(t), now),
        None => age(e.event_time.as_ref().and_then(micro), now),
    };
    let mut last = match e.last_timestamp.as_ref().and_then(timestamp) {
        Some(t) => age(Some(t), now),
        None => first.clone(),
    };
    let mut count = e.count.unwrap_or(0);
    if let Some(series) = &e.series {
        last = age(series.last_observed_time.as_ref().and_then(micro), now);
        count = series.count.unwrap_or(0);
    } else if count == 0 {
        // Singleton events of the new API carry no count.
        count = 1;
    }
    let involved = &e.involved_object;
    let kind = involved.kind.as_deref().unwrap_or("").to_lowercase();
    let target = match involved.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("{kind}/{name}"),
        None => kind,
    };
    let source = e.source.clone().unwrap_or_default();
    let component = str_or(
        &source.component,
        e.reporting_component.as_deref().unwrap_or(""),
    );
    let instance = str_or(&source.host, e.reporting_instance.as_deref().unwrap_or(""));
    let source = if instance.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {instance}")
    };
    vec![
        json!(last),
        json!(e.type_.as_deref().unwrap_or("")),
        json!(e.reason.as_deref().unwrap_or("")),
        json!(target),
        json!(involved.field_path.as_deref().unwrap_or("")),
        json!(source),
        json!(e.message.as_deref().unwrap_or("").trim()),
        json!(first),
        json!(i64::from(count)),
        json!(name_of(&e.metadata)),
    ]
}

fn namespace_cells(ns: &Namespace, now: Timestamp) -> Vec<Value> {
    let phase = ns.status.as_ref().map(|s| str_or(&s.phase, "Active"));
    vec![
        json!(name_of(&ns.metadata)),
        json!(phase.unwrap_or("Active")),
        json!(age_of(&ns.metadata, now)),
    ]
}

fn service_cells(svc: &Service, now: Timestamp) -> Vec<Value> {
    let spec = svc.spec.clone().unwrap_or_default();
    let svc_type = str_or(&spec.type_, "ClusterIP").to_string();
    let cluster_ip = spec
        .cluster_ips
        .as_ref()
        .and_then(|ips| ips.first().cloned())
        .or_else(|| spec.cluster_ip.clone())
        .filter(|ip| !ip.is_empty())
        .unwrap_or_else(|| "<none>".into());
    let external_ips = spec.external_ips.clone().unwrap_or_default();
    let external = match svc_type.as_str() {
        "ClusterIP" | "NodePort" if external_ips.is_empty() => "<none>".to_string(),
        "ClusterIP" | "NodePort" => external_ips.join(","),
        "LoadBalancer" => {
            // The server renders the wide form: no 16-character clipping.
            let mut lb: Vec<String> = svc
                .status
                .as_ref()
                .and_then(|s| s.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|i| {
                    i.ip.clone()
                        .filter(|s| !s.is_empty())
                        .or_else(|| i.hostname.clone().filter(|s| !s.is_empty()))
                })
                .collect();
            lb.sort();
            lb.dedup();
            lb.extend(external_ips);
            if lb.is_empty() {
                "<pending>".to_string()
            } else {
                lb.join(",")
            }
        }
        "ExternalName" => spec.external_name.clone().unwrap_or_default(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| {
            let proto = str_or(&p.protocol, "TCP");
            match p.node_port.filter(|n| *n > 0) {
                Some(node_port) => format!("{}:{node_port}/{proto}", p.port),
                None => format!("{}/{proto}", p.port),
            }
        })
        .collect();
    let ports = if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    };
    vec![
        json!(name_of(&svc.metadata)),
        json!(svc_type),
        json!(cluster_ip),
        json!(external),
        json!(ports),
        json!(age_of(&svc.metadata, now)),
        json!(format_labels(spec.selector.as_ref())),
    ]
}

fn config_map_cells(cm: &ConfigMap, now: Timestamp) -> Vec<Value> {
    let n = cm.data.as_ref().map_or(0, BTreeMap::len)
        + cm.binary_data.as_ref().map_or(0, BTreeMap::len);
    vec![
        json!(name_of(&cm.metadata)),
        json!(n),
        json!(age_of(&cm.metadata, now)),
    ]
}

fn secret_cells(secret: &Secret, now: Timestamp) -> Vec<Value> {
    vec![
        json!(name_of(&secret.metadata)),
        json!(str_or(&secret.type_, "Opaque")),
        json!(secret.data.as_ref().map_or(0, BTreeMap::len)),
        json!(age_of(&secret.metadata, now)),
    ]
}

/// `formatEndpoints`: up to three `ip:port` pairs, then `+ N more...`.
fn format_endpoints(ep: &Endpoints) -> String {
    let subsets = ep.subsets.as_deref().unwrap_or_default();
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addresses = ss.addresses.as_deref().unwrap_or_default();
        let ports = ss.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(a.ip.clone());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                let host = if a.ip.contains(':') {
                    format!("[{}]", a.ip)
                } else {
                    a.ip.clone()
                };
                list.push(format!("{host}:{}", port.port));
            }
        }
    }
    let joined = list.join(",");
    if more {
        format!("{joined} + {} more...", count - MAX)
    } else {
        joined
    }
}

fn endpoints_cells(ep: &Endpoints, now: Timestamp) -> Vec<Value> {
    vec![
        json!(name_of(&ep.metadata)),
        json!(format_endpoints(ep)),
        json!(age_of(&ep.metadata, now)),
    ]
}

fn lease_cells(lease: &Lease, now: Timestamp) -> Vec<Value> {
    let holder = lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.clone())
        .unwrap_or_default();
    vec![
        json!(name_of(&lease.metadata)),
        json!(holder),
        json!(age_of(&lease.metadata, now)),
    ]
}

/// NAME ATTACHER PV NODE ATTACHED AGE, as the apiserver prints a VolumeAttachment.
fn volume_attachment_cells(va: &VolumeAttachment, now: Timestamp) -> Vec<Value> {
    vec![
        json!(name_of(&va.metadata)),
        json!(va.spec.attacher),
        json!(
            va.spec
                .source
                .persistent_volume_name
                .clone()
                .unwrap_or_default()
        ),
        json!(va.spec.node_name),
        json!(va.status.as_ref().is_some_and(|s| s.attached)),
        json!(age_of(&va.metadata, now)),
    ]
}

/// `statefulset.apps/etcd`: the controller as the apiserver's printer names it.
fn controller_revision_cells(cr: &ControllerRevision, now: Timestamp) -> Vec<Value> {
    let controller = cr
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| {
            let group = r.api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
            let kind = if group.is_empty() {
                r.kind.to_lowercase()
            } else {
                format!("{}.{group}", r.kind.to_lowercase())
            };
            format!("{kind}/{}", r.name)
        })
        .unwrap_or_else(|| "<none>".into());
    vec![
        json!(name_of(&cr.metadata)),
        json!(controller),
        json!(cr.revision),
        json!(age_of(&cr.metadata, now)),
    ]
}

fn int_or_string(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(i)) => i.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "N/A".to_string(),
    }
}

fn pdb_cells(pdb: &PodDisruptionBudget, now: Timestamp) -> Vec<Value> {
    let spec = pdb.spec.as_ref();
    vec![
        json!(name_of(&pdb.metadata)),
        json!(int_or_string(spec.and_then(|s| s.min_available.as_ref()))),
        json!(int_or_string(spec.and_then(|s| s.max_unavailable.as_ref()))),
        json!(pdb.status.as_ref().map_or(0, |s| s.disruptions_allowed)),
        json!(age_of(&pdb.metadata, now)),
    ]
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// The default convertor: name and the creation time in RFC 3339 (UTC, whole seconds).
fn default_cells(obj: &Value) -> Vec<Value> {
    let created = meta_str(obj, "creationTimestamp")
        .and_then(|s| s.parse::<Timestamp>().ok())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    vec![json!(meta_str(obj, "name").unwrap_or("")), json!(created)]
}

/// The custom-resource convertor: a `date` cell is a human age, `null` when absent.
fn custom_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let created = match meta_str(obj, "creationTimestamp") {
        None => Value::Null,
        Some(s) => match s.parse::<Timestamp>() {
            Ok(t) => json!(age(Some(t), now)),
            Err(_) => json!("<invalid>"),
        },
    };
    vec![json!(meta_str(obj, "name").unwrap_or("")), created]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2025-01-01T12:00:00Z".parse().unwrap()
    }

    fn cells(plural: &str, obj: Value) -> Vec<Value> {
        let t = table(plural, &[obj], IncludeObject::Metadata, now());
        t["rows"][0]["cells"].as_array().cloned().unwrap()
    }

    fn strs(cells: &[Value]) -> Vec<String> {
        cells
            .iter()
            .map(|c| match c {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect()
    }

    fn names(plural: &str) -> Vec<(String, i64)> {
        column_definitions(plural)
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["priority"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    fn pod(phase: &str, statuses: Value) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "default",
                         "creationTimestamp": "2025-01-01T11:55:00Z", "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "nginx"}]},
            "status": {"phase": phase, "podIP": "10.0.0.5", "containerStatuses": statuses},
        })
    }

    #[test]
    fn table_shape_and_partial_metadata() {
        let p = pod("Running", json!([]));
        let t = table(
            "pods",
            std::slice::from_ref(&p),
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["kind"], "Table");
        assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(t["metadata"], json!({"resourceVersion": ""}));
        let obj = &t["rows"][0]["object"];
        assert_eq!(obj["kind"], "PartialObjectMetadata");
        assert_eq!(obj["apiVersion"], "meta.k8s.io/v1");
        assert_eq!(obj["metadata"], p["metadata"]);
        assert!(t["rows"][0].get("conditions").is_none());

        let t = table(
            "pods",
            std::slice::from_ref(&p),
            IncludeObject::Object,
            now(),
        );
        assert_eq!(t["rows"][0]["object"], p);
        let t = table("pods", std::slice::from_ref(&p), IncludeObject::None, now());
        assert_eq!(t["rows"][0]["object"], Value::Null);
        let c = &t["columnDefinitions"][0];
        assert_eq!(c["name"], "Name");
        assert_eq!(c["format"], "name");
        assert_eq!(c["priority"], 0);
    }

    #[test]
    fn include_object_parse() {
        assert_eq!(IncludeObject::parse(None), IncludeObject::Metadata);
        assert_eq!(IncludeObject::parse(Some("")), IncludeObject::Metadata);
        assert_eq!(IncludeObject::parse(Some("Object")), IncludeObject::Object);
        assert_eq!(IncludeObject::parse(Some("None")), IncludeObject::None);
        assert_eq!(IncludeObject::parse(Some("All")), IncludeObject::Metadata);
        assert_eq!(
            IncludeObject::try_parse(Some("All")),
            Err("unrecognized includeObject value: \"All\"".to_string())
        );
    }

    #[test]
    fn pod_columns_and_cells() {
        assert_eq!(
            names("pods"),
            [
                ("Name", 0),
                ("Ready", 0),
                ("Status", 0),
                ("Restarts", 0),
                ("Age", 0),
                ("IP", 1),
                ("Node", 1),
                ("Nominated Node", 1),
                ("Readiness Gates", 1),
            ]
            .map(|(n, p)| (n.to_string(), p))
        );
        let running = json!([{"name": "web", "image": "nginx", "imageID": "", "ready": true,
            "restartCount": 3, "state": {"running": {}},
            "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2025-01-01T11:59:18Z"}}}]);
        assert_eq!(
            strs(&cells("pods", pod("Running", running))),
            [
                "web-0",
                "1/1",
                "Running",
                "3 (42s ago)",
                "5m",
                "10.0.0.5",
                "node-1",
                "<none>",
                "<none>"
            ]
        );
        let crash = json!([{"name": "web", "image": "nginx", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]);
        assert_eq!(
            strs(&cells("pods", pod("Running", crash)))[..3],
            ["web-0", "0/1", "CrashLoopBackOff"]
        );
        let creating = json!([{"name": "web", "image": "nginx", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]);
        assert_eq!(
            strs(&cells("pods", pod("Pending", creating)))[2],
            "ContainerCreating"
        );
        let mut unscheduled = pod("Pending", json!([]));
        unscheduled["spec"]["nodeName"] = Value::Null;
        unscheduled["status"]["podIP"] = Value::Null;
        let c = strs(&cells("pods", unscheduled));
        assert_eq!(c[2], "Pending");
        assert_eq!(c[5..7], ["<none>", "<none>"]);
    }

    #[test]
    fn completed_pod_has_row_condition() {
        let done = json!([{"name": "web", "image": "nginx", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]);
        let t = table(
            "pods",
            &[pod("Succeeded", done)],
            IncludeObject::Metadata,
            now(),
        );
        assert_eq!(t["rows"][0]["cells"][2], "Completed");
        assert_eq!(t["rows"][0]["conditions"][0]["reason"], "Succeeded");
        assert_eq!(t["rows"][0]["conditions"][0]["type"], "Completed");
    }

    #[test]
    fn readiness_gates() {
        let mut p = pod("Running", json!([]));
        p["spec"]["readinessGates"] = json!([{"conditionType": "a"}, {"conditionType": "b"}]);
        p["status"]["conditions"] =
            json!([{"type": "a", "status": "True"}, {"type": "b", "status": "False"}]);
        assert_eq!(cells("pods", p)[8], "1/2");
    }

    fn node(ready: &str, unschedulable: bool) -> Value {
        json!({
            "metadata": {"name": "node-1", "creationTimestamp": "2024-12-30T09:00:00Z",
                "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "master"}},
            "spec": {"unschedulable": unschedulable},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": ready}],
                "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "node-1"}],
                "nodeInfo": {"kubeletVersion": "v1.32.3", "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.6.20"}
            }
        })
    }

    #[test]
    fn node_rows() {
        assert_eq!(
            strs(&cells("nodes", node("True", false))),
            [
                "node-1",
                "Ready",
                "control-plane,master",
                "2d3h",
                "v1.32.3",
                "192.168.1.10",
                "<none>",
                "Debian GNU/Linux 12 (bookworm)",
                "6.1.0-18-amd64",
                "containerd://1.6.20"
            ]
        );
        assert_eq!(
            cells("nodes", node("True", true))[1],
            "Ready,SchedulingDisabled"
        );
        assert_eq!(cells("nodes", node("Unknown", false))[1], "NotReady");
        let bare = json!({"metadata": {"name": "n"}});
        let c = strs(&cells("nodes", bare));
        assert_eq!(c[1..5], ["Unknown", "<none>", "<unknown>", ""]);
        assert_eq!(c[7], "<unknown>");
    }

    #[test]
    fn pv_and_pvc_rows() {
        let pv = json!({
            "metadata": {"name": "pvc-123", "creationTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"capacity": {"storage": "2048Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "rbd",
                "claimRef": {"namespace": "zk", "name": "data-zk-0"}, "volumeMode": "Filesystem"},
            "status": {"phase": "Bound"}
        });
        assert_eq!(
            strs(&cells("persistentvolumes", pv)),
            [
                "pvc-123",
                "2Gi",
                "RWO,RWX",
                "Delete",
                "Bound",
                "zk/data-zk-0",
                "rbd",
                "<unset>",
                "",
                "60m",
                "Filesystem"
            ]
        );
        let pvc = json!({
            "metadata": {"name": "data-zk-0", "namespace": "zk", "creationTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "rbd", "volumeName": "pvc-123",
                "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}
        });
        assert_eq!(
            strs(&cells("persistentvolumeclaims", pvc)),
            [
                "data-zk-0",
                "Bound",
                "pvc-123",
                "1Gi",
                "RWO",
                "rbd",
                "<unset>",
                "60m",
                "Filesystem"
            ]
        );
        let pending = json!({
            "metadata": {"name": "data-zk-1", "namespace": "zk", "deletionTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "rbd",
                "resources": {"requests": {"storage": "1Gi"}}},
        });
        assert_eq!(
            strs(&cells("persistentvolumeclaims", pending)),
            [
                "data-zk-1",
                "Terminating",
                "",
                "",
                "",
                "rbd",
                "<unset>",
                "<unknown>",
                "Filesystem"
            ]
        );
        assert_eq!(
            names("persistentvolumes").last().unwrap(),
            &("VolumeMode".to_string(), 1)
        );
    }

    #[test]
    fn quantities_are_canonical() {
        for (raw, want) in [
            ("1Gi", "1Gi"),
            ("2048Mi", "2Gi"),
            ("1500Mi", "1500Mi"),
            ("0.5Gi", "512Mi"),
            ("1.5Gi", "1536Mi"),
            ("1000M", "1G"),
            ("1500M", "1500M"),
            ("10G", "10G"),
            ("100", "100"),
            ("512", "512"),
            ("0", "0"),
            ("0Gi", "0"),
            ("1e3", "1e3"),
            ("0.5", "500m"),
            ("bogus", "bogus"),
        ] {
            assert_eq!(canonical_quantity(raw), want, "{raw}");
        }
    }

    #[test]
    fn storage_class_row() {
        let sc = json!({
            "metadata": {"name": "rbd", "creationTimestamp": "2025-01-01T11:00:00Z",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rbd.csi.ceph.com",
        });
        assert_eq!(
            cells("storageclasses", sc),
            [
                json!("rbd (default)"),
                json!("rbd.csi.ceph.com"),
                json!("Delete"),
                json!("Immediate"),
                json!(false),
                json!("60m")
            ]
        );
    }

    #[test]
    fn workloads() {
        let template = json!({"spec": {"containers": [{"name": "zk", "image": "zookeeper:3.8"}, {"name": "exp", "image": "exp:1"}]}});
        let sts = json!({"metadata": {"name": "zk", "creationTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "zk"}}, "template": template},
            "status": {"replicas": 3, "readyReplicas": 2}});
        assert_eq!(
            strs(&cells("statefulsets", sts)),
            ["zk", "2/3", "60m", "zk,exp", "zookeeper:3.8,exp:1"]
        );
        assert_eq!(
            names("statefulsets")
                .iter()
                .map(|c| c.1)
                .collect::<Vec<_>>(),
            [0, 0, 0, 1, 1]
        );

        let ds = json!({"metadata": {"name": "kube-flannel-ds", "creationTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"selector": {"matchLabels": {"app": "flannel"}}, "template":
                {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "f", "image": "flannel"}]}}},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2,
                "updatedNumberScheduled": 3, "numberAvailable": 2, "numberMisscheduled": 0}});
        assert_eq!(
            cells("daemonsets", ds),
            [
                json!("kube-flannel-ds"),
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux"),
                json!("60m"),
                json!("f"),
                json!("flannel"),
                json!("app=flannel")
            ]
        );

        let deploy = json!({"metadata": {"name": "coredns", "creationTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"selector": {"matchLabels": {"k8s-app": "kube-dns"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["b", "a"]}]},
                "template": {"spec": {"containers": [{"name": "coredns", "image": "coredns:1.11"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert_eq!(
            cells("deployments", deploy),
            [
                json!("coredns"),
                json!("2/1"),
                json!(2),
                json!(2),
                json!("60m"),
                json!("coredns"),
                json!("coredns:1.11"),
                json!("k8s-app=kube-dns,tier in (a,b)")
            ]
        );

        let rs = json!({"metadata": {"name": "coredns-abc", "creationTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "x"}}},
            "status": {"replicas": 2, "readyReplicas": 1}});
        assert_eq!(
            cells("replicasets", rs),
            [
                json!("coredns-abc"),
                json!(2),
                json!(2),
                json!(1),
                json!("60m"),
                json!(""),
                json!(""),
                json!("app=x")
            ]
        );
    }

    #[test]
    fn events() {
        assert_eq!(
            names("events")
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>(),
            [
                "Last Seen",
                "Type",
                "Reason",
                "Object",
                "Subobject",
                "Source",
                "Message",
                "First Seen",
                "Count",
                "Name"
            ]
        );
        let ev = json!({"metadata": {"name": "zk-0.17a", "namespace": "zk"},
            "involvedObject": {"kind": "Pod", "name": "zk-0", "fieldPath": "spec.containers{zk}"},
            "reason": "FailedMount", "type": "Warning", "message": " MountVolume.SetUp failed \n",
            "source": {"component": "kubelet", "host": "node-2"},
            "firstTimestamp": "2025-01-01T11:50:00Z", "lastTimestamp": "2025-01-01T11:59:00Z", "count": 7});
        assert_eq!(
            cells("events", ev),
            [
                json!("60s"),
                json!("Warning"),
                json!("FailedMount"),
                json!("pod/zk-0"),
                json!("spec.containers{zk}"),
                json!("kubelet, node-2"),
                json!("MountVolume.SetUp failed"),
                json!("10m"),
                json!(7),
                json!("zk-0.17a")
            ]
        );
        let new_api = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e"}, "regarding": {"kind": "Node", "name": "n1"},
            "eventTime": "2025-01-01T11:59:30.000000Z", "reportingController": "lab-scheduler",
            "reportingInstance": "lab", "reason": "Scheduled", "type": "Normal", "note": "ok"});
        let c = cells("events", new_api);
        assert_eq!(c[0], "30s");
        assert_eq!(c[3], "node/n1");
        assert_eq!(c[5], "lab-scheduler, lab");
        assert_eq!(c[6], "ok");
        assert_eq!(c[8], json!(1));
    }

    #[test]
    fn services_and_small_kinds() {
        let svc = json!({"metadata": {"name": "kube-dns", "creationTimestamp": "2025-01-01T11:00:00Z"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}, {"port": 9153}],
                "selector": {"k8s-app": "kube-dns"}}});
        assert_eq!(
            strs(&cells("services", svc)),
            [
                "kube-dns",
                "ClusterIP",
                "10.96.0.10",
                "<none>",
                "53/UDP,53/TCP,9153/TCP",
                "60m",
                "k8s-app=kube-dns"
            ]
        );
        let lb = json!({"metadata": {"name": "lb"},
            "spec": {"type": "LoadBalancer", "clusterIPs": ["10.96.0.11"], "ports": [{"port": 80, "nodePort": 30080}]}});
        let c = strs(&cells("services", lb));
        assert_eq!(c[3..5], ["<pending>", "80:30080/TCP"]);

        let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(cells("configmaps", cm)[1], json!(3));
        let secret = json!({"metadata": {"name": "s"}, "type": "kubernetes.io/rbd", "data": {"key": "QUFB"}});
        assert_eq!(
            cells("secrets", secret)[1..3],
            [json!("kubernetes.io/rbd"), json!(1)]
        );
        let ns = json!({"metadata": {"name": "zk"}, "status": {"phase": "Terminating"}});
        assert_eq!(cells("namespaces", ns)[1], "Terminating");
        let ep = json!({"metadata": {"name": "kube-dns"}, "subsets": [{
            "addresses": [{"ip": "10.1.0.20"}, {"ip": "10.1.0.21"}],
            "ports": [{"port": 53}, {"port": 9153}]}]});
        assert_eq!(
            cells("endpoints", ep)[1],
            "10.1.0.20:53,10.1.0.21:53,10.1.0.20:9153 + 1 more..."
        );
        let empty_ep = json!({"metadata": {"name": "x"}});
        assert_eq!(cells("endpoints", empty_ep)[1], "<none>");
        let lease = json!({"metadata": {"name": "node-1"}, "spec": {"holderIdentity": "node-1"}});
        assert_eq!(cells("leases", lease)[1], "node-1");
        let pdb = json!({"metadata": {"name": "zk"}, "spec": {"minAvailable": 2},
            "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}});
        assert_eq!(
            cells("poddisruptionbudgets", pdb)[1..4],
            [json!("2"), json!("N/A"), json!(1)]
        );
    }

    #[test]
    fn unknown_plural_gets_custom_resource_table() {
        assert_eq!(
            names("ippools"),
            [("Name".to_string(), 0), ("Age".to_string(), 0)]
        );
        assert_eq!(column_definitions("ippools")[1]["type"], "date");
        let pool = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": "default-ipv4-ippool", "creationTimestamp": "2025-01-01T09:00:00Z"}});
        assert_eq!(
            cells("ippools", pool),
            [json!("default-ipv4-ippool"), json!("3h")]
        );
        let crd = json!({"metadata": {"name": "ippools.crd.projectcalico.org",
            "creationTimestamp": "2025-01-01T09:00:00.123Z"}});
        assert_eq!(names("customresourcedefinitions")[1].0, "Created At");
        assert_eq!(
            cells("customresourcedefinitions", crd),
            [
                json!("ippools.crd.projectcalico.org"),
                json!("2025-01-01T09:00:00Z")
            ]
        );
    }

    #[test]
    fn unparsable_object_falls_back() {
        let broken = json!({"metadata": {"name": "weird", "creationTimestamp": "2025-01-01T11:59:00Z"},
            "spec": {"containers": "not-a-list"}});
        let c = cells("pods", broken);
        assert_eq!(c.len(), POD_COLS.len());
        assert_eq!(c[0], "weird");
        assert_eq!(c[4], "60s");
        let c = cells("daemonsets", json!({"metadata": 5}));
        assert_eq!(c[0], "");
        assert_eq!(c[1], json!(0));
    }
}
