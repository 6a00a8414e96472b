//! Real etcd members behind the pods of StatefulSets a scenario marks as etcd, when the
//! lab has no network namespaces (not root): with them, member pods run their
//! template's own command in their own namespaces instead ([`crate::pods`]).
//!
//! The lab kubelet starts one `etcd` process per such pod when the pod becomes Running
//! on its node and stops it when the pod is deleted. Each member binds only on the
//! pod's own loopback address (client port 2379, peer port 2380), so `etcdctl
//! --endpoints=<pod IPs>` sees exactly what it would see in a real cluster, and its data
//! dir is keyed by the PVC's UID so that it outlives the pod. That is what makes the
//! scale-down incident reproducible: scaling the etcd StatefulSet 3 -> 2 without
//! `etcdctl member remove` stops `etcd-2` but leaves it registered in the cluster.
//!
//! Readiness: the kubelet should mark an etcd pod Ready with [`EtcdMember::ready`]
//! (process running and the client port accepting connections, like a `tcpSocket`
//! probe), not with [`endpoint_healthy`]. A member of a new cluster only turns healthy
//! once a quorum has joined, so with `podManagementPolicy: OrderedReady` `etcd-0` would
//! never become Ready and `etcd-1` would never be created. etcd creates its client
//! listener before it waits for the cluster, so the port check passes as soon as the
//! process is up. [`endpoint_healthy`] is what `etcdctl endpoint health` reports; use it
//! for status views and tests.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{spawn_tied, terminate, write_pidfile};

/// Port etcd serves clients on (as in a real cluster, so `etcdctl` needs no port flags).
pub const CLIENT_PORT: u16 = 2379;
/// Port etcd members talk raft on.
pub const PEER_PORT: u16 = 2380;

/// How long [`EtcdMember::stop`] lets etcd shut down cleanly (it hands leadership over
/// first) before killing it.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Raft timings in ms. The defaults (100/1000) are kept: small enough that a 3-member
/// cluster elects a leader within a second or two, and not so small that a busy
/// 2-core CI machine (builds, Ceph) makes members miss heartbeats and flap.
const HEARTBEAT_MS: u32 = 100;
const ELECTION_MS: u32 = 1000;
/// 64 MiB backend quota: lab data is tiny, and the default (2 GiB) only matters for
/// disk usage if something goes wrong.
const QUOTA_BYTES: u64 = 64 * 1024 * 1024;
/// Fewer entries per snapshot than the default 100 000 so the WAL stays small.
const SNAPSHOT_COUNT: u32 = 10_000;

/// What the kubelet knows about an etcd pod when it starts its member.
#[derive(Debug, Clone)]
pub struct EtcdMemberSpec {
    /// Pod name, e.g. `etcd-0`; becomes `etcd --name`.
    pub name: String,
    /// The pod's own loopback address; the member binds only here.
    pub ip: Ipv4Addr,
    /// Data dir, keyed by the PVC UID; kept as long as the PVC.
    pub data_dir: PathBuf,
    /// The StatefulSet's members when this member first starts (must include itself).
    /// Ignored by etcd once the data dir holds a member.
    pub initial_cluster: Vec<(String, Ipv4Addr)>,
    /// `--initial-cluster-token`, e.g. `<namespace>-<sts>`, so two StatefulSets never
    /// get the same cluster and member ids.
    pub cluster_token: String,
    /// Where etcd's stdout and stderr go (appended to, never truncated).
    pub log_file: PathBuf,
    /// Where the pidfile goes, so `lab down` can stop what a crashed lab left.
    pub pid_dir: PathBuf,
}

/// A running (or exited, not yet stopped) etcd process.
///
/// Dropping it kills the process (SIGKILL): a member nobody tracks any more must not
/// keep serving. Call [`EtcdMember::stop`] for a clean shutdown.
#[derive(Debug)]
pub struct EtcdMember {
    child: Child,
    name: String,
    ip: Ipv4Addr,
    pidfile: PathBuf,
    log_file: PathBuf,
    /// Length of the log file when this process started: [`EtcdMember::log_tail`]
    /// shows only this process's output, like `kubectl logs` after a restart.
    log_start: u64,
    status: Option<ExitStatus>,
}

impl EtcdMember {
    /// Starts the member. On an empty data dir it bootstraps with
    /// `--initial-cluster-state new` and `spec.initial_cluster`; once the data dir holds a
    /// `member` dir it restarts on that data (etcd then ignores the initial-cluster
    /// flags, so a member scaled down and up again rejoins with its old identity, and a
    /// member removed meanwhile exits).
    pub fn start(spec: &EtcdMemberSpec) -> Result<EtcdMember> {
        validate(spec)?;
        let restarting = spec.data_dir.join("member").is_dir();
        create_private_dir(&spec.data_dir)?;

        if let Some(parent) = spec.log_file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log_file)
            .with_context(|| format!("cannot open {}", spec.log_file.display()))?;
        let log_start = log
            .metadata()
            .with_context(|| format!("cannot stat {}", spec.log_file.display()))?
            .len();
        let log_err = log
            .try_clone()
            .with_context(|| format!("cannot reopen {}", spec.log_file.display()))?;

        let mut cmd = Command::new("etcd");
        // etcd reads ETCD_* variables as flags; the lab's environment must not leak in.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD") {
                cmd.env_remove(key);
            }
        }
        let client_url = format!("http://{}:{CLIENT_PORT}", spec.ip);
        let peer_url = format!("http://{}:{PEER_PORT}", spec.ip);
        let initial_cluster = spec
            .initial_cluster
            .iter()
            .map(|(name, ip)| format!("{name}=http://{ip}:{PEER_PORT}"))
            .collect::<Vec<_>>()
            .join(",");
        cmd.arg(format!("--name={}", spec.name))
            .arg(format!("--data-dir={}", spec.data_dir.display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster={initial_cluster}"))
            .arg(format!("--initial-cluster-token={}", spec.cluster_token))
            .arg(format!(
                "--initial-cluster-state={}",
                if restarting { "existing" } else { "new" }
            ))
            .arg(format!("--heartbeat-interval={HEARTBEAT_MS}"))
            .arg(format!("--election-timeout={ELECTION_MS}"))
            .arg(format!("--quota-backend-bytes={QUOTA_BYTES}"))
            .arg(format!("--snapshot-count={SNAPSHOT_COUNT}"))
            .arg("--max-snapshots=2")
            .arg("--max-wals=2")
            .arg("--auto-compaction-mode=periodic")
            .arg("--auto-compaction-retention=1h")
            // JSON lines on stderr, as etcd pods log in kubeadm clusters.
            .arg("--logger=zap")
            .arg("--log-outputs=stderr")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));

        let mut child = spawn_tied(cmd)?;
        let pidfile_name = format!("etcd-{}-{}", spec.name, spec.ip);
        let pidfile = match write_pidfile(&spec.pid_dir, &pidfile_name, child.id()) {
            Ok(path) => path,
            Err(err) => {
                // Untracked members are worse than none: kill it before reporting.
                let _ = child.kill();
                let _ = child.wait();
                return Err(err);
            }
        };
        tracing::info!(
            name = %spec.name,
            ip = %spec.ip,
            pid = child.id(),
            restarting,
            "started etcd member"
        );
        Ok(EtcdMember {
            child,
            name: spec.name.clone(),
            ip: spec.ip,
            pidfile,
            log_file: spec.log_file.clone(),
            log_start,
            status: None,
        })
    }

    /// The etcd process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The member's name (`--name`, the pod name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address the member binds on.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The exit status if the process has exited (reaps it; never blocks). A removed
    /// member restarted on its old data exits by itself (with status 0 in etcd 3.4),
    /// which the kubelet should report as a terminated container.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Ok(Some(status)) = self.child.try_wait()
        {
            self.status = Some(status);
            let _ = std::fs::remove_file(&self.pidfile);
        }
        self.status
    }

    /// Whether the pod should count as Ready: the process runs and its client port
    /// accepts connections. See the module docs for why this is not [`endpoint_healthy`].
    pub async fn ready(&mut self, timeout: Duration) -> bool {
        self.exited().is_none() && port_open(self.ip, CLIENT_PORT, timeout).await
    }

    /// The last `lines` lines this process wrote (for the pod's `kubectl logs`); empty
    /// if the log cannot be read.
    pub fn log_tail(&self, lines: usize) -> Vec<String> {
        match File::open(&self.log_file) {
            Ok(file) => tail_lines(file, self.log_start, lines).unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    /// Stops the member: SIGTERM, up to 5 s for etcd to shut down cleanly, then SIGKILL.
    /// The data dir is left alone (it belongs to the PVC).
    pub async fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let pid = self.pid_i32();
        terminate(pid, libc::SIGTERM);
        if self.wait_exit(STOP_GRACE).await {
            return;
        }
        tracing::warn!(name = %self.name, pid, "etcd member ignored SIGTERM; killing it");
        terminate(pid, libc::SIGKILL);
        if !self.wait_exit(STOP_GRACE).await {
            // Keep the pidfile so `lab down` can try again.
            tracing::error!(name = %self.name, pid, "etcd member survived SIGKILL");
        }
    }

    async fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.exited().is_some() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid_i32(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(0)
    }
}

impl Drop for EtcdMember {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        terminate(self.pid_i32(), libc::SIGKILL);
        // A SIGKILLed process is reaped within milliseconds; bound the wait anyway so a
        // process stuck in the kernel cannot hang the lab.
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Rejects specs etcd would fail on with a less helpful message, or that would make
/// the `--initial-cluster` flag ambiguous.
fn validate(spec: &EtcdMemberSpec) -> Result<()> {
    let bad_name = |n: &str| n.is_empty() || n.contains([',', '=', ' ']);
    if bad_name(&spec.name) {
        bail!("invalid etcd member name {:?}", spec.name);
    }
    if let Some((name, _)) = spec.initial_cluster.iter().find(|(n, _)| bad_name(n)) {
        bail!("invalid etcd member name {name:?} in the initial cluster");
    }
    match spec.initial_cluster.iter().find(|(n, _)| *n == spec.name) {
        Some((_, ip)) if *ip == spec.ip => Ok(()),
        Some((_, ip)) => bail!(
            "etcd member {} has address {} but the initial cluster lists it at {ip}",
            spec.name,
            spec.ip
        ),
        None => bail!(
            "etcd member {} is missing from its initial cluster",
            spec.name
        ),
    }
}

/// Creates the data dir with mode 0700, which etcd expects (it warns about anything
/// wider).
fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// The last `lines` lines of `file` after byte offset `start`, reading backwards in
/// blocks so a long-running member's large log is not read whole.
fn tail_lines(mut file: File, start: u64, lines: usize) -> std::io::Result<Vec<String>> {
    const BLOCK: u64 = 16 * 1024;
    if lines == 0 {
        return Ok(Vec::new());
    }
    let end = file.metadata()?.len();
    let mut pos = end;
    let mut buf: Vec<u8> = Vec::new();
    while pos > start {
        let read_from = pos.saturating_sub(BLOCK).max(start);
        let mut block = vec![0u8; usize::try_from(pos - read_from).unwrap_or(0)];
        file.seek(SeekFrom::Start(read_from))?;
        file.read_exact(&mut block)?;
        block.extend_from_slice(&buf);
        buf = block;
        pos = read_from;
        // One more newline than wanted lines means the oldest wanted line is complete
        // (the file normally ends with a newline too).
        if buf.iter().filter(|b| **b == b'\n').count() > lines {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    let skip = all.len().saturating_sub(lines);
    Ok(all[skip..].iter().map(|l| (*l).to_string()).collect())
}

/// Whether a TCP connection to `ip:port` succeeds within `timeout`.
pub async fn port_open(ip: Ipv4Addr, port: u16, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, TcpStream::connect((ip, port))).await,
        Ok(Ok(_))
    )
}

/// Whether the member at `ip` answers `GET /health` with `"health":"true"` within
/// `timeout` — the check behind `etcdctl endpoint health`. etcd 3.4 answers only once
/// the cluster has a leader and the member can serve a quorum read; until then the
/// request hangs, which counts as unhealthy.
pub async fn endpoint_healthy(ip: Ipv4Addr, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, get_health(ip)).await,
        Ok(Ok(true))
    )
}

async fn get_health(ip: Ipv4Addr) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect((ip, CLIENT_PORT)).await?;
    // HTTP/1.0 so the answer is neither chunked nor kept alive: read to EOF and parse.
    let request = format!("GET /health HTTP/1.0\r\nHost: {ip}:{CLIENT_PORT}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut response).await?;
    Ok(health_response_ok(&response))
}

/// Parses a raw HTTP response to `/health`: status 200 and a JSON body whose `health`
/// is `"true"` (etcd 3.4 sends a string; a boolean is accepted too).
fn health_response_ok(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let status_ok = head
        .lines()
        .next()
        .and_then(|status| status.split_whitespace().nth(1))
        == Some("200");
    if !status_ok {
        return false;
    }
    match serde_json::from_str::<serde_json::Value>(body.trim()) {
        Ok(json) => {
            matches!(
                json.get("health"),
                Some(serde_json::Value::String(s)) if s == "true"
            ) || json.get("health") == Some(&serde_json::Value::Bool(true))
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::alive;

    /// A scratch dir removed when the test ends (there is no tempfile crate here).
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(test: &str) -> Scratch {
            let dir =
                std::env::temp_dir().join(format!("kcops-members-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create scratch dir");
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, 250, 0, last)
    }

    fn specs(dir: &Path, lasts: [u8; 3], token: &str) -> Vec<EtcdMemberSpec> {
        let cluster: Vec<(String, Ipv4Addr)> = lasts
            .iter()
            .enumerate()
            .map(|(i, last)| (format!("etcd-{i}"), ip(*last)))
            .collect();
        cluster
            .iter()
            .map(|(name, addr)| EtcdMemberSpec {
                name: name.clone(),
                ip: *addr,
                data_dir: dir.join("pvc").join(format!("uid-{name}")),
                initial_cluster: cluster.clone(),
                cluster_token: token.to_string(),
                log_file: dir.join("logs").join(format!("{name}.log")),
                pid_dir: dir.join("pids"),
            })
            .collect()
    }

    fn endpoints(specs: &[EtcdMemberSpec]) -> String {
        specs
            .iter()
            .map(|s| format!("http://{}:{CLIENT_PORT}", s.ip))
            .collect::<Vec<_>>()
            .join(",")
    }

    struct Ctl {
        ok: bool,
        stdout: String,
        stderr: String,
    }

    /// Runs the real `etcdctl` (v3 API) against `endpoints`.
    async fn etcdctl(endpoints: &str, args: &[&str]) -> Ctl {
        let mut cmd = tokio::process::Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={endpoints}"))
            .arg("--dial-timeout=2s")
            .arg("--command-timeout=4s")
            .args(args)
            .kill_on_drop(true);
        match tokio::time::timeout(Duration::from_secs(15), cmd.output()).await {
            Ok(Ok(out)) => Ctl {
                ok: out.status.success(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            },
            Ok(Err(err)) => panic!("cannot run etcdctl: {err}"),
            Err(_) => Ctl {
                ok: false,
                stdout: String::new(),
                stderr: "etcdctl timed out".into(),
            },
        }
    }

    /// `(name, id, peer URLs)` of every member `member list -w json` shows, or `None`
    /// if etcdctl fails.
    async fn member_list(endpoints: &str) -> Option<Vec<(String, u64, Vec<String>)>> {
        let out = etcdctl(endpoints, &["member", "list", "-w", "json"]).await;
        if !out.ok {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
        let members = json.get("members")?.as_array()?;
        Some(
            members
                .iter()
                .map(|m| {
                    let name = m["name"].as_str().unwrap_or_default().to_string();
                    let id = m["ID"].as_u64().unwrap_or_default();
                    let peers = m["peerURLs"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|u| u.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    (name, id, peers)
                })
                .collect(),
        )
    }

    fn expected_members(specs: &[EtcdMemberSpec]) -> Vec<(String, Vec<String>)> {
        let mut expected: Vec<(String, Vec<String>)> = specs
            .iter()
            .map(|s| (s.name.clone(), vec![format!("http://{}:{PEER_PORT}", s.ip)]))
            .collect();
        expected.sort();
        expected
    }

    fn names_and_peers(list: &[(String, u64, Vec<String>)]) -> Vec<(String, Vec<String>)> {
        let mut got: Vec<(String, Vec<String>)> = list
            .iter()
            .map(|(name, _, peers)| (name.clone(), peers.clone()))
            .collect();
        got.sort();
        got
    }

    fn dump_logs(members: &[EtcdMember]) -> String {
        members
            .iter()
            .map(|m| format!("--- {} ---\n{}", m.name(), m.log_tail(15).join("\n")))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Starts three members and waits until etcdctl and our own health check agree the
    /// cluster is up with the pod IPs as peer URLs.
    ///
    /// With `ordered`, members start one by one as under `OrderedReady`, each only once
    /// the previous one is [`EtcdMember::ready`]; the first one must be ready while it
    /// is still unhealthy (no quorum), or such a StatefulSet could never scale past it.
    async fn start_cluster(specs: &[EtcdMemberSpec], ordered: bool) -> Vec<EtcdMember> {
        let mut members: Vec<EtcdMember> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            members.push(EtcdMember::start(spec).expect("start etcd member"));
            if !ordered {
                continue;
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while !members[i].ready(Duration::from_secs(1)).await {
                assert!(
                    Instant::now() < deadline,
                    "{} not ready in 10 s\n{}",
                    spec.name,
                    dump_logs(&members)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if i == 0 {
                assert!(
                    !endpoint_healthy(spec.ip, Duration::from_secs(1)).await,
                    "a lone member of a new 3-member cluster cannot be healthy"
                );
            }
        }
        let eps = endpoints(specs);
        let expected = expected_members(specs);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let formed = match member_list(&eps).await {
                Some(list) => names_and_peers(&list) == expected,
                None => false,
            };
            let mut healthy = true;
            for s in specs {
                healthy &= endpoint_healthy(s.ip, Duration::from_secs(2)).await;
            }
            if formed && healthy {
                break;
            }
            for m in members.iter_mut() {
                assert!(
                    m.exited().is_none(),
                    "{} exited early\n{}",
                    m.name(),
                    m.log_tail(20).join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "cluster did not form in 30 s (listed correctly: {formed}, healthy: \
                 {healthy})\n{}",
                dump_logs(&members)
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        members
    }

    fn no_pidfiles(dir: &Path) -> bool {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .all(|e| e.path().extension().and_then(|x| x.to_str()) != Some("pid"))
            })
            .unwrap_or(true)
    }

    #[tokio::test]
    async fn members_form_cluster_survive_scale_down_and_restart() {
        let scratch = Scratch::new("cluster");
        let specs = specs(&scratch.0, [11, 12, 13], "lab-test-etcd");
        let eps = endpoints(&specs);
        let mut members = start_cluster(&specs, true).await;

        for m in members.iter_mut() {
            assert!(
                m.ready(Duration::from_secs(1)).await,
                "{} not ready",
                m.name()
            );
            assert!(
                specs[0]
                    .pid_dir
                    .join(format!("etcd-{}-{}.pid", m.name(), m.ip()))
                    .is_file()
            );
        }
        let tail = members[0].log_tail(5);
        assert_eq!(tail.len(), 5, "log tail: {tail:?}");
        assert!(
            tail.iter()
                .all(|l| serde_json::from_str::<serde_json::Value>(l)
                    .is_ok_and(|j| j.get("level").is_some())),
            "etcd should log JSON lines: {tail:?}"
        );

        let put = etcdctl(&eps, &["put", "/kcops/test", "hello"]).await;
        assert!(put.ok, "put failed: {}", put.stderr);
        let get = etcdctl(&eps, &["get", "/kcops/test", "--print-value-only"]).await;
        assert!(get.ok, "get failed: {}", get.stderr);
        assert_eq!(get.stdout.trim(), "hello");

        // Scale down without `etcdctl member remove`: etcd-2 stops but stays registered.
        let old_pid = members[2].pid();
        members[2].stop().await;
        assert!(members[2].exited().is_some());
        assert!(!alive(i32::try_from(old_pid).unwrap_or(0)));
        assert!(!members[2].ready(Duration::from_secs(1)).await);
        assert!(!endpoint_healthy(specs[2].ip, Duration::from_secs(2)).await);
        assert!(!port_open(specs[2].ip, CLIENT_PORT, Duration::from_secs(1)).await);
        let lone = format!("http://{}:{CLIENT_PORT}", specs[2].ip);
        let health = etcdctl(&lone, &["endpoint", "health"]).await;
        assert!(
            !health.ok,
            "stopped member reported healthy: {}",
            health.stdout
        );
        let survivors = endpoints(&specs[..2]);
        let list = member_list(&survivors)
            .await
            .expect("member list via survivors");
        assert_eq!(names_and_peers(&list), expected_members(&specs));

        // Scale up again: same data dir, so it restarts as the same member.
        members[2] = EtcdMember::start(&specs[2]).expect("restart etcd-2");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ours = endpoint_healthy(specs[2].ip, Duration::from_secs(2)).await;
            let theirs = etcdctl(&lone, &["endpoint", "health"]).await.ok;
            if ours && theirs {
                break;
            }
            assert!(
                members[2].exited().is_none(),
                "{}",
                dump_logs(&members[2..])
            );
            assert!(
                Instant::now() < deadline,
                "etcd-2 did not become healthy again (ours {ours}, etcdctl {theirs})\n{}",
                dump_logs(&members[2..])
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        // log_tail shows only the restarted process, which started on existing data.
        let whole_log = std::fs::read_to_string(&specs[2].log_file).expect("read log");
        let restart_tail = members[2].log_tail(10_000);
        assert!(whole_log.contains(r#""initial-cluster-state":"new""#));
        assert!(
            restart_tail
                .iter()
                .any(|l| l.contains(r#""initial-cluster-state":"existing""#))
                && !restart_tail
                    .iter()
                    .any(|l| l.contains(r#""initial-cluster-state":"new""#)),
            "etcd-2 should restart on its data dir:\n{}",
            restart_tail.join("\n")
        );
        let get = etcdctl(&lone, &["get", "/kcops/test", "--print-value-only"]).await;
        assert_eq!(get.stdout.trim(), "hello", "{}", get.stderr);
        let list = member_list(&eps).await.expect("member list");
        assert_eq!(names_and_peers(&list), expected_members(&specs));

        let pids: Vec<u32> = members.iter().map(EtcdMember::pid).collect();
        for m in members.iter_mut() {
            m.stop().await;
        }
        for pid in pids {
            assert!(
                !alive(i32::try_from(pid).unwrap_or(0)),
                "pid {pid} still alive"
            );
        }
        assert!(no_pidfiles(&specs[0].pid_dir));
    }

    #[tokio::test]
    async fn members_removed_member_exits_on_restart() {
        let scratch = Scratch::new("removed");
        let specs = specs(&scratch.0, [21, 22, 23], "lab-test-removed");
        let survivors = endpoints(&specs[..2]);
        let mut members = start_cluster(&specs, false).await;

        members[2].stop().await;
        let list = member_list(&survivors).await.expect("member list");
        let id = list
            .iter()
            .find(|(name, _, _)| name == "etcd-2")
            .map(|(_, id, _)| *id)
            .expect("etcd-2 listed");
        // The strict reconfig check can refuse for a few seconds after a peer change.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = etcdctl(&survivors, &["member", "remove", &format!("{id:x}")]).await;
            if out.ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "member remove failed: {}",
                out.stderr
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let list = member_list(&survivors).await.expect("member list");
        assert_eq!(names_and_peers(&list), expected_members(&specs[..2]));

        members[2] = EtcdMember::start(&specs[2]).expect("restart removed member");
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = members[2].exited() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "removed member kept running\n{}",
                dump_logs(&members[2..])
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let tail = members[2].log_tail(50);
        assert!(
            tail.iter()
                .any(|l| l.contains("the member has been permanently removed from the cluster")),
            "exit status {status}, log:\n{}",
            tail.join("\n")
        );
        assert!(!members[2].ready(Duration::from_secs(1)).await);

        let pids: Vec<u32> = members.iter().map(EtcdMember::pid).collect();
        for m in members.iter_mut() {
            m.stop().await;
        }
        for pid in pids {
            assert!(
                !alive(i32::try_from(pid).unwrap_or(0)),
                "pid {pid} still alive"
            );
        }
        assert!(no_pidfiles(&specs[0].pid_dir));
    }

    #[test]
    fn members_health_response_parsing() {
        let ok = b"HTTP/1.0 200 OK\r\nContent-Length: 17\r\n\r\n{\"health\":\"true\"}";
        assert!(health_response_ok(ok));
        let down = b"HTTP/1.0 503 Service Unavailable\r\n\r\n{\"health\":\"false\"}";
        assert!(!health_response_ok(down));
        let false_200 = b"HTTP/1.0 200 OK\r\n\r\n{\"health\":\"false\"}";
        assert!(!health_response_ok(false_200));
        assert!(!health_response_ok(b"HTTP/1.0 200 OK\r\n\r\nnot json"));
        assert!(!health_response_ok(b""));
    }

    #[test]
    fn members_spec_must_list_itself() {
        let scratch = Scratch::new("spec");
        let mut spec = specs(&scratch.0, [31, 32, 33], "t").remove(0);
        spec.initial_cluster.retain(|(n, _)| n != "etcd-0");
        assert!(EtcdMember::start(&spec).is_err());
        spec.initial_cluster.push(("etcd-0".into(), ip(99)));
        assert!(EtcdMember::start(&spec).is_err());
    }
}
