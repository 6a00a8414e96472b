//! A real micro Ceph cluster for the lab: one mon, one mgr, one memstore OSD, cephx,
//! started from Debian's packages in a few seconds (recipe in design.md, "Facts
//! verified").
//!
//! Everything lives under `LabPaths::ceph()` (conf, keyrings, data, run dir), daemon
//! logs under `LabPaths::logs()`, pidfiles under `LabPaths::pids()`. The mon listens on
//! `bind_ip` with an ephemeral v1 port kept in `ceph.conf`, so restarts keep it and
//! clients in node namespaces can reach it.
//!
//! memstore keeps the OSD's objects in memory and saves them only on a clean shutdown,
//! so a restart reuses the data when [`CephCluster::shutdown`] stopped the cluster, and
//! bootstraps afresh (with a warning) after a crash.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::paths::LabPaths;
use crate::process::{alive, spawn_tied, terminate, write_pidfile};
use crate::rbd::run_cli;

/// Binaries the lab's Ceph needs, all from the Debian packages in [`INSTALL_HINT`].
const REQUIRED: [&str; 7] = [
    "ceph-mon",
    "ceph-osd",
    "ceph-mgr",
    "ceph",
    "rbd",
    "ceph-authtool",
    "monmaptool",
];
const INSTALL_HINT: &str = "apt-get install -y ceph-mon ceph-osd ceph-mgr ceph-common";

/// How long a (re)start may take before we give up and show the daemon's log.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a daemon may take to exit after SIGTERM (the OSD saves memstore then).
const STOP_GRACE: Duration = Duration::from_secs(20);
/// Bound on one bootstrap CLI step (`rbd pool init` waits for PGs to go active).
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// memstore's capacity: objects live in memory, only written bytes count.
const MEMSTORE_BYTES: u64 = 1 << 30;
const RBD_POOL: &str = "rbd";

/// Written once bootstrap finished: the directory holds a complete cluster.
const BOOTSTRAPPED: &str = "bootstrapped";
/// Written when the OSD exited cleanly (memstore saved); removed while running.
const CLEAN: &str = "clean-shutdown";

/// Fails, naming what is missing and how to install it, unless every Ceph binary the
/// lab needs is on PATH (or in /usr/bin, /usr/sbin).
pub fn check_installed() -> Result<()> {
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|name| find_program(name).is_none())
        .collect();
    if !missing.is_empty() {
        bail!(
            "Ceph is not installed: missing {} (install with `{INSTALL_HINT}`, or use --no-ceph)",
            missing.join(", ")
        );
    }
    Ok(())
}

fn find_program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin", "/usr/sbin", "/bin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// How far `wait_until` waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ready {
    /// The mon answers `ceph status`.
    Mon,
    /// ... and every OSD is up (enough for rbd clients).
    Osd,
    /// ... and an mgr is active, pool `rbd` exists and all PGs are active.
    Full,
}

/// The three daemons of the micro cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Mon,
    Osd,
    Mgr,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Mon, Kind::Osd, Kind::Mgr];

    /// Program name, also the pidfile's name.
    fn program(self) -> &'static str {
        match self {
            Kind::Mon => "ceph-mon",
            Kind::Osd => "ceph-osd",
            Kind::Mgr => "ceph-mgr",
        }
    }
    fn id(self) -> &'static str {
        match self {
            Kind::Mon => "a",
            Kind::Osd => "0",
            Kind::Mgr => "x",
        }
    }
    /// Data dir relative to the ceph dir, matching `<kind> data` in the conf.
    fn data_dir(self) -> String {
        let kind = self.program().trim_start_matches("ceph-");
        format!("{kind}/ceph-{}", self.id())
    }
}

/// A running (or stopped) micro cluster; dropping it sends SIGTERM to its daemons.
#[derive(Debug)]
pub struct CephCluster {
    dir: PathBuf,
    logs: PathBuf,
    pids: PathBuf,
    fsid: String,
    mon_addr: SocketAddrV4,
    mon: Option<Child>,
    osd: Option<Child>,
    mgr: Option<Child>,
}

impl CephCluster {
    /// Starts the cluster in `paths.ceph()`, bootstrapping it on first use, with the mon
    /// on `bind_ip`. Returns once `ceph -s` works, the OSD is up, the `rbd` pool exists
    /// and its placement groups are active.
    pub async fn start(paths: &LabPaths, bind_ip: Ipv4Addr) -> Result<CephCluster> {
        check_installed()?;
        let dir = paths.ceph();
        for p in [&dir, &paths.logs()] {
            check_conf_path(p)?;
        }
        stop_stale_daemons(&paths.pids()).await;
        for p in [paths.logs(), paths.pids()] {
            std::fs::create_dir_all(&p)
                .with_context(|| format!("cannot create {}", p.display()))?;
        }

        let clean = dir.join(CLEAN).exists();
        // `old` is the previous mon address when the cluster can be restarted as is.
        let (fsid, mon_addr, old) = match read_previous(&dir) {
            Some((fsid, old)) if clean => {
                let port = if *old.ip() == bind_ip && port_free(bind_ip, old.port()) {
                    old.port()
                } else {
                    free_port(bind_ip)?
                };
                (fsid, SocketAddrV4::new(bind_ip, port), Some(old))
            }
            previous => {
                if previous.is_some() {
                    tracing::warn!(
                        dir = %dir.display(),
                        "the lab's Ceph was not shut down cleanly; its in-memory OSD data is \
                         lost, bootstrapping a new cluster"
                    );
                }
                let port = free_port(bind_ip)?;
                let fsid = uuid::Uuid::new_v4().to_string();
                (fsid, SocketAddrV4::new(bind_ip, port), None)
            }
        };
        let mut cluster = CephCluster {
            dir,
            logs: paths.logs(),
            pids: paths.pids(),
            fsid,
            mon_addr,
            mon: None,
            osd: None,
            mgr: None,
        };
        let result = match old {
            None => cluster.bootstrap().await,
            Some(old) => cluster.restart(old).await,
        };
        match result {
            Ok(()) => Ok(cluster),
            Err(err) => {
                cluster.stop_all(false).await;
                Err(err)
            }
        }
    }

    /// First start: keys, monmap, mon/OSD/mgr, `client.kube`, pool `rbd`.
    async fn bootstrap(&mut self) -> Result<()> {
        let started = std::time::Instant::now();
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .with_context(|| format!("cannot remove {}", self.dir.display()))?;
        }
        for sub in ["run", "crash"]
            .into_iter()
            .map(String::from)
            .chain(Kind::ALL.map(Kind::data_dir))
        {
            let p = self.dir.join(sub);
            std::fs::create_dir_all(&p)
                .with_context(|| format!("cannot create {}", p.display()))?;
        }
        self.write_conf()?;

        let mon_keyring = path_str(&self.dir.join("mon.keyring"))?;
        let admin_keyring = path_str(&self.admin_keyring())?;
        let monmap = path_str(&self.dir.join("monmap"))?;
        self.step(
            "ceph-authtool",
            &[
                "--create-keyring",
                &mon_keyring,
                "--gen-key",
                "-n",
                "mon.",
                "--cap",
                "mon",
                "allow *",
            ],
        )
        .await?;
        self.step(
            "ceph-authtool",
            &[
                "--create-keyring",
                &admin_keyring,
                "--gen-key",
                "-n",
                "client.admin",
                "--cap",
                "mon",
                "allow *",
                "--cap",
                "osd",
                "allow *",
                "--cap",
                "mgr",
                "allow *",
                "--cap",
                "mds",
                "allow *",
            ],
        )
        .await?;
        self.step(
            "ceph-authtool",
            &[&mon_keyring, "--import-keyring", &admin_keyring],
        )
        .await?;
        // `--add` would record a v2 address; the mon speaks v1 only (msgr2 off).
        let mon_v1 = format!("[v1:{}]", self.mon_addr);
        self.step(
            "monmaptool",
            &[
                "--create", "--addv", "a", &mon_v1, "--fsid", &self.fsid, &monmap,
            ],
        )
        .await?;
        self.step(
            "ceph-mon",
            &[
                "--mkfs",
                "-i",
                Kind::Mon.id(),
                "--monmap",
                &monmap,
                "--keyring",
                &mon_keyring,
            ],
        )
        .await?;
        self.spawn(Kind::Mon)?;
        self.wait_until(READY_TIMEOUT, Ready::Mon).await?;

        let osd_uuid = uuid::Uuid::new_v4().to_string();
        let osd_id = self.step("ceph", &["osd", "create", &osd_uuid]).await?;
        if osd_id.trim() != Kind::Osd.id() {
            bail!("`ceph osd create` returned OSD id {osd_id:?}, expected 0");
        }
        let osd_keyring = path_str(&self.dir.join(Kind::Osd.data_dir()).join("keyring"))?;
        self.step(
            "ceph",
            &[
                "auth",
                "get-or-create",
                "osd.0",
                "mon",
                "allow profile osd",
                "mgr",
                "allow profile osd",
                "osd",
                "allow *",
                "-o",
                &osd_keyring,
            ],
        )
        .await?;
        self.step(
            "ceph-osd",
            &["--mkfs", "-i", Kind::Osd.id(), "--osd-uuid", &osd_uuid],
        )
        .await?;
        self.spawn(Kind::Osd)?;

        let mgr_keyring = path_str(&self.dir.join(Kind::Mgr.data_dir()).join("keyring"))?;
        self.step(
            "ceph",
            &[
                "auth",
                "get-or-create",
                "mgr.x",
                "mon",
                "allow profile mgr",
                "osd",
                "allow *",
                "mds",
                "allow *",
                "-o",
                &mgr_keyring,
            ],
        )
        .await?;
        self.spawn(Kind::Mgr)?;

        let kube_keyring = path_str(&self.kube_keyring())?;
        self.step(
            "ceph",
            &[
                "auth",
                "get-or-create",
                "client.kube",
                "mon",
                "allow r",
                "osd",
                "allow class-read object_prefix rbd_children, allow rwx pool=rbd",
                "-o",
                &kube_keyring,
            ],
        )
        .await?;
        for keyring in [
            &mon_keyring,
            &admin_keyring,
            &kube_keyring,
            &osd_keyring,
            &mgr_keyring,
        ] {
            restrict(Path::new(keyring))?;
        }
        self.step("ceph", &["osd", "pool", "create", RBD_POOL, "8"])
            .await?;
        // `rbd pool init` needs active PGs, hence a booted OSD.
        self.wait_until(READY_TIMEOUT, Ready::Osd).await?;
        self.step("rbd", &["pool", "init", RBD_POOL]).await?;
        let _ = std::fs::remove_file(self.dir.join("monmap"));
        std::fs::write(self.dir.join(BOOTSTRAPPED), format!("{}\n", self.fsid))
            .with_context(|| format!("cannot write {}", self.dir.join(BOOTSTRAPPED).display()))?;
        self.wait_until(READY_TIMEOUT, Ready::Full).await?;
        tracing::info!(
            mon = %self.mon_addr,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "lab Ceph bootstrapped"
        );
        Ok(())
    }

    /// Restart of a cleanly stopped cluster: same fsid, keys and data; the mon moves
    /// (monmap rewritten) only if its address changed or its port was taken.
    async fn restart(&mut self, old_addr: SocketAddrV4) -> Result<()> {
        let started = std::time::Instant::now();
        std::fs::remove_file(self.dir.join(CLEAN))
            .with_context(|| format!("cannot remove {}", self.dir.join(CLEAN).display()))?;
        self.write_conf()?;
        if old_addr != self.mon_addr {
            tracing::info!(from = %old_addr, to = %self.mon_addr, "moving the lab's Ceph mon");
            self.readdress_mon().await?;
        }
        for kind in Kind::ALL {
            self.spawn(kind)?;
        }
        self.wait_until(READY_TIMEOUT, Ready::Full).await?;
        tracing::info!(
            mon = %self.mon_addr,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "lab Ceph restarted"
        );
        Ok(())
    }

    /// Rewrites the mon's stored monmap with the new address (mon stopped).
    async fn readdress_mon(&self) -> Result<()> {
        let monmap = path_str(&self.dir.join("monmap"))?;
        let mon_v1 = format!("[v1:{}]", self.mon_addr);
        self.step(
            "ceph-mon",
            &["-i", Kind::Mon.id(), "--extract-monmap", &monmap],
        )
        .await?;
        self.step("monmaptool", &[&monmap, "--rm", Kind::Mon.id()])
            .await?;
        self.step("monmaptool", &[&monmap, "--addv", Kind::Mon.id(), &mon_v1])
            .await?;
        self.step(
            "ceph-mon",
            &["-i", Kind::Mon.id(), "--inject-monmap", &monmap],
        )
        .await?;
        let _ = std::fs::remove_file(&monmap);
        Ok(())
    }

    /// `ceph.conf`: [global] names the admin keyring so `CEPH_CONF=... ceph -s` works
    /// alone; daemons use their own keyrings; clients get no admin socket, no log
    /// noise and 10 s timeouts.
    fn write_conf(&self) -> Result<()> {
        let conf = render_conf(&self.dir, &self.logs, &self.fsid, self.mon_addr);
        let path = self.conf_path();
        let tmp = self.dir.join("ceph.conf.tmp");
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        std::fs::write(&tmp, conf).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// A command for a Ceph program with `CEPH_CONF` pointing at this cluster's conf
    /// (and no inherited `CEPH_ARGS`); stdin is closed.
    pub fn ceph_command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("CEPH_CONF", self.conf_path())
            .env_remove("CEPH_ARGS")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs one CLI step to completion; errors carry its stderr.
    async fn step(&self, program: &str, args: &[&str]) -> Result<String> {
        let mut cmd = self.ceph_command(program);
        cmd.args(args);
        run_cli(cmd, STEP_TIMEOUT).await
    }

    /// Starts a daemon in the foreground, tied to this process, with a pidfile.
    fn spawn(&mut self, kind: Kind) -> Result<()> {
        let out_path = self.logs.join(format!("{}.out", kind.program()));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out_path)
            .with_context(|| format!("cannot open {}", out_path.display()))?;
        let err = out
            .try_clone()
            .with_context(|| format!("cannot open {}", out_path.display()))?;
        let mut cmd = self.ceph_command(kind.program());
        cmd.args(["-f", "-i", kind.id()]).stdout(out).stderr(err);
        let child = spawn_tied(cmd)?;
        write_pidfile(&self.pids, kind.program(), child.id())?;
        tracing::debug!(daemon = kind.program(), pid = child.id(), "started");
        *self.slot(kind) = Some(child);
        Ok(())
    }

    fn slot(&mut self, kind: Kind) -> &mut Option<Child> {
        match kind {
            Kind::Mon => &mut self.mon,
            Kind::Osd => &mut self.osd,
            Kind::Mgr => &mut self.mgr,
        }
    }

    /// SIGTERM, then SIGKILL after `STOP_GRACE`; returns how the daemon exited.
    async fn stop(&mut self, kind: Kind) -> Option<ExitStatus> {
        let mut child = self.slot(kind).take()?;
        let pid = i32::try_from(child.id()).unwrap_or(0);
        term_once(pid);
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                _ => {
                    tracing::warn!(daemon = kind.program(), "did not stop in time, killing it");
                    terminate(pid, libc::SIGKILL);
                    break tokio::task::spawn_blocking(move || child.wait())
                        .await
                        .ok()
                        .and_then(|r| r.ok());
                }
            }
        };
        let _ = std::fs::remove_file(self.pids.join(format!("{}.pid", kind.program())));
        tracing::debug!(daemon = kind.program(), ?status, "stopped");
        status
    }

    /// Stops the mon (for fault injection); data and port are kept for `start_mon`.
    pub async fn stop_mon(&mut self) {
        self.stop(Kind::Mon).await;
    }

    /// Starts the mon again on the same port and data, and waits until `ceph -s` works
    /// and the OSD is up.
    pub async fn start_mon(&mut self) -> Result<()> {
        if let Some(child) = self.mon.as_mut() {
            if child.try_wait().ok().flatten().is_none() {
                return Ok(());
            }
            self.mon = None;
        }
        if !port_free(*self.mon_addr.ip(), self.mon_addr.port()) {
            bail!(
                "cannot restart the lab's Ceph mon: {} is in use by another process",
                self.mon_addr
            );
        }
        self.spawn(Kind::Mon)?;
        self.wait_until(READY_TIMEOUT, Ready::Osd).await
    }

    /// Stops every daemon (OSD first, so it can tell the mon and save memstore, then
    /// mgr and mon). A later `start` reuses the data when the OSD exited cleanly.
    pub async fn shutdown(&mut self) {
        self.stop_all(true).await;
    }

    async fn stop_all(&mut self, keep: bool) {
        if self.daemon_pids().is_empty() {
            return;
        }
        let osd = self.stop(Kind::Osd).await;
        self.stop(Kind::Mgr).await;
        self.stop(Kind::Mon).await;
        let bootstrapped = self.dir.join(BOOTSTRAPPED).exists();
        if keep && bootstrapped && osd.is_some_and(|s| s.success()) {
            if let Err(err) = std::fs::write(self.dir.join(CLEAN), "") {
                tracing::warn!("cannot mark the lab's Ceph as cleanly stopped: {err}");
            }
        } else if keep && bootstrapped {
            tracing::warn!(
                ?osd,
                "the lab's OSD did not stop cleanly; its data will not be reused"
            );
        }
    }

    /// Polls `ceph status` until the cluster is as ready as `level` says. Fails early
    /// if a daemon exits, and on timeout, with the tail of the relevant daemon's log.
    async fn wait_until(&mut self, timeout: Duration, level: Ready) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut blame = (Kind::Mon, "the mon did not answer".to_string());
        loop {
            for kind in Kind::ALL {
                if let Some(child) = self.slot(kind).as_mut()
                    && let Ok(Some(status)) = child.try_wait()
                {
                    self.slot(kind).take();
                    let _ = std::fs::remove_file(self.pids.join(format!("{}.pid", kind.program())));
                    bail!(
                        "{} exited while starting ({status}){}",
                        kind.program(),
                        self.log_tail(kind)
                    );
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                bail!(
                    "the lab's Ceph (mon {}) was not ready within {}s: {}{}",
                    self.mon_addr,
                    timeout.as_secs(),
                    blame.1,
                    self.log_tail(blame.0)
                );
            }
            let mut cmd = self.ceph_command("ceph");
            cmd.args(["status", "--format", "json"]);
            match run_cli(cmd, left.min(Duration::from_secs(15))).await {
                Err(err) => blame = (Kind::Mon, format!("`ceph status` failed: {err:#}")),
                Ok(out) => match serde_json::from_str::<Value>(&out) {
                    Err(err) => blame = (Kind::Mon, format!("unexpected `ceph status`: {err}")),
                    Ok(status) => match not_ready(&status, level) {
                        Some(why) => blame = why,
                        None if level < Ready::Full => return Ok(()),
                        None => match self.has_rbd_pool().await {
                            Ok(true) => return Ok(()),
                            Ok(false) => blame = (Kind::Mon, "pool rbd is missing".into()),
                            Err(err) => blame = (Kind::Mon, format!("{err:#}")),
                        },
                    },
                },
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn has_rbd_pool(&self) -> Result<bool> {
        let out = self
            .step("ceph", &["osd", "pool", "ls", "--format", "json"])
            .await?;
        let pools: Vec<String> =
            serde_json::from_str(&out).context("cannot parse `ceph osd pool ls`")?;
        Ok(pools.iter().any(|p| p == RBD_POOL))
    }

    /// The last lines of a daemon's stdout/stderr and log, for error messages.
    fn log_tail(&self, kind: Kind) -> String {
        let mut text = String::new();
        let name = format!(
            "ceph-{}.{}.log",
            kind.program().trim_start_matches("ceph-"),
            kind.id()
        );
        // stderr first: it holds the fatal message; the log adds context.
        for file in [
            self.logs.join(format!("{}.out", kind.program())),
            self.logs.join(name),
        ] {
            if let Ok(content) = std::fs::read_to_string(&file) {
                let lines: Vec<&str> = content.lines().filter(|l| !l.trim().is_empty()).collect();
                if lines.is_empty() {
                    continue;
                }
                text.push_str(&format!("\n--- last lines of {} ---\n", file.display()));
                text.push_str(&lines[lines.len().saturating_sub(15)..].join("\n"));
            }
        }
        text
    }

    /// `ceph.conf` of this cluster: `CEPH_CONF=<this> ceph -s` works alone.
    pub fn conf_path(&self) -> PathBuf {
        self.dir.join("ceph.conf")
    }
    pub fn admin_keyring(&self) -> PathBuf {
        self.dir.join("ceph.client.admin.keyring")
    }
    /// Keyring of `client.kube` (`mon 'allow r'`: too few rights to blocklist, so it
    /// cannot break a stale lock, "(13) Permission denied"); the conf names it for
    /// `--id kube` too.
    pub fn kube_keyring(&self) -> PathBuf {
        self.dir.join("ceph.client.kube.keyring")
    }
    /// Keyring of `client.<id>` (admin and kube included), written by
    /// [`CephCluster::apply_scenario`] for the scenario's users.
    pub fn user_keyring(&self, id: &str) -> PathBuf {
        self.dir.join(format!("ceph.client.{id}.keyring"))
    }

    /// Creates the scenario's pools (replicated, `rbd pool init`) and users with their
    /// caps (set again when the user exists: the scenario is the truth), each user's
    /// keyring beside admin's. Idempotent, so a restarted lab keeps working.
    pub async fn apply_scenario(&self, spec: &crate::scenario::CephSpec) -> Result<()> {
        for pool in &spec.pools {
            let pgs = pool.pgs.to_string();
            self.step("ceph", &["osd", "pool", "create", &pool.name, &pgs])
                .await?;
            self.step("rbd", &["pool", "init", &pool.name]).await?;
        }
        for user in &spec.users {
            let caps = user.caps.args();
            let keyring = path_str(&self.user_keyring(user.id()))?;
            let mut args: Vec<&str> = vec!["auth", "get-or-create", &user.name];
            args.extend(caps.iter().map(String::as_str));
            args.extend(["-o", keyring.as_str()]);
            // An existing user with other caps (client.kube) is refused ("cap mon does
            // not match"): its keyring is written from `auth get`, its caps set below.
            if self.step("ceph", &args).await.is_err() {
                self.step("ceph", &["auth", "get", &user.name, "-o", &keyring])
                    .await?;
            }
            // get-or-create keeps old caps of an existing user; `auth caps` replaces
            // them (with none given, the user keeps none).
            let mut set: Vec<&str> = vec!["auth", "caps", &user.name];
            set.extend(caps.iter().map(String::as_str));
            if caps.is_empty() {
                set.extend(["mon", ""]);
            }
            self.step("ceph", &set).await?;
            restrict(Path::new(&keyring))?;
        }
        for image in &spec.images {
            let mut cmd = self.ceph_command("rbd");
            cmd.env_remove("CEPH_ARGS");
            let made = crate::rbd::create_image_with_features(
                cmd,
                &image.pool,
                &image.name,
                image.size_mb,
                &image.features,
            )
            .await;
            if let Err(e) = made
                && !crate::rbd::cli_error(&e).is_some_and(|c| c.is_exists())
            {
                return Err(e);
            }
        }
        Ok(())
    }
    pub fn mon_addr(&self) -> SocketAddr {
        SocketAddr::V4(self.mon_addr)
    }
    pub fn fsid(&self) -> &str {
        &self.fsid
    }
    /// Where the daemons' logs are.
    pub fn log_dir(&self) -> &Path {
        &self.logs
    }
    /// Pids of the daemons this value started and has not stopped.
    pub fn daemon_pids(&self) -> Vec<u32> {
        [&self.mon, &self.osd, &self.mgr]
            .into_iter()
            .flatten()
            .map(Child::id)
            .collect()
    }
    /// Whether the mon process is running.
    pub fn mon_running(&self) -> bool {
        self.mon
            .as_ref()
            .and_then(|c| i32::try_from(c.id()).ok())
            .is_some_and(alive)
    }
}

impl Drop for CephCluster {
    /// Never leaves daemons behind a dropped value (pidfiles stay for `lab down`).
    fn drop(&mut self) {
        for child in [&self.osd, &self.mgr, &self.mon].into_iter().flatten() {
            if let Ok(pid) = i32::try_from(child.id()) {
                term_once(pid);
            }
        }
    }
}

/// What keeps `ceph status` from describing a usable cluster, blaming the daemon whose
/// log explains it; `None` when ready for `level` (PG states come from the mgr).
fn not_ready(status: &Value, level: Ready) -> Option<(Kind, String)> {
    if level == Ready::Mon {
        return None;
    }
    // Pacific has `osdmap.num_up_osds`; releases before it nested a second `osdmap`.
    let osdmap = match status.pointer("/osdmap/osdmap") {
        Some(inner) => inner,
        None => &status["osdmap"],
    };
    let num = osdmap["num_osds"].as_u64().unwrap_or(0);
    let up = osdmap["num_up_osds"].as_u64().unwrap_or(0);
    if num == 0 || up < num {
        return Some((Kind::Osd, format!("{up} of {num} OSDs up")));
    }
    if level == Ready::Osd {
        return None;
    }
    if !status["mgrmap"]["available"].as_bool().unwrap_or(false) {
        return Some((Kind::Mgr, "no active mgr".into()));
    }
    let pgmap = &status["pgmap"];
    let num_pgs = pgmap["num_pgs"].as_u64().unwrap_or(0);
    if num_pgs == 0 {
        return Some((Kind::Mgr, "no placement groups reported yet".into()));
    }
    let states = pgmap["pgs_by_state"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut active = 0;
    let mut others = Vec::new();
    for s in &states {
        let name = s["state_name"].as_str().unwrap_or("?");
        let count = s["count"].as_u64().unwrap_or(0);
        if name.split('+').any(|p| p == "active") {
            active += count;
        } else {
            others.push(format!("{count} {name}"));
        }
    }
    if active < num_pgs {
        return Some((
            Kind::Osd,
            format!(
                "{active} of {num_pgs} placement groups active ({})",
                others.join(", ")
            ),
        ));
    }
    None
}

fn render_conf(dir: &Path, logs: &Path, fsid: &str, mon: SocketAddrV4) -> String {
    let d = dir.display();
    let l = logs.display();
    let ip = mon.ip();
    let admin = dir.join("ceph.client.admin.keyring");
    let kube = dir.join("ceph.client.kube.keyring");
    format!(
        "# Written by kcops for the lab; regenerated on every start.\n\
[global]\n\
fsid = {fsid}\n\
mon host = v1:{mon}\n\
mon initial members = a\n\
auth cluster required = cephx\n\
auth service required = cephx\n\
auth client required = cephx\n\
keyring = {admin}\n\
ms bind msgr2 = false\n\
osd pool default size = 1\n\
osd pool default min size = 1\n\
osd pool default pg autoscale mode = off\n\
mon allow pool size one = true\n\
mon warn on pool no redundancy = false\n\
osd objectstore = memstore\n\
memstore device bytes = {MEMSTORE_BYTES}\n\
osd crush chooseleaf type = 0\n\
run dir = {d}/run\n\
crash dir = {d}/crash\n\
admin socket = {d}/run/$name.asok\n\
log file = {l}/ceph-$name.log\n\
mon cluster log file = {l}/ceph-cluster.log\n\
\n\
[mon]\n\
mon data = {d}/mon/ceph-$id\n\
keyring = $mon_data/keyring\n\
public addr = {ip}\n\
paxos propose interval = 0.1\n\
# A healthy lab is HEALTH_OK (kcops reports every health check as ceph.health):\n\
# every lab client is a current librados, so the insecure global_id reclaim\n\
# (CVE-2021-20288) is not needed, and the mon's few MiB of data must neither\n\
# warn (30%) nor refuse to start (5%, exit 28) because the machine's shared\n\
# disk is nearly full: CI machines have had 1% (2.8 GiB) free. -1 never trips.\n\
auth allow insecure global id reclaim = false\n\
mon data avail warn = -1\n\
mon data avail crit = -1\n\
\n\
[osd]\n\
osd data = {d}/osd/ceph-$id\n\
keyring = $osd_data/keyring\n\
public addr = {ip}\n\
cluster addr = {ip}\n\
# memstore saves its objects only on a clean (non-fast) shutdown.\n\
osd fast shutdown = false\n\
\n\
[mgr]\n\
mgr data = {d}/mgr/ceph-$id\n\
mgr tick period = 1\n\
mgr stats period = 1\n\
keyring = $mgr_data/keyring\n\
public addr = {ip}\n\
\n\
[client]\n\
admin socket =\n\
log file = /dev/null\n\
client mount timeout = 10\n\
rados mon op timeout = 10\n\
rados osd op timeout = 10\n\
\n\
[client.kube]\n\
keyring = {kube}\n",
        admin = admin.display(),
        kube = kube.display(),
    )
}

/// fsid and mon address of a completely bootstrapped cluster in `dir`, if any.
fn read_previous(dir: &Path) -> Option<(String, SocketAddrV4)> {
    if !dir.join(BOOTSTRAPPED).exists() {
        return None;
    }
    let conf = std::fs::read_to_string(dir.join("ceph.conf")).ok()?;
    let fsid = conf_value(&conf, "fsid")?.to_string();
    let addr = conf_value(&conf, "mon host")?;
    let addr = addr.strip_prefix("v1:").unwrap_or(addr).parse().ok()?;
    Some((fsid, addr))
}

/// The value of `key` in the conf's [global] section.
fn conf_value<'a>(conf: &'a str, key: &str) -> Option<&'a str> {
    let mut section = "";
    for line in conf.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
            continue;
        }
        if section != "global" {
            continue;
        }
        if let Some((k, v)) = line.split_once('=')
            && k.trim() == key
        {
            return Some(v.trim());
        }
    }
    None
}

/// A port on `ip` nobody listens on now (the kernel's choice for port 0).
fn free_port(ip: Ipv4Addr) -> Result<u16> {
    let listener = TcpListener::bind((ip, 0)).with_context(|| {
        format!("cannot bind on {ip} to pick the Ceph mon's port: is it a local address?")
    })?;
    Ok(listener.local_addr()?.port())
}

fn port_free(ip: Ipv4Addr, port: u16) -> bool {
    TcpListener::bind((ip, port)).is_ok()
}

/// Ceph conf values cannot hold comment characters, metavariables or line breaks.
fn check_conf_path(p: &Path) -> Result<()> {
    let s = path_str(p)?;
    if let Some(c) = s.chars().find(|c| "#;$\\\"\n\r".contains(*c)) {
        bail!(
            "the lab directory {s:?} contains {c:?}, which ceph.conf cannot hold; use another --name or XDG_RUNTIME_DIR"
        );
    }
    Ok(())
}

fn path_str(p: &Path) -> Result<String> {
    p.to_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("path {} is not valid UTF-8", p.display()))
}

/// Sends one SIGTERM to the daemon alone. Ceph daemons handle SIGTERM once (a
/// oneshot handler); a second one, as `process::terminate` sends to the process and
/// its group, can kill the OSD before memstore is saved.
fn term_once(pid: i32) {
    if pid > 1 {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
}

/// Keyrings hold secrets: owner-only.
fn restrict(p: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", p.display()))
}

/// Stops daemons a previous run of this lab left (pidfiles `ceph-*.pid` whose process
/// is still a Ceph daemon), so they do not hold the data dirs or the mon port.
async fn stop_stale_daemons(pids: &Path) {
    // OSD first, while the mon can still acknowledge its shutdown.
    for kind in [Kind::Osd, Kind::Mgr, Kind::Mon] {
        let file = pids.join(format!("{}.pid", kind.program()));
        let Some(pid) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if alive(pid) && comm.trim() == kind.program() {
            tracing::warn!(
                pid,
                daemon = kind.program(),
                "stopping a Ceph daemon left by an earlier run"
            );
            term_once(pid);
            let deadline = tokio::time::Instant::now() + STOP_GRACE;
            while alive(pid) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if alive(pid) {
                terminate(pid, libc::SIGKILL);
            }
        }
        let _ = std::fs::remove_file(&file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_ceph_status() -> Result<()> {
        let booting: Value = serde_json::from_str(
            r#"{"osdmap":{"num_osds":1,"num_up_osds":0},"mgrmap":{"available":false},
                "pgmap":{"num_pgs":0,"pgs_by_state":[]}}"#,
        )?;
        assert_eq!(
            not_ready(&booting, Ready::Osd).map(|b| b.0),
            Some(Kind::Osd)
        );
        assert!(not_ready(&booting, Ready::Mon).is_none());
        let unknown: Value = serde_json::from_str(
            r#"{"osdmap":{"num_osds":1,"num_up_osds":1},"mgrmap":{"available":true},
                "pgmap":{"num_pgs":9,"pgs_by_state":[{"state_name":"unknown","count":9}]}}"#,
        )?;
        assert!(not_ready(&unknown, Ready::Osd).is_none());
        let why = not_ready(&unknown, Ready::Full).context("unknown PGs are not ready")?;
        assert!(why.1.contains("9 unknown"), "{}", why.1);
        let ready: Value = serde_json::from_str(
            r#"{"osdmap":{"num_osds":1,"num_up_osds":1},"mgrmap":{"available":true},
                "pgmap":{"num_pgs":9,"pgs_by_state":[{"state_name":"active+clean","count":9}]}}"#,
        )?;
        assert!(not_ready(&ready, Ready::Full).is_none());
        Ok(())
    }

    #[test]
    fn conf_round_trips_fsid_and_mon() {
        let addr = SocketAddrV4::new(Ipv4Addr::new(198, 18, 3, 1), 40123);
        let conf = render_conf(Path::new("/l/ceph"), Path::new("/l/logs"), "f-1", addr);
        assert_eq!(conf_value(&conf, "fsid"), Some("f-1"));
        assert_eq!(conf_value(&conf, "mon host"), Some("v1:198.18.3.1:40123"));
        assert_eq!(
            conf_value(&conf, "keyring"),
            Some("/l/ceph/ceph.client.admin.keyring")
        );
    }

    #[test]
    fn missing_binaries_are_named() {
        assert!(find_program("ceph-definitely-not-installed").is_none());
        assert!(find_program("sh").is_some());
    }

    fn temp_paths(tag: &str) -> LabPaths {
        let root = std::env::temp_dir().join(format!(
            "kcops-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        LabPaths {
            name: tag.to_string(),
            root,
        }
    }

    /// Removes the temp lab even when an assertion fails.
    struct Cleanup(LabPaths);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            crate::process::kill_pidfiles(&self.0.pids(), Duration::from_secs(5));
            let _ = std::fs::remove_dir_all(&self.0.root);
        }
    }

    async fn ceph_cli(cluster: &CephCluster, program: &str, args: &[&str]) -> Result<String> {
        let mut cmd = cluster.ceph_command(program);
        cmd.args(args);
        run_cli(cmd, Duration::from_secs(30)).await
    }

    /// A real cluster: `ceph -s` and rbd work with only `CEPH_CONF`, the mon survives a
    /// stop/start on the same port, a clean shutdown leaves no daemon, a restart (also
    /// on another address) keeps fsid, keys and images, and a start after a crash
    /// stops the orphans and bootstraps afresh.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn micro_cluster_lifecycle() -> Result<()> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("kcops=debug")
            .with_test_writer()
            .try_init();
        check_installed()?;
        let paths = temp_paths("ceph-test");
        let _cleanup = Cleanup(paths.clone());
        let ip = Ipv4Addr::new(127, 251, 0, 1);
        let mut cluster = CephCluster::start(&paths, ip).await?;
        assert_eq!(cluster.mon_addr().ip(), std::net::IpAddr::V4(ip));
        let fsid = cluster.fsid().to_string();

        let status = ceph_cli(&cluster, "ceph", &["-s", "--format", "json"]).await?;
        let status: Value = serde_json::from_str(&status)?;
        assert_eq!(status["fsid"].as_str(), Some(fsid.as_str()));
        assert_eq!(status["osdmap"]["num_up_osds"].as_u64(), Some(1));
        ceph_cli(&cluster, "rbd", &["create", "rbd/t1", "--size", "16"]).await?;
        let ls = ceph_cli(&cluster, "rbd", &["ls"]).await?;
        assert_eq!(ls.trim(), "t1");

        // client.kube reads with its own keyring, found through the conf.
        let ls = ceph_cli(&cluster, "rbd", &["--id", "kube", "ls"]).await?;
        assert_eq!(ls.trim(), "t1");
        let caps = ceph_cli(&cluster, "ceph", &["auth", "get", "client.kube"]).await?;
        assert!(caps.contains("caps mon = \"allow r\""), "{caps}");
        let kube = std::fs::read_to_string(cluster.kube_keyring())?;
        assert!(kube.contains("[client.kube]"));

        // The mon goes away and comes back on the same port.
        let mon_addr = cluster.mon_addr();
        cluster.stop_mon().await;
        assert!(!cluster.mon_running());
        let mut down = cluster.ceph_command("ceph");
        down.args(["-s", "--connect-timeout", "3"]);
        assert!(run_cli(down, Duration::from_secs(30)).await.is_err());
        cluster.start_mon().await?;
        assert_eq!(cluster.mon_addr(), mon_addr);
        ceph_cli(&cluster, "ceph", &["-s"]).await?;
        let ls = ceph_cli(&cluster, "rbd", &["ls"]).await?;
        assert_eq!(ls.trim(), "t1");

        let pids = cluster.daemon_pids();
        assert_eq!(pids.len(), 3);
        cluster.shutdown().await;
        for pid in &pids {
            assert!(!alive(*pid as i32), "daemon {pid} still alive");
        }
        assert!(cluster.daemon_pids().is_empty());
        assert!(
            std::fs::read_dir(paths.pids())?.next().is_none(),
            "pidfiles left"
        );
        drop(cluster);

        // A restart after a clean shutdown keeps the data, even on another address.
        let ip2 = Ipv4Addr::new(127, 251, 0, 2);
        let cluster = CephCluster::start(&paths, ip2).await?;
        assert_eq!(cluster.fsid(), fsid);
        assert_eq!(cluster.mon_addr().ip(), std::net::IpAddr::V4(ip2));
        let ls = ceph_cli(&cluster, "rbd", &["ls"]).await?;
        assert_eq!(ls.trim(), "t1");

        // A lab that vanished without shutting Ceph down (daemons still running, only
        // pidfiles left): the next start stops them and bootstraps a new cluster, since
        // the OSD's in-memory data cannot be trusted.
        let orphans = cluster.daemon_pids();
        std::mem::forget(cluster);
        let mut cluster = CephCluster::start(&paths, ip).await?;
        for pid in &orphans {
            assert!(!alive(*pid as i32), "orphaned daemon {pid} still alive");
        }
        assert_ne!(cluster.fsid(), fsid);
        assert_eq!(ceph_cli(&cluster, "rbd", &["ls"]).await?.trim(), "");

        let pids = cluster.daemon_pids();
        cluster.shutdown().await;
        for pid in &pids {
            assert!(!alive(*pid as i32), "daemon {pid} still alive");
        }
        Ok(())
    }
}
