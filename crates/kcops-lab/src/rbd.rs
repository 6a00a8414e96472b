//! The `rbd` CLI operations the lab kubelet, provisioner and tests need.
//!
//! Each function takes a `Command` prepared by the caller (program `rbd`, `CEPH_CONF`
//! set, maybe `--id kube`, maybe wrapped in `ip netns exec` so the client carries the
//! node's IP) and appends the operation's arguments. Runs are bounded by a timeout and
//! failures are [`CliError`]s carrying rbd's exit status and stderr, so callers can tell
//! "locked by someone else" (EBUSY) from "permission denied" (EACCES).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::process::spawn_tied;

/// Bound on one CLI run. Our ceph.conf makes clients give up after 10 s on an
/// unreachable mon or OSD, so this only catches a client that hangs for other reasons.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);

const ENOENT: i32 = 2;
const EACCES: i32 = 13;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const ETIMEDOUT: i32 = 110;

/// A Ceph CLI run that failed. rbd and ceph exit with the errno of the failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        command: String,
        /// The exit code; rbd's is the errno of the failed call (16 = EBUSY, ...).
        code: Option<i32>,
        status: String,
        stderr: String,
    },
    #[error("`{command}` did not finish within {}s", .after.as_secs())]
    TimedOut { command: String, after: Duration },
}

impl CliError {
    /// The errno the CLI exited with (ETIMEDOUT for our own timeout).
    pub fn errno(&self) -> Option<i32> {
        match self {
            CliError::Failed { code, .. } => *code,
            CliError::TimedOut { .. } => Some(ETIMEDOUT),
        }
    }
    pub fn stderr(&self) -> &str {
        match self {
            CliError::Failed { stderr, .. } => stderr,
            CliError::TimedOut { .. } => "",
        }
    }

    /// The CLI's own messages: stderr without the Ceph client library's log lines
    /// (`2026-12-04T17:46:57.446+0000 7f12c7fff6c0 -1 monclient: ...`), which carry
    /// times and thread ids and come and go with timing, so an Event quoting the
    /// output stays the same from one retry to the next.
    pub fn messages(&self) -> String {
        self.stderr()
            .lines()
            .filter(|l| !is_log_line(l))
            .collect::<Vec<_>>()
            .join("\n")
    }
    /// `rbd lock add` on an image someone else holds a lock on.
    pub fn is_busy(&self) -> bool {
        self.errno() == Some(EBUSY)
    }
    pub fn is_not_found(&self) -> bool {
        self.errno() == Some(ENOENT)
    }
    pub fn is_permission_denied(&self) -> bool {
        self.errno() == Some(EACCES)
    }
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(EEXIST)
    }
    pub fn is_timeout(&self) -> bool {
        self.errno() == Some(ETIMEDOUT)
    }
}

/// The `CliError` behind an error returned by this module, if any.
/// A Ceph library log line: it starts with an ISO time (`YYYY-MM-DDTHH:MM:SS`).
fn is_log_line(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 19
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
}

pub fn cli_error(err: &anyhow::Error) -> Option<&CliError> {
    err.downcast_ref::<CliError>()
}

/// `program arg arg ...` for messages (no secrets: keys are passed as keyring files).
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `max` bytes of `text` (on a char boundary), trimmed: enough to explain.
fn tail(text: &str, max: usize) -> &str {
    let text = text.trim();
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Runs a short-lived CLI to completion and returns its stdout; stdin is closed. On
/// failure the error is a [`CliError`] with the exit code and stderr; on timeout the
/// child is killed.
pub async fn run_cli(cmd: Command, timeout: Duration) -> Result<String> {
    let command = describe(&cmd);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{command}`"))?;
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(out) => out.with_context(|| format!("cannot read the output of `{command}`"))?,
        Err(_) => {
            return Err(CliError::TimedOut {
                command,
                after: timeout,
            }
            .into());
        }
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(CliError::Failed {
            command,
            code: out.status.code(),
            status: out.status.to_string(),
            stderr: tail(&stderr, 2000).to_string(),
        }
        .into());
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{command}` printed invalid UTF-8"))
}

/// Refuses names that rbd would parse as options.
fn check_arg(what: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.starts_with('-') || value.contains(char::is_whitespace) {
        bail!("invalid {what} {value:?}");
    }
    Ok(())
}

async fn rbd(mut cmd: Command, args: &[&str]) -> Result<String> {
    cmd.args(args);
    run_cli(cmd, CLI_TIMEOUT).await
}

/// `rbd create --size <size_mb>M <pool>/<image>` (default image features).
pub async fn create_image(cmd: Command, pool: &str, image: &str, size_mb: u64) -> Result<()> {
    check_arg("pool", pool)?;
    check_arg("image", image)?;
    if size_mb == 0 {
        bail!("image size must be at least 1 MB");
    }
    let spec = format!("{pool}/{image}");
    let size = format!("{size_mb}M");
    rbd(cmd, &["create", "--size", &size, &spec]).await?;
    Ok(())
}

/// `rbd create --size <size_mb>M --image-feature <f> ... <pool>/<image>`: an image
/// with exactly these features (e.g. `layering`, or rbd's defaults written out).
pub async fn create_image_with_features(
    cmd: Command,
    pool: &str,
    image: &str,
    size_mb: u64,
    features: &[String],
) -> Result<()> {
    check_arg("pool", pool)?;
    check_arg("image", image)?;
    let spec = format!("{pool}/{image}");
    let size = format!("{size_mb}M");
    let mut args = vec!["create", "--size", size.as_str()];
    for f in features {
        check_arg("image feature", f)?;
        args.extend(["--image-feature", f.as_str()]);
    }
    args.push(&spec);
    rbd(cmd, &args).await?;
    Ok(())
}

/// The feature names of an image (`rbd info --format json`'s `features`).
pub async fn image_features(cmd: Command, image_spec: &str) -> Result<Vec<String>> {
    check_arg("image spec", image_spec)?;
    #[derive(Deserialize, Default)]
    struct Info {
        #[serde(default)]
        features: Vec<String>,
    }
    let out = rbd(cmd, &["info", "--format", "json", image_spec]).await?;
    let info: Info = parse_json_or_empty(&out).context("cannot parse `rbd info --format json`")?;
    Ok(info.features)
}

/// The bit of an RBD image feature (librbd's `RBD_FEATURE_*`), 0 for unknown names.
pub fn feature_bit(name: &str) -> u64 {
    match name {
        "layering" => 1,
        "striping" => 2,
        "exclusive-lock" => 4,
        "object-map" => 8,
        "fast-diff" => 16,
        "deep-flatten" => 32,
        "journaling" => 64,
        "data-pool" => 128,
        "operations" => 256,
        _ => 0,
    }
}

/// `rbd rm <pool>/<image>`; fails with EBUSY while the image has watchers.
pub async fn remove_image(cmd: Command, pool: &str, image: &str) -> Result<()> {
    check_arg("pool", pool)?;
    check_arg("image", image)?;
    let spec = format!("{pool}/{image}");
    rbd(cmd, &["rm", "--no-progress", &spec]).await?;
    Ok(())
}

/// Image names in `pool` (`rbd ls --format json`, a JSON array of names).
pub async fn list_images(cmd: Command, pool: &str) -> Result<Vec<String>> {
    check_arg("pool", pool)?;
    let out = rbd(cmd, &["ls", "--format", "json", pool]).await?;
    parse_json_or_empty(&out).context("cannot parse `rbd ls --format json`")
}

/// `rbd lock add <spec> <cookie>`: an exclusive advisory lock, as the old in-tree
/// kubelet plugin took (cookie `kubelet_lock_magic_<node>`). EBUSY when held by anyone.
pub async fn lock_add(cmd: Command, image_spec: &str, cookie: &str) -> Result<()> {
    check_arg("image spec", image_spec)?;
    check_arg("lock cookie", cookie)?;
    rbd(cmd, &["lock", "add", image_spec, cookie]).await?;
    Ok(())
}

/// One advisory lock on an image, as `rbd lock ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Locker {
    /// The client holding it, e.g. `client.4140`.
    pub locker: String,
    /// The lock cookie, e.g. `kubelet_lock_magic_node1`.
    pub id: String,
    /// The client's address, `ip:0/nonce` (what a blocklist entry names).
    pub address: String,
}

impl Locker {
    /// The IP part of the locker's address.
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        address_ip(&self.address)
    }
}

/// The IP in a Ceph entity address such as `198.18.1.11:0/3323368536`,
/// `v1:10.0.0.1:6789/0` or `[::1]:0/12`.
pub fn address_ip(address: &str) -> Option<std::net::IpAddr> {
    let addr = ["v1:", "v2:", "any:"]
        .iter()
        .find_map(|p| address.strip_prefix(p))
        .unwrap_or(address);
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse::<std::net::SocketAddr>()
        .map(|s| s.ip())
        .or_else(|_| addr.parse::<std::net::IpAddr>())
        .ok()
}

/// Advisory locks on the image (`rbd lock ls --format json`).
pub async fn lock_list(cmd: Command, image_spec: &str) -> Result<Vec<Locker>> {
    check_arg("image spec", image_spec)?;
    let out = rbd(cmd, &["lock", "ls", "--format", "json", image_spec]).await?;
    parse_lock_list(&out)
}

/// Pacific prints an array of `{"id","locker","address"}`; releases before Nautilus
/// printed an object keyed by lock id. Both are accepted.
fn parse_lock_list(out: &str) -> Result<Vec<Locker>> {
    #[derive(Deserialize)]
    struct Keyed {
        locker: String,
        address: String,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        List(Vec<Locker>),
        Keyed(std::collections::BTreeMap<String, Keyed>),
    }
    let shape: Option<Shape> =
        parse_json_or_empty(out).context("cannot parse `rbd lock ls --format json`")?;
    Ok(match shape {
        None => Vec::new(),
        Some(Shape::List(list)) => list,
        Some(Shape::Keyed(map)) => map
            .into_iter()
            .map(|(id, k)| Locker {
                locker: k.locker,
                id,
                address: k.address,
            })
            .collect(),
    })
}

/// `rbd lock rm <spec> <cookie> <locker>`. rbd blocklists the locker first, so a user
/// with `mon 'allow r'` gets EACCES here ("rbd: releasing lock failed: (13) Permission
/// denied").
pub async fn lock_remove(cmd: Command, image_spec: &str, cookie: &str, locker: &str) -> Result<()> {
    check_arg("image spec", image_spec)?;
    check_arg("lock cookie", cookie)?;
    check_arg("locker", locker)?;
    rbd(cmd, &["lock", "rm", image_spec, cookie, locker]).await?;
    Ok(())
}

/// Starts a long-lived `rbd watch <spec>`, standing in for a kernel mapping: Ceph lists
/// it as a watcher with the client's address. The caller restarts it when it exits.
///
/// `rbd watch` exits at end of its stdin, so stdin is a pipe held by the returned
/// `Child`: dropping the `Child` (or its stdin) ends the watch. A blocklisted or
/// disconnected watch does not exit by itself (it prints `received error ... (107)` on
/// stderr and stays unregistered), so a thread reading stderr terminates it then, and
/// the caller's restart gets a fresh, unblocklisted address. stdout and stderr are
/// appended to `log` when given.
pub fn spawn_watcher(mut cmd: Command, image_spec: &str, log: Option<&Path>) -> Result<Child> {
    check_arg("image spec", image_spec)?;
    cmd.args(["watch", image_spec])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    let log_file = match log {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open {}", path.display()))?,
        ),
        None => None,
    };
    match &log_file {
        Some(file) => cmd.stdout(
            file.try_clone()
                .context("cannot duplicate the watcher's log file")?,
        ),
        None => cmd.stdout(Stdio::null()),
    };
    let command = describe(&cmd);
    let mut child = spawn_tied(cmd).with_context(|| format!("cannot start watcher `{command}`"))?;
    let stderr = child
        .stderr
        .take()
        .context("the watcher's stderr was not captured")?;
    let pid = i32::try_from(child.id()).unwrap_or(0);
    let spec = image_spec.to_string();
    std::thread::Builder::new()
        .name("kcops-rbd-watch".into())
        .spawn(move || supervise_watcher(stderr, log_file, pid, &spec))
        .context("cannot start the watcher's stderr reader")?;
    Ok(child)
}

/// Copies the watcher's stderr to its log and stops it once its watch is broken. The
/// pipe is open only while the process lives, so `pid` is still ours when we signal.
fn supervise_watcher(
    stderr: std::process::ChildStderr,
    mut log: Option<std::fs::File>,
    pid: i32,
    spec: &str,
) {
    use std::io::{BufRead, Write};
    for line in std::io::BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if let Some(file) = log.as_mut() {
            let _ = writeln!(file, "{line}");
        }
        if line.contains("received error") {
            tracing::info!(
                image = spec,
                pid,
                "rbd watch lost its watch ({line}); stopping it"
            );
            crate::process::terminate(pid, libc::SIGTERM);
        }
    }
}

/// Addresses of the image's watchers (`rbd status --format json`).
pub async fn status_watchers(cmd: Command, image_spec: &str) -> Result<Vec<String>> {
    check_arg("image spec", image_spec)?;
    let out = rbd(cmd, &["status", "--format", "json", image_spec]).await?;
    parse_status_watchers(&out)
}

/// `{"watchers":[{"address":"ip:0/nonce","client":4156,"cookie":...}]}` in Pacific.
fn parse_status_watchers(out: &str) -> Result<Vec<String>> {
    #[derive(Deserialize)]
    struct Watcher {
        address: String,
    }
    #[derive(Deserialize)]
    struct Status {
        #[serde(default)]
        watchers: Vec<Watcher>,
    }
    let status: Option<Status> =
        parse_json_or_empty(out).context("cannot parse `rbd status --format json`")?;
    Ok(status
        .map(|s| s.watchers.into_iter().map(|w| w.address).collect())
        .unwrap_or_default())
}

/// Parses JSON output; an empty output (some rbd versions print nothing for "none")
/// is the type's default.
fn parse_json_or_empty<T: serde::de::DeserializeOwned + Default>(out: &str) -> Result<T> {
    if out.trim().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(out.trim())
        .with_context(|| format!("unexpected output {:?}", tail(out, 300)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ceph::CephCluster;
    use crate::netns::{LabNet, netns_available};
    use crate::paths::LabPaths;
    use std::net::IpAddr;

    #[test]
    fn messages_leave_out_the_librarys_log_lines() {
        let e = CliError::Failed {
            command: "rbd create".into(),
            code: Some(2),
            status: "exit status: 2".into(),
            stderr: "rbd: error opening pool 'ssd': (2) No such file or directory\n2026-12-04T17:46:57.446+0000 7f12c7fff6c0 -1 monclient: handle_auth_reply_more no authorizer?".into(),
        };
        assert_eq!(
            e.messages(),
            "rbd: error opening pool 'ssd': (2) No such file or directory"
        );
    }

    #[test]
    fn parses_pacific_and_old_lock_lists() -> Result<()> {
        let pacific = r#"[{"id":"kubelet_lock_magic_node1","locker":"client.4140","address":"198.18.250.10:0/3323368536"}]"#;
        let locks = parse_lock_list(pacific)?;
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].id, "kubelet_lock_magic_node1");
        assert_eq!(locks[0].locker, "client.4140");
        assert_eq!(locks[0].ip(), Some("198.18.250.10".parse::<IpAddr>()?));
        let old = r#"{"kubelet_lock_magic_n2":{"locker":"client.7","address":"10.0.0.2:0/99"}}"#;
        let locks = parse_lock_list(old)?;
        assert_eq!(locks[0].id, "kubelet_lock_magic_n2");
        assert_eq!(locks[0].ip(), Some("10.0.0.2".parse::<IpAddr>()?));
        assert!(parse_lock_list("[]")?.is_empty());
        assert!(parse_lock_list("\n")?.is_empty());
        assert!(parse_lock_list("There is 1 exclusive lock").is_err());
        Ok(())
    }

    #[test]
    fn parses_status_and_addresses() -> Result<()> {
        let out = r#"{"watchers":[{"address":"198.18.250.10:0/2937587615","client":4156,"cookie":94259303712016}]}"#;
        assert_eq!(
            parse_status_watchers(out)?,
            vec!["198.18.250.10:0/2937587615".to_string()]
        );
        assert!(parse_status_watchers(r#"{"watchers":[]}"#)?.is_empty());
        assert_eq!(address_ip("v1:10.1.2.3:6789/0"), Some("10.1.2.3".parse()?));
        assert_eq!(address_ip("[::1]:0/12"), Some("::1".parse()?));
        assert_eq!(address_ip("garbage"), None);
        Ok(())
    }

    /// Waits until the image has exactly one watcher other than `not`, and returns its
    /// address; fails if the watcher process exits first.
    async fn wait_for_watcher(
        watcher: &mut Child,
        admin: impl Fn() -> Command,
        spec: &str,
        not: Option<&str>,
    ) -> Result<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let found: Vec<String> = status_watchers(admin(), spec)
                .await?
                .into_iter()
                .filter(|w| Some(w.as_str()) != not)
                .collect();
            if let [one] = found.as_slice() {
                return Ok(one.clone());
            }
            if let Some(status) = watcher.try_wait()? {
                bail!("rbd watch exited early: {status}");
            }
            if tokio::time::Instant::now() > deadline {
                bail!("no single watcher on {spec} within 20s: {found:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Everything the function needs to clean up, even when an assertion fails.
    struct Lab {
        root: std::path::PathBuf,
        net: Option<LabNet>,
        ceph: Option<CephCluster>,
    }

    impl Drop for Lab {
        fn drop(&mut self) {
            drop(self.ceph.take());
            if let Some(net) = self.net.take() {
                net.teardown();
            }
            crate::process::kill_pidfiles(&self.root.join("pids"), Duration::from_secs(5));
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    /// On a real cluster: a lock taken inside a node's namespace carries the node's IP
    /// in `lock ls`; a watcher started there shows that IP in `rbd status`, is stopped
    /// when blocklisted and registers again when restarted; the under-privileged
    /// `client.kube` cannot break the lock (EACCES) while admin can; a watched image
    /// cannot be removed (EBUSY); ending the watcher unregisters it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn node_locks_and_watchers_carry_the_node_ip() -> Result<()> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("kcops=debug")
            .with_test_writer()
            .try_init();
        crate::ceph::check_installed()?;
        let root = std::env::temp_dir().join(format!(
            "kcops-rbd-test-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let paths = LabPaths {
            name: "rbd-test".into(),
            root: root.clone(),
        };
        let mut lab = Lab {
            root,
            net: None,
            ceph: None,
        };
        let use_netns = netns_available();
        // Without namespaces (not root) every loopback client shows as 127.0.0.1.
        let (bind_ip, node_ip) = if use_netns {
            let mut net = LabNet::create(252)?;
            let node_ip = net.add_node("node1", 1)?;
            let host = net.host_ip();
            lab.net = Some(net);
            (host, node_ip)
        } else {
            tracing::warn!("no network namespaces (not root?): node clients use loopback");
            (
                std::net::Ipv4Addr::new(127, 252, 0, 1),
                std::net::Ipv4Addr::LOCALHOST,
            )
        };
        let ceph: &CephCluster = lab.ceph.insert(CephCluster::start(&paths, bind_ip).await?);
        let node_cmd = || {
            let mut cmd = match &lab.net {
                Some(net) => net.command("node1", "rbd"),
                None => Command::new("rbd"),
            };
            cmd.env("CEPH_CONF", ceph.conf_path())
                .env_remove("CEPH_ARGS");
            cmd
        };
        let admin = || ceph.ceph_command("rbd");
        let kube = || {
            let mut cmd = ceph.ceph_command("rbd");
            cmd.args(["--id", "kube"]);
            cmd
        };

        create_image(admin(), "rbd", "vol1", 16).await?;
        let err = create_image(admin(), "rbd", "vol1", 16)
            .await
            .err()
            .context("creating an existing image must fail")?;
        assert!(cli_error(&err).is_some_and(CliError::is_exists), "{err:#}");
        assert_eq!(list_images(kube(), "rbd").await?, vec!["vol1".to_string()]);
        let spec = "rbd/vol1";
        assert!(lock_list(admin(), spec).await?.is_empty());

        let cookie = "kubelet_lock_magic_node1";
        lock_add(node_cmd(), spec, cookie).await?;
        let locks = lock_list(admin(), spec).await?;
        assert_eq!(locks.len(), 1, "{locks:?}");
        assert_eq!(locks[0].id, cookie);
        assert!(locks[0].locker.starts_with("client."), "{locks:?}");
        assert_eq!(locks[0].ip(), Some(IpAddr::V4(node_ip)), "{locks:?}");

        // A second lock on the image is refused with EBUSY.
        let err = lock_add(admin(), spec, "kubelet_lock_magic_node2")
            .await
            .err()
            .context("a second lock must be refused")?;
        assert!(cli_error(&err).is_some_and(CliError::is_busy), "{err:#}");

        let log = paths.logs().join("watch.log");
        let mut watcher = spawn_watcher(node_cmd(), spec, Some(&log))?;
        let first = wait_for_watcher(&mut watcher, admin, spec, None).await?;
        assert_eq!(address_ip(&first), Some(IpAddr::V4(node_ip)), "{first}");

        // Blocklisted, the watch breaks; the watcher is stopped so a restart can
        // register again under a new address.
        let mut blocklist = ceph.ceph_command("ceph");
        blocklist.args(["osd", "blocklist", "add", &first]);
        run_cli(blocklist, CLI_TIMEOUT).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = watcher.try_wait()? {
                break status;
            }
            if tokio::time::Instant::now() > deadline {
                bail!("a blocklisted watcher kept running");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(!status.success(), "{status}");
        let mut watcher = spawn_watcher(node_cmd(), spec, Some(&log))?;
        let second = wait_for_watcher(&mut watcher, admin, spec, Some(&first)).await?;
        assert_eq!(address_ip(&second), Some(IpAddr::V4(node_ip)), "{second}");
        let logged = std::fs::read_to_string(&log)?;
        assert!(logged.contains("received error"), "{logged}");

        // The under-privileged client.kube cannot break the lock; admin can.
        let err = lock_remove(kube(), spec, cookie, &locks[0].locker)
            .await
            .err()
            .context("client.kube must not be able to break a lock")?;
        let cli = cli_error(&err).context("expected a CliError")?;
        assert!(cli.is_permission_denied(), "{err:#}");
        assert!(cli.stderr().contains("Permission denied"), "{err:#}");
        lock_remove(admin(), spec, cookie, &locks[0].locker).await?;
        assert!(lock_list(admin(), spec).await?.is_empty());

        // An image with a watcher cannot be removed.
        let err = remove_image(admin(), "rbd", "vol1")
            .await
            .err()
            .context("removing a watched image must fail")?;
        assert!(cli_error(&err).is_some_and(CliError::is_busy), "{err:#}");

        // Ending the watcher (closing its stdin) unregisters it.
        drop(watcher.stdin.take());
        let status = tokio::task::spawn_blocking(move || watcher.wait()).await??;
        assert!(status.success(), "rbd watch: {status}");
        assert!(status_watchers(admin(), spec).await?.is_empty());

        remove_image(admin(), "rbd", "vol1").await?;
        assert!(list_images(admin(), "rbd").await?.is_empty());
        let err = remove_image(admin(), "rbd", "vol1")
            .await
            .err()
            .context("removing a missing image must fail")?;
        assert!(
            cli_error(&err).is_some_and(CliError::is_not_found),
            "{err:#}"
        );

        if let Some(ceph) = lab.ceph.as_mut() {
            ceph.shutdown().await;
        }
        Ok(())
    }
}
