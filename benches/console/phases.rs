//! The phases added for issue 16: key to screen, CPU under a driven churn, the list
//! floor, and an optional kdash baseline.

use std::time::{Duration, Instant};

use anyhow::Result;
use kube::Client;
use kube::api::ListParams;
use serde_json::{Value, json};

use super::{Console, clock_ticks, percentile, proc_cpu_ticks, proc_status_kib};

/// Key to screen on the Pods pane with every pod listed and nothing else moving:
/// selection moves (`j`/`k`), page moves, sort (`o` through every column and back)
/// and filter keystrokes (`/`, a few characters, Esc), each pressed alone and timed
/// until the screen (colours and selection included, the status line left out)
/// changes. Returns the times in ms, how many keys changed nothing in 2 s, and the
/// slowest keys with their times (where a p99 comes from).
pub(crate) fn keys(console: &mut Console, columns: usize) -> Result<KeyTimes> {
    let mut plan: Vec<&str> = Vec::new();
    plan.extend(std::iter::repeat_n("j", 20));
    plan.extend(std::iter::repeat_n("\x1b[6~", 5));
    plan.extend(std::iter::repeat_n("\x1b[5~", 5));
    plan.extend(std::iter::repeat_n("k", 20));
    plan.extend(std::iter::repeat_n("o", columns + 1));
    plan.push("/");
    plan.extend(["b", "e", "n", "c", "h", "-", "1"]);
    plan.push("\x1b");
    let (mut ms, mut unchanged, mut labelled) = (Vec::new(), 0, Vec::new());
    for (n, keys) in plan.into_iter().enumerate() {
        match console.key_to_screen(keys)? {
            Some(t) => {
                ms.push(t);
                labelled.push((format!("#{n} {}", key_name(keys)), t));
            }
            None => unchanged += 1,
        }
        // Past the console's frame pacing, as a person's next key would be.
        std::thread::sleep(Duration::from_millis(120));
    }
    labelled.sort_by(|a, b| b.1.total_cmp(&a.1));
    labelled.truncate(5);
    Ok((ms, unchanged, labelled))
}

/// Key times in ms, the keys that changed nothing, the slowest keys with their times.
pub(crate) type KeyTimes = (Vec<f64>, usize, Vec<(String, f64)>);

/// A key as a person would name it.
fn key_name(keys: &str) -> String {
    match keys {
        "\x1b[6~" => "PageDown".into(),
        "\x1b[5~" => "PageUp".into(),
        "\x1b" => "Esc".into(),
        k => k.into(),
    }
}

/// CPU (% of a core) while `drive` runs pod updates at `rate` per second for `secs`
/// seconds, after 2 s to settle: the console's, the achieved rate, and the lab's when
/// its pid is known.
pub(crate) fn churn_cpu(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    pids: (u32, Option<u32>),
    rate: f64,
    pods: usize,
    secs: f64,
) -> Result<(f64, f64, Option<f64>)> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (pid, lab_pid) = pids;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let task = rt.spawn(super::churn(
        client.clone(),
        rate,
        pods,
        stop.clone(),
        done.clone(),
    ));
    std::thread::sleep(Duration::from_secs(2));
    let lab_ticks = || lab_pid.and_then(|p| proc_cpu_ticks(p).ok());
    let (c0, l0, d0, t0) = (
        proc_cpu_ticks(pid)?,
        lab_ticks(),
        done.load(Ordering::Relaxed),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (c1, l1, d1) = (
        proc_cpu_ticks(pid)?,
        lab_ticks(),
        done.load(Ordering::Relaxed),
    );
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = rt.block_on(task);
    let pct = |ticks: u64| ticks as f64 / clock_ticks() / elapsed * 100.0;
    let lab = l0.zip(l1).map(|(a, b)| pct(b.saturating_sub(a)));
    Ok((
        pct(c1.saturating_sub(c0)),
        d1.saturating_sub(d0) as f64 / elapsed,
        lab,
    ))
}

/// The console's CPU under a driven churn at each of `rates`, idle on the Pods pane
/// and on the Overview: the worse of the two per rate (keyed by the rate), and each
/// measurement with the lab's CPU beside it. Leaves the console on the Pods pane.
pub(crate) fn churn_cpu_panes(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    console: &mut Console,
    lab_pid: Option<u32>,
    rates: &[f64],
    pods: usize,
    secs: f64,
) -> Result<(serde_json::Map<String, Value>, Vec<Value>)> {
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    let mut worst_per_rate = serde_json::Map::new();
    let mut detail = Vec::new();
    for &rate in rates {
        let mut worst: f64 = 0.0;
        for (key, pane) in [("3", "pods"), ("1", "overview")] {
            console.send(key)?;
            let (cpu, achieved, lab) =
                churn_cpu(rt, client, (console.pid, lab_pid), rate, pods, secs)?;
            super::log(format!(
                "churn {rate}/s ({achieved:.1}/s achieved) on {pane}: {cpu:.1}% of a core (the lab: {})",
                lab.map_or("not measured".into(), |l| format!("{l:.1}%"))
            ));
            worst = worst.max(cpu);
            detail.push(json!({"rate": rate, "achieved_per_second": r1(achieved), "pane": pane, "cpu_percent_of_core": r1(cpu), "lab_cpu_percent_of_core": lab.map(r1), "seconds": secs}));
        }
        worst_per_rate.insert(format!("{rate}"), json!(r1(worst)));
    }
    console.send("3")?;
    Ok((worst_per_rate, detail))
}

/// The lab's pid, from the `lab.json` the lab writes beside its kubeconfig (`None`
/// for a cluster that is not a lab).
pub(crate) fn lab_pid(kubeconfig: &std::path::Path) -> Option<u32> {
    let text = std::fs::read_to_string(kubeconfig.parent()?.join("lab.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let pid = u32::try_from(v["pid"].as_u64()?).ok()?;
    // Only while it runs: a stale lab.json names a pid that may be another process.
    std::path::Path::new(&format!("/proc/{pid}"))
        .exists()
        .then_some(pid)
}

/// The floor under the first table: every page of the pod list (`limit=500`)
/// fetched as text, nothing decoded (the continue token is found by its key).
/// Returns the milliseconds, the pages and the bytes.
pub(crate) async fn list_floor(client: &Client) -> Result<(u64, usize, usize)> {
    let t0 = Instant::now();
    let (mut token, mut pages, mut bytes) = (None::<String>, 0, 0);
    loop {
        let mut lp = ListParams::default().limit(500);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let req = kube::core::Request::new("/api/v1/pods").list(&lp)?;
        let text = client.request_text(req).await?;
        pages += 1;
        bytes += text.len();
        token = continue_of(&text);
        if token.is_none() {
            break;
        }
    }
    Ok((t0.elapsed().as_millis() as u64, pages, bytes))
}

/// A list's `metadata.continue`, found as text (`None`: the last page).
fn continue_of(text: &str) -> Option<String> {
    let start = text.find("\"continue\":\"")? + "\"continue\":\"".len();
    let rest = &text[start..];
    let token = &rest[..rest.find('"')?];
    (!token.is_empty()).then(|| token.to_string())
}

/// kdash as a baseline when `KDASH_BIN` names it (never vendored): the time until a
/// synthetic pod's name is on its screen, its CPU and RSS then, and its CPU over the
/// next 10 s. `None` without `KDASH_BIN`.
pub(crate) fn kdash(
    kubeconfig: &std::path::Path,
    work: &std::path::Path,
    timeout: Duration,
) -> Option<Value> {
    let bin = std::env::var("KDASH_BIN").ok()?;
    let run = || -> Result<Value> {
        let mut console = Console::start_program(&bin, &[], kubeconfig, work)?;
        let pid = console.pid;
        let seen = console.wait_quiet(timeout, |s| s.contains("bench-"));
        let Some(seen) = seen else {
            console.finish(Duration::from_secs(1));
            return Ok(
                json!({"bin": bin, "first_pod_on_screen_ms": null, "note": format!("no synthetic pod on screen within {} s", timeout.as_secs())}),
            );
        };
        let first_ms = seen.duration_since(console.started).as_millis() as u64;
        let cpu_s = proc_cpu_ticks(pid)? as f64 / clock_ticks();
        let rss = proc_status_kib(pid, "VmRSS").unwrap_or(0);
        let c0 = proc_cpu_ticks(pid)?;
        std::thread::sleep(Duration::from_secs(10));
        let idle = proc_cpu_ticks(pid)?.saturating_sub(c0) as f64 / clock_ticks() / 10.0 * 100.0;
        console.finish(Duration::from_millis(100));
        Ok(json!({
            "bin": bin,
            "first_pod_on_screen_ms": first_ms,
            "cpu_seconds_to_first_pod": (cpu_s * 10.0).round() / 10.0,
            "rss_at_first_pod_mib": (rss as f64 / 102.4).round() / 10.0,
            "cpu_percent_of_core_next_10s": (idle * 10.0).round() / 10.0,
        }))
    };
    Some(run().unwrap_or_else(|e| json!({"bin": bin, "error": e.to_string()})))
}

/// p50 and p99 of `ms`, rounded to 0.1 ms.
pub(crate) fn p50_p99(ms: &[f64]) -> Value {
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    json!({"p50": r1(percentile(ms, 50.0)), "p99": r1(percentile(ms, 99.0)), "samples": ms.len()})
}

#[cfg(test)]
mod tests {
    #[test]
    fn continue_tokens_are_found_as_text() {
        assert_eq!(
            super::continue_of(r#"{"kind":"PodList","metadata":{"resourceVersion":"5","continue":"abc=="},"items":[]}"#).as_deref(),
            Some("abc==")
        );
        assert_eq!(super::continue_of(r#"{"metadata":{"continue":""}}"#), None);
        assert_eq!(super::continue_of(r#"{"metadata":{}}"#), None);
    }
}
