//! The Ceph client: cluster health, pools, the OSD blocklist, RBD images with their
//! lockers and watchers, and the two mutations the lock-removal wizard needs (fence a
//! client, break a lock).
//!
//! librados' `rados_t` is not `Send`, and its calls block for up to the configured op
//! timeout, so [`CephClient`] runs every call on one dedicated OS thread that owns the
//! connection; the console awaits the replies (with a per-request timeout) and never
//! blocks on Ceph.
//!
//! Layers, each in its own module:
//! - [`config`]: where the cluster is and who we are; the generated client conf that
//!   bounds every wait and keeps librados off the terminal.
//! - `rados`, `rbd_ffi`, `rbd`: the C APIs. The `ceph` crate supplies librados'
//!   declarations; its helpers are not used (see `rados` for why). librbd is declared
//!   by hand. All `unsafe` lives in these three modules.
//! - `mon`: mon command JSON and the parsing of their replies (pure).
//! - `calls`: what each request does on the Ceph thread.
//! - `worker`: the thread: connection state, reconnects, fail-fast when the mon is gone.
//! - [`client`]: the async API.
//! - [`holders`]: which Kubernetes node holds a lock or a watch (pure).

mod calls;
pub mod client;
pub mod config;
pub mod csi_users;
pub mod error;
pub mod holders;
mod mon;
mod rados;
mod rados_sys;
mod rbd;
mod rbd_ffi;
pub mod source;
pub mod types;
mod worker;

pub use client::{CephClient, ConnectionState};
pub use config::{CephArgs, CephSettings};
pub use error::CephError;
pub use types::*;
