//! What one plan step does. `Op` is a closed enum so the executor dispatches per variant
//! and every kind of step gets its own apply and re-check code: adding Ceph fencing, lock
//! breaking or etcd member changes later is one variant plus one arm in the executor,
//! not a new framework.

use crate::ops::steps::debug_pod::DebugPodSpec;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The object a plan or step acts on, as the operator and the audit log name it.
///
/// `kind` is a free string rather than an enum because later steps act on things that are
/// not Kubernetes objects (an RBD image in a pool, an etcd member); `namespace` then holds
/// the enclosing scope (the pool, the cluster).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: impl Into<String>, namespace: Option<&str>, name: impl Into<String>) -> Self {
        ObjectRef {
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            name: name.into(),
        }
    }

    pub fn node(name: &str) -> Self {
        Self::new("Node", None, name)
    }

    pub fn pod(namespace: &str, name: &str) -> Self {
        Self::new("Pod", Some(namespace), name)
    }
}

/// `Node node2`, `Pod demo/web-0`: the kind first so a line in the audit log reads on its
/// own, and `namespace/name` as kubectl users read it.
impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The workload kinds that have a scale subresource the console drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ScaleKind {
    StatefulSet,
    Deployment,
    ReplicaSet,
}

impl ScaleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScaleKind::StatefulSet => "StatefulSet",
            ScaleKind::Deployment => "Deployment",
            ScaleKind::ReplicaSet => "ReplicaSet",
        }
    }
}

impl fmt::Display for ScaleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How long the pods stuck without a sandbox may take to get one once a network fix
/// removed the cause (the kubelet retries sandbox setup on its own); a new sandbox
/// failure stops the wait sooner.
pub(crate) const POD_NETWORK_TIMEOUT: Duration = Duration::from_secs(120);

/// A state a `Wait` step waits for (watched, not polled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// A node not in `known` registers, gets a podCIDR, runs its network agent and
    /// is Ready (a machine joining with token `token_id`); the time-out says where it
    /// stalled and why, an unusable token stops the wait at once.
    NodeJoined {
        known: Vec<String>,
        token_id: String,
    },
    /// No pod of that name, or only a replacement: when the same run deleted the pod, a
    /// new pod with the same name (a StatefulSet's) counts as the old one being gone.
    PodGone { namespace: String, name: String },
    /// The pod is Running and Ready and not being deleted (e.g. a restarted pod after its
    /// volume's lock was broken).
    PodReady { namespace: String, name: String },
    /// A pod of DaemonSet `daemonset` on `node` is Running and Ready, and it is not
    /// one this run deleted (the agent restarted by the plan came back).
    DaemonPodReady {
        namespace: String,
        daemonset: String,
        node: String,
    },
    /// `status.replicas` and `status.readyReplicas` both equal `replicas`.
    ReplicasReady {
        kind: ScaleKind,
        namespace: String,
        name: String,
        replicas: i32,
    },
    /// Some pod that mounts `claim` (the stuck pod or its replacement, whatever its
    /// name) is Running and Ready (polled every second).
    ClaimPodReady { namespace: String, claim: String },
    /// Every lock on the RBD image names `node` (by its kubelet cookie or its
    /// address), polled from Ceph every second.
    LockHeldBy {
        pool: String,
        image: String,
        node: LockNode,
    },
    /// A fix's check that the network agent (`agent`: flannel, calico) of DaemonSet
    /// `daemonset` on `node` works, not only that it was restarted: a pod of it is
    /// Running and Ready and stays Ready for `settle` (a crash-looping agent is Ready
    /// briefly or never). Without `after_crashes` the pod must be one this run did not
    /// delete and its first crash stops the wait with the agent's last words and the
    /// likely cause; with it, the agent was crash-looping before the plan's change and
    /// its next start is what counts, so crashes meanwhile are waited out.
    AgentSettled {
        agent: String,
        namespace: String,
        daemonset: String,
        node: String,
        settle: Duration,
        after_crashes: bool,
    },
    /// A fix's check that its symptom is gone: every pod on `node` stuck on its pod
    /// sandbox (Pending without an IP, not host-network, with a FailedCreatePodSandBox
    /// event) gets one. A new FailedCreatePodSandBox
    /// event for one of them after the step starts stops the wait with the plugin's
    /// error: the cause persists.
    PodNetworkOnNode { node: String },
    /// Pod `name` of StatefulSet `statefulset` runs the StatefulSet's update revision
    /// and is Running and Ready (a rolling update reached it and it came back).
    PodUpdated {
        namespace: String,
        statefulset: String,
        name: String,
    },
    /// RBD image `pool/image` has no watcher at any of `addrs` (a fenced client's
    /// watch is dropped by the OSDs once the blocklist reaches them), polled from Ceph.
    WatchersGone {
        pool: String,
        image: String,
        addrs: Vec<String>,
    },
    /// No VolumeAttachment of volume `pv` to `node` is left (the attach/detach
    /// controller detached it, or it was deleted), polled every second.
    Detached { pv: String, node: String },
    /// The symptom of a CSI volume held by a dead node is gone: a pod mounting
    /// `claim` is Running and Ready, the VolumeAttachment of `pv` to its node says
    /// attached, and RBD image `pool/image` is staged there (a watcher from that
    /// node's address), polled every second.
    CsiVolumeInUse {
        namespace: String,
        claim: String,
        pv: String,
        pool: String,
        image: String,
    },
}

/// The node a [`WaitFor::LockHeldBy`] expects: known when the plan is made, or the
/// node of the pod that runs with the claim (a replacement may land anywhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockNode {
    Node(String),
    PodOfClaim { namespace: String, claim: String },
}

impl fmt::Display for LockNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockNode::Node(n) => write!(f, "node {n}"),
            LockNode::PodOfClaim { namespace, claim } => {
                write!(f, "the node running the pod with claim {namespace}/{claim}")
            }
        }
    }
}

impl WaitFor {
    pub fn object(&self) -> ObjectRef {
        match self {
            WaitFor::PodGone { namespace, name } | WaitFor::PodReady { namespace, name } => {
                ObjectRef::pod(namespace, name)
            }
            WaitFor::ReplicasReady {
                kind,
                namespace,
                name,
                ..
            } => ObjectRef::new(kind.as_str(), Some(namespace), name.as_str()),
            WaitFor::DaemonPodReady {
                namespace,
                daemonset,
                ..
            } => ObjectRef::new("DaemonSet", Some(namespace), daemonset.as_str()),
            WaitFor::ClaimPodReady { namespace, claim } => {
                ObjectRef::new("PersistentVolumeClaim", Some(namespace), claim.as_str())
            }
            WaitFor::LockHeldBy { pool, image, .. } => {
                ObjectRef::new("RbdImage", Some(pool), image.as_str())
            }
            WaitFor::AgentSettled {
                namespace,
                daemonset,
                ..
            } => ObjectRef::new("DaemonSet", Some(namespace), daemonset.as_str()),
            WaitFor::PodNetworkOnNode { node } => ObjectRef::node(node),
            WaitFor::NodeJoined { token_id, .. } => ObjectRef::new(
                "Node",
                None,
                format!("joined with token {token_id}").as_str(),
            ),
            WaitFor::PodUpdated {
                namespace, name, ..
            } => ObjectRef::pod(namespace, name),
            WaitFor::WatchersGone { pool, image, .. }
            | WaitFor::CsiVolumeInUse { pool, image, .. } => {
                ObjectRef::new("RbdImage", Some(pool), image.as_str())
            }
            WaitFor::Detached { pv, .. } => ObjectRef::new("PersistentVolume", None, pv.as_str()),
        }
    }
}

impl fmt::Display for WaitFor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitFor::NodeJoined { token_id, .. } => write!(
                f,
                "a new node (joining with token {token_id}) to register, get a podCIDR, run its network agent and be Ready"
            ),
            WaitFor::PodGone { namespace, name } => write!(f, "pod {namespace}/{name} to be gone"),
            WaitFor::PodReady { namespace, name } => {
                write!(f, "pod {namespace}/{name} to be Running and Ready")
            }
            WaitFor::DaemonPodReady {
                namespace,
                daemonset,
                node,
            } => write!(
                f,
                "a new pod of DaemonSet {namespace}/{daemonset} on {node} to be Running and Ready"
            ),
            WaitFor::ReplicasReady {
                kind,
                namespace,
                name,
                replicas,
            } => write!(
                f,
                "{kind} {namespace}/{name} to have {replicas}/{replicas} ready replicas"
            ),
            WaitFor::ClaimPodReady { namespace, claim } => write!(
                f,
                "a pod using claim {namespace}/{claim} to be Running and Ready"
            ),
            WaitFor::LockHeldBy { pool, image, node } => {
                write!(f, "the lock on RBD image {pool}/{image} to name {node}")
            }
            WaitFor::AgentSettled {
                agent,
                namespace,
                daemonset,
                node,
                settle,
                after_crashes: false,
            } => write!(
                f,
                "a new {agent} pod of DaemonSet {namespace}/{daemonset} on {node} to be Running and Ready and stay Ready for {} (a crash stops the wait)",
                human_duration(*settle)
            ),
            WaitFor::AgentSettled {
                agent,
                namespace,
                daemonset,
                node,
                settle,
                after_crashes: true,
            } => write!(
                f,
                "the crash-looping {agent} agent on {node} (DaemonSet {namespace}/{daemonset}) to start again, be Ready and stay Ready for {}",
                human_duration(*settle)
            ),
            WaitFor::PodNetworkOnNode { node } => write!(
                f,
                "the pods on {node} waiting for a pod sandbox to get one (a new sandbox failure stops the wait)"
            ),
            WaitFor::PodUpdated {
                namespace,
                statefulset,
                name,
            } => write!(
                f,
                "pod {namespace}/{name} to run StatefulSet {statefulset}'s new revision and be Ready"
            ),
            WaitFor::WatchersGone { pool, image, addrs } => write!(
                f,
                "RBD image {pool}/{image} to have no watcher at {} (the OSDs drop a fenced client's watch)",
                addrs.join(", ")
            ),
            WaitFor::Detached { pv, node } => {
                write!(f, "no VolumeAttachment of volume {pv} to {node} to be left")
            }
            WaitFor::CsiVolumeInUse {
                namespace,
                claim,
                pool,
                image,
                ..
            } => write!(
                f,
                "a pod using claim {namespace}/{claim} to be Running and Ready, its node's VolumeAttachment attached and RBD image {pool}/{image} staged there (a watcher from that node)"
            ),
        }
    }
}

/// How a step reaches a node's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAccess {
    /// Through a host root on the console's machine (`/` on a real node).
    Local {
        host_root: std::path::PathBuf,
        /// The sandbox listing command (`None`: the probe's default).
        sandboxes_command: Option<Vec<String>>,
    },
    /// Through a short-lived privileged pod on the node.
    DebugPod(DebugPodSpec),
}

impl HostAccess {
    /// Where the files are, for the plan's text.
    fn describe(&self, node: &str, dir: &str) -> String {
        match self {
            HostAccess::Local { host_root, .. } => host_root
                .join(dir.trim_start_matches('/'))
                .display()
                .to_string(),
            HostAccess::DebugPod(d) => format!(
                "{dir} on {node}, through a debug pod in {} (image {}, privileged, host / at /host; deleted afterwards)",
                d.namespace, d.image
            ),
        }
    }
}

/// One operation of a plan step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set `spec.unschedulable` (running pods stay where they are).
    Cordon { node: String },
    /// Clear `spec.unschedulable`.
    Uncordon { node: String },
    /// Delete one pod. `grace` overrides the pod's termination grace period; it is
    /// unsigned because the API server rejects negative values anyway.
    DeletePod {
        namespace: String,
        name: String,
        grace: Option<u32>,
    },
    /// Set the desired replicas through the scale subresource (the only write RBAC roles
    /// such as "scale but not edit" allow, and what HPAs and kubectl scale use).
    /// `expect_current`, when set, is the replica count the operator saw when the plan was
    /// made: if the workload wants another number by the time the step runs, the step
    /// fails instead of silently turning a scale-up into a scale-down.
    Scale {
        kind: ScaleKind,
        namespace: String,
        name: String,
        replicas: i32,
        expect_current: Option<i32>,
    },
    /// Wait (without changing anything) until `what` holds, failing after `timeout`.
    Wait { what: WaitFor, timeout: Duration },
    /// Delete leaked host-local reservations (`/var/lib/cni/networks/<network>/<ip>`)
    /// of `node`, through `via`. `reservations` are the `(ip, sandbox id)` pairs the
    /// operator approved; each is deleted only if, under the directory's lock and with
    /// the live sandboxes listed again, the file still names that sandbox and the
    /// sandbox is still gone (see [`crate::host::release`]).
    ReleaseReservations {
        node: String,
        via: HostAccess,
        network: String,
        reservations: Vec<(String, String)>,
    },
    /// Read another node's pod-network host state through a debug pod (host `/`
    /// mounted read-only), for the Network pane and the diagnosis.
    ProbeHost { node: String, debug: DebugPodSpec },
    /// Set `clusterCIDR` in kube-proxy's ConfigMap (key `config.conf`, kubeadm's
    /// layout), changing only that line. `expect_current` is the value the operator
    /// saw (`""` for empty or absent): another value by the time the step runs fails
    /// the step instead of overwriting someone else's change.
    SetKubeProxyClusterCidr {
        namespace: String,
        configmap: String,
        cidr: String,
        expect_current: String,
    },
    /// Fence one Ceph client: `ceph osd blocklist add <addr> <expire>`. `addr` is an
    /// exact `ip:port/nonce` (one client instance, never a whole host); `who` says
    /// whose it is (`lock holder client.4140 on node1`) for the preview and the audit.
    Fence {
        addr: String,
        expire: Duration,
        who: String,
    },
    /// Break one lock on an RBD image, as `rbd lock rm` does. `address` is the lock's
    /// holder and `watchers` the live watchers from the holder's IP when the plan was
    /// made: [`crate::ops::Plan::validate`] requires a `Fence` of each before this
    /// step, and the executor re-checks right before breaking that every watcher from
    /// the holder's IP is fenced (never break without fencing).
    BreakLock {
        pool: String,
        image: String,
        locker: String,
        cookie: String,
        address: String,
        watchers: Vec<String>,
    },
    /// Change (or check) an ensemble's membership: add, promote, remove a member,
    /// move its leadership, snapshot it ([`crate::ops::ensemble`]).
    Member(crate::ops::ensemble::MemberOp),
    /// Create a bootstrap token for a machine to join with (Secret
    /// kube-system/bootstrap-token-<id>, kubeadm's usages and group), valid for
    /// `ttl`; done once cluster-info is signed for it. The token is a credential:
    /// previews and the audit name only its id.
    CreateBootstrapToken { token: String, ttl: Duration },
    /// Evict one pod through the eviction API (PodDisruptionBudgets honoured: a
    /// refusal is retried for `retry_for`, then fails with the budget's words).
    EvictPod {
        namespace: String,
        name: String,
        retry_for: Duration,
    },
    /// Delete a Node object (after its machine is drained).
    DeleteNode { node: String },
    /// Delete a PersistentVolumeClaim no pod uses (re-checked: a pod mounting it
    /// fails the step); its volume goes with it under a `Delete` reclaim policy.
    DeleteClaim { namespace: String, name: String },
    /// Replace an object with the operator's edit of it (`e`, `$EDITOR`). `object`
    /// carries the resourceVersion it was read at, so the API server refuses the
    /// replace if anyone changed the object since (a conflict, never a lost update).
    ReplaceObject {
        api_version: String,
        kind: String,
        plural: String,
        /// `""` for a cluster-scoped kind.
        namespace: String,
        name: String,
        object: serde_json::Value,
    },
    /// Set the command of container `container` in StatefulSet `statefulset`'s pod
    /// template (a strategic merge patch; the StatefulSet's update strategy then
    /// rolls the pods). `expect_current` is the command the operator saw: another
    /// one by the time the step runs fails the step.
    SetContainerCommand {
        namespace: String,
        statefulset: String,
        container: String,
        command: Vec<String>,
        expect_current: Vec<String>,
    },
    /// Set StatefulSet `statefulset`'s `updateStrategy.type` (`OnDelete` lets a plan
    /// restart pods one at a time with its own checks between them; `RollingUpdate`
    /// hands rolling back to the controller). `expect_current` is the type the
    /// operator saw.
    SetUpdateStrategy {
        namespace: String,
        statefulset: String,
        strategy: String,
        expect_current: String,
    },
    /// A step on the machine itself, no cluster needed (`kcops setup reset`).
    Node(crate::ops::steps::node_reset::NodeOp),
    /// Put the non-graceful node shutdown taint
    /// (`node.kubernetes.io/out-of-service=nodeshutdown:NoExecute`) on a dead node:
    /// the attach/detach controller then detaches its volumes at once instead of
    /// after 6 minutes (or never). `watchers` are the node's clients on RBD image
    /// `pool/image` when the plan was made: [`crate::ops::Plan::validate`] wants a
    /// `Fence` of each first, and the step re-checks in Ceph that every watcher from
    /// the node's addresses is fenced (nothing is cut loose without fencing).
    TaintOutOfService {
        node: String,
        pool: String,
        image: String,
        watchers: Vec<String>,
    },
    /// Remove that taint (the node is back, or about to be deleted).
    UntaintOutOfService { node: String },
    /// Delete the VolumeAttachment `name` of volume `pv` to the dead `node` (the
    /// alternative to the taint), under the same fencing rule.
    DeleteAttachment {
        name: String,
        pv: String,
        node: String,
        pool: String,
        image: String,
        watchers: Vec<String>,
    },
}

impl Op {
    /// The short verb the audit log records (`cordon`, `delete-pod`, ...).
    pub fn action(&self) -> &'static str {
        match self {
            Op::Cordon { .. } => "cordon",
            Op::Uncordon { .. } => "uncordon",
            Op::DeletePod { .. } => "delete-pod",
            Op::Scale { .. } => "scale",
            Op::Wait { .. } => "wait",
            Op::Fence { .. } => "blocklist",
            Op::BreakLock { .. } => "break-lock",
            Op::ReleaseReservations { .. } => "release-ip-reservations",
            Op::ProbeHost { .. } => "node-debug-pod",
            Op::SetKubeProxyClusterCidr { .. } => "set-kube-proxy-cluster-cidr",
            Op::Member(m) => m.action(),
            Op::DeleteClaim { .. } => "delete-pvc",
            Op::CreateBootstrapToken { .. } => "create-bootstrap-token",
            Op::EvictPod { .. } => "evict-pod",
            Op::DeleteNode { .. } => "delete-node",
            Op::ReplaceObject { .. } => "replace",
            Op::SetContainerCommand { .. } => "set-template-command",
            Op::SetUpdateStrategy { .. } => "set-update-strategy",
            Op::Node(n) => n.action(),
            Op::TaintOutOfService { .. } => "taint-out-of-service",
            Op::UntaintOutOfService { .. } => "untaint-out-of-service",
            Op::DeleteAttachment { .. } => "delete-volumeattachment",
        }
    }

    /// Whether the step changes the cluster (and so needs an audit line).
    pub(crate) fn is_mutation(&self) -> bool {
        match self {
            Op::Wait { .. } => false,
            Op::Member(m) => m.is_mutation(),
            _ => true,
        }
    }

    /// The object the step acts on.
    pub fn object(&self) -> ObjectRef {
        match self {
            Op::Cordon { node } | Op::Uncordon { node } => ObjectRef::node(node),
            Op::DeletePod {
                namespace, name, ..
            } => ObjectRef::pod(namespace, name),
            Op::Scale {
                kind,
                namespace,
                name,
                ..
            } => ObjectRef::new(kind.as_str(), Some(namespace), name.as_str()),
            Op::Wait { what, .. } => what.object(),
            Op::Fence { addr, .. } => ObjectRef::new("CephClient", None, addr.as_str()),
            Op::BreakLock { pool, image, .. } => {
                ObjectRef::new("RbdImage", Some(pool), image.as_str())
            }
            Op::ReleaseReservations { node, network, .. } => {
                ObjectRef::new("HostLocalNetwork", Some(node), network.as_str())
            }
            Op::ProbeHost { node, .. } => ObjectRef::node(node),
            Op::SetKubeProxyClusterCidr {
                namespace,
                configmap,
                ..
            } => ObjectRef::new("ConfigMap", Some(namespace), configmap.as_str()),
            Op::DeleteClaim { namespace, name } => {
                ObjectRef::new("PersistentVolumeClaim", Some(namespace), name.as_str())
            }
            Op::EvictPod {
                namespace, name, ..
            } => ObjectRef::pod(namespace, name),
            Op::DeleteNode { node } => ObjectRef::node(node),
            Op::CreateBootstrapToken { token, .. } => ObjectRef::new(
                "Secret",
                Some("kube-system"),
                format!("bootstrap-token-{}", crate::setup::token::token_id(token)).as_str(),
            ),
            Op::ReplaceObject {
                kind,
                namespace,
                name,
                ..
            } => ObjectRef::new(
                kind.as_str(),
                Some(namespace.as_str()).filter(|n| !n.is_empty()),
                name.as_str(),
            ),
            Op::SetContainerCommand {
                namespace,
                statefulset,
                ..
            }
            | Op::SetUpdateStrategy {
                namespace,
                statefulset,
                ..
            } => ObjectRef::new("StatefulSet", Some(namespace), statefulset.as_str()),
            Op::Member(m) => ObjectRef::new(
                "EnsembleMember",
                Some(&m.ensemble.namespace),
                m.object_name(),
            ),
            Op::Node(n) => n.object(),
            Op::TaintOutOfService { node, .. } | Op::UntaintOutOfService { node } => {
                ObjectRef::node(node)
            }
            Op::DeleteAttachment { name, .. } => {
                ObjectRef::new("VolumeAttachment", None, name.as_str())
            }
        }
    }

    /// What the step will do, in the words shown before it runs.
    pub fn describe(&self) -> String {
        match self {
            Op::Cordon { node } => format!(
                "Cordon node {node}: mark it unschedulable (pods already running there stay)"
            ),
            Op::Uncordon { node } => {
                format!("Uncordon node {node}: allow new pods to be scheduled on it again")
            }
            Op::DeletePod {
                namespace,
                name,
                grace,
            } => {
                let grace = match grace {
                    Some(s) => format!("grace period {s}s"),
                    None => "the pod's own grace period".to_string(),
                };
                format!(
                    "Delete pod {namespace}/{name} ({grace}); a controller that owns it creates a replacement"
                )
            }
            Op::Scale {
                kind,
                namespace,
                name,
                replicas,
                expect_current,
            } => match expect_current {
                Some(from) => format!(
                    "Scale {kind} {namespace}/{name} from {from} to {replicas} replicas (scale subresource)"
                ),
                None => format!(
                    "Scale {kind} {namespace}/{name} to {replicas} replicas (scale subresource)"
                ),
            },
            Op::Wait { what, timeout } => {
                format!("Wait up to {} for {what}", human_duration(*timeout))
            }
            Op::Fence { addr, expire, who } => format!(
                "Fence {who}: blocklist {addr} for {} (that client can no longer reach any OSD)",
                human_duration(*expire)
            ),
            Op::BreakLock {
                pool,
                image,
                locker,
                cookie,
                address,
                ..
            } => format!(
                "Break the lock {cookie} of {locker} ({address}) on RBD image {pool}/{image}"
            ),
            Op::ProbeHost { node, debug } => format!(
                "Read the pod-network state of {node}'s host: {}",
                HostAccess::DebugPod(debug.clone())
                    .describe(
                        node,
                        "/run/flannel, /etc/cni/net.d, /var/lib/cni/networks and the live sandboxes"
                    )
                    .replace(
                        "privileged, host / at /host",
                        "privileged, host / read-only at /host"
                    )
            ),
            Op::ReleaseReservations {
                node,
                via,
                network,
                reservations,
            } => {
                let shown: Vec<&str> = reservations
                    .iter()
                    .take(8)
                    .map(|(ip, _)| ip.as_str())
                    .collect();
                let more = reservations.len().saturating_sub(shown.len());
                format!(
                    "Release {} leaked host-local reservation{} of network {network} on {node} ({}): {}{}; each only if its sandbox is still gone when checked again under the directory's lock",
                    reservations.len(),
                    if reservations.len() == 1 { "" } else { "s" },
                    via.describe(node, &format!("/var/lib/cni/networks/{network}")),
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    }
                )
            }
            Op::SetKubeProxyClusterCidr {
                namespace,
                configmap,
                cidr,
                expect_current,
            } => {
                let was = if expect_current.is_empty() {
                    "empty".to_string()
                } else {
                    format!("\"{expect_current}\"")
                };
                format!(
                    "Patch ConfigMap {namespace}/{configmap}, key config.conf: clusterCIDR {was} -> \"{cidr}\" (only that line changes; kube-proxy reads it when it starts)"
                )
            }
            Op::Member(m) => m.describe(),
            Op::SetContainerCommand {
                namespace,
                statefulset,
                container,
                ..
            } => format!(
                "Patch StatefulSet {namespace}/{statefulset}: the command of container {container} in the pod template (the change shown above; its update strategy then restarts the pods)"
            ),
            Op::SetUpdateStrategy {
                namespace,
                statefulset,
                strategy,
                ..
            } => format!(
                "Set the update strategy of StatefulSet {namespace}/{statefulset} to {strategy}{}",
                if strategy == "OnDelete" {
                    " (a template change then restarts no pod by itself: the plan restarts them one at a time)"
                } else {
                    ""
                }
            ),
            Op::EvictPod {
                namespace,
                name,
                retry_for,
            } => format!(
                "Evict pod {namespace}/{name} through the eviction API (its disruption budget decides; refusals retried for {})",
                human_duration(*retry_for)
            ),
            Op::DeleteNode { node } => format!(
                "Delete node {node} from the cluster (its machine must then be reset before it joins again)"
            ),
            Op::CreateBootstrapToken { token, ttl } => format!(
                "Create bootstrap token {} (Secret kube-system/bootstrap-token-{}, expires in {}, usages authentication and signing, group {}) and wait until cluster-info is signed for it",
                crate::setup::token::token_id(token),
                crate::setup::token::token_id(token),
                human_duration(*ttl),
                crate::setup::token::NODE_GROUP
            ),
            Op::DeleteClaim { namespace, name } => format!(
                "Delete claim {namespace}/{name} (refused while a pod uses it; its volume and RBD image go with it when its reclaim policy is Delete)"
            ),
            Op::Node(n) => n.describe(),
            Op::TaintOutOfService { node, .. } => format!(
                "Taint node {node} {OUT_OF_SERVICE_TAINT}: the attach/detach controller then detaches its volumes at once (not after 6 minutes, or never) and its pods are deleted; refused unless every watcher from {node} is fenced"
            ),
            Op::UntaintOutOfService { node } => format!(
                "Remove the taint {OUT_OF_SERVICE_TAINT} from node {node} (pods and volumes may use it again)"
            ),
            Op::DeleteAttachment { name, pv, node, .. } => format!(
                "Delete VolumeAttachment {name} (volume {pv} on {node}): the attach/detach controller sees the volume detached at its next sync (about a minute) and attaches it to the new node; refused unless every watcher from {node} is fenced"
            ),
            Op::ReplaceObject {
                kind,
                namespace,
                name,
                ..
            } => format!(
                "Replace {kind} {}{name} with your edit (the diff shown before); refused if it changed since it was read",
                if namespace.is_empty() {
                    String::new()
                } else {
                    format!("{namespace}/")
                }
            ),
        }
    }
}

/// The non-graceful node shutdown taint as `kubectl taint` writes it.
pub const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute";

/// `90s` -> `1m30s`: timeouts as an operator reads them.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_refs_read_like_kubectl() {
        assert_eq!(ObjectRef::node("node2").to_string(), "Node node2");
        assert_eq!(
            ObjectRef::pod("demo", "web-0").to_string(),
            "Pod demo/web-0"
        );
    }

    #[test]
    fn durations_are_human() {
        assert_eq!(human_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(human_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(human_duration(Duration::from_secs(0)), "0ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1s");
    }

    #[test]
    fn waits_are_not_mutations() {
        let wait = Op::Wait {
            what: WaitFor::PodGone {
                namespace: "a".into(),
                name: "b".into(),
            },
            timeout: Duration::from_secs(5),
        };
        assert!(!wait.is_mutation());
        assert_eq!(wait.object(), ObjectRef::pod("a", "b"));
        assert!(Op::Cordon { node: "n".into() }.is_mutation());
    }
}
