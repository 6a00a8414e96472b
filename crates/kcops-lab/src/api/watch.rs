//! Streaming responses: watches (with bookmarks, timeouts and 410 Gone) and followed
//! pod logs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;

use super::handlers::{Filters, to_bytes};
use super::server::{ApiRequest, ApiState, Body, Target};
use super::status::ApiError;
use super::store::{Change, ChangeKind, ChangeReceiver, Entry};
use super::table::{self, IncludeObject};

fn streaming(rx: mpsc::Receiver<Bytes>, content_type: &'static str) -> Response<Body> {
    let stream = tokio_stream_from(rx).map(|b| Ok::<_, std::convert::Infallible>(Frame::data(b)));
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}

fn tokio_stream_from(mut rx: mpsc::Receiver<Bytes>) -> impl futures::Stream<Item = Bytes> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// How one watch renders objects: raw JSON or one-row Tables.
struct Renderer {
    plural: String,
    table: Option<IncludeObject>,
    sent_columns: bool,
}

impl Renderer {
    fn event(&mut self, kind: &str, e: &Entry) -> Bytes {
        match self.table {
            None => {
                let mut out = Vec::with_capacity(e.raw.len() + 32);
                out.extend_from_slice(b"{\"type\":\"");
                out.extend_from_slice(kind.as_bytes());
                out.extend_from_slice(b"\",\"object\":");
                out.extend_from_slice(&e.raw);
                out.extend_from_slice(b"}\n");
                Bytes::from(out)
            }
            Some(include) => {
                let mut tbl =
                    table::table(&self.plural, &[e.value()], include, jiff::Timestamp::now());
                tbl["metadata"]["resourceVersion"] = json!(e.rv.to_string());
                if self.sent_columns {
                    tbl["columnDefinitions"] = json!([]);
                }
                self.sent_columns = true;
                line(&json!({"type": kind, "object": tbl}))
            }
        }
    }
}

fn line(v: &Value) -> Bytes {
    let mut b = to_bytes(v).to_vec();
    b.push(b'\n');
    Bytes::from(b)
}

/// What a change looks like through a filtered watch: selector changes turn
/// MODIFIED into ADDED or DELETED, as the API server does.
fn filtered_kind(c: &Change, filters: &Filters, ns: Option<&str>) -> Option<&'static str> {
    if ns.is_some_and(|n| c.key.0 != n) {
        return None;
    }
    match c.kind {
        ChangeKind::Added => filters.matches(&c.object).then_some("ADDED"),
        ChangeKind::Deleted => filters.matches(&c.object).then_some("DELETED"),
        ChangeKind::Modified => {
            let was = c.old.as_ref().is_some_and(|o| filters.matches(o));
            match (was, filters.matches(&c.object)) {
                (true, true) => Some("MODIFIED"),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        }
    }
}

/// The live part of one watch: the store's changes in commit order, rendered for this
/// watch's table, namespace and selectors.
struct LiveFeed {
    live: ChangeReceiver,
    /// Every change up to this version has been received (and delivered if it
    /// concerns this watch): the only version a bookmark may carry. Taking the
    /// store's current version instead would skip changes committed but not yet
    /// received, which the client would then never see.
    seen_rv: u64,
    table: String,
    filters: Filters,
    ns: Option<String>,
    renderer: Renderer,
}

impl LiveFeed {
    /// The event `c` is for this watch, if any; notes that `c` was seen.
    fn event(&mut self, c: &Change) -> Option<Bytes> {
        if c.rv <= self.seen_rv {
            return None;
        }
        self.seen_rv = c.rv;
        if c.table != self.table {
            return None;
        }
        let kind = filtered_kind(c, &self.filters, self.ns.as_deref())?;
        Some(self.renderer.event(kind, &c.object))
    }
}

pub fn serve(
    state: Arc<ApiState>,
    t: Target,
    req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let filters = Filters::from_request(&t, req)?;
    let ns = t.namespace.clone().filter(|_| t.rt.namespaced);
    let bookmarks = req.flag("allowWatchBookmarks");
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1800));
    let mut renderer = Renderer {
        plural: t.rt.plural.clone(),
        table: req
            .wants_table()
            .then(|| IncludeObject::parse(req.q("includeObject"))),
        sent_columns: false,
    };
    let rv = req
        .q("resourceVersion")
        .filter(|rv| *rv != "0")
        .map(|rv| {
            rv.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))
        })
        .transpose()?;
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    // Initial state: synthetic ADDED events (no resourceVersion) or the backlog.
    let (initial, live, seen_rv) = match rv {
        None => {
            let (rv, items, rx) = state.store.snapshot_and_subscribe(&t.rt, ns.as_deref());
            let events: Vec<Bytes> = items
                .iter()
                .filter(|e| filters.matches(e))
                .map(|e| renderer.event("ADDED", e))
                .collect();
            (events, rx, rv)
        }
        Some(rv) => match state.store.watch_from(&t.rt, rv) {
            Ok((backlog, rx)) => {
                let events = backlog
                    .iter()
                    .filter_map(|c| {
                        filtered_kind(c, &filters, ns.as_deref())
                            .map(|k| renderer.event(k, &c.object))
                    })
                    .collect();
                (events, rx, backlog.last().map(|c| c.rv).unwrap_or(rv))
            }
            Err(err) => {
                // A real API server answers 200 and sends the 410 as an ERROR event.
                let (tx, rx) = mpsc::channel::<Bytes>(1);
                let _ = tx.try_send(line(&json!({"type": "ERROR", "object": err.to_status()})));
                return Ok(streaming(rx, "application/json"));
            }
        },
    };
    let mut feed = LiveFeed {
        live,
        seen_rv,
        table: super::store::table_name(&t.rt),
        filters,
        ns,
        renderer,
    };
    let api_version = t.rt.api_version();
    let kind = t.rt.kind.clone();
    let bookmark_interval = state.bookmark_interval;
    tokio::spawn(async move {
        for ev in initial {
            if tx.send(ev).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    // Whatever was committed before now is delivered first: the
                    // bookmark promises the client every change up to its version.
                    loop {
                        match feed.live.try_recv() {
                            Ok(c) => if let Some(ev) = feed.event(&c)
                                && tx.send(ev).await.is_err() { return; },
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Lagged(_) | TryRecvError::Closed) => return,
                        }
                    }
                    let bm = json!({"type": "BOOKMARK", "object": {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": feed.seen_rv.to_string()}}});
                    if tx.send(line(&bm)).await.is_err() { return; }
                }
                msg = feed.live.recv() => match msg {
                    Ok(c) => {
                        if let Some(ev) = feed.event(&c)
                            && tx.send(ev).await.is_err() { return; }
                    }
                    // Too slow to keep up: end the watch; the client resumes from its last version.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
            }
        }
    });
    Ok(streaming(rx, "application/json"))
}

/// `pods/{name}/log` with `container`, `previous`, `tailLines` and `follow`.
pub fn pod_log(
    state: Arc<ApiState>,
    t: &Target,
    req: &ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let ns = t.namespace.clone().unwrap_or_default();
    let name = t.name.clone().unwrap_or_default();
    let pod = state
        .store
        .get(&t.rt, &ns, &name)
        .ok_or_else(|| ApiError::not_found("pods", "", "pods", &name))?
        .value();
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let init: Vec<String> = pod["spec"]["initContainers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let container = match req.q("container") {
        Some(c) => {
            if !containers.iter().chain(init.iter()).any(|n| n == c) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.to_string()
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let previous = req.flag("previous");
    let lines = match state.logs.read(&ns, &name, &container, previous) {
        Some(lines) => lines,
        None if previous => {
            return Err(ApiError::bad_request(format!(
                "previous terminated container \"{container}\" in pod \"{name}\" not found"
            )));
        }
        None => {
            let waiting = pod["status"]["containerStatuses"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["name"] == container.as_str()))
                .and_then(|c| c["state"]["waiting"]["reason"].as_str())
                .unwrap_or("ContainerCreating")
                .to_string();
            return Err(ApiError::bad_request(format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: {waiting}"
            )));
        }
    };
    let tail = req.q("tailLines").and_then(|t| t.parse::<usize>().ok());
    let start = tail.map(|n| lines.len().saturating_sub(n)).unwrap_or(0);
    let mut text = String::new();
    for l in &lines[start..] {
        text.push_str(l);
        text.push('\n');
    }
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let follow = req.flag("follow") && !previous;
    let mut sub = follow.then(|| state.logs.subscribe());
    let store = state.store.clone();
    let rt = t.rt.clone();
    tokio::spawn(async move {
        if tx.send(Bytes::from(text)).await.is_err() {
            return;
        }
        let Some(sub) = sub.as_mut() else { return };
        let mut check = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = check.tick() => if store.get(&rt, &ns, &name).is_none() { return },
                msg = sub.recv() => match msg {
                    Ok(l) if l.namespace == ns && l.pod == name && l.container == container => {
                        if tx.send(Bytes::from(format!("{}\n", l.line))).await.is_err() { return; }
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                },
            }
        }
    });
    Ok(streaming(rx, "text/plain"))
}

#[cfg(test)]
mod tests {
    use super::super::logs::LogStore;
    use super::super::server::{Tokens, User};
    use super::super::store::Store;
    use super::*;

    /// A change committed while a bookmark falls due, both waiting for the watch when it
    /// next runs, is delivered before the bookmark (a bookmark once took the store's
    /// version and the change, now "older", was skipped: a lost event).
    #[tokio::test(flavor = "current_thread")]
    async fn a_change_pending_when_a_bookmark_is_due_is_delivered() -> Result<(), ApiError> {
        const ROUNDS: usize = 40;
        let interval = Duration::from_millis(20);
        let store = Arc::new(Store::new(1000));
        let rt = store
            .registry
            .find("", "v1", "configmaps")
            .ok_or_else(|| ApiError::internal("no configmaps type"))?;
        let state = Arc::new(ApiState {
            store: store.clone(),
            logs: Arc::new(LogStore::default()),
            tokens: Tokens {
                admin: String::new(),
                readonly: String::new(),
            },
            address: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            bookmark_interval: interval,
            main_pids: std::sync::OnceLock::new(),
        });
        let target = Target {
            rt: rt.clone(),
            namespace: Some("default".into()),
            name: None,
            sub: None,
        };
        let query = [
            ("watch", "true".to_string()),
            ("allowWatchBookmarks", "true".to_string()),
            ("resourceVersion", store.current_rv().to_string()),
        ];
        let req = ApiRequest {
            method: hyper::Method::GET,
            user: User::Admin,
            query: query.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            accept: "application/json".into(),
            content_type: String::new(),
            body: Bytes::new(),
        };
        let mut body = serve(state, target, &req)?.into_body();
        tokio::task::yield_now().await;
        for i in 0..ROUNDS {
            // This (only) thread blocks past the bookmark's time, then commits: the
            // watch task finds both ready when it runs.
            std::thread::sleep(interval + Duration::from_millis(5));
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": format!("cm-{i:02}"), "namespace": "default"}});
            store.create(&rt, cm)?;
            tokio::task::yield_now().await;
        }
        // Bookmarks keep coming: read what arrives within half a second.
        let mut text = String::new();
        let until = tokio::time::Instant::now() + Duration::from_millis(500);
        while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(until, body.frame()).await {
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
        let events: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let added: Vec<&str> = events
            .iter()
            .filter(|e| e["type"] == "ADDED")
            .filter_map(|e| e["object"]["metadata"]["name"].as_str())
            .collect();
        let bookmarks = events.iter().filter(|e| e["type"] == "BOOKMARK").count();
        assert!(bookmarks > 0, "no bookmark sent");
        assert_eq!(added.len(), ROUNDS, "events lost: only {added:?}");
        Ok(())
    }
}
