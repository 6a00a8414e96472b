//! The same churn on a lab a tenth the size (`scripts/bench` brings it up and names
//! its kubeconfig in `KCOPS_BENCH_SMALL_KUBECONFIG`): whether the console's cost under
//! churn follows the changes rather than the number of pods.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::{Console, client_for, counts, log, phases};

/// The driven rate compared between the two sizes.
const RATE: f64 = 20.0;

pub(crate) enum Small {
    /// No smaller lab was given.
    NotRun(String),
    Failed(String),
    Measured {
        nodes: usize,
        pods: usize,
        /// The worse of the Pods pane and the Overview at 20 updates/s.
        worst: f64,
        detail: Vec<Value>,
    },
}

/// Runs the console against the smaller lab until its table is complete, then the
/// churn-CPU phase at 20 updates/s on the Pods pane and on the Overview.
pub(crate) fn measure(
    rt: &tokio::runtime::Runtime,
    kcops_bin: &str,
    work: &Path,
    secs: f64,
) -> Small {
    let Some(kubeconfig) = std::env::var_os("KCOPS_BENCH_SMALL_KUBECONFIG").map(PathBuf::from)
    else {
        return Small::NotRun(
            "not measured (KCOPS_BENCH_SMALL_KUBECONFIG not set; scripts/bench brings up the smaller lab)"
                .into(),
        );
    };
    let run = || -> Result<Small> {
        let client = rt.block_on(client_for(&kubeconfig))?;
        let (pods, nodes) = rt.block_on(counts(&client))?;
        log(format!("smaller lab: {nodes} nodes, {pods} pods"));
        let mut console =
            Console::start(kcops_bin, &kubeconfig, &work.join("kcops-small.log"), work)?;
        console.wait("the first screen", Duration::from_secs(60), |s| {
            s.contains("kcops") && s.contains("1:")
        })?;
        console.send("3")?;
        console.wait_complete_table(pods)?;
        let (worst, detail) = phases::churn_cpu_panes(
            rt,
            &client,
            &mut console,
            phases::lab_pid(&kubeconfig),
            &[RATE],
            pods.min(150_000),
            secs,
        )
        .context("churn on the smaller lab")?;
        console.send("q")?;
        console.finish(Duration::from_secs(5));
        let worst = worst
            .get(&format!("{RATE}"))
            .and_then(Value::as_f64)
            .unwrap_or(f64::INFINITY);
        Ok(Small::Measured {
            nodes,
            pods,
            worst,
            detail,
        })
    };
    run().unwrap_or_else(|e| {
        log(format!("smaller lab: {e:#}"));
        Small::Failed(format!(
            "not measured (the smaller lab's run failed: {e:#})"
        ))
    })
}

/// `churn_cpu_small` in the JSON's `kcops` block.
pub(crate) fn report(small: &Small) -> Value {
    match small {
        Small::NotRun(why) | Small::Failed(why) => json!(why),
        Small::Measured {
            nodes,
            pods,
            worst,
            detail,
        } => json!({
            "nodes": nodes,
            "pods": pods,
            "churn_cpu_percent_of_core": {format!("{RATE}"): worst},
            "churn_cpu_detail": detail,
        }),
    }
}

/// The target: the console's CPU at 20 updates/s on the full lab over the smaller one,
/// within 1.5x. The smaller figure is floored at 0.1 % of a core (about one clock tick
/// over the phase), so a console too quiet to measure does not divide by zero.
pub(crate) fn target(small: &Small, large_worst: f64, large_pods: usize) -> Value {
    let name = "churn_cost_independent_of_pods";
    match small {
        Small::NotRun(_) | Small::Failed(_) => json!({
            "name": name, "value": null,
            "target": "the same churn at PODS/10 and PODS pods within 1.5x",
            "met": "not measured",
        }),
        Small::Measured { pods, worst, .. } => {
            let ratio = large_worst / worst.max(0.1);
            let ratio = (ratio * 100.0).round() / 100.0;
            json!({
                "name": name,
                "value": ratio,
                "target": format!(
                    "the same churn ({RATE}/s, the worse of the Pods pane and the Overview) at {pods} and {large_pods} pods within 1.5x: {large_worst:.1}% / {worst:.1}% of a core"
                ),
                "met": ratio.is_finite() && ratio <= 1.5,
            })
        }
    }
}
