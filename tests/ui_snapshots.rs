//! Snapshot tests of the console's panes and overlays: the real [`App`] drawn into a
//! ratatui `TestBackend` from a hand-built, deterministic [`Snapshot`] (fixed `now`,
//! fixed creation times), driven by key presses exactly as the event loop would.
//!
//! Each screen is stored as text under `tests/snapshots/` (insta; with `CI=true` a
//! missing or changed snapshot fails), and the cells that matter are also asserted
//! explicitly, read back from the buffer by column.
//!
//! Regenerate after an intended change with `INSTA_UPDATE=always cargo test --test
//! ui_snapshots` (or `cargo insta review`) and read the diff before committing.

use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use jiff::{SignedDuration, Timestamp};
use kcops::kube::connect::ConnectOptions;
use kcops::model::snapshot::{Snapshot, SourceStatus};
use kcops::ui::app::{App, ConsoleOptions, UiMsg};
use kcops::ui::keymap::Keymap;
use kcops::ui::theme::{Role, Theme};
use kcops::ui::view::{ConnState, ViewModel, derive};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const WIDTH: u16 = 140;
const HEIGHT: u16 = 40;

// ---------------------------------------------------------------------------------
// The cluster

fn now() -> Timestamp {
    "2025-01-01T12:00:00Z"
        .parse()
        .unwrap_or_else(|e| panic!("fixed now: {e}"))
}

/// RFC 3339 time `secs` seconds before [`now`].
fn ago(secs: i64) -> String {
    (now() - SignedDuration::from_secs(secs)).to_string()
}

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86400;

fn obj<T: DeserializeOwned>(v: Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).unwrap_or_else(|e| panic!("fixture: {e}")))
}

/// The pod that crash-loops (the first pod row, selected when the Pods pane opens).
const CRASHING: &str = "api-7c9d8f6b5-qwert";
const CSI_VOLUME: &str = "pvc-1b6a4f6e-5c0d-4e43-9a3e-2f2d7c1c9b01";
const CSI_VOLUME_1: &str = "pvc-8e2d0c4b-3a7f-4b61-8c5e-6d9f1a2b3c4d";
/// ceph-csi names images `csi-vol-<uuid>`: the RBD column is the widest of the PVs.
const CSI_IMAGE: &str = "csi-vol-6f1c2a9e-5c0d-11ef-b3a4-0242ac120002";
const CSI_IMAGE_1: &str = "csi-vol-0d7e4b2a-5c0e-11ef-b3a4-0242ac120002";

fn node(name: &str, ip: &str, cidr: &str, ready: &str, extra: Value) -> Value {
    let mut n = json!({
        "metadata": {"name": name, "creationTimestamp": ago(30 * DAY),
                     "labels": {"kubernetes.io/hostname": name}},
        "spec": {"podCIDR": cidr},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "nodeInfo": {"kubeletVersion": "v1.32.3", "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.24",
                         "kernelVersion": "6.1.0", "kubeProxyVersion": "v1.32.3", "machineID": "", "operatingSystem": "linux",
                         "osImage": "Debian GNU/Linux 12 (bookworm)", "systemUUID": ""},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
                {"type": "Ready", "status": ready,
                 "reason": if ready == "True" { "KubeletReady" } else { "NodeStatusUnknown" },
                 "message": if ready == "True" { "kubelet is posting ready status" } else { "Kubelet stopped posting node status." },
                 "lastTransitionTime": if ready == "True" { ago(29 * DAY) } else { ago(7 * MIN) }}]
        }
    });
    json_patch::merge(&mut n, &extra);
    n
}

fn nodes() -> Vec<Value> {
    vec![
        node(
            "node1",
            "192.0.2.11",
            "10.244.0.0/24",
            "True",
            json!({
                "metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}},
                "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}
            }),
        ),
        // Cordoned: Ready,SchedulingDisabled.
        node(
            "node2",
            "192.0.2.12",
            "10.244.1.0/24",
            "True",
            json!({
                "spec": {"unschedulable": true,
                         "taints": [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]}
            }),
        ),
        // Stopped posting status 7 minutes ago.
        node(
            "node3",
            "192.0.2.13",
            "10.244.2.0/24",
            "Unknown",
            json!({
                "spec": {"taints": [
                    {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"},
                    {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]}
            }),
        ),
    ]
}

/// A pod with one container `app`, running and ready since `secs` ago; `extra` is
/// merged over it (JSON merge patch: arrays are replaced whole).
fn pod(ns: &str, name: &str, node: &str, ip: &str, secs: i64, extra: Value) -> Value {
    let mut p = json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
                     "creationTimestamp": ago(secs), "labels": {"app": name.split('-').next().unwrap_or(name)}},
        "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.example/app:1.4.2"}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "hostIP": "192.0.2.11",
            "startTime": ago(secs),
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": ago(secs)},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(secs)},
                {"type": "Ready", "status": "True", "lastTransitionTime": ago(secs - 5)}],
            "containerStatuses": [{"name": "app", "image": "registry.example/app:1.4.2", "imageID": "", "ready": true,
                "restartCount": 0, "started": true, "state": {"running": {"startedAt": ago(secs - 5)}}}]
        }
    });
    json_patch::merge(&mut p, &extra);
    p
}

/// Scheduled (and initialized, unless `initialized` is false) `secs` ago, not ready
/// since `unready_secs` ago.
fn not_ready_conditions(secs: i64, unready_secs: i64, initialized: bool) -> Value {
    json!([
        {"type": "Initialized", "status": if initialized { "True" } else { "False" }, "lastTransitionTime": ago(secs)},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": ago(secs)},
        {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": ago(unready_secs)}
    ])
}

fn pods() -> Vec<Value> {
    vec![
        pod(
            "kube-system",
            "coredns-668d6bf9bc-x7k2p",
            "node1",
            "10.244.0.5",
            30 * DAY,
            json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "coredns-668d6bf9bc", "uid": "rs-1", "controller": true}]}}),
        ),
        pod(
            "kube-system",
            "kube-proxy-5xq8z",
            "node3",
            "192.0.2.13",
            30 * DAY,
            json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-proxy", "uid": "ds-1", "controller": true}]}}),
        ),
        // CrashLoopBackOff: 7 restarts, the last run ended 95 s ago with exit code 1.
        pod(
            "demo",
            CRASHING,
            "node1",
            "10.244.0.21",
            2 * HOUR,
            json!({
                "metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-7c9d8f6b5", "uid": "rs-2", "controller": true}]},
                "status": {
                    "conditions": not_ready_conditions(2 * HOUR, 95, true),
                    "containerStatuses": [{"name": "app", "image": "registry.example/app:1.4.2", "imageID": "", "ready": false,
                        "restartCount": 7, "started": false,
                        "state": {"waiting": {"reason": "CrashLoopBackOff",
                            "message": "back-off 5m0s restarting failed container=app pod=api-7c9d8f6b5-qwert_demo(uid-api-7c9d8f6b5-qwert)"}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ago(100), "finishedAt": ago(95),
                            "message": "panic: cannot connect to database at db.demo.svc:5432"}}}]
                }
            }),
        ),
        // Init:0/1: its init container still runs.
        pod(
            "demo",
            "migrate-db-8k2lp",
            "node1",
            "10.244.0.40",
            45,
            json!({
                "spec": {"initContainers": [{"name": "wait-for-db", "image": "busybox:1.36"}]},
                "status": {
                    "phase": "Pending",
                    "conditions": not_ready_conditions(45, 45, false),
                    "initContainerStatuses": [{"name": "wait-for-db", "image": "busybox:1.36", "imageID": "", "ready": false,
                        "restartCount": 0, "started": true, "state": {"running": {"startedAt": ago(40)}}}],
                    "containerStatuses": [{"name": "app", "image": "registry.example/app:1.4.2", "imageID": "", "ready": false,
                        "restartCount": 0, "started": false, "state": {"waiting": {"reason": "PodInitializing"}}}]
                }
            }),
        ),
        pod(
            "demo",
            "web-0",
            "node1",
            "10.244.0.30",
            3 * DAY,
            json!({
                "metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "sts-1", "controller": true}]},
                "spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}]}
            }),
        ),
        // ContainerCreating for 10 minutes: its RBD image is still mapped elsewhere.
        pod(
            "demo",
            "web-1",
            "node1",
            "",
            10 * MIN,
            json!({
                "metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "sts-1", "controller": true}]},
                "spec": {"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}}]},
                "status": {
                    "phase": "Pending",
                    "podIP": null,
                    "conditions": not_ready_conditions(10 * MIN, 10 * MIN, true),
                    "containerStatuses": [{"name": "app", "image": "registry.example/app:1.4.2", "imageID": "", "ready": false,
                        "restartCount": 0, "started": false, "state": {"waiting": {"reason": "ContainerCreating"}}}]
                }
            }),
        ),
        // Terminating on the NotReady node, its grace period long past.
        pod(
            "demo",
            "web-2",
            "node3",
            "10.244.2.17",
            3 * DAY,
            json!({
                "metadata": {"deletionTimestamp": ago(5 * MIN), "deletionGracePeriodSeconds": 30,
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "sts-1", "controller": true}]}
            }),
        ),
    ]
}

fn storage() -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let pvc = |name: &str, volume: Option<&str>, class: &str, secs: i64| {
        let mut v = json!({
            "metadata": {"name": name, "namespace": "demo", "creationTimestamp": ago(secs)},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class,
                     "resources": {"requests": {"storage": "10Gi"}}},
            "status": {"phase": "Pending"}
        });
        if let Some(vol) = volume {
            json_patch::merge(
                &mut v,
                &json!({"spec": {"volumeName": vol},
                        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}}),
            );
        }
        v
    };
    let pvcs = vec![
        pvc("data-web-0", Some(CSI_VOLUME), "ceph-rbd", 3 * DAY),
        pvc("data-web-1", Some(CSI_VOLUME_1), "ceph-rbd", 3 * DAY),
        // Names a class that does not exist: stays Pending.
        pvc("scratch", None, "fast-nvme", 20 * MIN),
    ];
    let csi_pv = |name: &str, image: &str, claim: &str| {
        json!({
            "metadata": {"name": name, "creationTimestamp": ago(3 * DAY),
                         "annotations": {"pv.kubernetes.io/provisioned-by": "rbd.csi.ceph.com"}},
            "spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "ceph-rbd",
                     "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "demo", "name": claim},
                     "csi": {"driver": "rbd.csi.ceph.com", "volumeHandle": format!("0001-0003-lab-0000000000000002-{}", &image[8..]),
                             "volumeAttributes": {"clusterID": "lab", "pool": "kube", "imageName": image}}},
            "status": {"phase": "Bound"}
        })
    };
    let pvs = vec![
        csi_pv(CSI_VOLUME, CSI_IMAGE, "data-web-0"),
        csi_pv(CSI_VOLUME_1, CSI_IMAGE_1, "data-web-1"),
        // An in-tree rbd volume kept after its claim went away.
        json!({
            "metadata": {"name": "legacy-rbd-pv", "creationTimestamp": ago(400 * DAY)},
            "spec": {"capacity": {"storage": "50Gi"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                     "claimRef": {"kind": "PersistentVolumeClaim", "namespace": "legacy", "name": "old-data"},
                     "rbd": {"monitors": ["192.0.2.21:6789"], "image": "legacy-img", "pool": "rbd", "user": "admin"}},
            "status": {"phase": "Released"}
        }),
    ];
    let classes = vec![
        json!({
            "metadata": {"name": "ceph-rbd", "creationTimestamp": ago(30 * DAY),
                         "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rbd.csi.ceph.com", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
            "allowVolumeExpansion": true, "parameters": {"clusterID": "lab", "pool": "kube"}
        }),
        json!({
            "metadata": {"name": "ceph-rbd-retain", "creationTimestamp": ago(30 * DAY)},
            "provisioner": "rbd.csi.ceph.com", "reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer",
            "parameters": {"clusterID": "lab", "pool": "kube"}
        }),
    ];
    (pvcs, pvs, classes)
}

fn meta(ns: &str, name: &str, secs: i64) -> Value {
    json!({"name": name, "namespace": ns, "creationTimestamp": ago(secs), "generation": 1})
}

fn template(app: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.4.2"}]}})
}

/// An event in `ns` about `object` (`Kind/name`), last seen `secs` ago.
fn event(
    ns: &str,
    object: &str,
    type_: &str,
    reason: &str,
    message: &str,
    count: i32,
    secs: i64,
) -> Value {
    let (kind, name) = object
        .split_once('/')
        .unwrap_or_else(|| panic!("{object} is not Kind/name"));
    json!({
        "metadata": {"name": format!("{name}.{reason}.{secs}"), "namespace": ns, "creationTimestamp": ago(secs)},
        "involvedObject": {"kind": kind, "namespace": if kind == "Node" { "" } else { ns }, "name": name},
        "type": type_, "reason": reason, "message": message, "count": count,
        "firstTimestamp": ago(secs), "lastTimestamp": ago(secs),
        "source": {"component": "kubelet"}
    })
}

fn events() -> Vec<Value> {
    vec![
        event(
            "demo",
            &format!("Pod/{CRASHING}"),
            "Warning",
            "BackOff",
            "Back-off restarting failed container app in pod api-7c9d8f6b5-qwert_demo(uid-api-7c9d8f6b5-qwert)",
            42,
            20,
        ),
        event(
            "demo",
            "Pod/web-1",
            "Warning",
            "FailedMount",
            &format!(
                "MountVolume.MountDevice failed for volume \"{CSI_VOLUME_1}\" : rpc error: code = Internal desc = rbd image kube/{CSI_IMAGE_1} is still being used"
            ),
            6,
            70,
        ),
        event(
            "default",
            "Node/node3",
            "Warning",
            "NodeNotReady",
            "Node node3 status is now: NodeNotReady",
            1,
            7 * MIN,
        ),
        event(
            "demo",
            "PersistentVolumeClaim/scratch",
            "Warning",
            "ProvisioningFailed",
            "storageclass.storage.k8s.io \"fast-nvme\" not found",
            81,
            30,
        ),
        // A warning older than an hour: listed, not counted in "last hour".
        event(
            "demo",
            "Pod/web-0",
            "Warning",
            "Unhealthy",
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
            3,
            3 * HOUR,
        ),
        event(
            "demo",
            "Pod/web-1",
            "Normal",
            "Scheduled",
            "Successfully assigned demo/web-1 to node1",
            1,
            10 * MIN,
        ),
        event(
            "demo",
            "StatefulSet/web",
            "Normal",
            "SuccessfulCreate",
            "create Pod web-1 in StatefulSet web successful",
            1,
            10 * MIN,
        ),
        event(
            "demo",
            &format!("Pod/{CRASHING}"),
            "Normal",
            "Pulled",
            "Container image \"registry.example/app:1.4.2\" already present on machine",
            8,
            95,
        ),
    ]
}

fn cluster() -> Snapshot {
    let (pvcs, pvs, classes) = storage();
    let mut s = Snapshot {
        now: now(),
        nodes: nodes().into_iter().map(obj).collect(),
        pods: pods().into_iter().map(obj).collect(),
        pvcs: pvcs.into_iter().map(obj).collect(),
        pvs: pvs.into_iter().map(obj).collect(),
        storage_classes: classes.into_iter().map(obj).collect(),
        statefulsets: vec![obj(json!({
            "metadata": meta("demo", "web", 3 * DAY),
            "spec": {"replicas": 3, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}}, "template": template("web")},
            "status": {"replicas": 3, "readyReplicas": 1, "currentReplicas": 3, "updatedReplicas": 3, "availableReplicas": 1, "observedGeneration": 1}
        }))],
        daemonsets: vec![obj(json!({
            "metadata": meta("kube-system", "kube-proxy", 30 * DAY),
            "spec": {"selector": {"matchLabels": {"app": "kube-proxy"}}, "template": template("kube-proxy")},
            "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3,
                       "numberAvailable": 2, "numberMisscheduled": 0, "observedGeneration": 1}
        }))],
        deployments: vec![
            obj(json!({
                "metadata": meta("demo", "api", 2 * HOUR),
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api"}}, "template": template("api")},
                "status": {"replicas": 1, "readyReplicas": 0, "updatedReplicas": 1, "availableReplicas": 0, "unavailableReplicas": 1, "observedGeneration": 1}
            })),
            obj(json!({
                "metadata": meta("kube-system", "coredns", 30 * DAY),
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "coredns"}}, "template": template("coredns")},
                "status": {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1, "observedGeneration": 1}
            })),
        ],
        events: events().into_iter().map(obj).collect(),
        namespaces: ["default", "demo", "kube-system"]
            .into_iter()
            .map(|n| obj(json!({"metadata": {"name": n, "creationTimestamp": ago(30 * DAY)}, "status": {"phase": "Active"}})))
            .collect(),
        ..Default::default()
    };
    s.sources = [
        "nodes",
        "pods",
        "persistentvolumes",
        "persistentvolumeclaims",
        "storageclasses",
        "statefulsets",
        "daemonsets",
        "deployments",
        "events",
        "namespaces",
    ]
    .into_iter()
    .map(|kind| SourceStatus {
        kind,
        synced: true,
        last_success: Some(now()),
        last_error: None,
        expected: None,
    })
    .collect();
    s.sort();
    s
}

fn view() -> Arc<ViewModel> {
    view_of(cluster())
}

fn view_of(snapshot: Snapshot) -> Arc<ViewModel> {
    let conn = ConnState {
        context: "kubernetes-admin@lab".into(),
        cluster: "lab".into(),
        server: "https://192.0.2.11:6443".into(),
        user: "kubernetes-admin".into(),
        error: None,
    };
    Arc::new(derive(snapshot, conn, 1))
}

// ---------------------------------------------------------------------------------
// The console in a TestBackend

struct Console {
    app: App,
    terminal: Terminal<TestBackend>,
    theme: Theme,
    _rx: mpsc::Receiver<UiMsg>,
}

impl Console {
    fn new(read_only: bool) -> Self {
        Self::sized(read_only, WIDTH, HEIGHT)
    }

    fn sized(read_only: bool, width: u16, height: u16) -> Self {
        let keymap = Keymap::builtin("default").unwrap_or_else(|| panic!("no default keymap"));
        Self::with_keymap(read_only, width, height, keymap)
    }

    fn with_keymap(read_only: bool, width: u16, height: u16, keymap: Keymap) -> Self {
        let theme = Theme::builtin("dark").unwrap_or_else(|| panic!("no builtin dark theme"));
        let opts = ConsoleOptions {
            connect: ConnectOptions::default(),
            namespace: None,
            // Named, so the status line never depends on this machine's addresses.
            node: Some("node1".into()),
            read_only,
            theme: theme.clone(),
            keymap,
            config_errors: Vec::new(),
            audit_log: std::env::temp_dir().join("kcops-ui-snapshots-audit.log"),
            host_root: None,
            sandboxes_command: None,
            debug_pod: Default::default(),
            ceph: None,
        };
        let (tx, rx) = mpsc::channel(16);
        let mut app = App::new(&opts, tx);
        app.set_view(view());
        let terminal = Terminal::new(TestBackend::new(width, height))
            .unwrap_or_else(|e| panic!("test terminal: {e}"));
        Self {
            app,
            terminal,
            theme,
            _rx: rx,
        }
    }

    fn press(&mut self, code: KeyCode, modifiers: KeyModifiers) -> &mut Self {
        self.app.on_key(KeyEvent::new(code, modifiers));
        self
    }

    /// Types each character as one key press.
    fn keys(&mut self, text: &str) -> &mut Self {
        for c in text.chars() {
            self.press(KeyCode::Char(c), KeyModifiers::NONE);
        }
        self
    }

    fn enter(&mut self) -> &mut Self {
        self.press(KeyCode::Enter, KeyModifiers::NONE)
    }

    /// `:<cmd>` and Enter, typed.
    fn command(&mut self, cmd: &str) -> &mut Self {
        self.keys(":").keys(cmd).enter()
    }

    fn draw(&mut self) -> Screen {
        let app = &mut self.app;
        self.terminal
            .draw(|f| app.draw(f))
            .unwrap_or_else(|e| panic!("draw: {e}"));
        Screen::of(self.terminal.backend().buffer())
    }
}

/// A drawn frame as text lines (one per row, trailing blanks trimmed), plus the
/// buffer for style checks.
struct Screen {
    lines: Vec<String>,
    buffer: Buffer,
}

impl Screen {
    fn of(buffer: &Buffer) -> Self {
        let area = buffer.area;
        let lines = (area.top()..area.bottom())
            .map(|y| {
                let row: String = (area.left()..area.right())
                    .map(|x| buffer[(x, y)].symbol())
                    .collect();
                row.trim_end().to_string()
            })
            .collect();
        Self {
            lines,
            buffer: buffer.clone(),
        }
    }

    /// The screen as stored in the snapshot. The status bar's "last success ... ago"
    /// is measured against the wall clock, so it is the one thing masked.
    fn text(&self) -> String {
        let re = regex::Regex::new(r"last success \S+ ago").unwrap_or_else(|e| panic!("{e}"));
        let text = self.lines.join("\n");
        re.replace_all(&text, "last success [age] ago").into_owned()
    }

    fn contains(&self, needle: &str) -> bool {
        self.lines.iter().any(|l| l.contains(needle))
    }

    /// The index of the only line containing `needle`.
    fn line_of(&self, needle: &str) -> usize {
        let hits: Vec<usize> = (0..self.lines.len())
            .filter(|i| self.lines[*i].contains(needle))
            .collect();
        assert_eq!(
            hits.len(),
            1,
            "expected exactly one line with {needle:?}, got {hits:?} in\n{}",
            self.text()
        );
        hits[0]
    }

    /// The table's header line: the first line holding every column name.
    fn header(&self, columns: &[&str]) -> usize {
        (0..self.lines.len())
            .find(|i| columns.iter().all(|c| self.lines[*i].contains(c)))
            .unwrap_or_else(|| panic!("no header with {columns:?} in\n{}", self.text()))
    }

    /// Column names and their start positions (in chars) on the header line.
    fn columns(&self, header: usize) -> Vec<(String, usize)> {
        let chars: Vec<char> = self.lines[header].chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == ' ' || chars[i] == '│' {
                i += 1;
                continue;
            }
            let start = i;
            // A name ends at two spaces or the border ("ACCESS MODES" has one).
            while i < chars.len()
                && chars[i] != '│'
                && !(chars[i] == ' ' && chars.get(i + 1).is_none_or(|c| *c == ' ' || *c == '│'))
            {
                i += 1;
            }
            out.push((chars[start..i].iter().collect(), start));
        }
        out
    }

    /// The text of `column` on the row (below the header) whose line contains `row`.
    fn cell(&self, columns: &[&str], row: &str, column: &str) -> String {
        let header = self.header(columns);
        let cols = self.columns(header);
        let idx = cols
            .iter()
            .position(|(name, _)| name == column)
            .unwrap_or_else(|| panic!("no column {column:?} in {cols:?}"));
        let rows: Vec<usize> = (header + 1..self.lines.len())
            .take_while(|i| !self.lines[*i].starts_with('└'))
            .filter(|i| self.lines[*i].contains(row))
            .collect();
        assert_eq!(
            rows.len(),
            1,
            "expected exactly one row with {row:?}, got {rows:?} in\n{}",
            self.text()
        );
        let line = rows[0];
        let chars: Vec<char> = self.lines[line].chars().collect();
        let start = cols[idx].1;
        let end = cols.get(idx + 1).map(|c| c.1).unwrap_or(chars.len());
        chars[start.min(chars.len())..end.min(chars.len())]
            .iter()
            .collect::<String>()
            .trim_matches(|c: char| c == ' ' || c == '│')
            .to_string()
    }

    /// The table rows between the header and the bottom border.
    fn rows(&self, columns: &[&str]) -> Vec<&str> {
        let header = self.header(columns);
        self.lines[header + 1..]
            .iter()
            .take_while(|l| !l.starts_with('└'))
            .map(|l| l.trim_matches(|c: char| c == ' ' || c == '│'))
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// The foreground colour where `needle` starts.
    fn fg_at(&self, needle: &str) -> Option<ratatui::style::Color> {
        let y = self.line_of(needle);
        let byte = self.lines[y].find(needle)?;
        let x = self.lines[y][..byte].chars().count();
        self.buffer[(x as u16, y as u16)].fg.into()
    }
}

const NODE_COLUMNS: &[&str] = &["NAME", "STATUS", "ROLES", "TAINTS", "INTERNAL-IP"];
const POD_COLUMNS: &[&str] = &["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS"];
const PVC_COLUMNS: &[&str] = &["NAMESPACE", "NAME", "STATUS", "VOLUME", "CAPACITY"];
const PV_COLUMNS: &[&str] = &["NAME", "CAPACITY", "RECLAIM", "CLAIM", "RBD"];
const SC_COLUMNS: &[&str] = &["NAME", "PROVISIONER", "RECLAIMPOLICY"];
const WORKLOAD_COLUMNS: &[&str] = &["KIND", "NAMESPACE", "NAME", "DESIRED", "READY"];
const EVENT_COLUMNS: &[&str] = &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"];

// ---------------------------------------------------------------------------------
// Panes

/// At 80x24 every finding is reachable: the list moves with the table's keys, the
/// selected one's full text shows below it, and the footer names its fix key.
#[test]
fn overview_findings_list_at_80x24() {
    let mut c = Console::sized(false, 80, 24);
    let ids: Vec<&str> = c.app.view.findings.iter().map(|f| f.id).collect();
    let stuck = ids
        .iter()
        .position(|id| *id == "pod.terminating-stuck")
        .unwrap_or_else(|| panic!("{ids:?}"));
    let s = c.draw();
    assert!(
        s.contains(&format!("Findings (1/{})", ids.len())),
        "{}",
        s.text()
    );
    for _ in 0..stuck {
        c.keys("j");
    }
    let s = c.draw();
    insta::assert_snapshot!("overview_80x24_selected", s.text());
    assert!(
        s.contains(&format!("Findings ({}/{})", stuck + 1, ids.len())),
        "{}",
        s.text()
    );
    assert!(s.contains("ctrl-k force delete (plan)"), "{}", s.text());
    // The end jumps to the last finding; its text is shown below the list.
    c.press(KeyCode::End, KeyModifiers::NONE);
    let s = c.draw();
    let last = c.app.view.findings.last().map(|f| f.object.clone());
    assert!(
        s.contains(&format!(
            "{} {}",
            ids[ids.len() - 1],
            last.unwrap_or_default()
        )),
        "{}",
        s.text()
    );
    // Enter shows the selected finding's object in its pane.
    c.keys("g");
    c.press(KeyCode::Enter, KeyModifiers::NONE);
    let s = c.draw();
    assert_eq!(c.app.pane, kcops::ui::panes::PaneId::Nodes, "{}", s.text());
}

/// While the pods' first list runs, at 80x24: the Overview's findings say they are
/// provisional and how far the pods got against the server's count, as do the
/// Cluster box and the status line; the Pods title says the same.
#[test]
fn findings_are_provisional_while_the_pods_load_at_80x24() {
    let mut c = Console::sized(false, 80, 24);
    let mut loading = cluster();
    for s in loading.sources.iter_mut().filter(|s| s.kind == "pods") {
        s.synced = false;
        s.expected = Some(150_016);
    }
    c.app.set_view(view_of(loading));
    let s = c.draw();
    insta::assert_snapshot!("overview_80x24_pods_loading", s.text());
    assert!(
        s.contains("provisional: pods still loading (7 of ~150,016)"),
        "{}",
        s.text()
    );
    assert!(
        s.contains("Cluster loading pods 7 of ~150,016"),
        "{}",
        s.text()
    );
    assert!(
        s.contains("loading pods 7 of ~150,016; last success"),
        "{}",
        s.text()
    );
    assert!(!s.contains("healthy"), "{}", s.text());
    c.keys("3");
    let s = c.draw();
    insta::assert_snapshot!("pods_80x24_loading", s.text());
    assert!(
        s.contains("Pods [all]  7/7 loading 7 of ~150,016"),
        "{}",
        s.text()
    );
}

#[test]
fn overview_with_findings() {
    let mut c = Console::new(false);
    let s = c.draw();
    insta::assert_snapshot!("overview", s.text());
    assert!(s.contains(" 1:Overview "), "{}", s.text());
    assert!(s.contains("Nodes: 2/3 ready"), "{}", s.text());
    assert!(s.contains("Pods: 7 total"), "{}", s.text());
    assert!(s.contains("CrashLoopBackOff 1"), "{}", s.text());
    // BackOff, FailedMount, NodeNotReady and ProvisioningFailed; not the 3h old one.
    assert!(s.contains("Warnings (last hour): 4"), "{}", s.text());
    let findings = c.app.view.findings.len();
    assert!(findings > 0, "the fixture cluster must have findings");
    assert!(
        s.contains(&format!("Findings (1/{findings})")),
        "{}",
        s.text()
    );
    for id in ["node.notready", "pod.crashloop"] {
        assert!(
            c.app.view.findings.iter().any(|f| f.id == id),
            "no {id} finding"
        );
        assert!(s.contains(id), "finding {id} not on screen:\n{}", s.text());
    }
    // The status line names the connection.
    assert!(
        s.contains(
            "context kubernetes-admin@lab  user kubernetes-admin  server https://192.0.2.11:6443"
        ),
        "{}",
        s.text()
    );
}

#[test]
fn nodes_pane() {
    let mut c = Console::new(false);
    let s = c.keys("2").draw();
    insta::assert_snapshot!("nodes", s.text());
    assert!(s.contains("Nodes [all]  3/3 "), "{}", s.text());
    assert_eq!(s.cell(NODE_COLUMNS, "node1", "STATUS"), "Ready");
    assert_eq!(
        s.cell(NODE_COLUMNS, "node2", "STATUS"),
        "Ready,SchedulingDisabled"
    );
    assert_eq!(s.cell(NODE_COLUMNS, "node3", "STATUS"), "NotReady");
    assert_eq!(s.cell(NODE_COLUMNS, "node1", "ROLES"), "control-plane");
    assert_eq!(s.cell(NODE_COLUMNS, "node2", "INTERNAL-IP"), "192.0.2.12");
    assert_eq!(s.cell(NODE_COLUMNS, "node1", "PODS"), "5");
    assert_eq!(s.cell(NODE_COLUMNS, "node3", "AGE"), "30d");
    assert_eq!(s.cell(NODE_COLUMNS, "node3", "VERSION"), "v1.32.3");
    // Tones: the NotReady node in the error colour, the cordoned one as a warning
    // (node1 is the selected row and carries the selection style instead).
    assert_eq!(
        s.fg_at("NotReady"),
        c.theme.style(Role::Error).fg,
        "NotReady row colour"
    );
    assert_eq!(
        s.fg_at("Ready,SchedulingDisabled"),
        c.theme.style(Role::Warning).fg,
        "cordoned row colour"
    );
}

#[test]
fn pods_pane() {
    let mut c = Console::new(false);
    let s = c.keys("3").draw();
    insta::assert_snapshot!("pods", s.text());
    assert!(s.contains("Pods [all]  7/7 "), "{}", s.text());
    assert_eq!(s.cell(POD_COLUMNS, CRASHING, "STATUS"), "CrashLoopBackOff");
    assert_eq!(s.cell(POD_COLUMNS, CRASHING, "READY"), "0/1");
    assert_eq!(s.cell(POD_COLUMNS, CRASHING, "RESTARTS"), "7 (95s ago)");
    assert_eq!(s.cell(POD_COLUMNS, "web-1", "STATUS"), "ContainerCreating");
    assert_eq!(s.cell(POD_COLUMNS, "web-1", "IP"), "<none>");
    assert_eq!(s.cell(POD_COLUMNS, "web-2", "STATUS"), "Terminating");
    // A Running pod on the NotReady node3 is not shown as healthy.
    assert_eq!(
        s.cell(POD_COLUMNS, "kube-proxy-5xq8z", "STATUS"),
        "Running (node NotReady)"
    );
    assert_eq!(
        s.cell(POD_COLUMNS, "migrate-db-8k2lp", "STATUS"),
        "Init:0/1"
    );
    assert_eq!(s.cell(POD_COLUMNS, "migrate-db-8k2lp", "AGE"), "45s");
    assert_eq!(s.cell(POD_COLUMNS, "web-0", "STATUS"), "Running");
    assert_eq!(s.cell(POD_COLUMNS, "web-0", "READY"), "1/1");
    assert_eq!(s.cell(POD_COLUMNS, "web-0", "AGE"), "3d");
    assert_eq!(s.cell(POD_COLUMNS, "kube-proxy", "NODE"), "node3");
    // Rows come in namespace/name order, the crash-looping pod first.
    let rows = s.rows(POD_COLUMNS);
    assert_eq!(rows.len(), 7, "{rows:#?}");
    let first: Vec<&str> = rows[0].split_whitespace().take(2).collect();
    assert_eq!(first, ["demo", CRASHING], "{rows:#?}");
    assert_eq!(
        s.fg_at("ContainerCreating"),
        c.theme.style(Role::Warning).fg
    );
}

#[test]
fn storage_pvc_pv_and_storageclass_views() {
    let mut c = Console::new(false);

    let s = c.command("pvc").draw();
    insta::assert_snapshot!("storage_pvc", s.text());
    assert!(
        s.contains("PersistentVolumeClaims [all]  3/3 "),
        "{}",
        s.text()
    );
    assert_eq!(s.cell(PVC_COLUMNS, "data-web-0", "STATUS"), "Bound");
    assert_eq!(s.cell(PVC_COLUMNS, "data-web-0", "VOLUME"), CSI_VOLUME);
    assert_eq!(s.cell(PVC_COLUMNS, "data-web-0", "CAPACITY"), "10Gi");
    assert_eq!(s.cell(PVC_COLUMNS, "data-web-0", "ACCESS MODES"), "RWO");
    assert_eq!(
        s.cell(PVC_COLUMNS, "data-web-0", "STORAGECLASS"),
        "ceph-rbd"
    );
    assert_eq!(s.cell(PVC_COLUMNS, "scratch", "STATUS"), "Pending");
    assert_eq!(s.cell(PVC_COLUMNS, "scratch", "VOLUME"), "");
    assert_eq!(s.cell(PVC_COLUMNS, "scratch", "STORAGECLASS"), "fast-nvme");
    // A Released volume is seen beside the claims, without `:pv`.
    assert!(
        s.contains("Volumes without a claim")
            && s.contains("legacy-rbd-pv  50Gi      Retain   Released"),
        "{}",
        s.text()
    );

    let s = c.command("pv").draw();
    insta::assert_snapshot!("storage_pv", s.text());
    assert!(s.contains("PersistentVolumes [all]  3/3 "), "{}", s.text());
    // The NAME stays whole; the wider RBD column is the one cut, visibly.
    let rbd = s.cell(PV_COLUMNS, CSI_VOLUME, "RBD");
    assert!(
        rbd.starts_with("kube/csi-vol-6f1c2a9e-") && rbd.ends_with('…'),
        "{rbd:?}"
    );
    assert_eq!(s.cell(PV_COLUMNS, CSI_VOLUME, "CLAIM"), "demo/data-web-0");
    assert_eq!(s.cell(PV_COLUMNS, CSI_VOLUME, "STATUS"), "Bound");
    assert_eq!(s.cell(PV_COLUMNS, "legacy-rbd-pv", "RBD"), "rbd/legacy-img");
    assert_eq!(s.cell(PV_COLUMNS, "legacy-rbd-pv", "RECLAIM"), "Retain");
    assert_eq!(s.cell(PV_COLUMNS, "legacy-rbd-pv", "STATUS"), "Released");
    assert_eq!(s.cell(PV_COLUMNS, "legacy-rbd-pv", "AGE"), "400d");

    // Describe shows the whole pool/image of the CSI volume the table cuts.
    let s = c.keys("jd").draw();
    insta::assert_snapshot!("describe_pv", s.text());
    assert!(
        s.contains(&format!("RBD image:      kube/{CSI_IMAGE}")),
        "{}",
        s.text()
    );
    assert!(
        s.contains("Claim:          demo/data-web-0"),
        "{}",
        s.text()
    );
    c.press(KeyCode::Esc, KeyModifiers::NONE);

    let s = c.command("sc").draw();
    insta::assert_snapshot!("storage_sc", s.text());
    assert!(s.contains("StorageClasses [all]  2/2 "), "{}", s.text());
    assert_eq!(
        s.cell(SC_COLUMNS, "ceph-rbd (default)", "PROVISIONER"),
        "rbd.csi.ceph.com"
    );
    assert_eq!(
        s.cell(SC_COLUMNS, "ceph-rbd-retain", "VOLUMEBINDINGMODE"),
        "WaitForFirstConsumer"
    );
    assert_eq!(
        s.cell(SC_COLUMNS, "ceph-rbd-retain", "RECLAIMPOLICY"),
        "Retain"
    );
    // The Storage tab is the active one throughout.
    assert_eq!(c.app.pane, kcops::ui::panes::PaneId::Storage);
}

const VA_COLUMNS: &[&str] = &["NODE", "NODE-STATE", "ATTACHED", "AGE", "PV"];

/// The cluster with web-0's volume attached to node1 and web-1's still attached to
/// node3 (NotReady, its detach failing): what keeps web-1 from starting.
fn cluster_with_attachments() -> Snapshot {
    let mut s = cluster();
    let va = |name: &str, pv: &str, node: &str, extra: Value| {
        let mut v = json!({
            "metadata": {"name": name, "creationTimestamp": ago(3 * DAY)},
            "spec": {"attacher": "rbd.csi.ceph.com", "nodeName": node,
                     "source": {"persistentVolumeName": pv}},
            "status": {"attached": true}
        });
        json_patch::merge(&mut v, &extra);
        obj(v)
    };
    s.volume_attachments = vec![
        va(
            "csi-0c8f3b1e2d4a5f6071829304a5b6c7d8e9f0a1b2c3d4e5f60718293a4b5c6d7e",
            CSI_VOLUME,
            "node1",
            json!({}),
        ),
        va(
            "csi-9a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f",
            CSI_VOLUME_1,
            "node3",
            json!({"status": {"detachError": {"time": ago(2 * MIN),
                "message": "rpc error: code = DeadlineExceeded desc = context deadline exceeded"}}}),
        ),
    ];
    s.sources.push(SourceStatus {
        kind: "volumeattachments",
        synced: true,
        last_success: Some(now()),
        last_error: None,
        expected: None,
    });
    s.sort();
    s
}

#[test]
fn volume_attachments_view_at_80x24() {
    let mut c = Console::sized(false, 80, 24);
    c.app.set_view(view_of(cluster_with_attachments()));
    let s = c.command("va").draw();
    insta::assert_snapshot!("storage_va_80x24", s.text());
    assert!(s.contains("VolumeAttachments [all]  2/2 "), "{}", s.text());
    // The node column says where each volume is held, and that node3 is NotReady.
    assert_eq!(s.cell(VA_COLUMNS, "node3", "NODE-STATE"), "NotReady");
    assert_eq!(s.cell(VA_COLUMNS, "node1", "NODE-STATE"), "Ready");
    assert_eq!(s.cell(VA_COLUMNS, "node3", "ATTACHED"), "true");
    assert_eq!(s.cell(VA_COLUMNS, "node3", "AGE"), "3d");
    // The volume, its claim and the detach error show (cut to the room there is).
    assert!(
        s.cell(VA_COLUMNS, "node3", "PV").starts_with("pvc-8e2d"),
        "{}",
        s.text()
    );
    assert!(
        s.cell(VA_COLUMNS, "node3", "CLAIM")
            .starts_with("demo/data-"),
        "{}",
        s.text()
    );
    assert!(
        s.cell(VA_COLUMNS, "node3", "ERROR")
            .starts_with("detach: rpc"),
        "{}",
        s.text()
    );
    assert_eq!(c.app.pane, kcops::ui::panes::PaneId::Storage);
}

#[test]
fn workloads_all_and_statefulsets() {
    let mut c = Console::new(false);
    let s = c.keys("5").draw();
    insta::assert_snapshot!("workloads", s.text());
    assert!(s.contains("Workloads [all]  4/4 "), "{}", s.text());
    let rows = s.rows(WORKLOAD_COLUMNS);
    let kinds: Vec<&str> = rows
        .iter()
        .map(|r| r.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        ["StatefulSet", "DaemonSet", "Deployment", "Deployment"]
    );
    assert_eq!(s.cell(WORKLOAD_COLUMNS, "kube-proxy", "DESIRED"), "3");
    assert_eq!(s.cell(WORKLOAD_COLUMNS, "kube-proxy", "READY"), "2");
    assert_eq!(s.cell(WORKLOAD_COLUMNS, "StatefulSet", "READY"), "1");
    assert_eq!(s.cell(WORKLOAD_COLUMNS, "StatefulSet", "UP-TO-DATE"), "3");

    let s = c.command("sts").draw();
    insta::assert_snapshot!("workloads_sts", s.text());
    assert!(s.contains("StatefulSets [all]  1/1 "), "{}", s.text());
    let rows = s.rows(WORKLOAD_COLUMNS);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert!(rows[0].starts_with("StatefulSet"), "{rows:#?}");
    assert!(!s.contains("DaemonSet  "), "{}", s.text());
    assert!(!s.contains("coredns"), "{}", s.text());
}

#[test]
fn events_pane_warnings_first() {
    let mut c = Console::new(false);
    let s = c.keys("6").draw();
    insta::assert_snapshot!("events", s.text());
    assert!(s.contains("Events [all]  8/8 "), "{}", s.text());
    let header = s.header(EVENT_COLUMNS);
    let types: Vec<String> = s
        .rows(EVENT_COLUMNS)
        .iter()
        .map(|r| {
            // TYPE is the second column.
            let line = s.lines.iter().position(|l| l.contains(r)).unwrap_or(header);
            let cols = s.columns(header);
            let chars: Vec<char> = s.lines[line].chars().collect();
            chars[cols[1].1..cols[2].1]
                .iter()
                .collect::<String>()
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(
        types,
        [
            "Warning", "Warning", "Warning", "Warning", "Warning", "Normal", "Normal", "Normal"
        ],
        "{}",
        s.text()
    );
    // Most recent warning first.
    assert_eq!(s.cell(EVENT_COLUMNS, "BackOff", "LAST SEEN"), "20s");
    assert_eq!(
        s.cell(EVENT_COLUMNS, "NodeNotReady", "OBJECT"),
        "node/node3"
    );
    assert_eq!(s.cell(EVENT_COLUMNS, "ProvisioningFailed", "COUNT"), "81");
}

// ---------------------------------------------------------------------------------
// Overlays

#[test]
fn help_overlay() {
    let mut c = Console::new(false);
    let s = c.keys("3?").draw();
    insta::assert_snapshot!("help_pods", s.text());
    assert!(s.contains(" Keys "), "{}", s.text());
    for hint in [
        "This pane",
        "Global",
        "ctrl-k",
        "describe",
        "shell into",
        "quit",
    ] {
        assert!(s.contains(hint), "help lacks {hint:?}:\n{}", s.text());
    }
    // Every binding of the pane and global contexts is on screen: nothing falls
    // off the bottom of the overlay. The detail views' keys are not theirs.
    assert!(s.contains("refresh"), "{}", s.text());
    assert!(!s.contains("next container"), "{}", s.text());
    // Esc closes it.
    let s = c.press(KeyCode::Esc, KeyModifiers::NONE).draw();
    assert!(!s.contains(" Keys "), "{}", s.text());

    let s = c.keys("1?").draw();
    insta::assert_snapshot!("help_overview", s.text());
}

/// Help at the sizes operators have (80x24, and a 60x15 split), in both shipped
/// keymaps: keys and descriptions never run into each other, and what does not fit
/// scrolls into view.
#[test]
fn help_at_small_sizes_in_both_keymaps() {
    for name in ["default", "vim"] {
        for (w, h) in [(80, 24), (60, 15)] {
            let keymap = Keymap::builtin(name).unwrap_or_else(|| panic!("no {name} keymap"));
            let mut c = Console::with_keymap(false, w, h, keymap);
            let s = c.keys("3?").draw();
            insta::assert_snapshot!(format!("help_pods_{name}_{w}x{h}"), s.text());
            assert!(s.contains(" Keys"), "{name} {w}x{h}:\n{}", s.text());
            // A key list is followed by two spaces or ends its row.
            for line in &s.lines {
                assert!(
                    !line.contains("ctrl-upage") && !line.contains("spacepage"),
                    "{name} {w}x{h}: keys ran into a description:\n{}",
                    s.text()
                );
            }
            // Scrolling to the end shows the last section's last entry.
            let mut seen = s.text();
            for _ in 0..80 {
                seen.push_str(&c.keys("j").draw().text());
            }
            for want in ["remove a stale RBD lock", "shell into", "quit", "refresh"] {
                assert!(
                    seen.contains(want),
                    "{name} {w}x{h}: never shows {want:?}:\n{seen}"
                );
            }
            // Only the Pods pane's keys: none of another pane's own.
            for other in [
                "go to the finding's object",
                "read the node's host",
                "release the node's leaked pod IPs",
                "wrap long lines",
            ] {
                assert!(
                    !seen.contains(other),
                    "{name} {w}x{h}: lists {other:?} on Pods:\n{seen}"
                );
            }
        }
    }
}

/// On the Pods pane `u` removes a lock; uncordon (its table key) does not apply
/// there, so help lists `u` once.
#[test]
fn help_lists_a_key_once() {
    let mut c = Console::new(false);
    let s = c.keys("3?").draw();
    let us = s.text().matches("  u  ").count();
    assert_eq!(us, 1, "{}", s.text());
    assert!(!s.contains("uncordon"), "{}", s.text());
}

/// The hint bar shows the keys of the keymap in use.
#[test]
fn hint_bar_shows_rebound_keys() {
    let (keymap, errors) = Keymap::parse("[global]\nhelp = \"f1\"\nquit = \"ctrl-q\"\n", "k.toml");
    assert!(errors.is_empty(), "{errors:?}");
    let keymap = keymap.unwrap_or_else(|| panic!("keymap"));
    let mut c = Console::with_keymap(false, WIDTH, HEIGHT, keymap);
    let s = c.keys("3").draw();
    assert_eq!(
        s.lines.last().map(String::as_str),
        Some("f1 help  : command  / filter  ctrl-q quit")
    );
    // And f1 opens the help, which says so.
    let s = c.press(KeyCode::F(1), KeyModifiers::NONE).draw();
    assert!(s.contains(" Keys "), "{}", s.text());
    assert!(s.contains("f1 "), "{}", s.text());
}

/// In a confirm dialog ctrl-c cancels and `?` shows the dialog's keys (and
/// returns to the dialog) instead of being typed.
#[test]
fn dialog_keys_come_from_the_keymap() {
    let mut c = Console::new(false);
    let ctrl_k = |c: &mut Console| {
        c.keys("3").press(KeyCode::Char('k'), KeyModifiers::CONTROL);
    };
    ctrl_k(&mut c);
    let s = c
        .keys("api")
        .press(KeyCode::Char('c'), KeyModifiers::CONTROL)
        .draw();
    assert!(
        !s.contains("Delete pod"),
        "ctrl-c did not cancel:\n{}",
        s.text()
    );
    ctrl_k(&mut c);
    let s = c.keys("api?").draw();
    assert!(s.contains(" Keys "), "{}", s.text());
    assert!(
        s.contains("confirm") && s.contains("cancel"),
        "{}",
        s.text()
    );
    let s = c.press(KeyCode::Esc, KeyModifiers::NONE).draw();
    assert!(!s.contains(" Keys "), "{}", s.text());
    assert!(
        s.contains(&format!("Type {CRASHING} to confirm, Esc to cancel: api")),
        "{}",
        s.text()
    );
    assert!(!s.contains("api?"), "{}", s.text());
}

/// Rebinding `[dialog] confirm` moves confirming to the new key.
#[test]
fn rebound_dialog_confirm_takes_effect() {
    let (keymap, errors) = Keymap::parse("[dialog]\nconfirm = \"ctrl-y\"\n", "k.toml");
    assert!(errors.is_empty(), "{errors:?}");
    let keymap = keymap.unwrap_or_else(|| panic!("keymap"));
    let mut c = Console::with_keymap(false, WIDTH, HEIGHT, keymap);
    let s = c
        .keys("5s")
        .press(KeyCode::Backspace, KeyModifiers::NONE)
        .keys("2")
        .enter()
        .draw();
    assert!(
        s.contains(" Scale web "),
        "enter still confirms:\n{}",
        s.text()
    );
    assert!(s.contains("ctrl-y to preview the plan"), "{}", s.text());
    let s = c.press(KeyCode::Char('y'), KeyModifiers::CONTROL).draw();
    assert!(
        s.contains("Scale StatefulSet demo/web from 3 to 2 replicas"),
        "{}",
        s.text()
    );
}

/// `N` (search-prev) goes back to the previous match in a detail view.
#[test]
fn search_prev_in_a_detail_view() {
    let mut c = Console::new(false);
    let first_body_line = |s: &Screen| s.lines[s.header(&["yaml Pod"]) + 1].clone();
    let s = c.keys("3y/name:").enter().draw();
    let first = first_body_line(&s);
    assert!(first.contains("name:"), "{}", s.text());
    let s = c.keys("n").draw();
    let second = first_body_line(&s);
    assert!(second.contains("name:") && second != first, "{}", s.text());
    let s = c.keys("N").draw();
    assert_eq!(first_body_line(&s), first, "{}", s.text());
}

#[test]
fn describe_and_yaml_of_a_pod() {
    let mut c = Console::new(false);
    let s = c.keys("3d").draw();
    insta::assert_snapshot!("describe_pod", s.text());
    assert!(
        s.contains(&format!(" describe Pod demo/{CRASHING} ")),
        "{}",
        s.text()
    );
    for want in [
        "Controlled By:  ReplicaSet/api-7c9d8f6b5",
        "Node:           node1",
        "app state: waiting CrashLoopBackOff  restarts: 7",
        "Last State: Terminated  Reason: Error  Exit Code: 1",
        "Message:    panic: cannot connect to database at db.demo.svc:5432",
        "Ready                       False   ContainersNotReady",
        "Warning BackOff                 42x",
    ] {
        assert!(s.contains(want), "describe lacks {want:?}:\n{}", s.text());
    }
    c.press(KeyCode::Esc, KeyModifiers::NONE);

    let s = c.keys("y").draw();
    insta::assert_snapshot!("yaml_pod", s.text());
    assert!(
        s.contains(&format!(" yaml Pod demo/{CRASHING} ")),
        "{}",
        s.text()
    );
    assert!(s.contains("kind: ReplicaSet"), "{}", s.text());
    // Search jumps to the first match and names it in the title.
    let s = c.keys("/restartCount").enter().draw();
    insta::assert_snapshot!("yaml_pod_search", s.text());
    assert!(s.contains("/restartCount "), "{}", s.text());
    let body = s.header(&["yaml Pod"]) + 1;
    assert!(
        s.lines[body].contains("restartCount: 7"),
        "search did not scroll to the match:\n{}",
        s.text()
    );
    // `?` in a detail view lists its own keys, over it; Esc goes back to it.
    let s = c.keys("?").draw();
    for want in [
        "This view",
        "next match",
        "wrap long lines on/off",
        "scroll right",
    ] {
        assert!(
            s.contains(want),
            "detail help lacks {want:?}:\n{}",
            s.text()
        );
    }
    let s = c.press(KeyCode::Esc, KeyModifiers::NONE).draw();
    assert!(s.contains(" yaml Pod "), "{}", s.text());
}

#[test]
fn logs_overlay_without_a_connection() {
    let mut c = Console::new(false);
    let s = c.keys("3l").draw();
    insta::assert_snapshot!("logs_pod_not_connected", s.text());
    assert!(
        s.contains(&format!(" logs Pod demo/{CRASHING} [app] ")),
        "{}",
        s.text()
    );
    assert!(
        s.contains("not connected to the API server"),
        "{}",
        s.text()
    );
}

#[test]
fn filter_in_action() {
    let mut c = Console::new(false);
    let s = c.keys("3/web").draw();
    insta::assert_snapshot!("pods_filter_typing", s.text());
    assert!(s.contains("Pods [all]  3/7 "), "{}", s.text());
    assert_eq!(s.lines.last().map(String::as_str), Some("/web"));
    let rows = s.rows(POD_COLUMNS);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    for r in &rows {
        assert!(r.contains("web-"), "non-matching row shown: {r}");
    }
    for hidden in [CRASHING, "coredns", "kube-proxy", "migrate-db"] {
        assert!(
            !s.contains(hidden),
            "{hidden} not filtered out:\n{}",
            s.text()
        );
    }

    // Enter keeps the filter and shows it in the hint line.
    let s = c.enter().draw();
    insta::assert_snapshot!("pods_filter_applied", s.text());
    assert!(s.contains("filter: web  ? help"), "{}", s.text());
    assert!(s.contains("Pods [all]  3/7 "), "{}", s.text());

    // A regex, inverted: everything that is not Running (kube-proxy on the NotReady
    // node3 shows `Running (node NotReady)`: not healthy, so it is listed).
    let s = c
        .keys("/")
        .press(KeyCode::Esc, KeyModifiers::NONE)
        .keys("/!^Running$")
        .draw();
    assert!(s.contains("Pods [all]  5/7 "), "{}", s.text());
    assert!(!s.contains("coredns"), "{}", s.text());
    assert!(s.contains(CRASHING), "{}", s.text());

    // Esc clears it.
    let s = c.press(KeyCode::Esc, KeyModifiers::NONE).draw();
    assert!(s.contains("Pods [all]  7/7 "), "{}", s.text());
}

// ---------------------------------------------------------------------------------
// Dialogs

#[test]
fn scale_dialog() {
    let mut c = Console::new(false);
    // The Workloads pane opens on the StatefulSet demo/web.
    let s = c.keys("5s3").draw();
    insta::assert_snapshot!("scale_input", s.text());
    assert!(s.contains(" Scale web "), "{}", s.text());
    assert!(s.contains("Current replicas: 3"), "{}", s.text());
    assert!(s.contains("New replicas: 3"), "{}", s.text());

    // Down to 2: the plan preview asks for the typed name.
    let s = c
        .press(KeyCode::Backspace, KeyModifiers::NONE)
        .keys("2")
        .enter()
        .draw();
    insta::assert_snapshot!("scale_plan_down", s.text());
    assert!(
        s.contains("Scale StatefulSet demo/web from 3 to 2 replicas"),
        "{}",
        s.text()
    );
    assert!(s.contains("[destructive]"), "{}", s.text());
    assert!(
        s.contains("Type web to confirm, Esc to cancel:"),
        "{}",
        s.text()
    );
    let s = c.press(KeyCode::Esc, KeyModifiers::NONE).draw();
    assert!(
        !s.contains("Scale StatefulSet"),
        "Esc did not close:\n{}",
        s.text()
    );

    // Not a number: the dialog says so and stays.
    let s = c.keys("sx").enter().draw();
    assert!(s.contains("\"x\" is not a replica count"), "{}", s.text());
}

/// Issue 15 #9: ctrl-k on the Overview's "stuck Terminating" finding (a pod on the
/// NotReady node3) is a force delete whose plan says what forcing costs and how to
/// fence first; cordon is not offered on a node that is already cordoned.
#[test]
fn force_delete_of_a_pod_stuck_terminating_and_no_second_cordon() {
    let mut c = Console::sized(false, 80, 24);
    let stuck = c
        .app
        .view
        .findings
        .iter()
        .position(|f| f.id == "pod.terminating-stuck")
        .unwrap_or_else(|| panic!("no stuck pod finding"));
    for _ in 0..stuck {
        c.keys("j");
    }
    let s = c.press(KeyCode::Char('k'), KeyModifiers::CONTROL).draw();
    assert!(
        s.contains("Force-delete pod demo/web-2 stuck Terminating on node3"),
        "{}",
        s.text()
    );
    assert!(
        s.contains("(grace") && s.contains("period 0)"),
        "{}",
        s.text()
    );
    // At 80x24 the typed confirmation is on screen with what was typed.
    let s = c.keys("web").draw();
    insta::assert_snapshot!("force_delete_80x24", s.text());
    assert!(s.contains("Type web-2 to confirm"), "{}", s.text());
    assert!(s.contains("Esc to cancel: web"), "{}", s.text());
    c.press(KeyCode::Esc, KeyModifiers::NONE);
    // The cordoned node: `c` says so instead of a plan.
    let cordoned = c
        .app
        .view
        .snapshot
        .nodes
        .iter()
        .find(|n| n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true))
        .and_then(|n| n.metadata.name.clone())
        .unwrap_or_else(|| panic!("the fixture has a cordoned node"));
    c.keys("2/")
        .keys(&cordoned)
        .press(KeyCode::Enter, KeyModifiers::NONE);
    let s = c.keys("c").draw();
    assert!(
        s.contains(&format!("node {cordoned} is already cordoned")),
        "{}",
        s.text()
    );
    assert!(!s.contains("Cordon node"), "{}", s.text());
}

#[test]
fn delete_confirmation_dialog() {
    let mut c = Console::new(false);
    let s = c
        .keys("3")
        .press(KeyCode::Char('k'), KeyModifiers::CONTROL)
        .keys("api-7c9d")
        .draw();
    insta::assert_snapshot!("delete_pod_confirm", s.text());
    assert!(
        s.contains(&format!(" Delete pod demo/{CRASHING} ")),
        "{}",
        s.text()
    );
    assert!(s.contains("[destructive]"), "{}", s.text());
    assert!(
        s.contains(&format!("Confirmation: type \"{CRASHING}\"")),
        "{}",
        s.text()
    );
    assert!(
        s.contains(&format!(
            "Type {CRASHING} to confirm, Esc to cancel: api-7c9d"
        )),
        "{}",
        s.text()
    );
    // Esc cancels without anything running.
    let s = c.press(KeyCode::Esc, KeyModifiers::NONE).draw();
    assert!(!s.contains("Delete pod"), "{}", s.text());
    assert!(s.contains(CRASHING), "{}", s.text());
}

#[test]
fn read_only_mode() {
    let mut c = Console::new(true);
    let s = c.keys("3").draw();
    assert!(s.lines[0].ends_with(" READ-ONLY"), "{}", s.lines[0]);
    assert_eq!(s.fg_at("READ-ONLY"), c.theme.style(Role::Warning).fg);

    // The delete key is refused with the reason; no dialog opens.
    let s = c.press(KeyCode::Char('k'), KeyModifiers::CONTROL).draw();
    insta::assert_snapshot!("read_only_delete_refused", s.text());
    assert_eq!(
        s.lines.last().map(String::as_str),
        Some("read-only mode (--read-only): actions are disabled")
    );
    assert!(!s.contains("Delete pod"), "{}", s.text());
    assert!(!s.contains("to confirm"), "{}", s.text());

    // Scale and cordon are refused too.
    let s = c.keys("5s").draw();
    assert!(!s.contains(" Scale web "), "{}", s.text());
    assert!(s.contains("read-only mode (--read-only)"), "{}", s.text());
    let s = c.keys("2c").draw();
    assert!(!s.contains("Cordon node"), "{}", s.text());
    assert!(s.contains("read-only mode (--read-only)"), "{}", s.text());

    // The help overlay leaves out what read-only mode refuses.
    let s = c.keys("3?").draw();
    insta::assert_snapshot!("read_only_help", s.text());
    assert!(s.contains("describe"), "{}", s.text());
    for hidden in ["ctrl-k", "cordon node", "scale"] {
        assert!(
            !s.contains(hidden),
            "help shows {hidden:?} read-only:\n{}",
            s.text()
        );
    }
}

// ---------------------------------------------------------------------------------
// Network

/// The fixture cluster on flannel: node2's flannel crash-looping ("dial tcp
/// 10.96.0.1:443: i/o timeout"), kube-proxy without clusterCIDR, and the host of node1
/// (the console's node) with leaked host-local reservations.
fn network_view() -> Arc<ViewModel> {
    use kcops::model::host::{
        CniConfig, HostReport, IfAddr, IpamNetwork, Link, Probe, Reservation, SandboxList,
        SubnetEnv,
    };
    let mut s = cluster();
    for i in 0..s.nodes.len() {
        let n = &mut s.nodes[i];
        let mut v = serde_json::to_value(n.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        json_patch::merge(
            &mut v,
            &json!({"metadata": {"annotations": {
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/public-ip": format!("192.0.2.1{}", i + 1)}}}),
        );
        *n = obj(v);
    }
    s.configmaps = vec![
        obj(
            json!({"metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
            "data": {"ClusterConfiguration": "networking:\n  podSubnet: 10.244.0.0/16\n  serviceSubnet: 10.96.0.0/12\n"}}),
        ),
        obj(
            json!({"metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": "clusterCIDR: \"\"\n"}}),
        ),
        obj(
            json!({"metadata": {"name": "kube-flannel-cfg", "namespace": "kube-flannel"},
            "data": {"net-conf.json": "{\"Network\": \"10.244.0.0/16\", \"Backend\": {\"Type\": \"vxlan\"}}"}}),
        ),
    ];
    s.daemonsets.push(obj(json!({
        "metadata": {"name": "kube-flannel-ds", "namespace": "kube-flannel", "uid": "ds-flannel",
            "labels": {"app": "flannel"}, "creationTimestamp": ago(30 * DAY)},
        "spec": {"selector": {"matchLabels": {"app": "flannel"}}, "template": template("flannel")},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 1,
            "numberAvailable": 1, "updatedNumberScheduled": 3, "numberMisscheduled": 0}
    })));
    let owner = json!({"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
        "name": "kube-flannel-ds", "uid": "ds-flannel", "controller": true}]});
    for (name, node_name, ip) in [
        ("kube-flannel-ds-7x2kq", "node1", "192.0.2.11"),
        ("kube-flannel-ds-m4d8r", "node3", "192.0.2.13"),
    ] {
        s.pods.push(obj(pod(
            "kube-flannel",
            name,
            node_name,
            ip,
            30 * DAY,
            json!({"metadata": owner.clone(), "spec": {"hostNetwork": true}}),
        )));
    }
    s.pods.push(obj(pod("kube-flannel", "kube-flannel-ds-zp9wd", "node2", "192.0.2.12", 30 * DAY, json!({
        "metadata": owner,
        "spec": {"hostNetwork": true},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": ago(HOUR)}],
            "containerStatuses": [{"name": "kube-flannel", "image": "flannel", "imageID": "", "ready": false,
                "restartCount": 14, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(40),
                    "message": "E0101 11:59:20.000000       1 main.go:240] Failed to create SubnetManager: error retrieving pod spec for 'kube-flannel/kube-flannel-ds-zp9wd': Get \"https://10.96.0.1:443/api/v1/namespaces/kube-flannel/pods/kube-flannel-ds-zp9wd\": dial tcp 10.96.0.1:443: i/o timeout"}}}]
        }
    }))));
    let live = "7c166dd7ae0cece3c7a15ad63a4ea381553e3a11e31f1bb0262d693a94f39541";
    let mut host = HostReport::empty("/lab/hosts/node1", Some("node1".into()), now());
    host.subnet_env = Probe::Found(SubnetEnv {
        network: "10.244.0.0/16".parse().ok(),
        subnet_text: Some("10.244.0.1/24".into()),
        subnet: "10.244.0.0/24".parse().ok(),
        mtu: Some(1450),
        ipmasq: Some(true),
    });
    host.cni_configs = Probe::Found(vec![CniConfig {
        file: "10-flannel.conflist".into(),
        name: Some("cbr0".into()),
        plugins: vec!["flannel".into(), "portmap".into()],
        ..Default::default()
    }]);
    host.ipam = Probe::Found(vec![IpamNetwork {
        name: "cbr0".into(),
        reservations: (2..7)
            .map(|i| Reservation {
                ip: format!("10.244.0.{i}")
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}")),
                sandbox: if i == 2 {
                    live.to_string()
                } else {
                    format!("{i:064x}")
                },
                ifname: Some("eth0".into()),
            })
            .collect(),
        range: "10.244.0.0/24".parse().ok(),
        capacity: Some(253),
        range_source: Some("10-flannel.conflist via subnet.env".into()),
    }]);
    host.sandboxes = Probe::Found(SandboxList {
        source: "command `crictl pods -q`".into(),
        ids: [live.to_string()].into_iter().collect(),
    });
    host.ip_forward = Probe::Found(true);
    host.links = Probe::Found(vec![Link {
        name: "cni0".into(),
        operstate: Some("up".into()),
        addresses: vec![IfAddr {
            ip: "10.244.0.1".parse().unwrap_or_else(|e| panic!("{e}")),
            prefix: 24,
        }],
    }]);
    s.host = Some(Arc::new(host));
    s.sort();
    let conn = ConnState {
        context: "kubernetes-admin@lab".into(),
        cluster: "lab".into(),
        server: "https://192.0.2.11:6443".into(),
        user: "kubernetes-admin".into(),
        error: None,
    };
    Arc::new(derive(s, conn, 2))
}

const NET_COLUMNS: &[&str] = &["NODE", "CNI POD", "STATE", "RESTARTS", "PODCIDR"];

#[test]
fn network_pane() {
    let mut c = Console::new(false);
    c.app.set_view(network_view());
    let s = c.keys("7").draw();
    insta::assert_snapshot!("network", s.text());
    assert!(s.lines[0].contains(" 7:Network "), "{}", s.lines[0]);
    assert!(s.contains("add-on"), "{}", s.text());
    assert!(
        s.contains(
            "flannel (DaemonSet kube-flannel/kube-flannel-ds: desired 3, ready 1, available 1)"
        ),
        "{}",
        s.text()
    );
    assert_eq!(s.cell(NET_COLUMNS, "node2", "STATE"), "CrashLoopBackOff");
    assert_eq!(s.cell(NET_COLUMNS, "node2", "RESTARTS"), "14");
    assert_eq!(
        s.cell(NET_COLUMNS, "node2", "VERDICT"),
        "agent crash-looping"
    );
    assert_eq!(s.cell(NET_COLUMNS, "node1", "VERDICT"), "leaked IPs");
    assert_eq!(s.cell(NET_COLUMNS, "node3", "VERDICT"), "node NotReady");
    assert_eq!(s.cell(NET_COLUMNS, "node1", "PUBLIC IP"), "192.0.2.11");
    assert!(
        s.contains("Host node1 (root /lab/hosts/node1"),
        "{}",
        s.text()
    );
    assert!(
        s.contains("5 of 253 (10.244.0.0/24) reserved, 4 leaked"),
        "{}",
        s.text()
    );
    let ids: Vec<&str> = c.app.view.network.findings.iter().map(|f| f.id).collect();
    assert_eq!(
        ids,
        [
            "net.cni-crashloop",
            "net.kube-proxy-cluster-cidr",
            "net.leaked-reservations"
        ]
    );
    assert!(s.contains("net.cni-crashloop"), "{}", s.text());
    // Page down scrolls the findings, not the (short) node table.
    let s = c
        .press(KeyCode::PageDown, KeyModifiers::NONE)
        .press(KeyCode::PageDown, KeyModifiers::NONE)
        .draw();
    assert!(s.contains("net.leaked-reservations"), "{}", s.text());
    assert!(
        s.contains("leaked: /var/lib/cni/networks/cbr0/10.244.0.3 (sandbox 000000000000)"),
        "{}",
        s.text()
    );
    assert_eq!(s.cell(NET_COLUMNS, "node1", "VERDICT"), "leaked IPs");
    // The same findings reach the Overview, and `:net` opens the pane.
    assert!(
        c.app
            .view
            .findings
            .iter()
            .any(|f| f.id == "net.cni-crashloop")
    );
    let s = c.keys("1").command("net").draw();
    assert!(s.contains(" Pod network "), "{}", s.text());

    // `:release-ips` plans the release of node1's 4 leaked reservations.
    let s = c.command("release-ips").draw();
    assert!(
        s.contains("Release leaked IP reservations of cbr0 on node1"),
        "{}",
        s.text()
    );
    assert!(
        s.contains("Release 4 leaked host-local reservations of network cbr0 on node1"),
        "{}",
        s.text()
    );
    // Refused in read-only mode, with the reason.
    let mut ro = Console::new(true);
    ro.app.set_view(network_view());
    let s = ro.keys("7").command("release-ips").draw();
    assert!(!s.contains("Release leaked IP"), "{}", s.text());
    assert_eq!(
        s.lines.last().map(String::as_str),
        Some("read-only mode (--read-only): actions are disabled")
    );
}

/// The network fixes open as wizards: what is wrong, the change line by line, the plan
/// with its typed confirmation; the agent restart shows the agent's state first.
#[test]
fn network_fix_wizards() {
    let mut c = Console::new(false);
    c.app.set_view(network_view());
    let s = c.keys("7").command("set-cluster-cidr").draw();
    insta::assert_snapshot!("wizard_cluster_cidr_wrong", s.text());
    assert!(
        s.contains("Set kube-proxy's clusterCIDR to 10.244.0.0/16"),
        "{}",
        s.text()
    );
    assert!(
        s.contains("kube-proxy runs without a clusterCIDR"),
        "{}",
        s.text()
    );
    let s = c.press(KeyCode::Enter, KeyModifiers::NONE).draw();
    insta::assert_snapshot!("wizard_cluster_cidr_change", s.text());
    assert!(s.contains("- clusterCIDR: \"\""), "{}", s.text());
    assert!(s.contains("+ clusterCIDR: 10.244.0.0/16"), "{}", s.text());
    let s = c.press(KeyCode::Enter, KeyModifiers::NONE).draw();
    assert!(
        s.contains("Patch ConfigMap kube-system/kube-proxy, key config.conf: clusterCIDR empty -> \"10.244.0.0/16\""),
        "{}",
        s.text()
    );
    assert!(s.contains("kube-proxy-5xq8z"), "{}", s.text());

    let mut c = Console::new(false);
    c.app.set_view(network_view());
    let s = c.keys("7").command("restart-cni node2").draw();
    insta::assert_snapshot!("wizard_restart_cni", s.text());
    assert!(
        s.contains("Pod kube-flannel/kube-flannel-ds-zp9wd of DaemonSet kube-flannel-ds on node2"),
        "{}",
        s.text()
    );
    assert!(
        s.contains("container kube-flannel: CrashLoopBackOff, ready false, 14 restarts"),
        "{}",
        s.text()
    );
    // A node without an agent: nothing to open, the reason on the status line.
    let mut c = Console::new(false);
    c.app.set_view(network_view());
    let s = c.keys("7").command("restart-cni node9").draw();
    assert!(
        s.lines
            .last()
            .is_some_and(|l| l.starts_with("no kube-flannel/kube-flannel-ds pod runs on node9")),
        "{}",
        s.text()
    );
    // Read-only: refused before anything opens.
    let mut ro = Console::new(true);
    ro.app.set_view(network_view());
    let s = ro.keys("7").command("set-cluster-cidr").draw();
    assert!(!s.contains("Set kube-proxy's clusterCIDR"), "{}", s.text());
    assert_eq!(
        s.lines.last().map(String::as_str),
        Some("read-only mode (--read-only): actions are disabled")
    );
}

// ---------------------------------------------------------------------------------
// Tiny terminals

/// Every pane and overlay drawn into terminals far too small must not panic.
#[test]
fn tiny_terminals_do_not_panic() {
    type Step = fn(&mut Console);
    let steps: &[(&str, Step)] = &[
        ("overview", |_| {}),
        ("nodes", |c| {
            c.keys("2");
        }),
        ("pods", |c| {
            c.keys("3");
        }),
        ("pvc", |c| {
            c.command("pvc");
        }),
        ("pv", |c| {
            c.command("pv");
        }),
        ("sc", |c| {
            c.command("sc");
        }),
        ("va", |c| {
            c.command("va");
        }),
        ("workloads", |c| {
            c.keys("5");
        }),
        ("sts", |c| {
            c.command("sts");
        }),
        ("events", |c| {
            c.keys("6");
        }),
        ("help", |c| {
            c.keys("3?");
        }),
        ("describe", |c| {
            c.keys("3d");
        }),
        ("yaml", |c| {
            c.keys("3y");
        }),
        ("logs", |c| {
            c.keys("3l");
        }),
        ("filter", |c| {
            c.keys("3/web");
        }),
        ("scale", |c| {
            c.keys("5s2");
        }),
        ("scale-plan", |c| {
            c.keys("5s2").enter();
        }),
        ("delete", |c| {
            c.keys("3")
                .press(KeyCode::Char('k'), KeyModifiers::CONTROL)
                .keys("api");
        }),
        ("namespace", |c| {
            c.keys("3n");
        }),
        ("command", |c| {
            c.keys(":pods kube-sys");
        }),
        ("network", |c| {
            c.app.set_view(network_view());
            c.keys("7");
        }),
        ("ceph", |c| {
            c.app.set_view(ceph_view(ceph_report(12, Some("down"))));
            c.command("ceph");
        }),
        ("rbd", |c| {
            c.app.set_view(ceph_view(ceph_report(12, None)));
            c.command("rbd");
        }),
    ];
    for (w, h) in [(20, 5), (1, 1), (140, 3), (8, 40), (0, 0)] {
        for read_only in [false, true] {
            for (name, step) in steps {
                let mut c = Console::sized(read_only, w, h);
                step(&mut c);
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.draw()));
                assert!(
                    result.is_ok(),
                    "drawing {name} (read-only {read_only}) at {w}x{h} panicked"
                );
            }
        }
    }
    // The 20x5 frame still carries the tab bar.
    let mut c = Console::sized(false, 20, 5);
    let s = c.keys("3").draw();
    assert!(s.lines[0].starts_with(" kcops "), "{}", s.text());
}

// ---------------------------------------------------------------------------------
// The Ceph pane

/// Ceph as the console would have it for [`cluster`]: `kube/CSI_IMAGE` held and
/// watched by node1, where web-0 runs; `kube/CSI_IMAGE_1` still locked (kubelet
/// cookie) and watched by node3 while web-1 waits on node1 (a stale lock); the
/// Released legacy PV's image; and an image no PV names.
fn ceph_report(fetched_secs_ago: i64, error: Option<&str>) -> kcops::model::ceph::CephReport {
    use kcops::ceph::{
        BlocklistEntry, DfReport, HealthCheck, HealthReport, ImageInfo, LockerInfo, OsdStat,
        PoolInfo, PoolUsage, WatcherInfo,
    };
    use kcops::model::ceph::{CephData, CephReport, FencePermission};
    let image =
        |pool: &str, name: &str, lockers: Vec<LockerInfo>, watchers: Vec<WatcherInfo>| ImageInfo {
            pool: pool.into(),
            name: name.into(),
            id: format!("{:x}", name.len() * 4099),
            size: 10 << 30,
            object_size: 4 << 20,
            num_objects: 2560,
            order: 22,
            format: 2,
            features: 61,
            block_name_prefix: "rbd_data.1".into(),
            lockers,
            watchers,
        };
    let gib = 1u64 << 30;
    let data = CephData {
        health: HealthReport {
            status: "HEALTH_WARN".into(),
            checks: vec![
                HealthCheck {
                    code: "AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED".into(),
                    severity: "HEALTH_WARN".into(),
                    summary: "mon is allowing insecure global_id reclaim".into(),
                    details: vec![
                        "mon.a has auth_allow_insecure_global_id_reclaim set to true".into(),
                    ],
                    count: 1,
                    muted: false,
                },
                HealthCheck {
                    code: "MON_DISK_LOW".into(),
                    severity: "HEALTH_WARN".into(),
                    summary: "mon a is low on available space".into(),
                    details: vec!["mon.a has 21% avail".into()],
                    count: 1,
                    muted: false,
                },
            ],
        },
        df: DfReport {
            total_bytes: 100 * gib,
            total_used_bytes: 21 * gib,
            total_avail_bytes: 79 * gib,
            pools: vec![
                PoolUsage {
                    name: "kube".into(),
                    id: 2,
                    stored: 20 * gib,
                    objects: 5120,
                    bytes_used: 20 * gib,
                    percent_used: 0.2021,
                    max_avail: 79 * gib,
                },
                PoolUsage {
                    name: "rbd".into(),
                    id: 1,
                    stored: gib / 2,
                    objects: 128,
                    bytes_used: gib / 2,
                    percent_used: 0.0063,
                    max_avail: 79 * gib,
                },
            ],
        },
        osd: OsdStat {
            epoch: 42,
            num_osds: 3,
            num_up_osds: 3,
            num_in_osds: 3,
            num_remapped_pgs: 0,
        },
        rbd_pools: vec![
            PoolInfo {
                id: 2,
                name: "kube".into(),
                applications: vec!["rbd".into()],
            },
            PoolInfo {
                id: 1,
                name: "rbd".into(),
                applications: vec!["rbd".into()],
            },
        ],
        blocklist: vec![BlocklistEntry {
            addr: "192.0.2.13:0/3323368536".into(),
            until: "2025-01-01T12:55:00.000000+0000".into(),
            expires: "2025-01-01T12:55:00Z".parse().ok(),
            range: false,
        }],
        images: vec![
            image(
                "kube",
                CSI_IMAGE_1,
                vec![LockerInfo {
                    locker: "client.4140".into(),
                    cookie: "kubelet_lock_magic_node3".into(),
                    address: "192.0.2.13:0/3323368536".into(),
                    tag: String::new(),
                    exclusive: true,
                }],
                vec![WatcherInfo {
                    address: "192.0.2.13:0/2937587615".into(),
                    client_id: 4141,
                    cookie: 94259303712016,
                }],
            ),
            image(
                "kube",
                CSI_IMAGE,
                vec![LockerInfo {
                    locker: "client.4150".into(),
                    cookie: "auto 94259303712017".into(),
                    address: "192.0.2.11:0/1207354842".into(),
                    tag: "internal".into(),
                    exclusive: true,
                }],
                vec![WatcherInfo {
                    address: "192.0.2.11:0/1207354842".into(),
                    client_id: 4150,
                    cookie: 94259303712018,
                }],
            ),
            image("rbd", "legacy-img", Vec::new(), Vec::new()),
            image("rbd", "orphan-img", Vec::new(), Vec::new()),
        ],
        image_errors: Vec::new(),
        fencing: FencePermission::Allowed,
        own_addrs: vec!["192.0.2.11:0/4000000000".into()],
        mon_map: None,
    };
    CephReport {
        entity: "client.admin".into(),
        conf: "/etc/ceph/ceph.conf".into(),
        attempted_at: Some(now() - SignedDuration::from_secs(2)),
        fetched_at: Some(now() - SignedDuration::from_secs(fetched_secs_ago)),
        error: error.map(str::to_string),
        failure: None,
        data: Some(data),
        csi_users: None,
    }
}

fn ceph_view(report: kcops::model::ceph::CephReport) -> Arc<ViewModel> {
    let mut s = cluster();
    s.ceph = Some(Arc::new(report));
    Arc::new(derive(s, ConnState::default(), 1))
}

/// The columns a 140-cell terminal shows (the rest are hidden, in the detail).
const CEPH_COLUMNS: &[&str] = &["POOL", "IMAGE", "STATUS", "LOCKS", "PODS"];

#[test]
fn ceph_pane_with_a_stale_lock() {
    let mut c = Console::new(false);
    c.app.set_view(ceph_view(ceph_report(12, None)));
    let s = c.command("ceph").draw();
    insta::assert_snapshot!("ceph", s.text());
    assert!(s.lines[0].contains(" 8:Ceph "), "{}", s.lines[0]);
    assert!(s.contains("RBD images (5 columns hidden: see the detail)"));
    assert!(
        s.contains("client.admin  conf /etc/ceph/ceph.conf  data 12s old"),
        "{}",
        s.text()
    );
    assert!(s.contains("HEALTH_WARN"), "{}", s.text());
    assert!(
        s.contains("MON_DISK_LOW: mon a is low on available space"),
        "{}",
        s.text()
    );
    assert!(s.contains("mon.a has 21% avail"), "{}", s.text());
    assert!(s.contains("3 up, 3 in, of 3 (epoch 42)"), "{}", s.text());
    assert!(
        s.contains("kube: 2 images, stored 20 GiB, 20.21% used, 79 GiB max avail"),
        "{}",
        s.text()
    );
    assert!(
        s.contains("192.0.2.13:0/3323368536  until 2025-01-01T12:55:00.000000+0000 (in 55m)"),
        "{}",
        s.text()
    );
    assert_eq!(c.app.view.ceph.images.rows.len(), 4, "one row per image");
    // The stale image: the lock and watch come from node3, web-1 waits on node1.
    assert_eq!(
        s.cell(CEPH_COLUMNS, "csi-vol-0d7e", "STATUS"),
        "stale lock: node3 runs no user"
    );
    assert_eq!(
        s.cell(CEPH_COLUMNS, "csi-vol-0d7e", "LOCKS"),
        "excl kubelet_lock_magic_node3 @node3"
    );
    assert!(
        s.contains("watchers  client.4141 at 192.0.2.13:0/2937587615 on node3 (by address: node3)"),
        "{}",
        s.text()
    );
    assert_eq!(s.cell(CEPH_COLUMNS, "csi-vol-0d7e", "PODS"), "web-1@node1");
    // The stale row is an error (drawn selected now); the healthy one is green.
    assert_eq!(
        c.app.view.ceph.images.rows.at(0).tone(),
        kcops::ui::view::Tone::Error
    );
    assert_eq!(
        s.fg_at("in use"),
        Some(c.theme.style(Role::Ok).fg.unwrap_or_default())
    );
    assert_eq!(s.cell(CEPH_COLUMNS, "csi-vol-6f1c", "STATUS"), "in use");
    assert_eq!(s.cell(CEPH_COLUMNS, "legacy-img", "STATUS"), "PV Released");
    assert_eq!(s.cell(CEPH_COLUMNS, "orphan-img", "STATUS"), "no PV");
    // The first row is selected: its detail names every clue.
    assert!(
        s.contains(
            "advisory, exclusive: locker client.4140, cookie kubelet_lock_magic_node3, address 192.0.2.13:0/3323368536"
        ),
        "{}",
        s.text()
    );
    assert!(
        s.contains("held by node3 (by cookie: node3, by address: node3)"),
        "{}",
        s.text()
    );
    assert!(s.contains("demo/web-1 on node1 (Pending)"), "{}", s.text());
    assert_eq!(
        c.app.selected_image(),
        Some(("kube".to_string(), CSI_IMAGE_1.to_string()))
    );
    // Down one row: the healthy image, its exclusive-lock owner on node1.
    let s = c.keys("j").draw();
    assert!(
        s.contains("exclusive-lock owner: locker client.4150, cookie auto 94259303712017"),
        "{}",
        s.text()
    );
    assert_eq!(
        c.app.selected_image(),
        Some(("kube".to_string(), CSI_IMAGE.to_string()))
    );
    // The filter works on image rows like on any table.
    let s = c.keys("/orphan").enter().draw();
    assert_eq!(s.rows(CEPH_COLUMNS).len(), 1, "{}", s.text());
    assert_eq!(
        c.app.selected_image(),
        Some(("rbd".to_string(), "orphan-img".to_string()))
    );
    // Other panes have no selected image.
    c.keys("3");
    assert_eq!(c.app.selected_image(), None);
}

#[test]
fn ceph_pane_down_keeps_stale_data_and_shows_the_error() {
    let mut c = Console::new(false);
    let error = "cannot reach the mons of /etc/ceph/ceph.conf: timed out after 10s";
    c.app.set_view(ceph_view(ceph_report(180, Some(error))));
    let s = c.command("rbd").draw();
    insta::assert_snapshot!("ceph_down_rbd", s.text());
    assert!(s.contains("data 3m old"), "{}", s.text());
    assert!(
        s.contains(&format!("last error (2s ago): {error}")),
        "{}",
        s.text()
    );
    assert_eq!(
        s.fg_at(error),
        Some(c.theme.style(Role::Error).fg.unwrap_or_default())
    );
    // `:rbd` folds the cluster section into one line; the rows are still there.
    assert!(
        s.contains("HEALTH_WARN  OSDs 3 up / 3 in of 3  images 4  2 with problems"),
        "{}",
        s.text()
    );
    assert!(!s.contains("MON_DISK_LOW"), "{}", s.text());
    assert_eq!(s.rows(CEPH_COLUMNS).len(), 4, "{}", s.text());
    // `:ceph` unfolds it.
    let s = c.command("ceph").draw();
    assert!(s.contains("MON_DISK_LOW"), "{}", s.text());
    // `d` shows the image's detail as a view of its own.
    let s = c.keys("d").draw();
    assert!(s.contains("describe RBD image kube/"), "{}", s.text());
    assert!(
        s.contains("cookie kubelet_lock_magic_node3"),
        "{}",
        s.text()
    );
}

#[test]
fn ceph_pane_without_ceph_says_how_to_configure_it() {
    let mut c = Console::new(false);
    let s = c.keys("8").draw();
    insta::assert_snapshot!("ceph_not_configured", s.text());
    for flag in ["--ceph-conf", "CEPH_CONF", "--ceph-id", "--ceph-keyring"] {
        assert!(s.contains(flag), "{flag}: {}", s.text());
    }
    assert_eq!(c.app.selected_image(), None);
    // The help lists the pane's own keys.
    let s = c.keys("?").draw();
    assert!(s.contains("r, ctrl-r"), "{}", s.text());
}

// ---------------------------------------------------------------------------------
// Honest about what it knows

/// Every pane of `console`, drawn in turn (number keys), then back to the Overview.
fn every_pane(console: &mut Console) -> Vec<Screen> {
    let screens = (1..=8)
        .map(|n| {
            console.keys(&n.to_string());
            console.draw()
        })
        .collect();
    console.keys("1");
    screens
}

/// The word "healthy" (not "Unhealthy", an event reason a table may show).
fn says_healthy(screen: &Screen) -> bool {
    let re = regex::Regex::new(r"(?i)\bhealthy\b").unwrap_or_else(|e| panic!("{e}"));
    re.is_match(&screen.lines.join("\n"))
}

/// D4b: an API server that accepts connections and never answers. The console, fed
/// by the real reflectors as the feed feeds it, never shows the empty tables as a
/// cluster with no problems: no screen says "healthy", the status line says no data
/// was received and, once the probe gives up, why; the tables say they have no data.
#[test]
fn a_server_that_never_answers_is_never_called_healthy() {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("listen: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        // Accepts every connection and holds it, never reading or answering.
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let server = format!("https://127.0.0.1:{port}");
        let kubeconfig =
            std::env::temp_dir().join(format!("kcops-hung-{}.yaml", std::process::id()));
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: hung\nclusters:\n- name: hung\n  cluster:\n    server: {server}\n    insecure-skip-tls-verify: true\ncontexts:\n- name: hung\n  context:\n    cluster: hung\n    user: hung\nusers:\n- name: hung\n  user:\n    token: not-a-secret\n"
            ),
        )
        .unwrap_or_else(|e| panic!("kubeconfig: {e}"));
        let conn = kcops::kube::connect::connect(&ConnectOptions {
            kubeconfig: Some(kubeconfig.clone()),
            context: None,
        })
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
        let sources = kcops::kube::reflectors::Sources::start(&conn);
        let state = ConnState {
            context: conn.context.clone(),
            cluster: conn.cluster.clone(),
            server: conn.server.clone(),
            user: conn.user.clone(),
            error: None,
        };
        let mut console = Console::new(false);
        let started = std::time::Instant::now();
        let mut generation = 0;
        let mut last = Vec::new();
        // The probe waits 2 s, then gives the server 5 s to answer.
        while started.elapsed() < std::time::Duration::from_millis(8500) {
            tokio::time::sleep(std::time::Duration::from_millis(700)).await;
            generation += 1;
            let view = derive(sources.snapshot(), state.clone(), generation);
            console.app.set_view(Arc::new(view));
            console.app.set_clock(Timestamp::now());
            last = every_pane(&mut console);
            for (n, screen) in last.iter().enumerate() {
                assert!(
                    !says_healthy(screen),
                    "pane {} at {:?} calls a server that never answered healthy:\n{}",
                    n + 1,
                    started.elapsed(),
                    screen.text()
                );
            }
            let status = &last[0].lines[HEIGHT as usize - 2];
            assert!(
                status.contains("no data received yet"),
                "the status line claims data: {status}"
            );
        }
        let _ = std::fs::remove_file(&kubeconfig);
        let status = &last[0].lines[HEIGHT as usize - 2];
        assert!(
            status.contains(&format!("cannot reach the API server at {server}: timed out")),
            "the status line says why: {status}"
        );
        let overview = &last[0];
        assert!(
            overview.contains("Cluster no data: listing fails"),
            "{}",
            overview.text()
        );
        assert!(overview.contains("source.error"), "{}", overview.text());
        // One finding for the source, not one per kind (issue 15 #8).
        let errors: Vec<_> = console
            .app
            .view
            .findings
            .iter()
            .filter(|f| f.id == "source.error")
            .collect();
        assert_eq!(errors.len(), 1, "{errors:#?}");
        let pods = &last[2];
        assert!(
            pods.contains("Pods [all]") && pods.contains("no data: listing fails"),
            "{}",
            pods.text()
        );
    });
}

// ---------------------------------------------------------------------------------
// Members

/// Seed 003 scaled down: etcd-0/1 running, member etcd-2 registered without a pod, its
/// claim kept; polled 3 s before `now`.
fn members_view() -> Arc<ViewModel> {
    use kcops::model::members::{
        EnsembleKind, EnsemblePoll, Health, MemberStatus, MembersReport, Owner, PolledMember,
    };
    let mut s = cluster();
    s.statefulsets.push(obj(json!({
        "metadata": meta("default", "etcd", DAY),
        "spec": {"replicas": 2, "serviceName": "etcd", "selector": {"matchLabels": {"component": "etcd"}},
          "template": {"metadata": {"labels": {"component": "etcd"}}, "spec": {"containers": [{"name": "etcd",
            "image": "quay.io/coreos/etcd:v3.4.23", "ports": [{"name": "client", "containerPort": 2379}]}]}},
          "volumeClaimTemplates": [{"metadata": {"name": "data"}}]},
        "status": {"replicas": 2, "readyReplicas": 2, "currentReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
    })));
    let ips = ["10.244.1.3", "10.244.2.2", "10.244.1.4"];
    for (i, ip) in ips.iter().take(2).enumerate() {
        s.pods.push(obj(pod(
            "default",
            &format!("etcd-{i}"),
            &format!("node{}", i + 1),
            ip,
            DAY,
            json!({}),
        )));
    }
    for i in 0..3 {
        s.pvcs.push(obj(json!({
            "metadata": meta("default", &format!("data-etcd-{i}"), DAY),
            "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": format!("pvc-etcd-{i}")},
            "status": {"phase": "Bound"}
        })));
    }
    let ids = [
        0xc799a6ef06bc8c14_u64,
        0x9869f0647883a00d,
        0x42c8b94265b9b79a,
    ];
    let members = (0..3)
        .map(|i| {
            let up = i < 2;
            PolledMember {
                id: ids[i],
                name: format!("etcd-{i}"),
                peer_urls: vec![format!("http://{}:2380", ips[i])],
                client_urls: vec![format!("http://{}:2379", ips[i])],
                learner: false,
                endpoint: Some(format!("http://{}:2379", ips[i])),
                status: up.then(|| MemberStatus {
                    leader: ids[0],
                    raft_term: 2,
                    raft_index: 1042 - i as u64,
                    db_size: 20480,
                    version: "3.4.23".into(),
                    learner: false,
                    ..Default::default()
                }),
                health: if up {
                    Health::Healthy
                } else {
                    Health::Unreachable("connection refused".into())
                },
            }
        })
        .collect();
    s.members = Some(Arc::new(MembersReport {
        ensembles: vec![EnsemblePoll {
            kind: EnsembleKind::Etcd,
            owner: Owner::StatefulSet {
                namespace: "default".into(),
                name: "etcd".into(),
            },
            polled_at: now() - SignedDuration::from_secs(3),
            members,
            error: None,
            answered_by: Some("10.244.1.3:2379".into()),
        }],
    }));
    s.sort();
    let conn = ConnState {
        context: "kubernetes-admin@lab".into(),
        cluster: "lab".into(),
        server: "https://192.0.2.11:6443".into(),
        user: "kubernetes-admin".into(),
        error: None,
    };
    Arc::new(derive(s, conn, 1))
}

#[test]
fn members_pane_at_80x24() {
    let mut c = Console::sized(false, 80, 24);
    c.app.set_view(members_view());
    let s = c.keys("9").draw();
    insta::assert_snapshot!("members_80x24", s.text());
    assert!(s.lines[0].contains("9:Members"), "{}", s.lines[0]);
    assert!(
        s.contains("3 voters · quorum 2 · tolerates 1"),
        "{}",
        s.text()
    );
    assert!(s.contains("at risk"), "{}", s.text());
    assert!(s.contains("polled 3s ago"), "{}", s.text());
    let row = |name: &str| {
        s.lines
            .iter()
            .find(|l| l.trim_start_matches(['│', ' ']).starts_with(name))
            .unwrap_or_else(|| panic!("no member {name}:\n{}", s.text()))
            .clone()
    };
    assert!(row("etcd-0").contains("leader") && row("etcd-0").contains("healthy"));
    let gone = row("etcd-2");
    assert!(
        gone.contains("unreachable") && gone.contains("no pod"),
        "{gone}"
    );
    assert!(
        gone.contains("42c8b94265b9b79a"),
        "the id as etcdctl prints it: {gone}"
    );
    assert!(
        s.contains("claim data-etcd-2 (Bound) is of ordinal 2"),
        "{}",
        s.text()
    );
    // The findings reach the Overview.
    let ids: Vec<&str> = c.app.view.findings.iter().map(|f| f.id).collect();
    assert!(
        ids.contains(&"members.orphan") && ids.contains(&"members.stale-claim"),
        "{ids:?}"
    );
}
