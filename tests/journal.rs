//! The audit journal under faults, on its own `flannel-broken` lab: the real console
//! runs real plans (kube-proxy's clusterCIDR with its 3 pod restarts, 7 steps; the
//! release of leaked IP reservations) and is stopped from outside at a chosen step
//! (SIGTERM, SIGHUP, SIGINT, `kill -9`); the executor runs plans with its journal on a
//! full disk and on a directory turned read-only between two steps; two "consoles"
//! carry out the same plan one after the other. Afterwards the journal and the lab are
//! compared: every change seen in the lab has its intent line before it ("mutations
//! unaudited" is counted and must be 0), a step whose intent could not be written
//! did not run, an interrupted plan is reported by `kcops check` and the console as
//! `audit.interrupted` until acknowledged.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::json;

use common::pty::{Console, Options};
use common::{Lab, shared, wait_for};
use kcops::ops::{
    AuditEntry, AuditLog, Confirmation, ExecContext, Executor, ObjectRef, Op, OpsError, Plan,
    Progress, ScaleKind, Step, WaitFor,
};

fn lab() -> &'static Lab {
    shared("journal", "flannel-broken", &["--no-ceph"])
}

const T: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------
// The console, stopped from outside.

fn journal_path(c: &Console) -> PathBuf {
    c.dir.join("state/kcops/audit.log")
}

fn journal(path: &Path) -> Vec<AuditEntry> {
    AuditLog::new(path)
        .read_entries_lenient()
        .unwrap_or_default()
}

/// Polls the journal (every 2 ms: the signal must land at the chosen step).
fn wait_journal(path: &Path, what: &str, pred: impl Fn(&[AuditEntry]) -> bool) -> Vec<AuditEntry> {
    let deadline = Instant::now() + T;
    loop {
        let j = journal(path);
        if pred(&j) {
            return j;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}; journal: {j:#?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn has_line(j: &[AuditEntry], step: usize, intent: bool) -> bool {
    j.iter()
        .any(|e| e.plan.is_some() && e.step == Some(step) && e.is_intent() == intent)
}

fn send_signal(c: &Console, sig: Signal) {
    let pid = c
        .child
        .process_id()
        .unwrap_or_else(|| panic!("the console has no pid"));
    kill(Pid::from_raw(pid as i32), sig).unwrap_or_else(|e| panic!("kill {sig}: {e}"));
}

/// Waits for the console to exit; `true` when it exited with status 0.
fn wait_exit(c: &mut Console) -> bool {
    let deadline = Instant::now() + T;
    loop {
        match c.child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            other => panic!("the console did not exit: {other:?}\n{}", c.screen()),
        }
    }
}

/// The bytes the console wrote since `from` (the terminal restore after a signal).
fn output_since(c: &Console, from: usize) -> Vec<u8> {
    c.raw
        .lock()
        .map(|r| r[from.min(r.len())..].to_vec())
        .unwrap_or_default()
}

fn output_len(c: &Console) -> usize {
    c.raw.lock().map(|r| r.len()).unwrap_or(0)
}

const LEAVE_ALT_SCREEN: &[u8] = b"\x1b[?1049l";

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn proxy_config(lab: &Lab) -> String {
    lab.kubectl_ok(&[
        "-n",
        "kube-system",
        "get",
        "configmap",
        "kube-proxy",
        "-o",
        "jsonpath={.data.config\\.conf}",
    ])
}

/// kube-proxy's clusterCIDR back to empty (each scenario starts from the seed's fault).
fn reset_cluster_cidr(lab: &Lab) {
    let config: String = proxy_config(lab)
        .lines()
        .map(|l| {
            if l.starts_with("clusterCIDR:") {
                "clusterCIDR: \"\"\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let patch = json!({"data": {"config.conf": config}}).to_string();
    lab.kubectl_ok(&[
        "-n",
        "kube-system",
        "patch",
        "configmap",
        "kube-proxy",
        "--type",
        "merge",
        "-p",
        &patch,
    ]);
}

/// node -> name of its Running kube-proxy pod (not being deleted).
fn proxy_pods(lab: &Lab) -> Vec<(String, String)> {
    let out = lab.kubectl_ok(&[
        "-n",
        "kube-system",
        "get",
        "pods",
        "-l",
        "k8s-app=kube-proxy",
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName} {.metadata.name} {.status.phase} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
    ]);
    let mut v: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let p: Vec<&str> = l.split_whitespace().collect();
            (p.len() == 3 && p[2] == "Running").then(|| (p[0].to_string(), p[1].to_string()))
        })
        .collect();
    v.sort();
    v
}

/// A console with the clusterCIDR wizard's plan (7 steps) confirmed and running.
fn run_cidr_plan(lab: &Lab) -> (Console, Vec<(String, String)>) {
    reset_cluster_cidr(lab);
    let before = wait_for("3 kube-proxy pods Running", T, || {
        let p = proxy_pods(lab);
        (p.len() == 3).then_some(p)
    });
    let mut c = Console::start(
        lab,
        Options {
            rows: 50,
            cols: 220,
            ..Options::default()
        },
    );
    c.wait_text("last success", T);
    // The wizard needs kube-proxy's ConfigMap and its 3 pods in the console's view.
    let deadline = Instant::now() + T;
    loop {
        c.send(":set-cluster-cidr\r");
        c.send("\r");
        c.send("\r");
        let s = c.screen();
        if s.contains("Type kube-proxy and Enter to run")
            && s.matches("Delete pod kube-system/kube-proxy").count() == 3
        {
            break;
        }
        assert!(Instant::now() < deadline, "no 7-step plan: {s}");
        c.send("\x1b");
        c.send("\x1b");
        std::thread::sleep(Duration::from_millis(300));
    }
    c.send("kube-proxy");
    c.send("\r");
    (c, before)
}

/// What the journal and the lab say after a stopped clusterCIDR plan: the number of
/// changes seen in the lab without an intent line (must be 0), and the nodes whose
/// kube-proxy pod was replaced.
fn unaudited_changes(
    lab: &Lab,
    j: &[AuditEntry],
    before: &[(String, String)],
    config_before: &str,
) -> (usize, Vec<String>) {
    let mut unaudited = 0;
    if proxy_config(lab) != config_before && !has_line(j, 1, true) {
        unaudited += 1;
    }
    // Pods replaced since: their delete step had its intent.
    let after = proxy_pods(lab);
    let mut replaced = Vec::new();
    for (node, old) in before {
        let now = after.iter().find(|(n, _)| n == node).map(|(_, p)| p);
        if now != Some(old) {
            replaced.push(old.clone());
            let intent = j.iter().any(|e| {
                e.is_intent() && e.action == "delete-pod" && e.object.ends_with(old.as_str())
            });
            if !intent {
                unaudited += 1;
            }
        }
    }
    (unaudited, replaced)
}

/// SIGTERM and SIGHUP (a dropped SSH session) during the 7-step plan: the step under
/// way finishes and records its outcome, every later mutation is recorded "not run"
/// and does not happen, the terminal is restored, the exit status is not 0. Then
/// `kill -9` between two steps: every change in the lab still has its intent line.
#[test]
fn signals_during_a_plan_stop_it_cleanly_and_nothing_goes_unaudited() {
    let lab = lab();
    let mut total_unaudited = 0;
    for (sig, at_step) in [(Signal::SIGTERM, 2), (Signal::SIGHUP, 1)] {
        let config_before = {
            reset_cluster_cidr(lab);
            proxy_config(lab)
        };
        let (mut c, before) = run_cidr_plan(lab);
        let path = journal_path(&c);
        wait_journal(&path, &format!("the intent of step {at_step}"), |j| {
            has_line(j, at_step, true)
        });
        let mark = output_len(&c);
        send_signal(&c, sig);
        assert!(!wait_exit(&mut c), "{sig} during a plan exits non-zero");
        assert!(
            contains(&output_since(&c, mark), LEAVE_ALT_SCREEN),
            "{sig}: the terminal is restored"
        );
        let j = journal(&path);
        common::journal::assert_written_ahead(&j);
        assert!(
            kcops::ops::journal::interrupted(&j).is_empty(),
            "{sig}: every intent has its outcome: {j:#?}"
        );
        // The step under way finished; the last restart never ran.
        let outcome = |step: usize| {
            j.iter()
                .find(|e| e.step == Some(step) && !e.is_intent())
                .map(|e| e.result.clone())
        };
        assert_eq!(outcome(at_step).as_deref(), Some("ok"), "{j:#?}");
        let not_run = format!("not run: interrupted by {sig}");
        assert_eq!(outcome(6), Some(not_run.clone()), "{j:#?}");
        assert!(!has_line(&j, 6, true), "no intent for a step not run");
        let (unaudited, replaced) = unaudited_changes(lab, &j, &before, &config_before);
        total_unaudited += unaudited;
        // The pods of the steps not run are the ones that were there.
        for e in j.iter().filter(|e| e.result == not_run) {
            assert!(
                !replaced.iter().any(|p| e.object.ends_with(p.as_str())),
                "{sig}: {e:?} was not run, yet {replaced:?} were replaced"
            );
        }
    }

    // kill -9 right after the second restart was recorded (during the wait for it).
    let config_before = {
        reset_cluster_cidr(lab);
        proxy_config(lab)
    };
    let (mut c, before) = run_cidr_plan(lab);
    let path = journal_path(&c);
    wait_journal(&path, "the outcome of step 4", |j| has_line(j, 4, false));
    send_signal(&c, Signal::SIGKILL);
    let _ = wait_exit(&mut c);
    std::thread::sleep(Duration::from_millis(500));
    let j = journal(&path);
    common::journal::assert_written_ahead(&j);
    let (unaudited, replaced) = unaudited_changes(lab, &j, &before, &config_before);
    total_unaudited += unaudited;
    assert!(
        replaced.len() >= 2,
        "two pods restarted before the kill: {replaced:?}"
    );
    eprintln!("mutations unaudited after SIGTERM, SIGHUP and kill -9: {total_unaudited}");
    assert_eq!(total_unaudited, 0, "mutations unaudited");
}

/// `kill -9` while a step is under way (the release of leaked reservations waits for
/// the network directory's lock, held here): the intent is on disk, the outcome never
/// came. `kcops check` and the console report `audit.interrupted` with the step and
/// how to check it, until `:ack-interrupted`; SIGINT from outside then restores the
/// terminal.
#[test]
fn a_plan_killed_mid_step_is_reported_until_acknowledged() {
    let lab = lab();
    let root = lab.host_root("node1");
    let net = root.join("var/lib/cni/networks/cbr0");
    let files = || std::fs::read_dir(&net).map(|d| d.count()).unwrap_or(0);
    let files_before = files();
    let sandboxes = lab.sandboxes_command("node1").join(" ");
    let root_arg = root.display().to_string();
    let args = [
        "--node",
        "node1",
        "--host-root",
        &root_arg,
        "--sandboxes-command",
        &sandboxes,
    ];
    let opts = || Options {
        rows: 50,
        cols: 220,
        args: &args,
        ..Options::default()
    };
    let mut c = Console::start(lab, opts());
    c.wait_text("last success", T);
    let deadline = Instant::now() + T;
    loop {
        c.send(":release-ips\r");
        if c.screen().contains("Type cbr0 to confirm") {
            break;
        }
        assert!(Instant::now() < deadline, "no plan: {}", c.screen());
        c.send("\x1b");
        std::thread::sleep(Duration::from_millis(500));
    }
    // host-local is "at work": the step will wait for the lock.
    let held = Flock::lock(
        std::fs::File::create(net.join("lock")).unwrap_or_else(|e| panic!("lock file: {e}")),
        FlockArg::LockExclusive,
    )
    .unwrap_or_else(|(_, e)| panic!("flock: {e}"));
    c.send("cbr0\r");
    let path = journal_path(&c);
    let j = wait_journal(&path, "the intent of the release", |j| has_line(j, 1, true));
    send_signal(&c, Signal::SIGKILL);
    let _ = wait_exit(&mut c);
    drop(held);
    assert_eq!(files(), files_before, "the step never got the lock");
    let open = kcops::ops::journal::interrupted(&journal(&path));
    assert_eq!(open.len(), 1, "{j:#?}");
    assert_eq!(open[0].action, "release-ip-reservations");

    // `kcops check` reports it, with the step and how to check it.
    let check = |dir: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_kcops"))
            .args(["check", "--no-ceph", "--kubeconfig"])
            .arg(&lab.state.kubeconfig)
            .env("XDG_STATE_HOME", dir.join("state"))
            .output()
            .unwrap_or_else(|e| panic!("kcops check: {e}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = check(&c.dir);
    assert!(text.contains("WARNING   audit.interrupted"), "{text}");
    assert!(
        text.contains("interrupted: step 1 of 2 (Release 251 leaked host-local reservations"),
        "{text}"
    );
    assert!(
        text.contains(
            "may or may not have happened — check ls /var/lib/cni/networks/cbr0/ on node node1"
        ),
        "{text}"
    );
    assert!(text.contains(":ack-interrupted"), "{text}");

    // The next console shows it until acknowledged.
    let dir = c.dir.clone();
    drop(c);
    let mut c2 = Console::start(lab, opts());
    // Same journal: the console's state directory is its own, so point it at the first.
    std::fs::create_dir_all(c2.dir.join("state/kcops")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(journal_path_in(&dir), journal_path(&c2)).unwrap_or_else(|e| panic!("{e}"));
    c2.wait_text("audit.interrupted", T);
    c2.send(":ack-interrupted\r");
    c2.wait_text("acknowledged 1 interrupted plan", T);
    c2.wait("the finding gone", T, |s| !s.contains("audit.interrupted"));
    let text = check(&c2.dir);
    assert!(!text.contains("audit.interrupted"), "{text}");

    // SIGINT from outside, no plan running: the terminal is restored, the console ends.
    let mark = output_len(&c2);
    send_signal(&c2, Signal::SIGINT);
    wait_exit(&mut c2);
    assert!(contains(&output_since(&c2, mark), LEAVE_ALT_SCREEN));
}

fn journal_path_in(dir: &Path) -> PathBuf {
    dir.join("state/kcops/audit.log")
}

// ---------------------------------------------------------------------------------
// The executor with its journal on a full disk or a directory turned read-only.

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(tag: &str, size: &str) -> Tmpfs {
        let dir = lab().runtime_dir.join(format!("tmpfs-{tag}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mount tmpfs on {}", dir.display());
        Tmpfs(dir)
    }

    fn remount_read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {} read-only", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

async fn executor(audit: AuditLog) -> Executor {
    Executor::new(
        lab().client().await,
        false,
        audit,
        ExecContext::new("kubernetes-admin", "lab"),
    )
}

/// Creates `value` (a Namespace, Pod or Deployment as JSON) through the API.
async fn create(lab: &Lab, value: serde_json::Value) {
    use kube::api::{Api, DynamicObject, PostParams};
    use kube::discovery::ApiResource;
    let kind = value["kind"].as_str().unwrap_or_default().to_string();
    let ns = value["metadata"]["namespace"].as_str().map(str::to_string);
    let (group, version) = match kind.as_str() {
        "Deployment" => ("apps", "v1"),
        _ => ("", "v1"),
    };
    let gvk = kube::api::GroupVersionKind::gvk(group, version, &kind);
    let ar = ApiResource::from_gvk(&gvk);
    let client = lab.client().await;
    let api: Api<DynamicObject> = match &ns {
        Some(ns) => Api::namespaced_with(client, ns, &ar),
        None => Api::all_with(client, &ar),
    };
    let obj: DynamicObject =
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value}"));
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create {value}: {e}"));
}

async fn create_namespace(lab: &Lab, ns: &str) {
    create(
        lab,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
    )
    .await;
}

async fn create_pod(lab: &Lab, ns: &str, name: &str) {
    create(
        lab,
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"containers": [{"name": "main", "image": "busybox:1.36"}]}}),
    )
    .await;
}

async fn create_deployment(lab: &Lab, ns: &str, name: &str) {
    create(
        lab,
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": name, "image": "busybox:1.36"}]}}}}),
    )
    .await;
}

fn unschedulable(lab: &Lab, node: &str) -> String {
    lab.kubectl_ok(&["get", "node", node, "-o", "jsonpath={.spec.unschedulable}"])
}

/// A full disk: the intent cannot be written, so the cordon is not made (before, the
/// node was cordoned and then the audit write failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_keeps_the_step_from_running() {
    let lab = lab();
    let fs = Tmpfs::mount("full", "64k");
    let audit = AuditLog::new(fs.0.join("kcops/audit.log"));
    audit.ensure().unwrap_or_else(|e| panic!("{e}"));
    // Fill it.
    let mut filler = std::fs::File::create(fs.0.join("filler")).unwrap_or_else(|e| panic!("{e}"));
    let block = [b'x'; 4096];
    while std::io::Write::write(&mut filler, &block).is_ok_and(|n| n > 0) {}
    drop(filler);
    assert_eq!(unschedulable(lab, "node2"), "");

    let exec = executor(audit.clone()).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let result = exec.run(&Plan::cordon("node2"), "yes", tx).await;
    let cordoned = unschedulable(lab, "node2");
    if cordoned == "true" {
        let _ = lab.kubectl(&["uncordon", "node2"]);
    }
    assert_eq!(cordoned, "", "the node is unchanged");
    match &result {
        Err(
            e @ OpsError::Audit {
                message,
                halt: Some(h),
                ..
            },
        ) => {
            assert!(message.contains("No space left on device"), "{message}");
            assert_eq!((h.step, h.total), (1, 1));
            assert!(h.done.is_empty());
            assert!(
                e.to_string()
                    .contains("not run, since its intent could not be recorded"),
                "{e}"
            );
        }
        other => panic!("expected the intent write to fail, got {other:?}"),
    }
    let mut progress = Vec::new();
    while let Ok(p) = rx.try_recv() {
        progress.push(p);
    }
    assert!(
        matches!(progress.last(), Some(Progress::StepFailed { text, .. }) if text.starts_with("not run: ")),
        "{progress:?}"
    );
}

/// The journal's directory turns read-only between two steps: the first change was
/// recorded, the second is not made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_journal_keeps_the_next_step_from_running() {
    let lab = lab();
    let ns = "journal-ro";
    create_namespace(lab, ns).await;
    for d in ["first", "second"] {
        create_deployment(lab, ns, d).await;
    }
    create_pod(lab, ns, "gate").await;
    let replicas = |d: &str| {
        lab.kubectl_ok(&[
            "-n",
            ns,
            "get",
            "deployment",
            d,
            "-o",
            "jsonpath={.spec.replicas}",
        ])
    };
    let scale = |name: &str| {
        Step::new(
            Op::Scale {
                kind: ScaleKind::Deployment,
                namespace: ns.into(),
                name: name.into(),
                replicas: 2,
                expect_current: Some(1),
            },
            false,
        )
    };
    let plan = Plan::new(
        "Scale two deployments",
        ObjectRef::new("Namespace", None, ns),
        Confirmation::YesNo,
    )
    .step(scale("first"))
    .then_wait(
        WaitFor::PodGone {
            namespace: ns.into(),
            name: "gate".into(),
        },
        T,
    )
    .step(scale("second"));

    let fs = Tmpfs::mount("ro", "1m");
    let audit = AuditLog::new(fs.0.join("audit.log"));
    let exec = executor(audit.clone()).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let run = tokio::spawn(async move { exec.run(&plan, "yes", tx).await });
    // While the plan waits at step 2, the directory turns read-only; then the gate opens.
    while let Some(p) = rx.recv().await {
        if let Progress::StepStarted { index: 1, .. } = p {
            fs.remount_read_only();
            lab.kubectl_ok(&[
                "-n",
                ns,
                "delete",
                "pod",
                "gate",
                "--grace-period=0",
                "--force",
            ]);
        }
    }
    let result = run.await.unwrap_or_else(|e| panic!("{e}"));
    match &result {
        Err(OpsError::Audit {
            message,
            halt: Some(h),
            ..
        }) => {
            assert!(message.contains("Read-only file system"), "{message}");
            assert_eq!(h.step, 3);
            assert_eq!(h.done.len(), 2);
        }
        other => panic!("expected the intent write to fail, got {other:?}"),
    }
    assert_eq!(replicas("first"), "2");
    assert_eq!(
        replicas("second"),
        "1",
        "the step without an intent did not run"
    );
    let j = audit.read_entries().unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<(Option<usize>, &str)> = j.iter().map(|e| (e.step, e.result.as_str())).collect();
    assert_eq!(lines, [(Some(1), "intent"), (Some(1), "ok")]);
}

/// Two consoles carry out the same plan: the second one's re-check finds the change
/// made and records "already done by someone else", not "ok".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_console_records_already_done_by_someone_else() {
    let lab = lab();
    let ns = "journal-twice";
    create_namespace(lab, ns).await;
    create_pod(lab, ns, "victim").await;
    create_deployment(lab, ns, "web").await;
    let dir = lab.runtime_dir.join("journal-twice");
    let one = executor(AuditLog::new(dir.join("one/audit.log"))).await;
    let two = executor(AuditLog::new(dir.join("two/audit.log"))).await;
    let delete = Plan::delete_pod(ns, "victim");
    let scale = Plan::new(
        "Scale web from 1 to 3",
        ObjectRef::new("Deployment", Some(ns), "web"),
        Confirmation::YesNo,
    )
    .step(Step::new(
        Op::Scale {
            kind: ScaleKind::Deployment,
            namespace: ns.into(),
            name: "web".into(),
            replicas: 3,
            expect_current: Some(1),
        },
        false,
    ));
    for (plan, answer) in [(&delete, "victim"), (&scale, "yes")] {
        let (tx, _rx) = tokio::sync::mpsc::channel(16);
        one.run(plan, answer, tx)
            .await
            .unwrap_or_else(|e| panic!("first: {e}"));
        let (tx, _rx) = tokio::sync::mpsc::channel(16);
        let second = two
            .run(plan, answer, tx)
            .await
            .unwrap_or_else(|e| panic!("second: {e}"));
        assert!(
            second.steps[0]
                .result
                .starts_with("already done by someone else: "),
            "{second:?}"
        );
    }
    let results = |log: &AuditLog| -> Vec<String> {
        common::journal::outcomes(&log.read_entries().unwrap_or_else(|e| panic!("{e}")))
            .into_iter()
            .map(|e| e.result)
            .collect()
    };
    assert_eq!(results(one.audit_log()), ["ok", "ok"]);
    let second = results(two.audit_log());
    assert_eq!(second.len(), 2);
    // Gone, or still terminating from the first console's delete.
    assert!(
        second[0].starts_with(&format!("already done by someone else: pod {ns}/victim ")),
        "{second:?}"
    );
    assert_eq!(
        second[1],
        format!("already done by someone else: Deployment {ns}/web already wants 3 replicas")
    );
}
