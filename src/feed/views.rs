//! The loop behind every view: connect (retrying with backoff and saying why not),
//! start the reflectors and the host probes, and derive a new view model after each
//! change batch, off the UI task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, watch};

use super::FeedMsg;
use super::schedule::FindingsSchedule;
use crate::ceph::source::CephWatch;
use crate::diagnose::Finding;
use crate::kube::connect::ConnectOptions;
use crate::ui::view::{ConnState, Deriver, ViewModel};

/// Connects, starts the reflectors, and publishes a new view model on `views` after
/// each change batch, until the receiving side is gone. `ceph` is the Ceph watch and
/// the notify it pings on each new report; `tx` hears when the API server answered.
/// `journal` is the audit journal whose interrupted plans become findings.
pub(crate) async fn run<M: From<FeedMsg>>(
    opts: ConnectOptions,
    probe: crate::host::probe::HostProbe,
    ceph: Option<(Arc<CephWatch>, Arc<Notify>)>,
    journal: std::path::PathBuf,
    remote_hosts: crate::host::remote::RemoteHosts,
    views: watch::Sender<Arc<ViewModel>>,
    tx: mpsc::Sender<M>,
) {
    let journal_cache = Arc::new(std::sync::Mutex::new(
        crate::ops::journal::JournalCache::default(),
    ));
    let mut delay = Duration::from_millis(500);
    let conn = loop {
        match crate::kube::connect::connect(&opts).await {
            Ok(c) => break c,
            Err(e) => {
                let mut vm = ViewModel::default();
                vm.connection.error = Some(e.into());
                // Ceph needs no API server: its pane works while this retries.
                if let Some((watch, _)) = &ceph {
                    vm.snapshot.ceph = Some(watch.latest());
                    vm.ceph = crate::ui::ceph_view::derive(&vm.snapshot);
                }
                let _ = views.send(Arc::new(vm));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    };
    let _ = tx
        .send(FeedMsg::Connected(Box::new(conn.clone())).into())
        .await;
    let sources = crate::kube::reflectors::Sources::start(&conn);
    let base = ConnState {
        context: conn.context.clone(),
        cluster: conn.cluster.clone(),
        server: conn.server.clone(),
        user: conn.user.clone(),
        error: None,
    };
    let sources = Arc::new(sources);
    // Host probes do file IO and run a command: their own task, every ~10 s.
    let find_node = {
        let nodes = sources.nodes.clone();
        move || {
            crate::host::node_with_address(
                nodes.state().iter().map(|n| n.as_ref()),
                &crate::host::local_addresses(),
            )
        }
    };
    // The ensembles' members: their own task, every 5 s and on `r` (pods by name only).
    // Each poll makes a view (its age moves); only news makes a diagnosis.
    let members_changed = Arc::new(Notify::new());
    let members = {
        let settings = crate::members::source::PollSettings {
            host_root: probe.root.clone(),
            ..Default::default()
        };
        let s = sources.clone();
        crate::members::poll::MembersWatch::start(
            settings,
            move || {
                crate::members::recognise::recognise(
                    &s.statefulsets.state(),
                    &s.nodes.state(),
                    |ns, name| s.pods.get(ns, name),
                )
            },
            members_changed.clone(),
        )
    };
    let host = crate::host::watch::HostWatch::start(
        probe,
        find_node,
        sources.changed.clone(),
        Duration::from_secs(10),
    );
    let (ceph, ceph_changed) = match ceph {
        Some((w, n)) => (Some(w), n),
        None => (None, Arc::new(Notify::new())),
    };
    let _csi_users = ceph
        .clone()
        .map(|w| csi_users_task(w, conn.client.clone(), conn.server.clone(), sources.clone()));
    let mut generation = 0u64;
    let mut last = Instant::now() - Duration::from_secs(1);
    let mut deriver = Some(Deriver::default());
    let mut findings = FindingsSchedule::new(Instant::now());
    let (found_tx, mut found_rx) = mpsc::channel::<(Vec<Finding>, Duration)>(1);
    loop {
        // Wake on change (errors included), on findings diagnosed in the background, when
        // findings are due again, or once a minute so ages and time thresholds move.
        let due = findings.due_in(Instant::now());
        tokio::select! {
            _ = sources.changed.notified() => findings.changed(),
            _ = ceph_changed.notified() => findings.changed(),
            _ = remote_hosts.changed.notified() => findings.changed(),
            _ = members_changed.notified() => if members.take_news() { findings.changed() },
            Some((f, cost)) = found_rx.recv() => findings.done(f, cost, Instant::now()),
            _ = tokio::time::sleep(due.unwrap_or_default()), if due.is_some() => {}
            _ = tokio::time::sleep(Duration::from_secs(60)) => findings.changed(),
        }
        // Coalesce: at most ~20 derivations a second.
        let since = last.elapsed();
        if since < Duration::from_millis(50) {
            tokio::time::sleep(Duration::from_millis(50) - since).await;
        }
        last = Instant::now();
        generation += 1;
        let s = sources.clone();
        let conn_state = base.clone();
        let inline = findings.inline();
        let background = !inline && findings.start_due(Instant::now());
        let current = findings.latest.clone();
        let mut d = deriver.take().unwrap_or_default();
        let host_report = host.latest();
        let remote_reports = remote_hosts.all();
        let members_report = members.latest();
        let ceph_report = ceph.as_ref().map(|c| c.latest());
        let (journal, journal_cache) = (journal.clone(), journal_cache.clone());
        let job = tokio::task::spawn_blocking(move || {
            let t0 = Instant::now();
            // Only the pods changed since the last derivation are derived again.
            let (mut snapshot, changes) = s.snapshot_since(d.pod_seq());
            snapshot.host = host_report;
            snapshot.remote_hosts = remote_reports;
            snapshot.ceph = ceph_report;
            snapshot.members = members_report;
            snapshot.interrupted = journal_cache
                .lock()
                .map(|mut c| c.interrupted(&journal))
                .unwrap_or_default();
            let snapshot_us = t0.elapsed().as_micros() as u64;
            let t1 = Instant::now();
            let diagnosed = inline.then(|| crate::diagnose::diagnose(&snapshot));
            let diagnose = t1.elapsed();
            let for_diagnosis = background.then(|| snapshot.clone());
            let pods = snapshot.pods.len();
            let t2 = Instant::now();
            let changed = changes.keys.as_ref().map_or(pods, Vec::len);
            let vm = d.derive_changed(
                snapshot,
                &changes,
                conn_state,
                generation,
                diagnosed.clone().unwrap_or(current),
            );
            tracing::debug!(
                generation,
                pods,
                changed,
                snapshot_us,
                diagnose_us = diagnose.as_micros() as u64,
                derive_us = t2.elapsed().as_micros() as u64,
                "view derived"
            );
            (d, vm, diagnosed.map(|f| (f, diagnose)), for_diagnosis)
        });
        match job.await {
            Ok((d, vm, diagnosed, for_diagnosis)) => {
                deriver = Some(d);
                if let Some((f, cost)) = diagnosed {
                    findings.done(f, cost, Instant::now());
                }
                if let Some(snapshot) = for_diagnosis {
                    let tx = found_tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let t = Instant::now();
                        let f = crate::diagnose::diagnose(&snapshot);
                        let cost = t.elapsed();
                        tracing::debug!(
                            findings = f.len(),
                            diagnose_us = cost.as_micros() as u64,
                            "findings diagnosed in the background"
                        );
                        let _ = tx.blocking_send((f, cost));
                    });
                }
                if views.send(Arc::new(vm)).is_err() {
                    return;
                }
            }
            Err(e) => tracing::error!("view derivation failed: {e}"),
        }
    }
}

/// Aborts its task when dropped (the feed loop ends, the task ends with it).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Once a minute: the Secrets ceph-csi's StorageClasses name, read one-off (Secrets
/// are not watched), and their users checked against Ceph for `csi.config-mismatch`.
fn csi_users_task(
    ceph: Arc<CephWatch>,
    client: kube::Client,
    server: String,
    sources: Arc<crate::kube::reflectors::Sources>,
) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        loop {
            let classes = sources.storage_classes.state();
            let named = crate::kube::csi_secrets::named(classes.iter().map(|c| c.as_ref()));
            if !named.is_empty() {
                let reads = crate::kube::csi_secrets::read(&client, &server, named).await;
                let checked = crate::ceph::csi_users::check(ceph.client(), reads).await;
                ceph.set_csi_users(checked);
            }
            tokio::time::sleep(Duration::from_secs(if classes.is_empty() { 5 } else { 60 })).await;
        }
    }))
}
