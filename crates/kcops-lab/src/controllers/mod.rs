//! Controllers that give the lab life: scheduler, kubelets, workload controllers, PV
//! binding and RBD provisioning, garbage collection. They run in the lab process and
//! work on the store directly (under its lock, so they never conflict).

pub(crate) mod bootstrap_signer;
pub(crate) mod cni;
pub mod csi;
pub(crate) mod flannel;
pub mod gc;
mod interest;
pub mod kubelet;
pub(crate) mod rbd_map;
pub mod scheduler;
pub(crate) mod statefulset;
pub mod volumes;
pub mod workloads;

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::api::logs::LogStore;
use super::api::resources::ResourceType;
use super::api::store::{Entry, Store, now_rfc3339};
use super::scenario::Scenario;

/// Resource types the controllers use, looked up once.
pub struct Kinds {
    pub pods: Arc<ResourceType>,
    pub nodes: Arc<ResourceType>,
    pub pvcs: Arc<ResourceType>,
    pub pvs: Arc<ResourceType>,
    pub storage_classes: Arc<ResourceType>,
    pub volume_attachments: Arc<ResourceType>,
    pub statefulsets: Arc<ResourceType>,
    pub controllerrevisions: Arc<ResourceType>,
    pub deployments: Arc<ResourceType>,
    pub replicasets: Arc<ResourceType>,
    pub daemonsets: Arc<ResourceType>,
    pub events: Arc<ResourceType>,
    pub namespaces: Arc<ResourceType>,
    pub secrets: Arc<ResourceType>,
    pub configmaps: Arc<ResourceType>,
}

impl Kinds {
    pub fn new(store: &Store) -> anyhow::Result<Self> {
        let f = |g: &str, p: &str| {
            store
                .registry
                .find(g, "v1", p)
                .ok_or_else(|| anyhow::anyhow!("resource type {g}/{p} is not registered"))
        };
        Ok(Self {
            pods: f("", "pods")?,
            nodes: f("", "nodes")?,
            pvcs: f("", "persistentvolumeclaims")?,
            pvs: f("", "persistentvolumes")?,
            storage_classes: f("storage.k8s.io", "storageclasses")?,
            volume_attachments: f("storage.k8s.io", "volumeattachments")?,
            statefulsets: f("apps", "statefulsets")?,
            controllerrevisions: f("apps", "controllerrevisions")?,
            deployments: f("apps", "deployments")?,
            replicasets: f("apps", "replicasets")?,
            daemonsets: f("apps", "daemonsets")?,
            events: f("", "events")?,
            namespaces: f("", "namespaces")?,
            secrets: f("", "secrets")?,
            configmaps: f("", "configmaps")?,
        })
    }
}

/// Knobs that let tests run the lab fast.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// Timeline speed factor: 2.0 runs the scenario's timeline twice as fast.
    pub speed: f64,
    /// How often the kubelet retries a failed mount (a real kubelet backs off to 2m).
    pub mount_retry: Duration,
    /// How long a crash-looping container waits before its next start.
    pub crash_backoff: Duration,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            speed: 1.0,
            mount_retry: Duration::from_secs(2),
            crash_backoff: Duration::from_secs(5),
        }
    }
}

impl Knobs {
    pub fn scaled(&self, d: Duration) -> Duration {
        if self.speed > 0.0 {
            d.div_f64(self.speed)
        } else {
            d
        }
    }
}

/// How the lab reaches Ceph: the conf, keyrings, and each node's namespace.
pub struct CephAccess {
    pub conf: PathBuf,
    pub kube_keyring: PathBuf,
    /// Where `ceph.client.<id>.keyring` of every user lives.
    pub keyring_dir: PathBuf,
    pub monitors: String,
    pub net: Option<Arc<super::netns::LabNet>>,
}

impl CephAccess {
    /// An `rbd` command as a node's kubelet runs it: in the node's namespace, as the
    /// `kube` user, so locks and watches carry the node's address.
    pub fn node_rbd(&self, node: &str) -> std::process::Command {
        let mut cmd = match &self.net {
            Some(net) => net.command(node, "rbd"),
            None => std::process::Command::new("rbd"),
        };
        cmd.env("CEPH_CONF", &self.conf);
        cmd.args(["--id", "kube", "--keyring"])
            .arg(&self.kube_keyring);
        cmd
    }

    /// An `rbd` command as `client.<id>` with its keyring, in `node`'s namespace if
    /// given: what a kubelet or provisioner does with a StorageClass's user. A user
    /// Ceph does not know has no keyring, and Ceph refuses it as it would.
    pub fn user_rbd(&self, node: Option<&str>, id: &str) -> std::process::Command {
        let mut cmd = match (&self.net, node) {
            (Some(net), Some(node)) => net.command(node, "rbd"),
            _ => std::process::Command::new("rbd"),
        };
        cmd.env("CEPH_CONF", &self.conf);
        cmd.args(["--id", id, "--keyring"])
            .arg(self.keyring_dir.join(format!("ceph.client.{id}.keyring")));
        cmd
    }

    /// An `rbd` command run by the provisioner (admin, on the host).
    pub fn admin_rbd(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new("rbd");
        cmd.env("CEPH_CONF", &self.conf);
        cmd
    }
}

/// A lab node's kubelet state that outlives single reconciles.
pub struct NodeRuntime {
    pub name: String,
    pub ip: Ipv4Addr,
    /// False while the scenario has the node down: its kubelet does nothing.
    pub alive: AtomicBool,
}

/// Everything the controllers share.
pub struct Ctx {
    pub store: Arc<Store>,
    pub logs: Arc<LogStore>,
    pub kinds: Kinds,
    pub knobs: Knobs,
    pub scenario: Scenario,
    pub ceph: Option<CephAccess>,
    pub nodes: HashMap<String, Arc<NodeRuntime>>,
    pub paths: super::paths::LabPaths,
    pub lab_id: u8,
    next_pod_ip: AtomicU32,
    /// Pod workers by pod uid.
    pub workers: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
    /// Addresses reserved for member pods (`ns/pod`), stable across restarts, so a
    /// new etcd cluster can name every peer before its pods exist.
    member_ips: Mutex<HashMap<String, Ipv4Addr>>,
    /// Node -> the `clusterCIDR` its kube-proxy read when it last started
    /// ([`flannel::kube_proxy_started`]).
    pub(crate) kube_proxy_cidr: Mutex<HashMap<String, String>>,
    /// Nodes whose kube-proxy the lab has started at least once.
    pub(crate) kube_proxy_first_start: Mutex<HashSet<String>>,
    /// Node -> the pod sandboxes the lab kubelet set up there and has not torn down.
    pub(crate) cni_sandboxes: Mutex<HashMap<String, HashSet<String>>>,
    /// calico-ipam's allocations: sandbox id -> address (calico keeps them in its
    /// datastore, not on the node).
    pub(crate) calico_ips: Mutex<HashMap<String, Ipv4Addr>>,
    /// The lab's network namespaces, when it has them: pods the lab runs for real get
    /// their own there.
    pub(crate) net: Option<Arc<super::netns::LabNet>>,
    /// Lab DNS: the names of the pods the lab runs for real.
    pub(crate) dns: crate::pods::hosts::Registry,
    /// `namespace/name` -> the pid of the pod's running main container process.
    main_pids: Mutex<HashMap<String, u32>>,
    /// Controller passes a change started (the resync's not counted): what tells that
    /// churn nobody looks after costs no pass.
    pub change_passes: AtomicU64,
}

impl Ctx {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<Store>,
        logs: Arc<LogStore>,
        knobs: Knobs,
        scenario: Scenario,
        ceph: Option<CephAccess>,
        nodes: HashMap<String, Arc<NodeRuntime>>,
        paths: super::paths::LabPaths,
        lab_id: u8,
    ) -> anyhow::Result<Self> {
        let kinds = Kinds::new(&store)?;
        let kube_proxy_cidr = scenario
            .network
            .as_ref()
            .map(|n| n.kube_proxy_started_with.clone().into_iter().collect())
            .unwrap_or_default();
        Ok(Self {
            store,
            logs,
            kinds,
            knobs,
            scenario,
            ceph,
            nodes,
            paths,
            lab_id,
            next_pod_ip: AtomicU32::new(0),
            workers: Mutex::new(HashMap::new()),
            member_ips: Mutex::new(HashMap::new()),
            kube_proxy_cidr: Mutex::new(kube_proxy_cidr),
            kube_proxy_first_start: Mutex::new(HashSet::new()),
            cni_sandboxes: Mutex::new(HashMap::new()),
            calico_ips: Mutex::new(HashMap::new()),
            net: None,
            dns: Default::default(),
            main_pids: Mutex::new(HashMap::new()),
            change_passes: AtomicU64::new(0),
        })
    }

    /// Gives pods the lab runs for real their own network namespaces in `net`.
    pub fn with_net(mut self, net: Option<Arc<super::netns::LabNet>>) -> Self {
        self.net = net;
        self
    }

    /// The pid of the running main container process of pod `ns/name`, if the lab runs
    /// it for real (what `kubectl exec` joins).
    pub fn main_pid(&self, ns: &str, name: &str) -> Option<u32> {
        self.main_pids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&format!("{ns}/{name}"))
            .copied()
    }

    /// Records (or, with `None`, forgets) pod `ns/name`'s main container process.
    pub fn set_main_pid(&self, ns: &str, name: &str, pid: Option<u32>) {
        let mut pids = self.main_pids.lock().unwrap_or_else(|p| p.into_inner());
        let key = format!("{ns}/{name}");
        match pid {
            Some(pid) => pids.insert(key, pid),
            None => pids.remove(&key),
        };
    }

    /// A fresh loopback address for a pod: `127.<lab id>.<2..>.<2..251>`.
    pub fn allocate_pod_ip(&self) -> Ipv4Addr {
        let n = self.next_pod_ip.fetch_add(1, Ordering::Relaxed);
        Ipv4Addr::new(127, self.lab_id, (2 + n / 250) as u8, (2 + n % 250) as u8)
    }

    /// The reserved address of a member pod.
    pub fn member_ip(&self, ns: &str, pod: &str) -> Ipv4Addr {
        let mut ips = self.member_ips.lock().unwrap_or_else(|p| p.into_inner());
        *ips.entry(format!("{ns}/{pod}"))
            .or_insert_with(|| self.allocate_pod_ip())
    }

    /// Whether the scenario has the lab play its pod network (CNI, IPAM, agent).
    pub(crate) fn causal_network(&self) -> bool {
        self.scenario.network.is_some()
    }

    /// The CNI plugin the lab plays, if any.
    pub(crate) fn cni(&self) -> Option<crate::scenario::CniKind> {
        self.scenario.network.as_ref().map(|n| n.cni)
    }

    /// How the node's host-local says a range is full, by the scenario's plugins version.
    pub(crate) fn host_local_wording(&self) -> cni::Wording {
        cni::Wording::of(
            self.scenario
                .network
                .as_ref()
                .and_then(|n| n.cni_plugins_version.as_deref()),
        )
    }

    /// The crash-loop back-off before restart number `restarts` (1 = the first):
    /// doubling from the lab's back-off up to the scenario's cap, if it has one.
    pub(crate) fn crash_backoff(&self, restarts: i64) -> Duration {
        crash_backoff(
            self.knobs.crash_backoff,
            self.scenario.kubelet.crash_backoff_cap,
            restarts,
        )
    }

    pub fn node_alive(&self, node: &str) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|n| n.alive.load(Ordering::Relaxed))
    }

    /// Records an Event the way components do, folding repeats into `count`.
    pub fn event(
        &self,
        involved: &Value,
        type_: &str,
        reason: &str,
        message: &str,
        component: &str,
        host: Option<&str>,
    ) {
        let ns = involved["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let name = involved["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let uid = involved["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let existing = self
            .store
            .list(&self.kinds.events, Some(&ns))
            .into_iter()
            .find(|e| {
                e.field("involvedObject.uid") == uid && e.field("reason") == reason && {
                    let v = e.value();
                    v["message"].as_str() == Some(message)
                }
            });
        let now = now_rfc3339();
        if let Some(e) = existing {
            let _ = self.store.mutate(
                &self.kinds.events,
                &ns,
                e.field("metadata.name"),
                None,
                |ev| {
                    let count = ev["count"].as_i64().unwrap_or(1);
                    ev["count"] = json!(count + 1);
                    ev["lastTimestamp"] = json!(now);
                    Ok(())
                },
            );
            return;
        }
        let mut source = json!({"component": component});
        if let Some(h) = host {
            source["host"] = json!(h);
        }
        let api_version = involved["apiVersion"].as_str().unwrap_or("v1");
        let kind = involved["kind"].as_str().unwrap_or_default();
        let ev = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": event_name(&name), "namespace": ns},
            "involvedObject": {"kind": kind, "namespace": ns, "name": name, "uid": uid, "apiVersion": api_version, "resourceVersion": involved["metadata"]["resourceVersion"]},
            "reason": reason,
            "message": message,
            "type": type_,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": component,
            "reportingInstance": host.unwrap_or_default(),
        });
        if let Err(e) = self.store.create(&self.kinds.events, ev) {
            tracing::warn!("cannot record event {reason} for {name}: {e}");
        }
    }
}

/// `<object>.<hex nanoseconds>`, as client-go's event recorder names events: an
/// object's events then list (by name) in the order they happened. Strictly increasing
/// across the lab, so two events in one nanosecond still get distinct names.
fn event_name(object: &str) -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = u64::try_from(jiff::Timestamp::now().as_nanosecond()).unwrap_or_default();
    let prev = LAST.fetch_max(now, Ordering::Relaxed);
    let nanos = if now > prev {
        now
    } else {
        LAST.fetch_add(1, Ordering::Relaxed) + 1
    };
    format!("{object}.{nanos:x}")
}

/// `base` doubled for each restart after the first, up to `cap` (never below `base`);
/// `base` throughout without a cap.
fn crash_backoff(base: Duration, cap: Option<Duration>, restarts: i64) -> Duration {
    match cap {
        None => base,
        Some(cap) => {
            let doublings = u32::try_from(restarts.saturating_sub(1).clamp(0, 16)).unwrap_or(0);
            base.saturating_mul(1 << doublings).min(cap.max(base))
        }
    }
}

pub fn str_of<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return "",
        }
    }
    cur.as_str().unwrap_or_default()
}

pub fn owned_by(e: &Value, uid: &str) -> bool {
    e["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == uid))
}

pub fn owner_ref(owner: &Value, kind: &str, api_version: &str) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

pub fn is_deleting(v: &Value) -> bool {
    v["metadata"]
        .get("deletionTimestamp")
        .is_some_and(|d| !d.is_null())
}

pub fn entries_values(entries: &[Arc<Entry>]) -> Vec<Value> {
    entries.iter().map(|e| e.value()).collect()
}

/// Runs every controller until the lab stops: each reacts to store changes
/// (coalesced) and to a periodic resync.
pub async fn run(ctx: Arc<Ctx>) {
    tokio::spawn(gc::run(ctx.clone()));
    let mut changes = ctx.store.subscribe();
    let mut resync = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = resync.tick() => {}
            msg = changes.recv() => {
                match msg {
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    // A change no controller looks after waits for the resync.
                    Ok(c) if !interest::concerns_controllers(&ctx, &c) => continue,
                    _ => {}
                }
                // Coalesce a burst of changes into one pass.
                tokio::time::sleep(Duration::from_millis(20)).await;
                while changes.try_recv().is_ok() {}
                ctx.change_passes.fetch_add(1, Ordering::Relaxed);
            }
        }
        volumes::reconcile(&ctx).await;
        if ctx.scenario.storage == crate::scenario::StorageKind::CephCsi {
            csi::attacher::reconcile(&ctx);
        }
        workloads::reconcile(&ctx);
        scheduler::reconcile(&ctx);
        kubelet::reconcile(&ctx);
        bootstrap_signer::reconcile(&ctx);
        if ctx.scenario.kubeadm {
            crate::kubeadm::cluster::node_network_ready(&ctx);
        }
    }
}

#[cfg(test)]
mod backoff_tests {
    use super::crash_backoff;
    use std::time::Duration;

    #[test]
    fn the_back_off_doubles_up_to_the_scenarios_cap() {
        let s = Duration::from_secs;
        let run = |cap| {
            (1..=5)
                .map(|n| crash_backoff(s(1), cap, n))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(Some(s(4))), [s(1), s(2), s(4), s(4), s(4)]);
        assert_eq!(run(None), [s(1); 5]);
        assert_eq!(crash_backoff(s(5), Some(s(1)), 3), s(5));
    }
}

#[cfg(test)]
mod event_name_tests {
    use super::event_name;

    /// `<object>.<hex ns>`, strictly increasing: `get events` lists in time order.
    #[test]
    fn event_names_follow_time_order() {
        let names: Vec<String> = (0..1000).map(|_| event_name("web-1")).collect();
        let stamps: Vec<u64> = names
            .iter()
            .map(|n| {
                u64::from_str_radix(n.strip_prefix("web-1.").unwrap_or_default(), 16)
                    .unwrap_or_default()
            })
            .collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "same-length hex sorts as time"
        );
    }
}

/// A controller context over `store` for unit tests: a one-node scenario, its
/// files under a temporary directory named after `what`.
#[cfg(test)]
pub(crate) fn test_ctx(store: Arc<crate::api::store::Store>, what: &str) -> anyhow::Result<Ctx> {
    test_ctx_of(store, what, "name: t\nnodes: [{name: master}]\n")
}

/// [`test_ctx`] for the scenario `yaml`.
#[cfg(test)]
pub(crate) fn test_ctx_of(
    store: Arc<crate::api::store::Store>,
    what: &str,
    yaml: &str,
) -> anyhow::Result<Ctx> {
    let scenario = crate::scenario::parse(yaml, "t.yaml")?;
    let root = std::env::temp_dir().join(format!("kcops-{what}-{}", std::process::id()));
    Ctx::new(
        store,
        Arc::new(crate::api::logs::LogStore::default()),
        Knobs::default(),
        scenario,
        None,
        HashMap::new(),
        crate::paths::LabPaths {
            name: "t".into(),
            root,
        },
        1,
    )
}

#[cfg(test)]
mod event_aggregation_tests {
    use super::*;

    fn ctx() -> anyhow::Result<Ctx> {
        super::test_ctx(Arc::new(Store::new(100)), "events")
    }

    /// As client-go's event recorder: the same object, reason and message fold into one
    /// Event whose count and lastTimestamp grow; another message is its own Event.
    #[test]
    fn repeated_events_fold_into_one_with_a_count() -> anyhow::Result<()> {
        let ctx = ctx()?;
        let pvc = json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1",
            "metadata": {"name": "orders-db-data", "namespace": "default", "uid": "u-1"}});
        let msg = "Failed to provision volume with StorageClass \"ssd\": failed to create rbd \
                   image: exit status 2, command output: rbd: error opening pool 'ssd': (2) No \
                   such file or directory";
        for _ in 0..5 {
            ctx.event(
                &pvc,
                "Warning",
                "ProvisioningFailed",
                msg,
                "persistentvolume-controller",
                None,
            );
        }
        ctx.event(
            &pvc,
            "Warning",
            "ProvisioningFailed",
            "other",
            "persistentvolume-controller",
            None,
        );
        let events: Vec<Value> = ctx
            .store
            .list(&ctx.kinds.events, Some("default"))
            .iter()
            .map(|e| e.value())
            .collect();
        assert_eq!(events.len(), 2, "{events:?}");
        let folded = events
            .iter()
            .find(|e| e["message"] == msg)
            .ok_or_else(|| anyhow::anyhow!("no folded event"))?;
        assert_eq!(folded["count"], 5);
        assert_eq!(folded["involvedObject"]["name"], "orders-db-data");
        assert!(folded["lastTimestamp"].as_str() >= folded["firstTimestamp"].as_str());
        Ok(())
    }
}
