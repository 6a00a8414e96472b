//! The lock-removal wizard: a pod stays ContainerCreating ("rbd: image ... is locked by
//! other nodes") because its RBD image is still locked by a node that is gone, for
//! example a kubelet that died holding `kubelet_lock_magic_node1`.
//!
//! [`gather`] reads live state (the objects from the API server, the image's lockers
//! and watchers from Ceph, our own client and its right to fence); [`assess`] judges
//! it without I/O: what is stuck and the evidence that the holder is gone, whether our
//! Ceph user may fence (without blocklist rights, removing the lock fails with "rbd:
//! releasing lock failed: (13) Permission denied"), and the plan: fence the holder and
//! every live watcher from its address, break the lock, optionally delete the stuck
//! pod, then wait for the pod to run and the lock to name its node.
//!
//! A ceph-csi volume (`rbd.csi.ceph.com`) has no lock to break: the dead node keeps a
//! watcher on the image and a VolumeAttachment; [`csi`] judges those and plans the
//! fence, the out-of-service taint (or deleting the attachment) and the wait for the
//! new pod.

mod assess;
mod csi;
mod gather;

use std::net::IpAddr;
use std::time::Duration;

use crate::ceph::ImageInfo;
use crate::model::ceph::FencePermission;
use crate::model::pod::Pod;
use crate::ops::op::ObjectRef;

use super::error::WizardError;
pub use assess::assess;
pub use gather::gather;

/// How long a fence lasts: long enough for the pod to move, short enough that a node
/// that comes back is not cut off for good (Ceph's own default for lock breaking).
pub(crate) const FENCE_EXPIRE: Duration = Duration::from_secs(3600);
/// The option key: delete the stuck pod after breaking the lock.
pub(crate) const DELETE_POD_KEY: char = 'p';
/// How long to wait for the pod to run after the lock is gone.
pub(crate) const POD_TIMEOUT: Duration = Duration::from_secs(180);
/// How long to wait for the new lock once the pod runs.
pub(crate) const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// The option key of the CSI plan: delete the stale VolumeAttachment instead of
/// tainting the dead node.
pub(crate) const DELETE_ATTACHMENT_KEY: char = 'v';
/// How long the OSDs may take to drop a fenced client's watch.
pub(crate) const WATCH_DROP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the attach/detach controller may take to detach from the dead node
/// (deleting the attachment: its next sync, about a minute).
pub(crate) const DETACH_TIMEOUT: Duration = Duration::from_secs(120);

/// What the wizard was opened on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnlockTarget {
    Pod {
        namespace: String,
        name: String,
    },
    Claim {
        namespace: String,
        name: String,
    },
    Volume {
        name: String,
    },
    Image {
        pool: String,
        image: String,
    },
    /// `a/b` typed after `:unlock`: the pod `a/b` if there is one, else image `b` of
    /// pool `a`.
    Spec(String),
}

/// Why an `:unlock` argument names nothing, in the words the status line shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadUnlockArgument {
    #[error("unlock: name what to unlock: ns/pod, a pod in the current namespace, or pool/image")]
    Empty,
    #[error("unlock: {0:?} holds a space; give one argument: ns/pod, pod, or pool/image")]
    Space(String),
    #[error(
        "unlock: {arg:?} has {slashes} slashes; a pod is ns/pod and an RBD image is pool/image (one slash)"
    )]
    Slashes { arg: String, slashes: usize },
    #[error("unlock: {0:?} is missing a name on one side of the slash; use ns/pod or pool/image")]
    HalfEmpty(String),
}

impl UnlockTarget {
    /// `:unlock` arguments: `ns/pod` or `pool/image` (told apart by the API server),
    /// or a bare pod name in `default_ns`; anything else is refused with what is wrong
    /// with it.
    pub fn parse(arg: &str, default_ns: &str) -> Result<UnlockTarget, BadUnlockArgument> {
        let arg = arg.trim();
        if arg.is_empty() {
            return Err(BadUnlockArgument::Empty);
        }
        if arg.contains(char::is_whitespace) {
            return Err(BadUnlockArgument::Space(arg.to_string()));
        }
        match arg.matches('/').count() {
            0 => Ok(UnlockTarget::Pod {
                namespace: default_ns.to_string(),
                name: arg.to_string(),
            }),
            1 if arg.starts_with('/') || arg.ends_with('/') => {
                Err(BadUnlockArgument::HalfEmpty(arg.to_string()))
            }
            1 => Ok(UnlockTarget::Spec(arg.to_string())),
            slashes => Err(BadUnlockArgument::Slashes {
                arg: arg.to_string(),
                slashes,
            }),
        }
    }

    /// The wizard's subject until the image behind the target is known.
    pub fn subject(&self) -> ObjectRef {
        match self {
            UnlockTarget::Pod { namespace, name } => ObjectRef::pod(namespace, name),
            UnlockTarget::Claim { namespace, name } => {
                ObjectRef::new("PersistentVolumeClaim", Some(namespace), name.as_str())
            }
            UnlockTarget::Volume { name } => {
                ObjectRef::new("PersistentVolume", None, name.as_str())
            }
            UnlockTarget::Image { pool, image } => {
                ObjectRef::new("RbdImage", Some(pool), image.as_str())
            }
            UnlockTarget::Spec(s) => ObjectRef::new("Target", None, s.as_str()),
        }
    }
}

/// What [`gather`] read for [`assess`] to judge.
#[derive(Debug, Clone)]
pub struct Facts {
    /// What the wizard was opened on.
    pub subject: ObjectRef,
    /// The volume behind it, or why it could not be found.
    pub found: Result<Found, WizardError>,
}

/// The RBD volume behind the target and who uses it, from the API server.
#[derive(Debug, Clone)]
pub struct Found {
    pub pool: String,
    pub image: String,
    /// The PersistentVolume of the image, if one uses it.
    pub volume: Option<Volume>,
    /// `(namespace, name)` of the claim bound to that volume.
    pub claim: Option<(String, String)>,
    /// The pod the operator is after (given, or the one waiting for the volume).
    pub stuck: Option<Pod>,
    /// Every pod mounting the claim.
    pub users: Vec<Pod>,
    /// The stuck pod's events that say it waits for a volume held elsewhere.
    pub lock_events: Vec<String>,
    /// The image's locks and what judging them needs; read only once the volume is
    /// known, and the first failed read stops there.
    pub live: Result<Live, WizardError>,
    /// Set when the volume is a ceph-csi one (`rbd.csi.ceph.com`).
    pub csi: Option<CsiVolume>,
}

/// What a ceph-csi PersistentVolume says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsiVolume {
    pub pv: String,
    pub driver: String,
    pub handle: String,
}

/// A VolumeAttachment of the volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// `csi-<sha256>`.
    pub name: String,
    pub node: String,
    /// `status.attached`.
    pub attached: bool,
    /// How old it was when read.
    pub age: Option<Duration>,
    /// `status.attachError.message`, if any.
    pub error: Option<String>,
}

/// A PersistentVolume as the wizard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    /// `Bound`, `Released`, ...
    pub phase: String,
}

/// The image's lockers and watchers (Ceph), the nodes (API server) and our own fencing
/// rights and addresses (Ceph).
#[derive(Debug, Clone)]
pub struct Live {
    pub image: ImageInfo,
    pub nodes: Vec<NodeFacts>,
    pub fencing: Fencing,
    /// The VolumeAttachments of the volume (read for a ceph-csi volume only).
    pub attachments: Vec<Attachment>,
}

/// A node with its InternalIP/ExternalIP addresses and readiness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    pub name: String,
    pub ips: Vec<IpAddr>,
    pub ready: bool,
    /// How long its Ready condition had not been True when read.
    pub not_ready_for: Option<Duration>,
    /// It has the `node.kubernetes.io/out-of-service` taint.
    pub out_of_service: bool,
}

/// Whether kcops' Ceph user may fence, and what fencing must never cover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fencing {
    /// Our Ceph user (`client.kube`).
    pub entity: String,
    pub permission: FencePermission,
    /// kcops' own client addresses (`ip:port/nonce`).
    pub own_addrs: Vec<String>,
}
