//! The console benchmark (not a test): the real `kcops` binary in a pseudo-terminal
//! against a running lab, side by side with `kubectl get pods -A --chunk-size=500`.
//!
//! Run it with `scripts/bench`, which builds in release, brings up a lab with 5,000
//! nodes and 150,000 synthetic pods (no lab churn), runs this with `KUBECONFIG` pointing
//! at it, and takes the lab down. `cargo bench --bench console` runs it against
//! whatever `KUBECONFIG` names. Under `cargo test` (no `--bench` argument) it does
//! nothing.
//!
//! Phases, in one run:
//! 1. machine and pod shape; `kubectl get pods -A --chunk-size=500` (3 runs: time to
//!    its full output, peak RSS from `wait4`);
//! 2. the console: time from start to the Pods pane's first rows (`first_rows_ms`,
//!    with the list's progress against the server's count in its title) and to it
//!    showing every pod (`Pods [all]  N/N`), with `3` pressed as soon as the screen is up;
//! 3. CPU while idle for 10 s (utime+stime from `/proc/<pid>/stat`, nothing writing);
//! 4. churn: this process patches pods' status at a fixed rate (default 50/s) while it
//!    creates marker pods one at a time, the Pods pane filtered to the marker prefix.
//!    Event-to-screen is timed from the console's watch receiving the marker's event
//!    (its reflector logs each pod event at trace level, with the time) to the marker's
//!    name on the pty screen; `api_to_screen` also counts the API server's delivery,
//!    from the event as this process's own watch of all pods sees it (or the create
//!    call's return, if earlier);
//! 5. peak RSS (`VmHWM`) and frame times (`frame_us` in the console's trace log);
//! 6. with `KCOPS_BENCH_SMALL_KUBECONFIG` (a lab a tenth the size, which
//!    `scripts/bench` brings up), a second console there and the same 20/s churn-CPU
//!    phase: `churn_cpu_small` and the ratio of the two (`small.rs`).
//!
//! Each churn-CPU figure has the lab's own CPU beside it when the lab's `lab.json`
//! lies beside the kubeconfig (a lab that is the bottleneck would be measured instead).
//!
//! Per-sample times go to `target/bench/console-run/event_to_screen.csv`, the
//! console's trace log to `target/bench/console-run/kcops.log`.
//!
//! Knobs (environment): `KUBECONFIG` (required), `KCOPS_BIN` (default: the `kcops`
//! built with this bench), `KCOPS_BENCH_SAMPLES` (100), `KCOPS_BENCH_CHURN` (50 pod
//! updates/s), `KCOPS_BENCH_OUT` (default `target/bench/console.json`),
//! `KCOPS_BENCH_KUBECTL_RUNS` (3), `KCOPS_BENCH_CHURN_SECS` (12: each pane's CPU
//! measurement under the driven 20/s and 100/s churn), `KDASH_BIN` (optional: kdash
//! as a baseline, never vendored).
//!
//! Also measured: the list floor (every page of the pod list, `limit=500`, not
//! decoded), key to screen on the Pods pane (moves, pages, sort, filter keystrokes),
//! and lost events (markers that never appear or never leave the screen).
#![allow(unsafe_code)] // sysconf and wait4 (rusage of the measured child): the bench's only libc calls.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Api, Client};
use portable_pty::{CommandBuilder, PtySize, native_pty_system};
use serde_json::{Value, json};

const ROWS: u16 = 50;
const COLS: u16 = 200;
const PROBE_NS: &str = "kcops-bench";
const PROBE_PREFIX: &str = "kcops-bench-probe";
/// Synthetic pods live in `bench-00` .. `bench-99`; pod `i` is in `bench-{i % 100}`.
const SYNTH_NAMESPACES: usize = 100;

#[path = "console/phases.rs"]
mod phases;
#[path = "console/small.rs"]
mod small;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!(
            "console benchmark: run it with scripts/bench (or cargo bench --bench console against a lab)"
        );
        return;
    }
    match run() {
        Ok(()) => {}
        Err(e) => {
            eprintln!("console benchmark failed: {e:#}");
            std::process::exit(1);
        }
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn log(msg: impl AsRef<str>) {
    eprintln!(
        "[bench {:>7.1}s] {}",
        started().elapsed().as_secs_f64(),
        msg.as_ref()
    );
}

fn started() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn run() -> Result<()> {
    started();
    let kubeconfig = PathBuf::from(
        std::env::var("KUBECONFIG")
            .context("KUBECONFIG must point at a lab (scripts/bench sets it)")?,
    );
    let kcops_bin =
        std::env::var("KCOPS_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kcops").to_string());
    let samples: usize = env_or("KCOPS_BENCH_SAMPLES", 100);
    let churn_rate: f64 = env_or("KCOPS_BENCH_CHURN", 50.0);
    let kubectl_runs: usize = env_or("KCOPS_BENCH_KUBECTL_RUNS", 3).max(1);
    let out_path = std::env::var("KCOPS_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/console.json")
        });
    let work = out_path
        .parent()
        .unwrap_or(Path::new("."))
        .join("console-run");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let client = rt.block_on(client_for(&kubeconfig))?;

    // --- machine, cluster and pod shape
    let machine = machine();
    let (pod_count, node_count) = rt.block_on(counts(&client))?;
    let pod_shape = rt.block_on(pod_shape(&client))?;
    log(format!(
        "cluster: {node_count} nodes, {pod_count} pods; one pod is {} bytes of JSON",
        pod_shape["json_bytes"]
    ));

    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    // --- the floor: every page of the pod list, not decoded (median of 3)
    let mut floors = Vec::new();
    for _ in 0..3 {
        floors.push(rt.block_on(phases::list_floor(&client))?);
    }
    floors.sort_unstable();
    let (list_floor_ms, list_pages, list_bytes) = floors[1];
    log(format!(
        "list floor: {list_floor_ms} ms for {list_pages} pages of 500 ({:.1} MiB)",
        list_bytes as f64 / 1048576.0
    ));

    // --- kubectl baseline
    let mut kubectl_runs_out = Vec::new();
    for i in 0..kubectl_runs {
        let r = kubectl_get_pods(&kubeconfig, &work.join("kubectl-home"))?;
        log(format!(
            "kubectl run {}: {} ms, {} lines, peak RSS {:.1} MiB",
            i + 1,
            r.millis,
            r.lines,
            r.max_rss_kib as f64 / 1024.0
        ));
        kubectl_runs_out.push(r);
    }
    let mut kubectl_ms: Vec<u64> = kubectl_runs_out.iter().map(|r| r.millis).collect();
    kubectl_ms.sort_unstable();
    let kubectl_median_ms = kubectl_ms[kubectl_ms.len() / 2];
    let kubectl_rss_kib = kubectl_runs_out
        .iter()
        .map(|r| r.max_rss_kib)
        .max()
        .unwrap_or(0);
    let kubectl_cpu_ms =
        kubectl_runs_out.iter().map(|r| r.cpu_ms).sum::<u64>() / kubectl_runs as u64;
    let kubectl_lines = kubectl_runs_out.last().map(|r| r.lines).unwrap_or(0);

    // --- the console
    let log_file = work.join("kcops.log");
    let mut console = Console::start(&kcops_bin, &kubeconfig, &log_file, &work)?;
    let pid = console.pid;
    let t_start = console.started;
    console.wait("the first screen", Duration::from_secs(60), |s| {
        s.contains("kcops") && s.contains("1:")
    })?;
    console.send("3")?;
    let title = regex::Regex::new(r"Pods \[all\]\s+(\d+)/(\d+)")?;
    // The first rows, while the list still runs, and its progress against the
    // server's count (`loading 42,000 of ~150,016` in the title).
    let progress = regex::Regex::new(r"loading [\d,]+ of ~([\d,]+)")?;
    // The server's count, as the first screen with progress showed it.
    let progress_total = std::cell::Cell::new(None::<usize>);
    let note_progress = |s: &str| {
        if progress_total.get().is_none() {
            progress_total.set(
                progress
                    .captures(s)
                    .and_then(|c| c[1].replace(',', "").parse().ok()),
            );
        }
    };
    console.wait("the first pod rows", Duration::from_secs(600), |s| {
        note_progress(s);
        title
            .captures(s)
            .is_some_and(|c| c[1].parse::<usize>().unwrap_or(0) > 0)
    })?;
    let first_rows = t_start.elapsed();
    console.wait("the complete pods table", Duration::from_secs(600), |s| {
        note_progress(s);
        table_complete(&title, s, pod_count)
    })?;
    let progress_total = progress_total.get();
    log(format!(
        "kcops: first pod rows after {} ms; progress shown against a count of {progress_total:?}",
        first_rows.as_millis()
    ));
    let first_table = t_start.elapsed();
    let frames_before = frame_lines(&log_file).len();
    let rss_first_table = proc_status_kib(pid, "VmRSS").unwrap_or(0);
    let ticks = clock_ticks();
    let cpu_first_table = proc_cpu_ticks(pid)? as f64 / ticks;
    log(format!(
        "kcops: first complete pods table after {} ms (RSS {:.1} MiB)",
        first_table.as_millis(),
        rss_first_table as f64 / 1024.0
    ));

    // --- idle CPU: nothing writes to the lab (its churn is off, ours not started).
    std::thread::sleep(Duration::from_secs(5));
    let cpu0 = proc_cpu_ticks(pid)?;
    let t_idle = Instant::now();
    std::thread::sleep(Duration::from_secs(10));
    let cpu1 = proc_cpu_ticks(pid)?;
    let idle_secs = t_idle.elapsed().as_secs_f64();
    let idle_cpu_pct = (cpu1 - cpu0) as f64 / ticks / idle_secs * 100.0;
    log(format!(
        "kcops: idle CPU {idle_cpu_pct:.2}% of a core over {idle_secs:.1} s"
    ));

    // --- key to screen on the Pods pane, nothing writing
    let (key_ms, keys_unchanged, slowest_keys) = phases::keys(&mut console, 8)?;
    log(format!(
        "keys: {} timed, {keys_unchanged} changed nothing; p50 {:.1} ms, p99 {:.1} ms",
        key_ms.len(),
        percentile(&key_ms, 50.0),
        percentile(&key_ms, 99.0)
    ));

    // --- CPU under a driven churn, idle on the Pods pane and on the Overview
    let churn_secs_each: f64 = env_or("KCOPS_BENCH_CHURN_SECS", 12.0);
    let lab_pid = phases::lab_pid(&kubeconfig);
    let (churn_cpu, churn_detail) = phases::churn_cpu_panes(
        &rt,
        &client,
        &mut console,
        lab_pid,
        &[20.0, 100.0],
        pod_count.min(150_000),
        churn_secs_each,
    )?;

    // --- churn and event-to-screen latency
    rt.block_on(ensure_namespace(&client, PROBE_NS))?;
    rt.block_on(delete_old_probes(&client))?;
    console.send("/")?;
    console.send(PROBE_PREFIX)?;
    console.send("\r")?;
    console.wait("the probe filter", Duration::from_secs(60), |s| {
        s.contains(&format!("filter: {PROBE_PREFIX}")) && s.contains("Pods [all]  0/")
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let patched = Arc::new(AtomicU64::new(0));
    let t_churn_start = Instant::now();
    let cpu_churn0 = proc_cpu_ticks(pid)?;
    let churn = rt.spawn(churn(
        client.clone(),
        churn_rate,
        pod_count.min(150_000),
        stop.clone(),
        patched.clone(),
    ));
    std::thread::sleep(Duration::from_secs(3));
    let probe_node = rt.block_on(first_node(&client))?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), PROBE_NS);
    let events = rt.block_on(watch_probes(&client))?;
    let mut probes: Vec<Probe> = Vec::new();
    let mut never_gone = 0usize;
    let run_id = std::process::id();
    let t_churn = Instant::now();
    for i in 0..samples {
        let name = format!("{PROBE_PREFIX}-{run_id}-{i:04}");
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": PROBE_NS, "labels": {"app": PROBE_PREFIX}},
            "spec": {"nodeName": probe_node, "containers": [{"name": "c", "image": "registry.example/probe:1"}]}
        }))?;
        let t0 = Instant::now();
        let wall = jiff::Timestamp::now();
        rt.block_on(pods.create(&PostParams::default(), &pod))
            .with_context(|| format!("create {name}"))?;
        let returned = t0.elapsed();
        let seen = console
            .wait_quiet(Duration::from_secs(10), |s| s.contains(&name))
            .map(|t| t.duration_since(t0));
        // When our own watch of all pods saw it (it may come after the screen did).
        let deadline = Instant::now() + Duration::from_secs(2);
        let watched = loop {
            let got = events.lock().ok().and_then(|m| m.get(&name).copied());
            if got.is_some() || Instant::now() > deadline {
                break got.map(|w| w.saturating_duration_since(t0));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        probes.push(Probe {
            name: name.clone(),
            wall,
            returned,
            watched,
            seen,
            console_got: None,
        });
        let _ = rt.block_on(pods.delete(
            &name,
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        ));
        // A force-deleted marker must leave the screen too.
        if console
            .wait_quiet(Duration::from_secs(10), |s| !s.contains(&name))
            .is_none()
        {
            never_gone += 1;
        }
        // Wait out a spread of phases of the console's redraw cadence.
        std::thread::sleep(Duration::from_millis(150 + (i as u64 * 37) % 200));
    }
    let sampling_secs = t_churn.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = rt.block_on(churn);
    let churn_secs = t_churn_start.elapsed().as_secs_f64();
    let churn_cpu_pct =
        proc_cpu_ticks(pid)?.saturating_sub(cpu_churn0) as f64 / ticks / churn_secs * 100.0;
    let patches = patched.load(Ordering::Relaxed);
    log(format!(
        "churn: {patches} status patches in {churn_secs:.1} s ({:.1}/s); {samples} probe pods in {sampling_secs:.1} s",
        patches as f64 / churn_secs
    ));

    let peak_rss = proc_status_kib(pid, "VmHWM").unwrap_or(0);
    let rss_end = proc_status_kib(pid, "VmRSS").unwrap_or(0);
    console.send("\x1b")?;
    console.send("q")?;
    console.finish(Duration::from_secs(5));
    rt.block_on(delete_old_probes(&client))?;
    let small = small::measure(&rt, &kcops_bin, &work, churn_secs_each);
    let kdash = phases::kdash(&kubeconfig, &work, Duration::from_secs(300));

    // --- latencies: from the console's own record of each marker's watch event (it
    // logs every pod event at trace level), and from the API server's side.
    let received = console_events(&log_file);
    for p in &mut probes {
        p.console_got = received.get(&p.name).map(|t| t.duration_since(p.wall));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let signed_ms = |d: jiff::SignedDuration| d.as_secs_f64() * 1000.0;
    let mut csv =
        String::from("created_at,pod,create_call_ms,own_watch_ms,console_watch_ms,on_screen_ms\n");
    let (mut latencies_ms, mut api_to_screen_ms, mut create_call_ms, mut delivery_lag_ms) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut timeouts = 0usize;
    for p in &probes {
        let opt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
        csv.push_str(&format!(
            "{},{},{:.1},{},{},{}\n",
            p.wall,
            p.name,
            ms(p.returned),
            opt(p.watched.map(ms)),
            opt(p.console_got.map(signed_ms)),
            opt(p.seen.map(ms))
        ));
        create_call_ms.push(ms(p.returned));
        let Some(seen) = p.seen else {
            timeouts += 1;
            continue;
        };
        // The API server sends the event once the object is stored: by the time the
        // create returns at the latest.
        let emitted = p.watched.map_or(p.returned, |w| w.min(p.returned));
        api_to_screen_ms.push(ms(seen.saturating_sub(emitted)));
        if let Some(got) = p.console_got {
            latencies_ms.push((ms(seen) - signed_ms(got)).max(0.0));
            delivery_lag_ms.push((signed_ms(got) - ms(emitted)).max(0.0));
        }
    }
    std::fs::write(work.join("event_to_screen.csv"), &csv)?;
    let missing_events = probes
        .iter()
        .filter(|p| p.seen.is_some() && p.console_got.is_none())
        .count();

    // --- frame times from the trace log (frames once the table was complete)
    let frames: Vec<f64> = frame_lines(&log_file)
        .into_iter()
        .skip(frames_before)
        .map(|f| f as f64 / 1000.0)
        .collect();
    let (f50, f99, fmax) = (
        percentile(&frames, 50.0),
        percentile(&frames, 99.0),
        frames.iter().cloned().fold(0.0, f64::max),
    );
    let (l50, l99, lmax) = (
        percentile(&latencies_ms, 50.0),
        percentile(&latencies_ms, 99.0),
        latencies_ms.iter().cloned().fold(0.0, f64::max),
    );
    let (e50, e99, emax) = (
        percentile(&api_to_screen_ms, 50.0),
        percentile(&api_to_screen_ms, 99.0),
        api_to_screen_ms.iter().cloned().fold(0.0, f64::max),
    );
    let (d50, d99) = (
        percentile(&delivery_lag_ms, 50.0),
        percentile(&delivery_lag_ms, 99.0),
    );
    let (a50, a99) = (
        percentile(&create_call_ms, 50.0),
        percentile(&create_call_ms, 99.0),
    );
    // A timed-out sample counts as missing the target.
    let l99_effective = if (timeouts + missing_events) * 100 > samples {
        f64::INFINITY
    } else {
        l99
    };

    let rss_budget_kib = 50 * 1024 + pod_count as u64;
    let lost_events = timeouts + never_gone;
    let churn20 = churn_cpu
        .get("20")
        .and_then(Value::as_f64)
        .unwrap_or(f64::INFINITY);
    let key_p99 = percentile(&key_ms, 99.0);
    let mib = |k: u64| (k as f64 / 1024.0 * 10.0).round() / 10.0;
    let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
    let target = |name: &str, value: Value, limit: String, met: bool| json!({"name": name, "value": value, "target": limit, "met": met});
    let targets = vec![
        target(
            "peak_rss_mib",
            json!(mib(peak_rss)),
            format!(
                "<= 50 MiB + 1 KiB x {pod_count} pods = {} MiB",
                mib(rss_budget_kib)
            ),
            peak_rss <= rss_budget_kib,
        ),
        target(
            "key_to_screen_p99_ms",
            json!(r1(key_p99)),
            "<= 16 (one frame)".into(),
            !key_ms.is_empty() && keys_unchanged == 0 && key_p99 <= 16.0,
        ),
        target(
            "churn_cpu_percent_of_core_at_20_per_second",
            json!(r1(churn20)),
            "<= 5 (idle on the Pods pane and on the Overview, the worse of the two)".into(),
            churn20 <= 5.0,
        ),
        target(
            "lost_events",
            json!(lost_events),
            "0 (markers created and force-deleted under churn, each seen coming and going)".into(),
            lost_events == 0,
        ),
        target(
            "first_table_vs_list_floor",
            json!(first_table.as_millis() as u64),
            format!(
                "<= 1.5 x the list floor ({list_floor_ms} ms) = {} ms",
                list_floor_ms * 3 / 2
            ),
            first_table.as_millis() as u64 * 2 <= list_floor_ms * 3,
        ),
        small::target(&small, churn20, pod_count),
        target(
            "idle_cpu_percent_of_core",
            json!(r3(idle_cpu_pct)),
            "< 1".into(),
            idle_cpu_pct < 1.0,
        ),
        target(
            "frame_p99_ms",
            json!(r3(f99)),
            "< 16".into(),
            !frames.is_empty() && f99 < 16.0,
        ),
        target(
            "event_to_screen_p99_ms",
            json!(r1(l99)),
            "<= 100".into(),
            !latencies_ms.is_empty() && l99_effective <= 100.0,
        ),
        target(
            "first_rows_ms",
            json!(first_rows.as_millis() as u64),
            "<= 1000 from launch (stricter than a second after the first page), with the list's progress against the server's count in the title".into(),
            first_rows.as_millis() <= 1000 && progress_total.is_some_and(|t| t >= pod_count),
        ),
        target(
            "first_table_ms",
            json!(first_table.as_millis() as u64),
            format!(
                "<= 2 x kubectl ({} ms) = {} ms",
                kubectl_median_ms,
                2 * kubectl_median_ms
            ),
            first_table.as_millis() as u64 <= 2 * kubectl_median_ms,
        ),
    ];
    let report = json!({
        "benchmark": "kcops console vs kubectl get pods -A --chunk-size=500",
        "machine": machine,
        "cluster": {"nodes": node_count, "pods": pod_count},
        "pod_shape": pod_shape,
        "terminal": {"rows": ROWS, "cols": COLS},
        "kcops": {
            "first_table_ms": first_table.as_millis() as u64,
            "first_rows_ms": first_rows.as_millis() as u64,
            "first_rows_progress_total": progress_total,
            "list_floor_ms": list_floor_ms,
            "list_floor": {"pages": list_pages, "bytes": list_bytes, "measured": "every page of GET /api/v1/pods?limit=500 as text, nothing decoded; median of 3"},
            "key_to_screen_ms": phases::p50_p99(&key_ms),
            "keys_that_changed_nothing": keys_unchanged,
            "slowest_keys_ms": slowest_keys.iter().map(|(k, t)| json!({"key": k, "ms": r1(*t)})).collect::<Vec<_>>(),
            "churn_cpu_percent_of_core": churn_cpu,
            "churn_cpu_detail": churn_detail,
            "churn_cpu_small": small::report(&small),
            "lost_events": lost_events,
            "lost_events_detail": {"never_on_screen": timeouts, "never_left_screen": never_gone, "markers": samples},
            "cpu_seconds_to_first_table": r1(cpu_first_table),
            "rss_at_first_table_mib": mib(rss_first_table),
            "peak_rss_mib": mib(peak_rss),
            "rss_at_end_mib": mib(rss_end),
            "idle_cpu_percent_of_core": r3(idle_cpu_pct),
            "idle_seconds": r1(idle_secs),
            "frame_ms": {"p50": r3(f50), "p99": r3(f99), "max": r3(fmax), "frames": frames.len()},
            "event_to_screen_ms": {
                "p50": r1(l50), "p99": r1(l99), "max": r1(lmax), "samples": latencies_ms.len(), "timeouts_10s": timeouts, "events_not_logged": missing_events,
                "measured": "marker pods created one at a time through the API while the churn runs; from the console receiving the marker's watch event (its reflector logs each pod event at trace level) to the marker's name on the pty screen, the Pods pane filtered to the marker prefix",
            },
            "api_to_screen_ms": {
                "p50": r1(e50), "p99": r1(e99), "max": r1(emax),
                "measured": "the same, from the API server sending the event (the benchmark's own watch of all pods seeing it, or the create call returning if earlier): includes the lab's delivery to the console's watch",
                "lab_delivery_lag_p50_ms": r1(d50), "lab_delivery_lag_p99_ms": r1(d99),
                "lab_create_call_p50_ms": r1(a50), "lab_create_call_p99_ms": r1(a99),
            },
            "churn": {"pod_status_patches": patches, "seconds": r1(churn_secs), "per_second": r1(patches as f64 / churn_secs), "marker_pods": samples, "sampling_seconds": r1(sampling_secs), "console_cpu_percent_of_core": r1(churn_cpu_pct)},
        },
        "kubectl": {
            "command": "kubectl get pods -A --chunk-size=500",
            "full_output_ms": kubectl_median_ms,
            "runs_ms": kubectl_runs_out.iter().map(|r| r.millis).collect::<Vec<_>>(),
            "peak_rss_mib": mib(kubectl_rss_kib),
            "cpu_ms": kubectl_cpu_ms,
            "lines": kubectl_lines,
        },
        "kdash": kdash.unwrap_or_else(|| json!("not measured (KDASH_BIN not set)")),
        "targets": targets,
        "all_met": targets.iter().all(|t| t["met"] == true),
        "all_measured_met": targets.iter().filter(|t| t["met"] != "not measured").all(|t| t["met"] == true),
    });
    let text = serde_json::to_string_pretty(&report)?;
    if let Some(dir) = out_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out_path, format!("{text}\n"))
        .with_context(|| format!("cannot write {}", out_path.display()))?;
    println!("{text}");
    log(format!("written to {}", out_path.display()));
    Ok(())
}

// ---------------------------------------------------------------------------------
// The console in a pseudo-terminal

struct Console {
    parser: Arc<Mutex<vt100::Parser>>,
    writer: Box<dyn Write + Send>,
    child: Box<dyn portable_pty::Child + Send + Sync>,
    pid: u32,
    started: Instant,
}

impl Console {
    fn start(bin: &str, kubeconfig: &Path, log_file: &Path, work: &Path) -> Result<Console> {
        let args = [
            "--kubeconfig".to_string(),
            kubeconfig.display().to_string(),
            "--log-file".to_string(),
            log_file.display().to_string(),
        ];
        Self::start_program(bin, &args, kubeconfig, work)
    }

    /// Any program in the pty (kcops, or kdash as a baseline), `KUBECONFIG` set.
    fn start_program(
        bin: &str,
        args: &[String],
        kubeconfig: &Path,
        work: &Path,
    ) -> Result<Console> {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| anyhow!("openpty: {e}"))?;
        let mut cmd = CommandBuilder::new(bin);
        cmd.args(args);
        cmd.env("KUBECONFIG", kubeconfig);
        cmd.env("KCOPS_LOG", "kcops=trace");
        cmd.env("XDG_STATE_HOME", work.join("state"));
        cmd.env("XDG_CONFIG_HOME", work.join("config"));
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        let started = Instant::now();
        let child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| anyhow!("cannot start {bin}: {e}"))?;
        drop(pair.slave);
        let pid = child
            .process_id()
            .ok_or_else(|| anyhow!("no pid for kcops"))?;
        let mut reader = pair
            .master
            .try_clone_reader()
            .map_err(|e| anyhow!("pty reader: {e}"))?;
        let writer = pair
            .master
            .take_writer()
            .map_err(|e| anyhow!("pty writer: {e}"))?;
        let parser = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let p = parser.clone();
        std::thread::spawn(move || {
            let _keep_master = pair.master;
            let mut buf = [0u8; 16384];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut p) = p.lock() {
                    p.process(&buf[..n]);
                }
            }
        });
        Ok(Console {
            parser,
            writer,
            child,
            pid,
            started,
        })
    }

    fn screen(&self) -> String {
        self.parser
            .lock()
            .map(|p| p.screen().contents())
            .unwrap_or_default()
    }

    /// The whole screen, texts and colours (the selection), with what moves by
    /// itself masked: ages (`42s`, `3m12s`, `5d`) in the AGE columns and the status
    /// line's `last success 3s ago`. Leaving a line out instead hid keys whose only
    /// effect is on it (the filter's typed text), so they were timed until some age
    /// ticked: up to a second.
    fn screen_formatted(&self) -> Vec<u8> {
        static AGE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
        let age = AGE.get_or_init(|| regex::Regex::new(r"\b\d+[smhdy](\d+[smh])?\b").ok());
        self.parser
            .lock()
            .map(|p| {
                let screen = p.screen();
                let mut out = Vec::new();
                for (r, text) in screen.rows(0, COLS).enumerate() {
                    let text = match age {
                        Some(re) => re.replace_all(&text, "#").into_owned(),
                        None => text,
                    };
                    out.extend_from_slice(text.as_bytes());
                    out.push(b'\n');
                    for c in 0..COLS {
                        if let Some(cell) = screen.cell(r as u16, c) {
                            out.extend(color_bytes(cell.fgcolor()));
                            out.extend(color_bytes(cell.bgcolor()));
                            out.push(u8::from(cell.bold()) | u8::from(cell.inverse()) << 1);
                        }
                    }
                }
                out
            })
            .unwrap_or_default()
    }

    /// Presses `keys` and times until the screen changes (None: not within 2 s).
    fn key_to_screen(&mut self, keys: &str) -> Result<Option<f64>> {
        let before = self.screen_formatted();
        let t0 = Instant::now();
        self.writer.write_all(keys.as_bytes())?;
        self.writer.flush()?;
        let deadline = t0 + Duration::from_secs(2);
        loop {
            if self.screen_formatted() != before {
                return Ok(Some(t0.elapsed().as_secs_f64() * 1000.0));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    fn send(&mut self, keys: &str) -> Result<()> {
        self.writer.write_all(keys.as_bytes())?;
        self.writer.flush()?;
        std::thread::sleep(Duration::from_millis(100));
        Ok(())
    }

    /// Polls the screen every 2 ms; the time the predicate first held, or None.
    fn wait_quiet(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if pred(&self.screen()) {
                return Some(Instant::now());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn wait(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Result<Instant> {
        match self.wait_quiet(timeout, pred) {
            Some(t) => Ok(t),
            None => {
                let screen = self.screen();
                let _ = self.child.kill();
                bail!("timed out after {timeout:?} waiting for {what}; screen:\n{screen}")
            }
        }
    }

    /// Waits for the Pods pane to show every pod (`Pods [all]  N/N`, N >= `pods`).
    fn wait_complete_table(&mut self, pods: usize) -> Result<Instant> {
        let title = regex::Regex::new(r"Pods \[all\]\s+(\d+)/(\d+)")?;
        self.wait("the complete pods table", Duration::from_secs(600), |s| {
            table_complete(&title, s, pods)
        })
    }

    fn finish(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

/// One marker pod: when it was created (wall clock) and, from the create call, when the
/// call returned, our watch saw it, it was on screen, and the console's watch got it.
struct Probe {
    name: String,
    wall: jiff::Timestamp,
    returned: Duration,
    watched: Option<Duration>,
    seen: Option<Duration>,
    console_got: Option<jiff::SignedDuration>,
}

/// When the console's pod watch first delivered each marker pod (its trace log).
fn console_events(log_file: &Path) -> std::collections::HashMap<String, jiff::Timestamp> {
    let mut out = std::collections::HashMap::new();
    let Ok(f) = std::fs::File::open(log_file) else {
        return out;
    };
    for line in BufReader::new(f).lines().map_while(Result::ok) {
        if !line.contains("watch event")
            || !line.contains("kind=\"pods\"")
            || !line.contains(PROBE_PREFIX)
        {
            continue;
        }
        let at = line
            .split_whitespace()
            .next()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let name = line.split("name=").nth(1).map(|n| {
            n.trim_matches('"')
                .split(['"', ' '])
                .next()
                .unwrap_or_default()
                .to_string()
        });
        if let (Some(at), Some(name)) = (at, name) {
            out.entry(name).or_insert(at);
        }
    }
    out
}

/// `frame_us` of every frame the console logged, in order.
fn frame_lines(log_file: &Path) -> Vec<u64> {
    let Ok(f) = std::fs::File::open(log_file) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter(|l| l.contains(" frame ") || l.ends_with(" frame") || l.contains("frame_us="))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("frame_us="))
                .and_then(|v| v.parse().ok())
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// /proc

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// utime + stime of a process, in clock ticks.
fn proc_cpu_ticks(pid: u32) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("kcops (pid {pid}) is gone"))?;
    let rest = &text[text
        .rfind(')')
        .ok_or_else(|| anyhow!("odd /proc/{pid}/stat"))?
        + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime field 14, stime field 15.
    let utime: u64 = f
        .get(11)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no utime"))?;
    let stime: u64 = f
        .get(12)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no stime"))?;
    Ok(utime + stime)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    json!({"cpu_model": model, "cores": cores, "memory_mib": mem_kib / 1024, "kernel": kernel, "loadavg_at_start": load})
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    // Nearest rank.
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

// ---------------------------------------------------------------------------------
// kubectl

struct KubectlRun {
    millis: u64,
    lines: usize,
    max_rss_kib: u64,
    cpu_ms: u64,
}

/// Runs kubectl to its full output; peak RSS and CPU from `wait4` (as `time -v` reports).
fn kubectl_get_pods(kubeconfig: &Path, home: &Path) -> Result<KubectlRun> {
    std::fs::create_dir_all(home)?;
    let t0 = Instant::now();
    let mut child = Command::new("kubectl")
        .args(["get", "pods", "-A", "--chunk-size=500"])
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run kubectl")?;
    let mut stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let mut stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut lines = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = stdout.read(&mut buf)?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count();
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter for wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet reaped (std's Child is never waited on).
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let millis = t0.elapsed().as_millis() as u64;
    std::mem::forget(child);
    if r != pid {
        bail!(
            "wait4 on kubectl failed: {}",
            std::io::Error::last_os_error()
        );
    }
    let err = err_thread.join().unwrap_or_default();
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("kubectl failed: {err}");
    }
    let cpu_ms = (usage.ru_utime.tv_sec as u64 + usage.ru_stime.tv_sec as u64) * 1000
        + (usage.ru_utime.tv_usec as u64 + usage.ru_stime.tv_usec as u64) / 1000;
    Ok(KubectlRun {
        millis,
        lines,
        max_rss_kib: usage.ru_maxrss as u64,
        cpu_ms,
    })
}

// ---------------------------------------------------------------------------------
// kube-rs: counts, pod shape, churn, probes

async fn client_for(path: &Path) -> Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(path)
        .with_context(|| format!("kubeconfig {}", path.display()))?;
    let config =
        kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
            .await?;
    Ok(Client::try_from(config)?)
}

async fn counts(client: &Client) -> Result<(usize, usize)> {
    async fn count<K>(api: Api<K>) -> Result<usize>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let page = api.list_metadata(&ListParams::default().limit(1)).await?;
        Ok(page.items.len() + page.metadata.remaining_item_count.unwrap_or(0) as usize)
    }
    let pods = count(Api::<Pod>::all(client.clone())).await?;
    let nodes = count(Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())).await?;
    Ok((pods, nodes))
}

fn synthetic_pod(i: usize) -> (String, String) {
    let ns = format!("bench-{:02}", i % SYNTH_NAMESPACES);
    let app = format!("app-{:04}", (i / SYNTH_NAMESPACES) % 1000);
    (ns, format!("{app}-7d9f8c6b5-{i:06}"))
}

async fn pod_shape(client: &Client) -> Result<Value> {
    let (ns, name) = synthetic_pod(0);
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &ApiResource::erase::<Pod>(&()));
    let obj = api.get(&name).await.with_context(|| {
        format!("cannot read pod {ns}/{name} (is this a lab with synthetic pods?)")
    })?;
    let v = serde_json::to_value(&obj)?;
    let count = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_array)
            .map(Vec::len)
            .unwrap_or(0)
    };
    Ok(json!({
        "sample": format!("{ns}/{name}"),
        "json_bytes": serde_json::to_vec(&v)?.len(),
        "containers": count("/spec/containers"),
        "init_containers": count("/spec/initContainers"),
        "volumes": count("/spec/volumes"),
        "labels": v.pointer("/metadata/labels").and_then(Value::as_object).map(|m| m.len()).unwrap_or(0),
        "annotations": v.pointer("/metadata/annotations").and_then(Value::as_object).map(|m| m.len()).unwrap_or(0),
    }))
}

async fn first_node(client: &Client) -> Result<String> {
    let page = Api::<k8s_openapi::api::core::v1::Node>::all(client.clone())
        .list_metadata(&ListParams::default().limit(1))
        .await?;
    page.items
        .first()
        .and_then(|n| n.metadata.name.clone())
        .ok_or_else(|| anyhow!("the lab has no nodes"))
}

async fn ensure_namespace(client: &Client, name: &str) -> Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    match api.create(&PostParams::default(), &ns).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn delete_old_probes(client: &Client) -> Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), PROBE_NS);
    for p in api.list_metadata(&ListParams::default()).await?.items {
        if let Some(name) = p.metadata.name {
            let _ = api
                .delete(
                    &name,
                    &DeleteParams {
                        grace_period_seconds: Some(0),
                        ..Default::default()
                    },
                )
                .await;
        }
    }
    Ok(())
}

/// Watches every pod from now on, as the console does (the same watch, so the API
/// server delivers to both alike); the first time each probe pod was seen.
async fn watch_probes(
    client: &Client,
) -> Result<Arc<Mutex<std::collections::HashMap<String, Instant>>>> {
    use futures::StreamExt;
    use kube::api::{WatchEvent, WatchParams};
    let seen: Arc<Mutex<std::collections::HashMap<String, Instant>>> = Arc::default();
    let api: Api<Pod> = Api::all(client.clone());
    let mut rv = api
        .list_metadata(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version
        .unwrap_or_default();
    let map = seen.clone();
    let mut stream = api.watch(&WatchParams::default(), &rv).await?.boxed();
    tokio::spawn(async move {
        loop {
            while let Some(ev) = stream.next().await {
                let now = Instant::now();
                let obj = match ev {
                    Ok(WatchEvent::Added(p))
                    | Ok(WatchEvent::Modified(p))
                    | Ok(WatchEvent::Deleted(p)) => p,
                    Ok(WatchEvent::Bookmark(b)) => {
                        rv = b.metadata.resource_version;
                        continue;
                    }
                    _ => continue,
                };
                if let Some(v) = obj.metadata.resource_version.clone() {
                    rv = v;
                }
                if let (Some(name), Ok(mut m)) = (obj.metadata.name, map.lock())
                    && name.starts_with(PROBE_PREFIX)
                {
                    m.entry(name).or_insert(now);
                }
            }
            // The server ended the watch (timeout): resume where it stopped.
            match api.watch(&WatchParams::default(), &rv).await {
                Ok(s) => stream = s.boxed(),
                Err(_) => return,
            }
        }
    });
    Ok(seen)
}

/// `rate` status patches a second (a container's restart count going up), round robin
/// over the first 5,000 synthetic pods, until `stop`.
async fn churn(
    client: Client,
    rate: f64,
    pods: usize,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) {
    if rate <= 0.0 || pods == 0 {
        return;
    }
    let keys = pods.min(5000);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    // Counted across churn phases: a phase that started again at 0 set the restart
    // counts the last one had set, patches that change nothing (no watch event), so
    // the second phase measured an idle console.
    static PATCHES: AtomicU64 = AtomicU64::new(0);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let n = PATCHES.fetch_add(1, Ordering::Relaxed) as usize;
        let (ns, name) = synthetic_pod(n % keys);
        let restarts = n / keys + 1;
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let patch: json_patch::Patch = match serde_json::from_value(
            json!([{"op": "replace", "path": "/status/containerStatuses/0/restartCount", "value": restarts}]),
        ) {
            Ok(p) => p,
            Err(_) => return,
        };
        let done = done.clone();
        // Do not let a slow answer hold back the rate.
        tokio::spawn(async move {
            if api
                .patch_status(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
                .await
                .is_ok()
            {
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

/// A cell colour as bytes, for comparing screens.
fn color_bytes(c: vt100::Color) -> [u8; 4] {
    match c {
        vt100::Color::Default => [0, 0, 0, 0],
        vt100::Color::Idx(i) => [1, i, 0, 0],
        vt100::Color::Rgb(r, g, b) => [2, r, g, b],
    }
}

/// Whether the Pods title on `screen` (matched by `title`: shown/total) lists every
/// row and at least `pods` of them.
fn table_complete(title: &regex::Regex, screen: &str, pods: usize) -> bool {
    title.captures(screen).is_some_and(|c| {
        let shown: usize = c[1].parse().unwrap_or(0);
        let total: usize = c[2].parse().unwrap_or(0);
        shown == total && total >= pods
    })
}
