//! A pod's log stream for the log view, in batches so a chatty container costs one
//! message per 50 ms (or per 500 lines), not one per line.

use std::time::Duration;

use futures::AsyncBufReadExt;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::FeedMsg;

/// Which logs to stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogRequest {
    pub namespace: String,
    pub pod: String,
    pub container: Option<String>,
    /// The previous (crashed) container's logs.
    pub previous: bool,
    /// Keep streaming new lines.
    pub follow: bool,
}

/// The most lines a stream starts with.
const TAIL_LINES: i64 = 2000;
/// A batch is sent after this long without a new line...
const BATCH_WAIT: Duration = Duration::from_millis(50);
/// ... or when it holds this many lines.
const BATCH_LINES: usize = 500;

/// Streams the logs of `request` in a task of its own, as [`FeedMsg::Logs`] batches
/// tagged `id`, then [`FeedMsg::LogsError`] if it fails. `server` names the API
/// server in errors. Abort the task to stop it.
pub(crate) fn spawn<M: From<FeedMsg> + Send + 'static>(
    client: ::kube::Client,
    server: String,
    request: LogRequest,
    id: u64,
    tx: mpsc::Sender<M>,
) -> JoinHandle<()> {
    let api: ::kube::Api<k8s_openapi::api::core::v1::Pod> =
        ::kube::Api::namespaced(client, &request.namespace);
    let params = ::kube::api::LogParams {
        container: request.container,
        previous: request.previous,
        follow: request.follow,
        tail_lines: Some(TAIL_LINES),
        ..Default::default()
    };
    let name = request.pod;
    tokio::spawn(async move {
        let send = |msg: FeedMsg| {
            let tx = tx.clone();
            async move { tx.send(msg.into()).await.is_ok() }
        };
        let reader = match api.log_stream(&name, &params).await {
            Ok(reader) => reader,
            Err(e) => {
                let error = crate::kube::errors::describe(&e, &server);
                send(FeedMsg::LogsError { id, error }).await;
                return;
            }
        };
        let mut lines = reader.lines();
        let mut batch = Vec::new();
        loop {
            match tokio::time::timeout(BATCH_WAIT, lines.next()).await {
                Ok(Some(Ok(l))) => {
                    batch.push(l);
                    if batch.len() < BATCH_LINES {
                        continue;
                    }
                }
                Ok(Some(Err(e))) => {
                    let error = e.to_string();
                    send(FeedMsg::LogsError { id, error }).await;
                    break;
                }
                Ok(None) => {
                    if !batch.is_empty() {
                        let lines = std::mem::take(&mut batch);
                        send(FeedMsg::Logs { id, lines }).await;
                    }
                    break;
                }
                Err(_) => {}
            }
            if !batch.is_empty() {
                let lines = std::mem::take(&mut batch);
                if !send(FeedMsg::Logs { id, lines }).await {
                    break;
                }
            }
        }
    })
}
