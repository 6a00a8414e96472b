//! The Ceph client against a real micro Ceph cluster (one per test binary), with Ceph
//! CLI clients running in per-node network namespaces so their locks and watches carry
//! the node's IP, as in a real cluster. The rbd CLI (a second, independent client)
//! keeps our librados/librbd reading honest.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kcops::ceph::holders::{EntityAddr, NodeIndex, lock_holder, watcher_holder};
use kcops::ceph::{CephClient, CephError, CephSettings, ConnectionState, ImageInfo};
use kcops_lab::ceph::CephCluster;
use kcops_lab::netns::{LabNet, netns_available, teardown_lab_id};
use kcops_lab::paths::LabPaths;
use kcops_lab::rbd;
use serde_json::{Value, json};

/// Our own lab network id: labs lease 10..=249 and the netns unit tests use 249/251.
const LAB_NET_ID: u8 = 253;
const ROOT_PREFIX: &str = "kcops-test-cephclient-";

struct Fixture {
    cluster: CephCluster,
    net: LabNet,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();
static ROOT: OnceLock<PathBuf> = OnceLock::new();

/// The shared cluster, started on first use; daemons die with this process.
fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                std::env::var("KCOPS_TEST_LOG").unwrap_or_else(|_| "kcops=info".into()),
            )
            .with_test_writer()
            .try_init();
        // Started on a thread of its own: the tests' runtimes cannot block_on.
        std::thread::spawn(start_fixture)
            .join()
            .unwrap_or_else(|_| panic!("starting the Ceph fixture panicked"))
    })
}

fn start_fixture() -> Fixture {
    assert!(
        netns_available(),
        "these tests need root and iproute2 (per-node network namespaces)"
    );
    remove_stale_roots();
    let root = std::env::temp_dir().join(format!("{ROOT_PREFIX}{}", std::process::id()));
    let _ = ROOT.set(root.clone());
    #[allow(unsafe_code)] // atexit: the shared fixture has no owner to drop it.
    // SAFETY: registers a plain extern "C" fn that ignores every error.
    unsafe {
        libc::atexit(cleanup_at_exit)
    };
    let paths = LabPaths {
        name: "cephclient".into(),
        root,
    };
    let mut net = LabNet::create(LAB_NET_ID).unwrap_or_else(|e| panic!("lab net: {e:#}"));
    net.add_node("node1", 1)
        .unwrap_or_else(|e| panic!("node1 namespace: {e:#}"));
    net.add_node("node2", 2)
        .unwrap_or_else(|e| panic!("node2 namespace: {e:#}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let cluster = rt
        .block_on(CephCluster::start(&paths, net.host_ip()))
        .unwrap_or_else(|e| panic!("micro Ceph cluster did not start: {e:#}"));
    Fixture { cluster, net }
}

/// Namespaces and the lab dir go when the test binary exits (the daemons die with it).
extern "C" fn cleanup_at_exit() {
    teardown_lab_id(LAB_NET_ID);
    if let Some(root) = ROOT.get() {
        let _ = std::fs::remove_dir_all(root);
    }
}

/// Lab dirs of earlier runs whose process is gone.
fn remove_stale_roots() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(ROOT_PREFIX)
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !kcops_lab::process::alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Fixture {
    fn conf(&self) -> PathBuf {
        self.cluster.conf_path()
    }

    fn admin(&self) -> CephClient {
        CephClient::connect(CephSettings::new(self.conf(), "admin"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The lab's `client.kube`: `mon 'allow r'`, too few rights to blocklist.
    fn kube(&self) -> CephClient {
        let s = CephSettings::new(self.conf(), "kube").with_keyring(self.cluster.kube_keyring());
        CephClient::connect(s).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A Ceph CLI run from `node`'s network namespace (`None`: the host), as admin.
    fn cli(&self, node: Option<&str>, program: &str) -> Command {
        let mut cmd = match node {
            Some(n) => self.net.command(n, program),
            None => Command::new(program),
        };
        cmd.env("CEPH_CONF", self.conf())
            .env_remove("CEPH_ARGS")
            .stdin(Stdio::null());
        cmd
    }

    fn node_ip(&self, node: &str) -> IpAddr {
        IpAddr::V4(
            self.net
                .node_ip(node)
                .unwrap_or_else(|| panic!("no node {node}")),
        )
    }

    fn nodes(&self) -> NodeIndex {
        NodeIndex::new([
            ("node1", self.node_ip("node1")),
            ("node2", self.node_ip("node2")),
        ])
    }
}

async fn cli_ok(mut cmd: Command, args: &[&str]) -> String {
    cmd.args(args);
    rbd::run_cli(cmd, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"))
}

async fn create_image(fx: &Fixture, name: &str, size_mb: u64) {
    rbd::create_image(fx.cli(None, "rbd"), "rbd", name, size_mb)
        .await
        .unwrap_or_else(|e| panic!("rbd create {name}: {e:#}"));
}

async fn info(client: &CephClient, image: &str) -> ImageInfo {
    client
        .image_info("rbd", image)
        .await
        .unwrap_or_else(|e| panic!("image_info {image}: {e}"))
}

/// Polls `image_info` until `done` holds (or panics after `timeout`).
async fn wait_info(
    client: &CephClient,
    image: &str,
    what: &str,
    timeout: Duration,
    done: impl Fn(&ImageInfo) -> bool,
) -> ImageInfo {
    let deadline = Instant::now() + timeout;
    loop {
        let i = info(client, image).await;
        if done(&i) {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {i:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn ip_of(address: &str) -> IpAddr {
    EntityAddr::parse(address)
        .unwrap_or_else(|| panic!("unparsable address {address}"))
        .ip
}

/// A child process killed (and reaped) when the test ends, pass or fail.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn connects_and_reads_cluster_state() {
    let fx = fixture();
    let client = fx.admin();
    // The lab's cluster is HEALTH_OK; raise a real check to read its details, and
    // clear it again at the end (other tests share this cluster).
    cli_ok(
        fx.cli(None, "ceph"),
        &[
            "tell",
            "mon.a",
            "config",
            "set",
            "auth_allow_insecure_global_id_reclaim",
            "true",
        ],
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = loop {
        let health = client.health().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(health.status.starts_with("HEALTH_"), "{health:?}");
        if health
            .check("AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED")
            .is_some()
        {
            break health;
        }
        assert!(Instant::now() < deadline, "check never raised: {health:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_ne!(health.status, "HEALTH_OK");
    let reclaim = health
        .check("AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED")
        .unwrap_or_else(|| panic!("check missing: {health:#?}"));
    assert_eq!(reclaim.severity, "HEALTH_WARN");
    assert_eq!(
        reclaim.summary,
        "mon is allowing insecure global_id reclaim"
    );
    assert_eq!(
        reclaim.details,
        ["mon.a has auth_allow_insecure_global_id_reclaim set to true"]
    );
    match client.state() {
        ConnectionState::Connected {
            entity,
            mons,
            addrs,
            ..
        } => {
            assert_eq!(entity, "client.admin");
            assert!(mons.contains(&fx.cluster.mon_addr().to_string()), "{mons}");
            // We reach the cluster from the host side of the lab bridge.
            let host = IpAddr::V4(fx.net.host_ip());
            assert!(
                addrs.iter().any(|a| ip_of(a) == host),
                "own addresses {addrs:?}"
            );
        }
        other => panic!("not connected: {other:?}"),
    }

    let stat = client.osd_stat().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (stat.num_osds, stat.num_up_osds, stat.num_in_osds),
        (1, 1, 1)
    );
    assert!(stat.epoch > 0);
    let df = client.df().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(df.total_bytes, 1 << 30, "memstore device bytes");
    let rbd_pool = df
        .pool("rbd")
        .unwrap_or_else(|| panic!("no rbd pool in {df:?}"));
    assert!(rbd_pool.max_avail > 0);
    let pools = client.pools().await.unwrap_or_else(|e| panic!("{e}"));
    let rbd_info = pools
        .iter()
        .find(|p| p.name == "rbd")
        .unwrap_or_else(|| panic!("{pools:?}"));
    assert!(
        rbd_info.is_rbd(),
        "`rbd pool init` enabled the rbd application"
    );
    assert_eq!(rbd_info.id, rbd_pool.id);
    client
        .blocklist_ls()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cli_ok(
        fx.cli(None, "ceph"),
        &[
            "tell",
            "mon.a",
            "config",
            "set",
            "auth_allow_insecure_global_id_reclaim",
            "false",
        ],
    )
    .await;
}

#[tokio::test]
async fn lists_images_and_reads_stat_and_features() {
    let fx = fixture();
    let client = fx.admin();
    // More images than the first rbd_list2 buffer holds: the -ERANGE retry runs.
    let names: Vec<String> = (0..10).map(|i| format!("cc-list-{i}")).collect();
    for name in &names {
        create_image(fx, name, 16).await;
    }
    cli_ok(
        fx.cli(None, "rbd"),
        &[
            "create",
            "--size",
            "8M",
            "--image-feature",
            "layering",
            "rbd/cc-layering",
        ],
    )
    .await;
    let listed = client
        .list_images("rbd")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cli: Vec<String> = serde_json::from_str(
        &cli_ok(fx.cli(None, "rbd"), &["ls", "--format", "json", "rbd"]).await,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut ours: Vec<String> = listed.iter().map(|s| s.name.clone()).collect();
    let mut theirs = cli.clone();
    ours.sort();
    theirs.sort();
    // Other tests create images concurrently: ours must include every image that
    // existed before our listing and that the CLI still sees.
    for name in names.iter().chain([&"cc-layering".to_string()]) {
        assert!(ours.contains(name), "{name} missing from {ours:?}");
    }
    assert!(listed.iter().all(|s| !s.id.is_empty()));

    let i = info(&client, "cc-list-0").await;
    let cli: Value = serde_json::from_str(
        &cli_ok(
            fx.cli(None, "rbd"),
            &["info", "--format", "json", "rbd/cc-list-0"],
        )
        .await,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(i.size, 16 << 20);
    assert_eq!(Some(i.size), cli["size"].as_u64());
    assert_eq!(i.order, 22);
    assert_eq!(i.object_size, 4 << 20);
    assert_eq!(i.num_objects, 4);
    assert_eq!(i.format, 2);
    assert_eq!(Some(i.id.as_str()), cli["id"].as_str());
    assert_eq!(i.block_name_prefix, format!("rbd_data.{}", i.id));
    let cli_features: Vec<&str> = cli["features"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(i.feature_names(), cli_features);
    assert_eq!(
        i.feature_names(),
        [
            "layering",
            "exclusive-lock",
            "object-map",
            "fast-diff",
            "deep-flatten"
        ]
    );
    assert!(i.lockers.is_empty() && i.watchers.is_empty() && !i.in_use());
    let spec_id = listed
        .iter()
        .find(|s| s.name == "cc-list-0")
        .map(|s| s.id.clone());
    assert_eq!(spec_id.as_deref(), Some(i.id.as_str()));

    let layering = info(&client, "cc-layering").await;
    assert_eq!(layering.feature_names(), ["layering"]);
    assert!(!layering.has_feature(kcops::ceph::FEATURE_EXCLUSIVE_LOCK));
    // Without the exclusive-lock feature there is no owner to ask about.
    assert!(
        client
            .lock_owners("rbd", "cc-layering")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );

    let pool = client
        .pool_images("rbd")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(pool.errors.is_empty(), "{:?}", pool.errors);
    assert!(
        pool.images
            .iter()
            .any(|i| i.name == "cc-list-9" && i.size == 16 << 20)
    );

    let missing = client.image_info("rbd", "cc-nope").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert!(missing.to_string().contains("rbd/cc-nope"), "{missing}");
    let no_pool = client.list_images("no-such-pool").await.unwrap_err();
    assert!(no_pool.is_not_found(), "{no_pool}");
    assert!(no_pool.to_string().contains("no-such-pool"), "{no_pool}");
}

#[tokio::test]
async fn advisory_lock_shows_holder_and_break_lock_fences_and_removes_it() {
    let fx = fixture();
    let client = fx.admin();
    create_image(fx, "cc-advisory", 16).await;
    rbd::lock_add(
        fx.cli(Some("node1"), "rbd"),
        "rbd/cc-advisory",
        "kubelet_lock_magic_node1",
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    // A second lock with a cookie longer than the first lockers buffer: -ERANGE retry.
    create_image(fx, "cc-longcookie", 16).await;
    let long_cookie = format!("kubelet_lock_magic_{}", "n".repeat(150));
    rbd::lock_add(
        fx.cli(Some("node2"), "rbd"),
        "rbd/cc-longcookie",
        &long_cookie,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));

    let i = info(&client, "cc-advisory").await;
    let cli = rbd::lock_list(fx.cli(None, "rbd"), "rbd/cc-advisory")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(i.lockers.len(), 1, "{i:#?}");
    let lock = &i.lockers[0];
    assert_eq!(lock.cookie, "kubelet_lock_magic_node1");
    assert_eq!(lock.locker, cli[0].locker);
    assert!(lock.locker.starts_with("client."), "{}", lock.locker);
    assert_eq!(lock.address, cli[0].address);
    assert_eq!(ip_of(&lock.address), fx.node_ip("node1"));
    assert_eq!(lock.tag, "");
    assert!(lock.exclusive);
    assert!(!lock.is_exclusive_lock_owner());
    assert!(i.exclusive_lock_owner().is_none());
    assert_eq!(i.advisory_locks().count(), 1);
    let holder = lock_holder(lock, &fx.nodes());
    assert_eq!(holder.by_address.as_deref(), Some("node1"));
    assert_eq!(
        holder.by_cookie.as_ref().and_then(|c| c.node.as_deref()),
        Some("node1")
    );
    assert!(!holder.conflict());

    let long = info(&client, "cc-longcookie").await;
    assert_eq!(long.lockers.len(), 1, "{long:#?}");
    assert_eq!(long.lockers[0].cookie, long_cookie);
    assert_eq!(ip_of(&long.lockers[0].address), fx.node_ip("node2"));
    assert_eq!(
        lock_holder(&long.lockers[0], &fx.nodes()).node(),
        Some("node2")
    );

    // A lock that is not there: ENOENT, and nothing is fenced.
    let err = client
        .break_lock("rbd", "cc-advisory", &lock.locker, "no-such-cookie")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    client
        .break_lock("rbd", "cc-advisory", &lock.locker, &lock.cookie)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = info(&client, "cc-advisory").await;
    assert!(after.lockers.is_empty(), "{after:#?}");
    let cli = rbd::lock_list(fx.cli(None, "rbd"), "rbd/cc-advisory")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(cli.is_empty(), "{cli:?}");
    // librbd fenced the holder's exact address before breaking.
    let blocklist = client
        .blocklist_ls()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let fence = blocklist
        .iter()
        .find(|b| b.addr == lock.address)
        .unwrap_or_else(|| panic!("{} not blocklisted: {blocklist:?}", lock.address));
    assert!(!fence.range);
    let expires = fence
        .expires
        .unwrap_or_else(|| panic!("unparsed expiry {}", fence.until));
    assert!(expires > jiff::Timestamp::now(), "{}", fence.until);
}

/// Holds the exclusive lock of `image` from `node`'s namespace through librbd's
/// python binding (part of ceph-common): a writer that stays idle.
fn exclusive_holder(fx: &Fixture, node: &str, image: &str) -> Reaped {
    const SCRIPT: &str = "import sys, rados, rbd\n\
c = rados.Rados(conffile=sys.argv[1], rados_id='admin')\n\
c.connect()\n\
io = c.open_ioctx('rbd')\n\
img = rbd.Image(io, sys.argv[2])\n\
img.lock_acquire(rbd.RBD_LOCK_MODE_EXCLUSIVE)\n\
print('locked', flush=True)\n\
sys.stdin.read()\n";
    let conf = fx.conf();
    let mut cmd = fx.cli(Some(node), "/usr/bin/python3");
    cmd.args(["-c", SCRIPT])
        .arg(&conf)
        .arg(image)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = Reaped(cmd.spawn().unwrap_or_else(|e| panic!("python3: {e}")));
    let stdout = child.0.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("the lock holder did not take the lock"));
    assert_eq!(line.trim(), "locked");
    child
}

#[tokio::test]
async fn exclusive_lock_owner_is_listed_and_can_be_broken() {
    let fx = fixture();
    let client = fx.admin();
    create_image(fx, "cc-exclusive", 16).await;
    let _holder = exclusive_holder(fx, "node2", "cc-exclusive");

    let i = info(&client, "cc-exclusive").await;
    let owner = i
        .exclusive_lock_owner()
        .unwrap_or_else(|| panic!("no owner: {i:#?}"))
        .clone();
    assert_eq!(owner.tag, "internal");
    assert!(owner.cookie.starts_with("auto "), "{}", owner.cookie);
    assert!(owner.exclusive);
    assert_eq!(ip_of(&owner.address), fx.node_ip("node2"));
    assert_eq!(i.advisory_locks().count(), 0);
    // The writer watches the header from the same client: a live user.
    assert!(i.in_use());
    assert!(
        i.watchers.iter().any(|w| w.address == owner.address),
        "{i:#?}"
    );
    assert_eq!(
        watcher_holder(&i.watchers[0], &fx.nodes()).node(),
        Some("node2")
    );
    let cli = rbd::lock_list(fx.cli(None, "rbd"), "rbd/cc-exclusive")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(cli.len(), 1);
    assert_eq!(
        (cli[0].id.as_str(), cli[0].locker.as_str()),
        (owner.cookie.as_str(), owner.locker.as_str())
    );

    // librbd's own view of the owner (read-write open) agrees, and our transient
    // watch is gone afterwards.
    let owners = client
        .lock_owners("rbd", "cc-exclusive")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(owners, std::slice::from_ref(&owner.address));
    let again = info(&client, "cc-exclusive").await;
    assert_eq!(
        again.watchers, i.watchers,
        "our read-write open left a watch"
    );

    client
        .break_exclusive_lock("rbd", "cc-exclusive", &owner.address)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after = info(&client, "cc-exclusive").await;
    assert!(after.exclusive_lock_owner().is_none(), "{after:#?}");
    let blocklist = client
        .blocklist_ls()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        blocklist.iter().any(|b| b.addr == owner.address),
        "owner not fenced: {blocklist:?}"
    );
}

#[tokio::test]
async fn watchers_are_listed_with_their_addresses() {
    let fx = fixture();
    let client = fx.admin();
    create_image(fx, "cc-watched", 16).await;
    // Three watchers, more than the first rbd_watchers_list buffer: -ERANGE retry.
    let mut watchers = Vec::new();
    for node in ["node1", "node1", "node2"] {
        let child = rbd::spawn_watcher(fx.cli(Some(node), "rbd"), "rbd/cc-watched", None)
            .unwrap_or_else(|e| panic!("{e:#}"));
        watchers.push(Reaped(child));
    }
    let i = wait_info(
        &client,
        "cc-watched",
        "three watchers",
        Duration::from_secs(30),
        |i| i.watchers.len() == 3,
    )
    .await;
    assert!(i.in_use());
    let nodes = fx.nodes();
    let mut on: Vec<String> = i
        .watchers
        .iter()
        .filter_map(|w| watcher_holder(w, &nodes).by_address)
        .collect();
    on.sort();
    assert_eq!(on, ["node1", "node1", "node2"], "{i:#?}");
    assert!(i.watchers.iter().all(|w| w.client_id > 0 && w.cookie > 0));
    let mut ours: Vec<String> = i.watchers.iter().map(|w| w.address.clone()).collect();
    let mut cli = rbd::status_watchers(fx.cli(None, "rbd"), "rbd/cc-watched")
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    ours.sort();
    cli.sort();
    assert_eq!(ours, cli);

    // A watcher that exits cleanly unwatches.
    for w in &mut watchers {
        drop(w.0.stdin.take());
    }
    wait_info(
        &client,
        "cc-watched",
        "no watchers",
        Duration::from_secs(30),
        |i| i.watchers.is_empty(),
    )
    .await;
}

#[tokio::test]
async fn blocklist_add_shows_with_expiry_and_refuses_bad_or_own_addresses() {
    let fx = fixture();
    let client = fx.admin();
    let addr = "198.18.253.77:0/424242";
    let before = jiff::Timestamp::now();
    client
        .blocklist_add(addr, Duration::from_secs(600))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let list = client
        .blocklist_ls()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let entry = list
        .iter()
        .find(|b| b.addr == addr)
        .unwrap_or_else(|| panic!("{addr} not in {list:?}"));
    let expires = entry
        .expires
        .unwrap_or_else(|| panic!("unparsed {}", entry.until));
    let secs = expires.as_second() - before.as_second();
    // The expiry we asked for, not the mon's default of one hour.
    assert!(
        (590..=610).contains(&secs),
        "expires in {secs}s ({})",
        entry.until
    );

    client
        .blocklist_rm(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let list = client
        .blocklist_ls()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(list.iter().all(|b| b.addr != addr), "{list:?}");

    let bad = client
        .blocklist_add("not an address", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(bad, CephError::Invalid { .. }), "{bad}");

    // Our own host (we connect from the bridge address): refused, never sent.
    let ConnectionState::Connected { addrs, .. } = client.state() else {
        panic!("not connected: {:?}", client.state());
    };
    let own = addrs
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no own address"));
    assert_eq!(ip_of(&own), IpAddr::V4(fx.net.host_ip()));
    for target in [own.clone(), fx.net.host_ip().to_string()] {
        let err = client
            .blocklist_add(&target, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("kcops' own Ceph client"),
            "{target}: {err}"
        );
    }
    let list = client
        .blocklist_ls()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        list.iter()
            .all(|b| ip_of_entry(&b.addr) != Some(IpAddr::V4(fx.net.host_ip())))
    );
}

fn ip_of_entry(addr: &str) -> Option<IpAddr> {
    EntityAddr::parse(addr).map(|a| a.ip)
}

#[tokio::test]
async fn kube_user_cannot_blocklist_or_break_locks() {
    let fx = fixture();
    let kube = fx.kube();
    let admin = fx.admin();
    // It can read: the pane works for an `allow r` user.
    kube.health().await.unwrap_or_else(|e| panic!("{e}"));
    kube.list_images("rbd")
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let err = kube
        .blocklist_add("198.18.253.78:0/1", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("(13) Permission denied"), "{msg}");
    assert!(msg.contains("client.kube may not blocklist"), "{msg}");
    assert!(msg.contains("profile rbd"), "{msg}");

    // Breaking the lock needs blocklisting first: without the rights, "rbd: releasing
    // lock failed: (13) Permission denied".
    create_image(fx, "cc-kube-lock", 16).await;
    rbd::lock_add(
        fx.cli(Some("node1"), "rbd"),
        "rbd/cc-kube-lock",
        "kubelet_lock_magic_node1",
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    let lock = info(&kube, "cc-kube-lock").await.lockers[0].clone();
    let err = kube
        .break_lock("rbd", "cc-kube-lock", &lock.locker, &lock.cookie)
        .await
        .unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("(13) Permission denied"), "{msg}");
    assert!(msg.contains("blocklists the lock holder"), "{msg}");
    let still = info(&admin, "cc-kube-lock").await;
    assert_eq!(
        still.lockers,
        std::slice::from_ref(&lock),
        "the lock must be unchanged"
    );
    let blocklist = admin.blocklist_ls().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(blocklist.iter().all(|b| b.addr != lock.address));

    // Caps: readable by admin, refused to kube; the key never comes back.
    let err = kube.auth_caps("client.kube").await.unwrap_err();
    assert!(err.is_permission_denied(), "{err}");
    let caps = admin
        .auth_caps("client.kube")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(caps.entity, "client.kube");
    assert_eq!(caps.caps.get("mon").map(String::as_str), Some("allow r"));
    let keyring = std::fs::read_to_string(fx.cluster.kube_keyring()).unwrap_or_default();
    let key = keyring
        .lines()
        .find_map(|l| l.trim().strip_prefix("key = "))
        .unwrap_or_else(|| panic!("no key in the kube keyring"));
    assert!(!format!("{caps:?}").contains(key));
}

#[tokio::test]
async fn unreachable_mon_fails_within_the_op_timeout() {
    let fx = fixture();
    let dir = std::env::temp_dir().join(format!("{ROOT_PREFIX}{}-down", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    // A port nobody listens on.
    let closed = {
        let l =
            TcpListener::bind((Ipv4Addr::new(127, 253, 0, 1), 0)).unwrap_or_else(|e| panic!("{e}"));
        l.local_addr().unwrap_or_else(|e| panic!("{e}")).port()
    };
    let conf = dir.join("ceph.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nmon host = v1:127.253.0.1:{closed}\nauth client required = cephx\nkeyring = {}\nms bind msgr2 = false\n",
            fx.cluster.admin_keyring().display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let client =
        CephClient::connect(CephSettings::new(&conf, "admin")).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    // A pane's burst of requests fails together, not one timeout after another.
    let (h, d, o) = tokio::join!(client.health(), client.df(), client.osd_stat());
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    let err = h.unwrap_err();
    assert!(err.is_unreachable() && err.is_timeout(), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.253.0.1:{closed}")), "{msg}");
    assert!(msg.contains("no monitor answered within 10s"), "{msg}");
    assert!(d.unwrap_err().is_unreachable());
    assert!(o.unwrap_err().is_unreachable());
    assert!(
        matches!(client.state(), ConnectionState::Down { .. }),
        "{:?}",
        client.state()
    );

    // Bad settings come back as clear errors, quickly.
    let missing = CephClient::connect(CephSettings::new(dir.join("nope.conf"), "admin"))
        .unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let err = missing.health().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(err, CephError::Config(_)), "{err}");
    assert!(err.to_string().contains("nope.conf not found"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn mon_command_errors_are_reported_safely() {
    let fx = fixture();
    let client = fx.admin();
    // The error path copies and frees librados' buffers; run it many times.
    for _ in 0..50 {
        let err = client
            .mon_command(json!({"prefix": "no such command"}))
            .await
            .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EINVAL), "{err}");
        let err = client
            .mon_command(json!({"prefix": "osd pool get", "pool": "no-such-pool", "var": "size"}))
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
        assert!(
            err.to_string().contains("unrecognized pool 'no-such-pool'"),
            "{err}"
        );
    }
    let dump = client
        .mon_command(json!({"prefix": "mon dump", "format": "json"}))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dump: Value = serde_json::from_str(&dump).unwrap_or_else(|e| panic!("{e}: {dump}"));
    assert_eq!(dump["fsid"].as_str(), Some(fx.cluster.fsid()));
    let refused = client
        .mon_command(json!({"prefix": "auth get-key", "entity": "client.admin"}))
        .await
        .unwrap_err();
    assert!(matches!(refused, CephError::Invalid { .. }), "{refused}");
    // The connection is still good after all those errors.
    client.health().await.unwrap_or_else(|e| panic!("{e}"));
}
