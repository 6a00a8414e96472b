//! The HTTPS listener: TLS, bearer-token authentication, routing, and stop/start of
//! the server while the store lives on (for fault injection).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::discovery;
use super::handlers;
use super::logs::LogStore;
use super::resources::ResourceType;
use super::status::ApiError;
use super::store::Store;

pub type Body = BoxBody<Bytes, Infallible>;

/// Bearer tokens and the users they stand for.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub admin: String,
    pub readonly: String,
}

pub const ADMIN_USER: &str = "kubernetes-admin";
pub const READONLY_USER: &str = "kcops-readonly";
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// What an anonymous request may GET: the cluster-info ConfigMap a joining machine
/// reads before it has any credentials.
pub const CLUSTER_INFO_PATH: &str = "/api/v1/namespaces/kube-public/configmaps/cluster-info";

/// What every request handler can reach.
pub struct ApiState {
    pub store: Arc<Store>,
    pub logs: Arc<LogStore>,
    pub tokens: Tokens,
    pub address: SocketAddr,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// Where `pods/exec` finds the process the lab runs for a pod (set once the
    /// controllers run).
    pub main_pids: std::sync::OnceLock<super::exec::MainPidLookup>,
}

/// Who made a request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum User {
    Admin,
    ReadOnly,
    /// No credentials: may only read kube-public/cluster-info (kubeadm's discovery),
    /// as the `system:public-info-viewer`-style role kubeadm creates allows.
    Anonymous,
}

impl User {
    pub fn name(self) -> &'static str {
        match self {
            User::Admin => ADMIN_USER,
            User::ReadOnly => READONLY_USER,
            User::Anonymous => ANONYMOUS_USER,
        }
    }
}

/// A running listener; dropping `stop` closes it and every open connection.
pub struct ServerHandle {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ServerHandle {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Binds the address and serves until stopped.
pub async fn serve(state: Arc<ApiState>, tls: Arc<rustls::ServerConfig>) -> Result<ServerHandle> {
    let listener = TcpListener::bind(state.address)
        .await
        .with_context(|| format!("cannot listen on {}", state.address))?;
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stop_rx => break,
                accepted = listener.accept() => {
                    let Ok((tcp, _peer)) = accepted else { continue };
                    let _ = tcp.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    let state = state.clone();
                    connections.spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else { return };
                        let svc = hyper::service::service_fn(move |req| {
                            let state = state.clone();
                            async move { Ok::<_, Infallible>(route(state, req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(tls), svc)
                            .with_upgrades()
                            .await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    });
    Ok(ServerHandle {
        stop: Some(stop_tx),
        task: Some(task),
    })
}

pub fn full(body: impl Into<Bytes>) -> Body {
    Full::new(body.into()).boxed()
}

pub fn json_response(code: u16, value: &Value) -> Response<Body> {
    raw_json(
        code,
        Bytes::from(serde_json::to_vec(value).unwrap_or_default()),
    )
}

pub fn raw_json(code: u16, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(full(body));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

pub fn error_response(err: &ApiError) -> Response<Body> {
    json_response(err.code, &err.to_status())
}

/// A parsed request: what the handlers need, without hyper types.
pub struct ApiRequest {
    pub method: Method,
    pub user: User,
    pub query: HashMap<String, String>,
    pub accept: String,
    pub content_type: String,
    pub body: Bytes,
}

impl ApiRequest {
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.q(key), Some("true") | Some("1"))
    }
    pub fn wants_table(&self) -> bool {
        self.accept.contains("as=Table")
    }
}

/// The target of a resource request.
pub struct Target {
    pub rt: Arc<ResourceType>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in q.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(&s.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        };
        out.insert(decode(k), decode(v));
    }
    out
}

fn authenticate(state: &ApiState, req: &Request<hyper::body::Incoming>) -> Option<User> {
    let header = req
        .headers()
        .get(hyper::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let token = header.strip_prefix("Bearer ")?.trim();
    if token == state.tokens.admin {
        Some(User::Admin)
    } else if token == state.tokens.readonly {
        Some(User::ReadOnly)
    } else {
        None
    }
}

const MAX_BODY: usize = 3 * 1024 * 1024;

async fn route(state: Arc<ApiState>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    if matches!(path.as_str(), "/healthz" | "/readyz" | "/livez") {
        let mut r = Response::new(full("ok"));
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return r;
    }
    let user = match authenticate(&state, &req) {
        Some(user) => user,
        None if req.method() == Method::GET && path == CLUSTER_INFO_PATH => User::Anonymous,
        None => return error_response(&ApiError::unauthorized()),
    };
    // Exec upgrades the connection: it needs the request itself, not its body.
    if let Some((ns, name)) = super::exec::exec_target(&path) {
        return super::exec::serve(state, user, req, ns, name).await;
    }
    let header = |name: hyper::header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let accept = header(hyper::header::ACCEPT);
    let content_type = header(hyper::header::CONTENT_TYPE);
    let query = parse_query(req.uri().query());
    let method = req.method().clone();
    let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error_response(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("cannot read request body: {e}"),
            ));
        }
    };
    let request = ApiRequest {
        method,
        user,
        query,
        accept,
        content_type,
        body,
    };
    tracing::debug!(method = %request.method, path, "api request");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match dispatch(&state, &segments, request).await {
        Ok(resp) => resp,
        Err(err) => error_response(&err),
    }
}

async fn dispatch(
    state: &Arc<ApiState>,
    segs: &[&str],
    req: ApiRequest,
) -> Result<Response<Body>, ApiError> {
    let registry = &state.store.registry;
    let not_found = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    let (group, version, rest) = match segs {
        ["version"] => return Ok(json_response(200, &discovery::version())),
        ["api"] => {
            return Ok(json_response(
                200,
                &discovery::core_versions(&state.address.to_string()),
            ));
        }
        ["apis"] => return Ok(json_response(200, &discovery::group_list(registry))),
        ["apis", g] => {
            return discovery::group(registry, g)
                .map(|v| json_response(200, &v))
                .ok_or_else(not_found);
        }
        ["openapi", "v3"] => return Ok(json_response(200, &discovery::openapi_v3_root(registry))),
        ["openapi", "v3", gv @ ..] => {
            return discovery::openapi_v3_doc(registry, &gv.join("/"))
                .map(|v| json_response(200, &v))
                .ok_or_else(not_found);
        }
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(not_found()),
    };
    if rest.is_empty() {
        return discovery::resource_list(registry, group, version)
            .map(|v| json_response(200, &v))
            .ok_or_else(not_found);
    }
    let find = |plural: &str| registry.find(group, version, plural);
    let target = match rest {
        ["namespaces", ns, plural, tail @ ..] if find(plural).is_some_and(|t| t.namespaced) => {
            let rt = find(plural).ok_or_else(not_found)?;
            match tail {
                [] => Target {
                    rt,
                    namespace: Some(ns.to_string()),
                    name: None,
                    sub: None,
                },
                [name] => Target {
                    rt,
                    namespace: Some(ns.to_string()),
                    name: Some(name.to_string()),
                    sub: None,
                },
                [name, sub] => Target {
                    rt,
                    namespace: Some(ns.to_string()),
                    name: Some(name.to_string()),
                    sub: Some(sub.to_string()),
                },
                _ => return Err(not_found()),
            }
        }
        [plural, tail @ ..] => {
            let rt = find(plural).ok_or_else(not_found)?;
            match tail {
                [] => Target {
                    rt,
                    namespace: None,
                    name: None,
                    sub: None,
                },
                [name] if !rt.namespaced || rt.plural == "namespaces" => Target {
                    rt,
                    namespace: None,
                    name: Some(name.to_string()),
                    sub: None,
                },
                [name, sub] if !rt.namespaced => Target {
                    rt,
                    namespace: None,
                    name: Some(name.to_string()),
                    sub: Some(sub.to_string()),
                },
                _ => return Err(not_found()),
            }
        }
        _ => return Err(not_found()),
    };
    if let Some(sub) = &target.sub
        && !target.rt.has_subresource(sub)
    {
        return Err(not_found());
    }
    authorize(&req, &target)?;
    handlers::handle(state, target, req).await
}

/// The read-only user may get, list and watch (and read logs); nothing else.
fn authorize(req: &ApiRequest, target: &Target) -> Result<(), ApiError> {
    if req.user == User::Admin {
        return Ok(());
    }
    let verb = match (&req.method, &target.name) {
        (&Method::GET, _) => return Ok(()),
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, Some(_)) => "delete",
        (&Method::DELETE, None) => "deletecollection",
        _ => "unknown",
    };
    let resource = match &target.sub {
        Some(sub) => format!("{}/{}", target.rt.plural, sub),
        None => target.rt.plural.clone(),
    };
    Err(ApiError::forbidden(
        req.user.name(),
        verb,
        &resource,
        &target.rt.group,
        target.namespace.as_deref(),
        target.name.as_deref(),
    ))
}

/// Keeps a process-wide handle so `lab stop|start apiserver` can find the listener.
pub type SharedHandle = Arc<Mutex<Option<ServerHandle>>>;
