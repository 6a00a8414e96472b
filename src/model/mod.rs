//! Plain data the console shows: snapshots of the cluster, rows for each pane. No IO.

pub mod ceph;
pub mod cidr;
pub mod columns;
pub mod host;
pub mod objref;
pub mod pod;
pub mod pod_status;
pub mod rbd_map;
pub mod rows;
pub mod snapshot;
pub mod word;
