//! The lock-removal wizard at the ops level against the lab's `rbd-stale-lock` scenario
//! on real Ceph (node1's dead kubelet left its lock on the image; removing it needs
//! blocklist rights): the under-privileged `client.kube` is stopped at the permission
//! preflight with the `ceph auth caps` fix and nothing changes; a read-only executor
//! refuses; as admin the plan fences node1's client, breaks its lock, and the pod runs
//! with node2's lock. An image held open by a live client on the holder node is fenced
//! before its lock is broken, and plans that would break without fencing are refused.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::rbd::{
    blocklist, blocklisted_with_expiry, claim_image, locks, moved_pod_name, wait_failed_mount,
};
use common::{Lab, shared, wait_for};
use kcops::ceph::{CephClient, CephSettings};
use kcops::ops::wizard::unlock::{UnlockTarget, assess, gather};
use kcops::ops::{
    AuditLog, Confirmation, ExecContext, Executor, ObjectRef, Op, OpsError, Plan, Progress, Step,
};
use serde_json::Value;

/// The pod the Deployment moved to node2, stuck on node1's lock; and the image.
fn stuck_pod(lab: &Lab) -> (String, String) {
    let pod = moved_pod_name(lab);
    wait_failed_mount(lab, &pod);
    (pod, claim_image(lab).1)
}

fn lab() -> &'static Lab {
    shared("wizunlock", "rbd-stale-lock", &[])
}

fn admin(lab: &Lab) -> CephClient {
    let conf = lab
        .state
        .ceph_conf
        .clone()
        .unwrap_or_else(|| panic!("no ceph conf"));
    let mut s = CephSettings::new(conf, "admin");
    if let Some(k) = &lab.state.ceph_keyring {
        s = s.with_keyring(k.clone());
    }
    CephClient::connect(s).unwrap_or_else(|e| panic!("ceph admin: {e}"))
}

fn kube_user(lab: &Lab) -> CephClient {
    let conf = lab
        .state
        .ceph_conf
        .clone()
        .unwrap_or_else(|| panic!("no ceph conf"));
    let keyring = lab
        .state
        .ceph_kube_keyring
        .clone()
        .unwrap_or_else(|| panic!("no client.kube keyring"));
    CephClient::connect(CephSettings::new(conf, "kube").with_keyring(keyring))
        .unwrap_or_else(|e| panic!("ceph kube: {e}"))
}

fn executor(client: kube::Client, lab: &Lab, test: &str, read_only: bool) -> Executor {
    let audit = AuditLog::new(lab.runtime_dir.join(format!("audit-{test}.log")));
    Executor::new(client, read_only, audit, ExecContext::new("admin", "lab")).with_ceph(admin(lab))
}

/// Waits until every Ceph client thread of this process has shut its connection down.
/// Call it after dropping the test's clients: librados still shutting down while the
/// process exits aborts it ("Rust cannot catch foreign exceptions").
async fn ceph_threads_gone() {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let alive = std::fs::read_dir("/proc/self/task")
            .map(|d| {
                d.flatten().any(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.trim() == "kcops-ceph")
                })
            })
            .unwrap_or(false);
        if !alive || tokio::time::Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_lock_blocked_for_kube_refused_read_only_then_removed_as_admin() {
    let lab = lab();
    let (pod, image) = stuck_pod(lab);
    let spec = format!("rbd/{image}");
    let before = locks(lab, &spec);
    assert_eq!(before.len(), 1, "one lock: {before:?}");
    assert_eq!(before[0].1, "kubelet_lock_magic_node1");
    let node1 = lab.node_ip("node1");
    assert!(before[0].2.starts_with(&format!("{node1}:")), "{before:?}");
    let client = lab.client().await;
    let target = UnlockTarget::Pod {
        namespace: "default".into(),
        name: pod.clone(),
    };

    // (a) client.kube (mon 'allow r'): stopped at the permission preflight.
    let kube = kube_user(lab);
    let w = assess(&gather(&client, &kube, &target).await);
    let text = w.render().join("\n");
    let blocker = w
        .blocker
        .clone()
        .unwrap_or_else(|| panic!("client.kube must be blocked:\n{text}"));
    assert!(
        blocker.reason.starts_with("permission preflight"),
        "{blocker:?}"
    );
    assert!(
        blocker
            .fix
            .iter()
            .any(|f| f.starts_with("ceph auth caps client.kube mon 'profile rbd' osd '")),
        "{blocker:?}"
    );
    assert!(w.plan().is_none(), "a blocked wizard offers no plan");
    assert!(text.contains("is locked by other nodes"), "{text}");
    assert!(text.contains("Holder node node1 is NotReady"), "{text}");
    assert!(text.contains("(13) Permission denied"), "{text}");
    assert_eq!(locks(lab, &spec), before, "the lock is unchanged");

    // As admin the wizard offers the plan.
    let ceph = admin(lab);
    let w = assess(&gather(&client, &ceph, &target).await);
    let text = w.render().join("\n");
    assert!(w.blocker.is_none(), "admin is not blocked:\n{text}");
    let plan = w
        .plan()
        .unwrap_or_else(|| panic!("no plan for admin:\n{text}"));
    assert_eq!(plan.confirmation, Confirmation::TypedName(image.clone()));
    assert_eq!(plan.action(), "blocklist+break-lock");
    assert!(
        matches!(&plan.steps[0].op, Op::Fence { addr, .. } if *addr == before[0].2),
        "{plan:?}"
    );

    // --read-only refuses and changes nothing; a wrong name is refused too.
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let ro = executor(client.clone(), lab, "ro", true);
    let err = ro
        .run(&plan, &image, tx.clone())
        .await
        .err()
        .unwrap_or_else(|| panic!("read-only must refuse"));
    assert!(matches!(err, OpsError::ReadOnly { .. }), "{err}");
    let exec = executor(client.clone(), lab, "admin", false);
    let err = exec
        .run(&plan, "index-api", tx.clone())
        .await
        .err()
        .unwrap_or_else(|| panic!("a wrong name must be refused"));
    assert!(matches!(err, OpsError::Confirmation { .. }), "{err}");
    let dry = exec
        .dry_run(&plan)
        .unwrap_or_else(|e| panic!("dry run: {e}"));
    assert_eq!(dry[0], "Dry run: nothing will be changed.");
    assert_eq!(
        locks(lab, &spec),
        before,
        "refusals and dry-run change nothing"
    );
    assert!(!blocklisted_with_expiry(&blocklist(lab), &before[0].2));

    // The full run, with progress per step.
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let outcome = exec
        .run(&plan, &image, tx)
        .await
        .unwrap_or_else(|e| panic!("the plan failed: {e}"));
    let mut done = 0;
    while let Ok(p) = rx.try_recv() {
        if matches!(p, Progress::StepDone { .. }) {
            done += 1;
        }
    }
    assert_eq!(done, plan.steps.len());
    assert!(
        outcome.steps[0].result.contains("is blocklisted until"),
        "{outcome:?}"
    );

    // From outside: node1's client is blocklisted with an expiry, node2 holds the
    // lock, the pod runs.
    assert!(
        blocklisted_with_expiry(&blocklist(lab), &before[0].2),
        "{}",
        blocklist(lab)
    );
    let after = locks(lab, &spec);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].1, "kubelet_lock_magic_node2");
    assert!(
        after[0]
            .2
            .starts_with(&format!("{}:", lab.node_ip("node2"))),
        "{after:?}"
    );
    let status = lab.kubectl_ok(&["get", "pod", &pod, "--no-headers"]);
    assert!(status.contains("Running"), "{status}");

    // A second console that had confirmed the same plan runs it now: its re-check
    // finds the lock already broken and says so instead of claiming the break (D10).
    let second = executor(client.clone(), lab, "second", false);
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    second
        .run(&plan, &image, tx)
        .await
        .unwrap_or_else(|e| panic!("the second console's run: {e}"));
    let breaks: Vec<String> = common::journal::outcomes(
        &second
            .audit_log()
            .read_entries()
            .unwrap_or_else(|e| panic!("audit: {e}")),
    )
    .into_iter()
    .filter(|e| e.action == "break-lock")
    .map(|e| e.result)
    .collect();
    assert_eq!(breaks.len(), 1, "{breaks:?}");
    assert!(
        breaks[0].starts_with("already done by someone else: the lock "),
        "{breaks:?}"
    );
    assert_eq!(locks(lab, &spec), after, "node2's lock is left alone");
    // Its Ceph client goes with it (the end of the test waits for every one).
    drop(second);

    // The audit log: the refusal, the dry-run, and one line per mutation.
    let ro_log = AuditLog::new(lab.runtime_dir.join("audit-ro.log"))
        .read_entries()
        .unwrap_or_else(|e| panic!("audit: {e}"));
    assert_eq!(ro_log.len(), 1);
    assert!(
        ro_log[0]
            .result
            .starts_with("refused: kcops is in read-only mode")
    );
    let log = exec
        .audit_log()
        .read_entries()
        .unwrap_or_else(|e| panic!("audit: {e}"));
    let outcomes = common::journal::outcomes(&log);
    let real: Vec<_> = outcomes
        .iter()
        .filter(|e| !e.dry_run && !e.result.starts_with("refused"))
        .collect();
    assert_eq!(
        log.iter().filter(|e| e.is_intent()).count(),
        real.len(),
        "one intent per mutation"
    );
    // One line per fence (node1's lock holder, and any watcher Ceph still listed from
    // node1's address), then the break.
    let fences = plan
        .steps
        .iter()
        .filter(|s| matches!(s.op, Op::Fence { .. }))
        .count();
    let mut want = vec![("blocklist", "ok"); fences];
    want.push(("break-lock", "ok"));
    assert_eq!(
        real.iter()
            .map(|e| (e.action.as_str(), e.result.as_str()))
            .collect::<Vec<_>>(),
        want
    );
    assert_eq!(real[fences].object, format!("RbdImage rbd/{image}"));
    assert_eq!(log.iter().filter(|e| e.dry_run).count(), fences + 1);

    // Assessed again, the wizard finds the lock held by the pod's own node.
    let w = assess(&gather(&client, &ceph, &target).await);
    assert!(w.is_blocked(), "{}", w.render().join("\n"));
    drop((w, exec, ro, ceph, kube));
    ceph_threads_gone().await;
}

/// An `rbd` command run inside node1's network namespace (so its address is node1's).
fn on_node1(lab: &Lab) -> Command {
    assert!(
        lab.state.netns,
        "the lab needs per-node network namespaces (root)"
    );
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &format!("kcops{}-1", lab.state.id), "rbd"]);
    if let Some(conf) = &lab.state.ceph_conf {
        c.env("CEPH_CONF", conf);
    }
    c
}

struct Watch(Child);

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn watchers(lab: &Lab, spec: &str) -> Vec<String> {
    let mut c = lab.ceph_cmd("rbd");
    c.args(["status", "--format", "json", spec]);
    let v: Value = serde_json::from_str(&Lab::run_ok(c)).unwrap_or(Value::Null);
    v["watchers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["address"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_client_on_the_holder_is_fenced_before_the_lock_is_broken() {
    let lab = lab();
    let spec = "rbd/wiz-live";
    let mut create = lab.ceph_cmd("rbd");
    create.args(["create", "--size", "16M", spec]);
    Lab::run_ok(create);
    let mut add = on_node1(lab);
    add.args(["lock", "add", spec, "kubelet_lock_magic_node1"]);
    Lab::run_ok(add);
    let mut watch = on_node1(lab);
    watch
        .args(["watch", spec])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _watch = Watch(watch.spawn().unwrap_or_else(|e| panic!("rbd watch: {e}")));
    let node1 = lab.node_ip("node1");
    let watcher = wait_for("node1's live watcher", Duration::from_secs(30), || {
        watchers(lab, spec)
            .into_iter()
            .find(|a| a.starts_with(&format!("{node1}:")))
    });
    let lock = locks(lab, spec);
    assert_eq!(lock.len(), 1);
    let (locker, cookie, address) = lock[0].clone();
    assert_ne!(
        address, watcher,
        "the lock was taken by another client instance"
    );

    let client = lab.client().await;
    let ceph = admin(lab);
    let w = assess(
        &gather(
            &client,
            &ceph,
            &UnlockTarget::Image {
                pool: "rbd".into(),
                image: "wiz-live".into(),
            },
        )
        .await,
    );
    let text = w.render().join("\n");
    assert!(w.blocker.is_none(), "{text}");
    assert!(
        text.contains("Live watcher") && text.contains(&watcher),
        "the image is shown in use by a live client:\n{text}"
    );
    let plan = w.plan().unwrap_or_else(|| panic!("no plan:\n{text}"));
    let ops: Vec<&Op> = plan.steps.iter().map(|s| &s.op).collect();
    assert!(
        matches!(ops[..], [Op::Fence { addr: a, .. }, Op::Fence { addr: b, .. }, Op::BreakLock { .. }] if *a == address && *b == watcher),
        "fence the holder, fence its live watcher, then break: {ops:?}"
    );

    // An executor without a Ceph client fails a Ceph step, saying why.
    let no_ceph = Executor::new(
        client.clone(),
        false,
        AuditLog::new(lab.runtime_dir.join("audit-noceph.log")),
        ExecContext::new("admin", "lab"),
    );
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let err = no_ceph
        .run(&plan, "wiz-live", tx)
        .await
        .err()
        .unwrap_or_else(|| panic!("a Ceph step without Ceph must fail"));
    assert!(err.to_string().contains("needs a Ceph connection"), "{err}");
    assert_eq!(locks(lab, spec), lock, "nothing was done");
    assert!(!blocklisted_with_expiry(&blocklist(lab), &address));

    // Hand-made plans that break without fencing are refused before anything runs.
    let exec = executor(client.clone(), lab, "live", false);
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let break_step = |watchers: Vec<String>| {
        Step::new(
            Op::BreakLock {
                pool: "rbd".into(),
                image: "wiz-live".into(),
                locker: locker.clone(),
                cookie: cookie.clone(),
                address: address.clone(),
                watchers,
            },
            true,
        )
    };
    let target = ObjectRef::new("RbdImage", Some("rbd"), "wiz-live");
    let confirm = Confirmation::TypedName("wiz-live".into());
    let blind = Plan::new("Break blind", target.clone(), confirm.clone())
        .step(break_step(vec![watcher.clone()]));
    let reason = blind
        .validate()
        .err()
        .unwrap_or_else(|| panic!("breaking without fencing must be invalid"));
    assert!(reason.contains("never break without fencing"), "{reason}");
    assert!(
        reason.contains(&address) && reason.contains(&watcher),
        "{reason}"
    );
    let err = exec
        .run(&blind, "wiz-live", tx.clone())
        .await
        .err()
        .unwrap_or_else(|| panic!("refused"));
    assert!(matches!(err, OpsError::InvalidPlan { .. }), "{err}");
    let only_holder = Plan::new("Fence the holder only", target.clone(), confirm.clone())
        .step(Step::new(
            Op::Fence {
                addr: address.clone(),
                expire: Duration::from_secs(3600),
                who: "lock holder".into(),
            },
            true,
        ))
        .step(break_step(vec![watcher.clone()]));
    assert!(only_holder.validate().is_err(), "the watcher is not fenced");

    // A plan that hides the watcher passes validation, but the executor re-reads the
    // live watchers and still refuses to break.
    let hiding = Plan::new("Hide the watcher", target, confirm)
        .step(Step::new(
            Op::Fence {
                addr: address.clone(),
                expire: Duration::from_secs(3600),
                who: "lock holder".into(),
            },
            true,
        ))
        .step(break_step(Vec::new()));
    assert_eq!(hiding.validate(), Ok(()));
    let err = exec
        .run(&hiding, "wiz-live", tx.clone())
        .await
        .err()
        .unwrap_or_else(|| panic!("the executor must refuse to break"));
    let halt = err.halt().unwrap_or_else(|| panic!("{err}"));
    assert_eq!((halt.step, halt.done.len()), (2, 1), "{err}");
    assert!(
        err.to_string()
            .contains("never break a lock without fencing"),
        "{err}"
    );
    assert!(err.to_string().contains(&watcher), "{err}");
    assert_eq!(locks(lab, spec), lock, "the lock is unchanged");

    // The wizard's own plan fences the watcher, then breaks the lock.
    exec.run(&plan, "wiz-live", tx)
        .await
        .unwrap_or_else(|e| panic!("the wizard's plan: {e}"));
    let list = blocklist(lab);
    assert!(blocklisted_with_expiry(&list, &watcher), "{list}");
    assert!(blocklisted_with_expiry(&list, &address), "{list}");
    assert!(locks(lab, spec).is_empty(), "the lock is gone");
    drop((w, exec, ceph));
    ceph_threads_gone().await;
}
