//! kcops: a terminal operations console for kubeadm clusters whose volumes live on Ceph RBD.
//!
//! The console's layers live in their own modules (see ARCHITECTURE.md). The lab, the
//! local test cluster behind `kcops lab`/`kcops demo` and the tests, is its own crate
//! (`crates/kcops-lab`).

pub mod ceph;
pub mod check;
pub mod diagnose;
pub mod feed;
pub mod host;
pub mod kube;
pub mod members;
pub mod model;
pub mod ops;
pub mod setup;
pub mod ui;
pub mod views;
pub mod wrap;
