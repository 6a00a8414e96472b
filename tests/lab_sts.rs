//! The lab's StatefulSet updates and `kubectl exec`, driven with the real kubectl
//! (v1.32) against `etcd-scaled-down` (`--no-ceph`): real etcd members, scaled 3 -> 2.
//!
//! Updates: a template change rolls the pods one by one, highest ordinal first, each
//! back Ready before the next goes; `kubectl rollout status/history/undo` work;
//! `partition` stops the roll; `OnDelete` waits for a pod to be deleted.
//!
//! Exec: `kubectl exec` runs the command in the namespaces of the member's etcd process
//! (WebSocket `v5.channel.k8s.io`), with its exit code and stdin; a pod the lab does not
//! run says so. The members listen on their pod IPs, not on 127.0.0.1 of the host's
//! namespace, so etcdctl is given `--endpoints=<pod IP>:2379` here.
//!
//! The tests share one lab and take `STATE` in turn: each leaves etcd fully rolled
//! out and Ready (RollingUpdate, partition 0) as it found it.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use common::{Lab, wait_for};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde_json::Value;

static STATE: Mutex<()> = Mutex::new(());

fn state() -> MutexGuard<'static, ()> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The lab once the timeline has scaled etcd to 2 and both members are Ready.
fn lab() -> &'static Lab {
    settled().0
}

/// The lab, and `kubectl exec etcd-0 -- etcdctl member list` as it answered before any
/// test rolled the members: the field report's template waits at start for every
/// member of its initial size to resolve, so once scaled down, a member the roll
/// restarts never starts etcd again (as on a real cluster), and no quorum is left.
fn settled() -> &'static (&'static Lab, String) {
    static SETTLED: OnceLock<(&'static Lab, String)> = OnceLock::new();
    SETTLED.get_or_init(|| {
        let lab = common::shared("sts", "etcd-scaled-down", &["--no-ceph"]);
        wait_for(
            "etcd scaled to 2 and rolled out",
            Duration::from_secs(180),
            || {
                let pods = etcd_pods(lab)?;
                (pods.len() == 2 && rolled_out(lab)).then_some(())
            },
        );
        let members = wait_for(
            "etcdctl member list in etcd-0",
            Duration::from_secs(60),
            || {
                let o = lab.kubectl(&["exec", "etcd-0", "--", "etcdctl", "member", "list"]);
                o.status
                    .success()
                    .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
            },
        );
        (lab, members)
    })
}

fn json_of(lab: &Lab, args: &[&str]) -> Option<Value> {
    let out = lab.kubectl(args);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn sts(lab: &Lab) -> Value {
    json_of(lab, &["get", "sts", "etcd", "-o", "json"])
        .unwrap_or_else(|| panic!("cannot get sts etcd"))
}

/// An etcd pod as the tests compare them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct EtcdPod {
    name: String,
    uid: String,
    revision: String,
    ready: bool,
}

fn etcd_pods(lab: &Lab) -> Option<Vec<EtcdPod>> {
    let list = json_of(lab, &["get", "pods", "-l", "component=etcd", "-o", "json"])?;
    let mut pods: Vec<EtcdPod> = list["items"]
        .as_array()?
        .iter()
        .map(|p| EtcdPod {
            name: p["metadata"]["name"].as_str().unwrap_or_default().into(),
            uid: p["metadata"]["uid"].as_str().unwrap_or_default().into(),
            revision: p["metadata"]["labels"]["controller-revision-hash"]
                .as_str()
                .unwrap_or_default()
                .into(),
            ready: ready(p),
        })
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    Some(pods)
}

fn ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    }) && p["metadata"]["deletionTimestamp"].is_null()
}

/// Every pod Ready at the update revision, which is current, and the status says so.
fn rolled_out(lab: &Lab) -> bool {
    let s = sts(lab);
    let st = &s["status"];
    let Some(pods) = etcd_pods(lab) else {
        return false;
    };
    st["observedGeneration"] == s["metadata"]["generation"]
        && st["currentRevision"] == st["updateRevision"]
        && st["updatedReplicas"] == 2
        && st["readyReplicas"] == 2
        && pods.len() == 2
        && pods
            .iter()
            .all(|p| p.ready && st["updateRevision"] == p.revision.as_str())
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `kubectl rollout status sts/etcd` that must finish (exit 0): its last line.
fn rollout_status(lab: &Lab) -> String {
    let out = lab.kubectl(&["rollout", "status", "sts/etcd", "--timeout=90s"]);
    assert!(
        out.status.success(),
        "rollout status failed: {}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    stdout_of(&out)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// A strategic-merge patch of the pod template's annotation: a new revision.
fn touch_template(lab: &Lab, value: &str) {
    let patch = format!(
        r#"{{"spec":{{"template":{{"metadata":{{"annotations":{{"kcops.test/roll":"{value}"}}}}}}}}}}"#
    );
    lab.kubectl_ok(&["patch", "sts", "etcd", "-p", &patch]);
}

fn set_strategy(lab: &Lab, strategy: &str) {
    lab.kubectl_ok(&[
        "patch",
        "sts",
        "etcd",
        "--type",
        "merge",
        "-p",
        &format!(r#"{{"spec":{{"updateStrategy":{strategy}}}}}"#),
    ]);
}

/// Back to a plain rolling update, fully rolled out.
fn restore(lab: &Lab) {
    set_strategy(
        lab,
        r#"{"type":"RollingUpdate","rollingUpdate":{"partition":0}}"#,
    );
    wait_for("etcd rolled out again", Duration::from_secs(90), || {
        rolled_out(lab).then_some(())
    });
}

/// Runs `restore` when dropped, so a failing test still leaves the lab usable.
struct Restore<'a>(&'a Lab);

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        restore(self.0);
    }
}

/// (revision name, number) of the StatefulSet's ControllerRevisions, by number.
fn revisions(lab: &Lab) -> Vec<(String, i64)> {
    let list = json_of(lab, &["get", "controllerrevisions", "-o", "json"])
        .unwrap_or_else(|| panic!("cannot list controllerrevisions"));
    let mut out: Vec<(String, i64)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["metadata"]["ownerReferences"][0]["name"] == "etcd")
        .map(|r| {
            let name = r["metadata"]["name"].as_str().unwrap_or_default();
            // The hash label is the name's suffix, as the controller makes it.
            assert_eq!(
                format!(
                    "etcd-{}",
                    r["metadata"]["labels"]["controller.kubernetes.io/hash"]
                        .as_str()
                        .unwrap_or_default()
                ),
                name,
                "{r}"
            );
            (name.to_string(), r["revision"].as_i64().unwrap_or(0))
        })
        .collect();
    out.sort_by_key(|r| r.1);
    out
}

/// One watch event of an etcd pod.
#[derive(Debug, Clone)]
struct Seen {
    pod: EtcdPod,
    deleting: bool,
}

/// Records every watch event of the etcd pods from now on.
fn watch_pods(lab: &Lab, rt: &tokio::runtime::Runtime) -> Arc<Mutex<Vec<Seen>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let client = rt.block_on(lab.client());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let rv = rt
        .block_on(pods.list(&ListParams::default().labels("component=etcd")))
        .unwrap_or_else(|e| panic!("list pods: {e}"))
        .metadata
        .resource_version
        .unwrap_or_default();
    rt.spawn(async move {
        let params = WatchParams::default().labels("component=etcd").timeout(120);
        let Ok(stream) = pods.watch(&params, &rv).await else {
            return;
        };
        let mut stream = std::pin::pin!(stream);
        while let Some(Ok(ev)) = stream.next().await {
            let p = match ev {
                WatchEvent::Added(p) | WatchEvent::Modified(p) | WatchEvent::Deleted(p) => p,
                _ => continue,
            };
            let v = serde_json::to_value(&p).unwrap_or_default();
            let pod = EtcdPod {
                name: p.metadata.name.clone().unwrap_or_default(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
                revision: v["metadata"]["labels"]["controller-revision-hash"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                ready: ready(&v),
            };
            let deleting = p.metadata.deletion_timestamp.is_some();
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Seen { pod, deleting });
        }
    });
    seen
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("tokio: {e}"))
}

#[test]
fn a_template_change_rolls_pod_by_pod_highest_ordinal_first_and_undo_rolls_back() {
    let lab = lab();
    let _state = state();
    let _restore = Restore(lab);
    let before = etcd_pods(lab).unwrap_or_default();
    let revs_before = revisions(lab);
    let (first_rev, first_number) = revs_before
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no ControllerRevision for etcd"));
    assert!(before.iter().all(|p| p.revision == first_rev), "{before:?}");
    assert_eq!(sts(lab)["status"]["currentRevision"], first_rev.as_str());

    let rt = runtime();
    let seen = watch_pods(lab, &rt);
    touch_template(lab, "rolled");
    assert_eq!(
        rollout_status(lab),
        "partitioned roll out complete: 2 new pods have been updated..."
    );
    assert!(rolled_out(lab), "{}", sts(lab)["status"]);

    // A new revision, numbered next, on every pod; the status names it.
    let revs = revisions(lab);
    let (new_rev, new_number) = revs.last().cloned().unwrap_or_default();
    assert_eq!(new_number, first_number + 1, "{revs:?}");
    assert_ne!(new_rev, first_rev);
    let st = sts(lab)["status"].clone();
    assert_eq!(st["updateRevision"], new_rev.as_str(), "{st}");
    assert_eq!(st["currentRevision"], new_rev.as_str(), "{st}");
    assert_eq!(st["currentReplicas"], 2, "{st}");
    let after = etcd_pods(lab).unwrap_or_default();
    for (b, a) in before.iter().zip(&after) {
        assert_ne!(b.uid, a.uid, "{} was not replaced", a.name);
        assert_eq!(a.revision, new_rev);
    }

    // The order: etcd-1 goes first; etcd-0 only once the new etcd-1 is Ready.
    let events = seen.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let first_deleted = events
        .iter()
        .position(|e| e.deleting)
        .unwrap_or_else(|| panic!("no deletion seen: {events:?}"));
    assert_eq!(events[first_deleted].pod.name, "etcd-1", "{events:?}");
    let etcd0_deleted = events
        .iter()
        .position(|e| e.deleting && e.pod.name == "etcd-0")
        .unwrap_or_else(|| panic!("etcd-0 was not deleted: {events:?}"));
    let new_etcd1_ready = events
        .iter()
        .position(|e| e.pod.name == "etcd-1" && e.pod.revision == new_rev && e.pod.ready)
        .unwrap_or_else(|| panic!("the new etcd-1 never became Ready: {events:?}"));
    assert!(new_etcd1_ready < etcd0_deleted, "{events:?}");

    // `rollout history` lists both; `rollout undo` goes back to the first template,
    // whose revision takes the next number.
    let history = lab.kubectl_ok(&["rollout", "history", "sts/etcd"]);
    let listed: Vec<&str> = history
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        listed,
        [first_number.to_string(), new_number.to_string()],
        "{history}"
    );
    assert_eq!(
        lab.kubectl_ok(&["rollout", "undo", "sts/etcd"]),
        "statefulset.apps/etcd rolled back\n"
    );
    rollout_status(lab);
    wait_for("the undo rolled out", Duration::from_secs(60), || {
        rolled_out(lab).then_some(())
    });
    assert_eq!(sts(lab)["status"]["updateRevision"], first_rev.as_str());
    let revs = revisions(lab);
    assert_eq!(
        revs.last(),
        Some(&(first_rev.clone(), new_number + 1)),
        "{revs:?}"
    );
    assert!(
        etcd_pods(lab)
            .unwrap_or_default()
            .iter()
            .all(|p| p.revision == first_rev)
    );
}

#[test]
fn partition_stops_the_roll_above_it() {
    let lab = lab();
    let _state = state();
    let _restore = Restore(lab);
    set_strategy(
        lab,
        r#"{"type":"RollingUpdate","rollingUpdate":{"partition":1}}"#,
    );
    let before = etcd_pods(lab).unwrap_or_default();
    touch_template(lab, "partitioned");
    assert_eq!(
        rollout_status(lab),
        "partitioned roll out complete: 1 new pods have been updated..."
    );
    // Give the controller time to (wrongly) go on: etcd-0 must stay as it was.
    std::thread::sleep(Duration::from_secs(2));
    let after = etcd_pods(lab).unwrap_or_default();
    let st = sts(lab)["status"].clone();
    assert_eq!(after[0], before[0], "etcd-0 is below the partition");
    assert_ne!(after[1].uid, before[1].uid, "etcd-1 is above it");
    assert_eq!(st["updateRevision"], after[1].revision.as_str(), "{st}");
    assert_eq!(st["currentRevision"], before[0].revision.as_str(), "{st}");
    assert_eq!(st["updatedReplicas"], 1, "{st}");
    assert_eq!(st["currentReplicas"], 1, "{st}");
    // Lowering the partition lets the roll finish.
    set_strategy(
        lab,
        r#"{"type":"RollingUpdate","rollingUpdate":{"partition":0}}"#,
    );
    assert_eq!(
        rollout_status(lab),
        "partitioned roll out complete: 2 new pods have been updated..."
    );
    wait_for("the roll to finish", Duration::from_secs(60), || {
        rolled_out(lab).then_some(())
    });
}

#[test]
fn on_delete_replaces_a_pod_only_when_it_is_deleted() {
    let lab = lab();
    let _state = state();
    let _restore = Restore(lab);
    set_strategy(lab, r#"{"type":"OnDelete","rollingUpdate":null}"#);
    let before = etcd_pods(lab).unwrap_or_default();
    touch_template(lab, "on-delete");
    wait_for("the new revision observed", Duration::from_secs(30), || {
        let s = sts(lab);
        (s["status"]["observedGeneration"] == s["metadata"]["generation"]).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        etcd_pods(lab).unwrap_or_default(),
        before,
        "nothing deleted"
    );
    let st = sts(lab)["status"].clone();
    assert_eq!(st["updatedReplicas"], 0, "{st}");
    assert_ne!(st["updateRevision"], st["currentRevision"], "{st}");
    let update = st["updateRevision"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // As in Kubernetes, rollout status follows rolling updates only.
    let out = lab.kubectl(&["rollout", "status", "sts/etcd"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out)
            .contains("rollout status is only available for RollingUpdate strategy type"),
        "{}",
        stderr_of(&out)
    );

    lab.kubectl_ok(&["delete", "pod", "etcd-1"]);
    let replaced = wait_for(
        "etcd-1 back at the new revision",
        Duration::from_secs(60),
        || {
            let pods = etcd_pods(lab)?;
            let p = pods.iter().find(|p| p.name == "etcd-1")?;
            (p.uid != before[1].uid && p.ready).then(|| pods.clone())
        },
    );
    assert_eq!(replaced[1].revision, update);
    assert_eq!(
        replaced[0], before[0],
        "etcd-0 was not deleted, so it stays"
    );
    let st = sts(lab)["status"].clone();
    assert_eq!(st["updatedReplicas"], 1, "{st}");
}

// ---- kubectl exec ----

#[test]
fn exec_runs_etcdctl_member_list_in_the_member_pod() {
    let lab = lab();
    let _state = state();
    // As written in the field report (the member listens on 127.0.0.1 in its own
    // namespace), run once before any roll: see `settled`.
    let out = settled().1.clone();
    // Three members: the scale-down left etcd-2 registered.
    let mut names: Vec<&str> = out
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split(", ").collect();
            (cols.len() == 6 && cols[1] == "started").then_some(cols[2])
        })
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["etcd-0", "etcd-1", "etcd-2"], "{out}");
    // The container's environment is the template's.
    assert_eq!(
        lab.kubectl_ok(&[
            "exec",
            "etcd-1",
            "--",
            "sh",
            "-c",
            "echo $SET_NAME $HOSTNAME"
        ]),
        "etcd etcd-1\n"
    );
}

#[test]
fn exec_reports_a_failing_commands_exit_code() {
    let lab = lab();
    let _state = state();
    let out = lab.kubectl(&[
        "exec",
        "etcd-0",
        "--",
        "sh",
        "-c",
        "echo to-stdout; echo to-stderr >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "to-stdout\n");
    assert_eq!(
        stderr_of(&out),
        "to-stderr\ncommand terminated with exit code 3\n"
    );
}

#[test]
fn exec_passes_stdin_to_the_command() {
    let lab = lab();
    let _state = state();
    let mut child = Command::new("kubectl")
        .args(["exec", "-i", "etcd-1", "--", "cat"])
        .env("KUBECONFIG", &lab.state.kubeconfig)
        .env("HOME", &lab.home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    let input = "first line\nsecond line\n";
    child
        .stdin
        .take()
        .unwrap_or_else(|| panic!("no stdin"))
        .write_all(input.as_bytes())
        .unwrap_or_else(|e| panic!("write stdin: {e}"));
    // stdin is closed here: v5's close signal ends `cat`.
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("kubectl exec: {e}"));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), input);
}

#[test]
fn exec_into_a_pod_the_lab_does_not_run_says_so() {
    let lab = lab();
    let _state = state();
    let coredns = lab.kubectl_ok(&[
        "get",
        "pods",
        "-n",
        "kube-system",
        "-l",
        "k8s-app=kube-dns",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    assert!(!coredns.is_empty());
    let out = lab.kubectl(&["exec", "-n", "kube-system", &coredns, "--", "ls"]);
    assert!(!out.status.success());
    assert_eq!(
        stderr_of(&out),
        format!(
            "Error from server (BadRequest): pod \"{coredns}\": the lab does not run this pod's processes, so container \"coredns\" has none to exec into\n"
        )
    );
    // Exec is a write: the read-only user may not.
    let out = lab.kubectl_as(
        &lab.state.kubeconfig_readonly,
        &["exec", "etcd-0", "--", "true"],
    );
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("cannot create resource \"pods/exec\""),
        "{}",
        stderr_of(&out)
    );
}
