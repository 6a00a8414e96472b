//! Plain data the console shows: snapshots of the cluster, rows for each pane. No IO.

pub use kcops_pod::{pod, pod_status, word};

pub(crate) mod attachments;
pub mod ceph;
pub mod chunked;
pub mod cidr;
pub mod columns;
pub(crate) mod count;
pub mod host;
pub mod interrupted;
pub mod members;
pub mod objref;
pub mod rbd_map;
pub mod rows;
pub mod snapshot;
