//! The lab: a local cluster that speaks the Kubernetes API, with real Ceph and etcd
//! behind it. Only the `lab`/`demo` subcommands and the tests use this module.

pub mod api;
pub mod ceph;
pub mod cli;
pub mod controllers;
pub mod kubeadm;
pub mod members;
pub mod netns;
pub mod paths;
pub(crate) mod pods;
pub mod process;
pub mod rbd;
pub mod runtime;
pub mod scenario;
pub mod synthetic;
pub mod timeline;
pub mod tls;
