//! kcops: a terminal operations console for kubeadm clusters whose volumes live on Ceph RBD.
//!
//! The console's layers live in their own modules; `lab` is the local test cluster that
//! only the `lab`/`demo` subcommands and the tests use.

pub mod ceph;
pub mod check;
pub mod diagnose;
pub mod feed;
pub mod host;
pub mod kube;
pub mod lab;
pub mod members;
pub mod model;
pub mod ops;
pub mod ui;
