//! Kubernetes data access: the client connection (kubeconfig, context, clear errors)
//! and one reflector per kind feeding stores the UI reads.

pub mod calico;
pub mod connect;
pub mod csi_secrets;
pub mod errors;
mod list_watch;
pub mod reflectors;
