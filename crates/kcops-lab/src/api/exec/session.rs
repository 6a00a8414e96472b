//! One exec session: the command's streams relayed as channels of the remote-command
//! protocol (a message's first byte names its channel), its outcome reported as a
//! Status on the error channel, then a normal closure.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Message};

use super::PROTOCOLS;

/// Channel ids of the remote-command protocol: the first byte of every message.
const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
/// v5: the client closes one of its channels (the next byte names it).
const CLOSE: u8 = 255;

/// The command to run, ready to spawn.
pub(super) struct Run {
    pub(super) argv: Vec<String>,
    pub(super) cmd: tokio::process::Command,
    pub(super) stdin: bool,
}

/// Runs the command and relays its streams until it exits (or the client goes), then
/// reports its outcome on the error channel and closes the connection.
pub(super) async fn session<S>(ws: WebSocketStream<S>, protocol: &'static str, mut run: Run)
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
    use std::process::Stdio;

    use tokio_tungstenite::tungstenite::protocol::Role;

    use super::*;

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
}
