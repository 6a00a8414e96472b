//! `kubectl exec`: the `pods/exec` subresource over WebSocket, with the channel
//! protocols kubectl 1.32 speaks (`v5.channel.k8s.io`, and `v4.channel.k8s.io`).
//!
//! The command runs with the host's binaries inside the namespaces (network, mount,
//! UTS) of the process the lab runs for the pod, as a container runtime's exec enters
//! a container's. A pod whose processes the lab does not run answers with an error
//! that says so, rather than pretending. SPDY is not served: kubectl tries WebSocket
//! first and shows the error of its SPDY fallback, which names the reason.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::server::{ApiState, Body, User, error_response, full};
use super::status::ApiError;

mod session;

use session::{Run, session};

/// How the API server finds the process the lab runs for a pod (`namespace`, `name`):
/// set by the lab once its controllers run (the server starts before them).
pub type MainPidLookup = Arc<dyn Fn(&str, &str) -> Option<u32> + Send + Sync>;

/// The channel protocols served, preferred first.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// `(namespace, pod)` when `path` is a pod's exec subresource.
pub(crate) fn exec_target(path: &str) -> Option<(String, String)> {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["api", "v1", "namespaces", ns, "pods", name, "exec"] => {
            Some((ns.to_string(), name.to_string()))
        }
        _ => None,
    }
}

/// What the request asks to run, from its query (`command` repeats, one per word).
#[derive(Debug, Default, PartialEq, Eq)]
struct ExecOptions {
    command: Vec<String>,
    container: Option<String>,
    stdin: bool,
    stdout: bool,
    stderr: bool,
}

impl ExecOptions {
    fn parse(query: Option<&str>) -> Self {
        let mut opts = ExecOptions::default();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            let flag = matches!(v.as_str(), "true" | "1");
            match k {
                "command" => opts.command.push(v),
                "container" if !v.is_empty() => opts.container = Some(v),
                "stdin" => opts.stdin = flag,
                "stdout" => opts.stdout = flag,
                "stderr" => opts.stderr = flag,
                _ => {}
            }
        }
        opts
    }
}

/// Serves one exec request: checks, then the WebSocket session in its own task.
pub(crate) async fn serve(
    state: Arc<ApiState>,
    user: User,
    mut req: Request<Incoming>,
    ns: String,
    name: String,
) -> Response<Body> {
    let prepared = prepare(&state, user, &req, &ns, &name);
    let (run, protocol, accept) = match prepared {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                session(ws, protocol, run).await;
            }
            Err(e) => tracing::warn!("exec into {ns}/{name}: the upgrade failed: {e}"),
        }
    });
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(protocol),
    );
    resp
}

/// Everything that can fail before the upgrade, answered as the API server would:
/// authorization, the pod and container, the command, the protocol.
fn prepare(
    state: &ApiState,
    user: User,
    req: &Request<Incoming>,
    ns: &str,
    name: &str,
) -> Result<(Run, &'static str, String), ApiError> {
    if user != User::Admin {
        return Err(ApiError::forbidden(
            user.name(),
            "create",
            "pods/exec",
            "",
            Some(ns),
            Some(name),
        ));
    }
    let opts = ExecOptions::parse(req.uri().query());
    let pods = state
        .store
        .registry
        .find("", "v1", "pods")
        .ok_or_else(|| ApiError::internal("pods type missing"))?;
    let pod = state
        .store
        .get_value(&pods, ns, name)
        .ok_or_else(|| ApiError::not_found("pods", "", "pods", name))?;
    let container =
        pick_container(&pod, opts.container.as_deref()).ok_or_else(|| match &opts.container {
            Some(c) => ApiError::bad_request(format!("container {c} is not valid for pod {name}")),
            None => ApiError::bad_request(format!("pod {name} has no containers")),
        })?;
    if opts.command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    let c_name = container["name"].as_str().unwrap_or_default().to_string();
    let pid = state
        .main_pids
        .get()
        .and_then(|lookup| lookup(ns, name))
        .ok_or_else(|| no_process(&pod, name, &c_name))?;
    let (protocol, accept) = websocket_handshake(req.headers())?;
    let mut cmd = tokio::process::Command::new("nsenter");
    cmd.arg(format!("--target={pid}"))
        .args(["--net", "--mount", "--uts", "--"])
        .args(&opts.command)
        .env_clear()
        .envs(container_env(&pod, &container))
        .current_dir("/")
        .stdin(if opts.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(if opts.stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(if opts.stderr {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .kill_on_drop(true);
    Ok((
        Run {
            argv: opts.command,
            cmd,
            stdin: opts.stdin,
        },
        protocol,
        accept,
    ))
}

/// Why there is no process to exec into: the container is not running (yet), or the
/// lab plays this pod without running its processes.
fn no_process(pod: &Value, name: &str, container: &str) -> ApiError {
    let running = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["name"] == container && c["state"]["running"].is_object());
    if running {
        ApiError::bad_request(format!(
            "pod \"{name}\": the lab does not run this pod's processes, so container \"{container}\" has none to exec into"
        ))
    } else {
        ApiError::bad_request(format!(
            "container \"{container}\" of pod \"{name}\" is not running"
        ))
    }
}

/// The container named, or the default one (kubectl's annotation, else the first).
fn pick_container(pod: &Value, wanted: Option<&str>) -> Option<Value> {
    let containers = pod["spec"]["containers"].as_array()?;
    let wanted = wanted.or_else(|| {
        pod["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"].as_str()
    });
    match wanted {
        Some(w) => containers.iter().find(|c| c["name"] == w).cloned(),
        None => containers.first().cloned(),
    }
}

/// The environment an exec'd process sees: the container's declared variables (plain
/// values and the pod fields the lab knows), with a PATH and HOSTNAME as a runtime sets.
fn container_env(pod: &Value, container: &Value) -> HashMap<String, String> {
    let mut env = HashMap::from([
        (
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        ),
        ("HOME".to_string(), "/root".to_string()),
        (
            "HOSTNAME".to_string(),
            pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
    ]);
    for e in container["env"].as_array().into_iter().flatten() {
        let Some(key) = e["name"].as_str() else {
            continue;
        };
        let value = match (
            e["value"].as_str(),
            e["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
        ) {
            (Some(v), _) => v.to_string(),
            (None, Some(path)) => {
                let mut cur = pod;
                for part in path.split('.') {
                    cur = &cur[part];
                }
                cur.as_str().unwrap_or_default().to_string()
            }
            (None, None) => continue,
        };
        env.insert(key.to_string(), value);
    }
    env
}

/// The protocol chosen and the `Sec-WebSocket-Accept` value, or why not.
fn websocket_handshake(headers: &HeaderMap) -> Result<(&'static str, String), ApiError> {
    let get = |h: header::HeaderName| {
        headers
            .get_all(h)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",")
    };
    let upgrade = get(header::UPGRADE);
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(ApiError::bad_request(format!(
            "the lab serves exec over WebSocket only ({}), not {}",
            PROTOCOLS.join(", "),
            if upgrade.is_empty() {
                "a plain request"
            } else {
                upgrade.as_str()
            }
        )));
    }
    let offered = get(header::SEC_WEBSOCKET_PROTOCOL);
    let offered: Vec<&str> = offered.split(',').map(str::trim).collect();
    let protocol = PROTOCOLS
        .into_iter()
        .find(|p| offered.contains(p))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "none of the offered subprotocols ({}) is served: the lab speaks {}",
                offered.join(", "),
                PROTOCOLS.join(", ")
            ))
        })?;
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or_else(|| ApiError::bad_request("missing Sec-WebSocket-Key"))?;
    Ok((protocol, derive_accept_key(key.as_bytes())))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_command_repeats_and_flags_parse() {
        let opts = ExecOptions::parse(Some(
            "command=etcdctl&command=member&command=list&container=etcd&stdin=true&stdout=true&stderr=true&tty=false",
        ));
        assert_eq!(
            opts,
            ExecOptions {
                command: vec!["etcdctl".into(), "member".into(), "list".into()],
                container: Some("etcd".into()),
                stdin: true,
                stdout: true,
                stderr: true,
            }
        );
        let spaced = ExecOptions::parse(Some("command=sh&command=-c&command=echo%20a+b"));
        assert_eq!(spaced.command, ["sh", "-c", "echo a b"]);
    }

    #[test]
    fn a_missing_process_is_explained() {
        let pod = |state: Value| json!({"status": {"containerStatuses": [{"name": "etcd", "state": state}]}});
        let running = no_process(&pod(json!({"running": {}})), "p", "etcd");
        assert!(
            running.to_status()["message"]
                .as_str()
                .is_some_and(|m| m.contains("the lab does not run this pod's processes")),
            "{:?}",
            running.to_status()
        );
        let waiting = no_process(&pod(json!({"waiting": {}})), "p", "etcd");
        assert_eq!(
            waiting.to_status()["message"],
            "container \"etcd\" of pod \"p\" is not running"
        );
    }

    #[test]
    fn only_a_pods_exec_path_is_an_exec_target() {
        assert_eq!(
            exec_target("/api/v1/namespaces/default/pods/etcd-0/exec"),
            Some(("default".into(), "etcd-0".into()))
        );
        assert_eq!(
            exec_target("/api/v1/namespaces/default/pods/etcd-0/log"),
            None
        );
    }

    #[test]
    fn the_env_holds_plain_values_and_pod_fields() {
        let pod = json!({"metadata": {"name": "etcd-0"}, "status": {"podIP": "10.0.0.5"}});
        let c = json!({"env": [
            {"name": "A", "value": "1"},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "x", "key": "y"}}},
        ]});
        let env = container_env(&pod, &c);
        assert_eq!(env.get("A").map(String::as_str), Some("1"));
        assert_eq!(env.get("IP").map(String::as_str), Some("10.0.0.5"));
        assert_eq!(env.get("HOSTNAME").map(String::as_str), Some("etcd-0"));
        assert!(!env.contains_key("S"));
    }
}
