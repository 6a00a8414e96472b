//! `kcops setup`: bringing up (or tearing down) a kubeadm machine before any cluster
//! exists, and what `kcops setup` and the console's `:join` share. Everything reads
//! the host through a host root (`--host-root`), so it runs against a lab node's
//! directory in tests exactly as against `/`.
//!
//! - [`preflight`]: kubeadm's own checks made natively, and kcops' additions.
//! - [`interrupted`]: a half-done init (leftovers without a working cluster).
//! - [`reset`]: what a reset removes, as a plan the executor runs step by step.
//! - [`init`]: the init form, its validation and the kubeadm config it writes.
//! - [`join`]: the joining machine's side (discovery, then `kubeadm join`).
//! - [`discovery`], [`token`]: kubeadm's token discovery and bootstrap tokens.
//! - [`run`]: the subcommands' entry points.

pub mod args;
pub mod discovery;
pub mod init;
pub mod interrupted;
pub mod join;
pub mod preflight;
pub mod reset;
pub mod run;
pub mod token;
