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
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Message, Role};

use super::server::{ApiState, Body, User, error_response, full};
use super::status::ApiError;

/// How the API server finds the process the lab runs for a pod (`namespace`, `name`):
/// set by the lab once its controllers run (the server starts before them).
pub type MainPidLookup = Arc<dyn Fn(&str, &str) -> Option<u32> + Send + Sync>;

/// The channel protocols served, preferred first.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// Channel ids of the remote-command protocol: the first byte of every message.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
/// v5: the client closes one of its channels (the next byte names it).
const CLOSE: u8 = 255;

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

/// The command to run, ready to spawn.
struct Run {
    argv: Vec<String>,
    cmd: tokio::process::Command,
    stdin: bool,
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

/// Runs the command and relays its streams until it exits (or the client goes), then
/// reports its outcome on the error channel and closes the connection.
async fn session<S>(ws: WebSocketStream<S>, protocol: &'static str, mut run: Run)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut incoming) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        // A normal closure: kubectl reads any other close as a broken stream.
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            })))
            .await;
        let _ = sink.close().await;
    });
    let mut child = match run.cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let status = failure(format!("cannot start {:?}: {e}", run.argv));
            let _ = tx.send(frame(ERROR, &status_bytes(&status))).await;
            drop(tx);
            let _ = writer.await;
            return;
        }
    };
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(out, STDOUT, tx.clone())));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(err, STDERR, tx.clone())));
    }
    let stdin = if run.stdin { child.stdin.take() } else { None };
    let v5 = protocol == PROTOCOLS[0];
    let mut input = tokio::spawn(async move {
        let mut stdin = stdin;
        while let Some(Ok(msg)) = incoming.next().await {
            match msg {
                Message::Binary(b) => match (b.first(), b.get(1)) {
                    (Some(&STDIN), _) => {
                        if let Some(s) = stdin.as_mut()
                            && s.write_all(&b[1..]).await.is_err()
                        {
                            stdin = None;
                        }
                    }
                    // v5's close signal for stdin: the process sees end of input.
                    (Some(&CLOSE), Some(&STDIN)) if v5 => stdin = None,
                    // Resize (4) and anything else: nothing to do without a terminal.
                    _ => {}
                },
                Message::Close(_) => return,
                _ => {}
            }
        }
    });
    let exit = tokio::select! {
        status = child.wait() => status.ok(),
        _ = &mut input => {
            // The client went away first: so does the command.
            let _ = child.kill().await;
            None
        }
    };
    for mut p in pumps {
        // A process that left children holding its output open is not waited for.
        if tokio::time::timeout(Duration::from_secs(2), &mut p)
            .await
            .is_err()
        {
            p.abort();
        }
    }
    let status = match exit {
        Some(s) => exit_status(&run.argv, exit_code(s)),
        None => failure("the client closed the connection".into()),
    };
    let _ = tx.send(frame(ERROR, &status_bytes(&status))).await;
    drop(tx);
    let _ = writer.await;
    input.abort();
}

/// Relays one output stream as frames on `channel` until it ends.
async fn pump(mut out: impl AsyncRead + Unpin, channel: u8, tx: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match out.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(frame(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

fn status_bytes(status: &Value) -> Vec<u8> {
    serde_json::to_vec(status).unwrap_or_default()
}

/// The exit code as a shell reports it: 128 + the signal for a killed process.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// The Status a kubelet writes on the error channel when the command ends: Success,
/// or `NonZeroExitCode` with the code as the `ExitCode` cause (kubectl exits with it).
fn exit_status(argv: &[String], code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            argv.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

fn failure(message: String) -> Value {
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500})
}

#[cfg(test)]
mod tests {
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
    fn a_non_zero_exit_is_reported_with_its_code() {
        let s = exit_status(&["sh".into(), "-c".into(), "exit 3".into()], 3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(
            s["details"]["causes"],
            json!([{"reason": "ExitCode", "message": "3"}])
        );
        assert_eq!(
            exit_status(&[], 0),
            json!({"metadata": {}, "status": "Success"})
        );
    }

    /// What a client sees of a session running `argv` after sending `send`: stdout, the
    /// status on the error channel, and the close code.
    async fn converse(
        protocol: &'static str,
        argv: &[&str],
        send: &[&[u8]],
    ) -> (String, Value, Option<CloseCode>) {
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        let mut cmd = tokio::process::Command::new(argv[0]);
        cmd.args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let run = Run {
            argv: argv.iter().map(|a| a.to_string()).collect(),
            cmd,
            stdin: true,
        };
        tokio::spawn(async move {
            let ws = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
            session(ws, protocol, run).await;
        });
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        for m in send {
            let sent = client.send(Message::Binary(Bytes::from(m.to_vec()))).await;
            assert!(sent.is_ok(), "{sent:?}");
        }
        let (mut stdout, mut status, mut close) = (Vec::new(), Value::Null, None);
        let relay = async {
            while let Some(Ok(m)) = client.next().await {
                match m {
                    Message::Binary(b) if b.first() == Some(&STDOUT) => stdout.extend(&b[1..]),
                    Message::Binary(b) if b.first() == Some(&ERROR) => {
                        status = serde_json::from_slice(&b[1..]).unwrap_or_default();
                    }
                    Message::Close(f) => close = f.map(|f| f.code),
                    _ => {}
                }
            }
        };
        let ended = tokio::time::timeout(Duration::from_secs(10), relay).await;
        assert!(ended.is_ok(), "the session did not end");
        (String::from_utf8_lossy(&stdout).into_owned(), status, close)
    }

    #[tokio::test]
    async fn v5_closes_stdin_and_the_session_ends_with_success() {
        let (out, status, close) =
            converse(PROTOCOLS[0], &["cat"], &[b"\x00hello\n", &[CLOSE, STDIN]]).await;
        assert_eq!(out, "hello\n");
        assert_eq!(status, json!({"metadata": {}, "status": "Success"}));
        assert_eq!(close, Some(CloseCode::Normal));
    }

    #[tokio::test]
    async fn v4_relays_stdin_and_reports_the_exit_code() {
        let (out, status, close) = converse(
            PROTOCOLS[1],
            &["sh", "-c", "read line; echo got $line; exit 5"],
            &[b"\x00hi\n"],
        )
        .await;
        assert_eq!(out, "got hi\n");
        assert_eq!(status["reason"], "NonZeroExitCode");
        assert_eq!(status["details"]["causes"][0]["message"], "5");
        assert_eq!(close, Some(CloseCode::Normal));
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
