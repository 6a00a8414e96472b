//! What each plan step does to the system it touches, apply then re-check: the
//! executor ([`super::exec`]) decides order, refusals and audit; these modules only
//! talk to one system each, so a new kind of step goes next to its peers.
//!
//! - [`kube`]: Kubernetes writes (cordon, delete a pod, scale, kube-proxy's config)
//!   and the bounded request helpers every Kubernetes call goes through.
//! - [`kube_wait`]: waiting for Kubernetes states (a pod gone or Ready, replicas
//!   ready, an agent back on its node, a claim's pod running).
//! - [`net_wait`]: the network fixes' checks that the symptom is gone (the agent stays
//!   Ready, the stuck pods get sandboxes), stopping at the first sign it is not.
//! - [`ceph`]: fencing a client, breaking an RBD lock, waiting for a lock to move.
//! - [`csi`]: releasing a ceph-csi volume from a dead node (out-of-service taint or
//!   VolumeAttachment deletion, only once fenced) and waiting for it to move.
//! - [`claims`]: deleting a claim left by a removed member (never one in use).
//! - [`etcd`]: etcd member changes (add, promote, remove, move the leader, snapshot),
//!   each guarded by the quorum rule on the live member list.
//! - [`zookeeper`]: ZooKeeper member changes (`reconfig -add`/`-remove` through a
//!   session) and the check that the ensemble has a leader and synced followers.
//! - [`ensemble_live`]: the ensemble as both kinds' steps re-read it before acting.
//! - [`sts_template`]: a StatefulSet's container command, and waiting for a rolling
//!   update to reach a pod.
//! - [`drain`]: evictions that honour disruption budgets, deleting a node.
//! - [`join`]: a bootstrap token for a new machine, and following its node until Ready.
//! - [`host`]: the files of the node the console runs on (leaked IP reservations).
//! - [`node_reset`]: returning a machine to a clean state (`kcops setup reset`).

pub(crate) mod ceph;
pub(crate) mod certs_renew;
pub(crate) mod claims;
pub(crate) mod csi;
pub mod debug_pod;
pub(crate) mod drain;
pub(crate) mod ensemble_live;
pub(crate) mod etcd;
pub(crate) mod host;
pub(crate) mod join;
pub(crate) mod kube;
pub(crate) mod kube_wait;
pub(crate) mod net_wait;
pub mod node_reset;
pub(crate) mod sts_template;
pub(crate) mod zookeeper;

/// What a step that did not fail found.
pub(crate) enum Applied {
    /// The step made its change; the text is what the re-check found.
    Done(String),
    /// The re-check before the change found it already made (another console, another
    /// operator, a controller): nothing was sent, and the audit says so instead of
    /// claiming the change.
    AlreadyDone(String),
}

impl Applied {
    /// The text the progress line shows.
    pub(crate) fn text(&self) -> String {
        match self {
            Applied::Done(t) => t.clone(),
            Applied::AlreadyDone(t) => format!("{}: {t}", crate::ops::audit::ALREADY_DONE),
        }
    }
}

/// A step's failure before it becomes an [`super::OpsError`] with the plan's position.
pub(crate) enum StepError {
    /// 403 with the API server's message.
    Forbidden(String),
    Failed(String),
}

impl StepError {
    /// The failure in the words the progress line and the audit log show.
    pub(crate) fn text(&self) -> String {
        match self {
            StepError::Forbidden(m) => format!("forbidden by RBAC: {m}"),
            StepError::Failed(m) => m.clone(),
        }
    }
}
