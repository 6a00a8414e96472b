//! kcops: a terminal operations console for kubeadm clusters whose volumes live on Ceph RBD.
//!
//! The console's layers live in their own modules; `lab` is the local test cluster that
//! only the `lab`/`demo` subcommands and the tests use.

pub mod lab;
pub mod model;
