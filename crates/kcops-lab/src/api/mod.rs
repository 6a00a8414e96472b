//! The lab's API server: the Kubernetes REST and watch protocol over HTTPS.

pub mod defaults;
pub mod discovery;
pub mod disruption;
pub mod exec;
pub mod handlers;
pub mod logs;
pub mod patch;
pub mod resources;
pub mod selectors;
pub mod server;
pub mod status;
pub mod store;
pub mod table;
pub mod watch;
