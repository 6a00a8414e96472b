//! What the console shows, produced off the UI task: the loop that connects, reflects
//! the cluster and derives a view model after each change (with the schedule that
//! keeps findings from holding rows back), and the one-off reads an open view asks for
//! (a whole object for describe/YAML, a pod's log stream).
//!
//! Nothing here draws: the UI receives views over a `watch` channel and everything
//! else as [`FeedMsg`]s on its own message channel (any type `From<FeedMsg>`).

pub mod browse;
pub(crate) mod logs;
pub(crate) mod object;
mod schedule;
pub(crate) mod views;

use crate::kube::connect::Connection;

/// What the feed's tasks tell the console besides new views.
pub enum FeedMsg {
    /// The API server answered: actions, fetches and log streams can use it now.
    Connected(Box<Connection>),
    /// A batch of lines of log stream `id`.
    Logs { id: u64, lines: Vec<String> },
    /// Log stream `id` failed or could not start.
    LogsError { id: u64, error: String },
    /// The whole object asked for by fetch `id`, as the API server has it.
    Object {
        id: u64,
        value: Box<serde_json::Value>,
    },
    /// The generic browser's list `id` (see [`browse`]).
    Resources {
        id: u64,
        result: Result<std::sync::Arc<browse::ResourceTable>, browse::BrowseError>,
    },
}
