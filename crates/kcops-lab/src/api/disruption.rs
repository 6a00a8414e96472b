//! PodDisruptionBudgets as the eviction subresource honours them: an eviction that
//! would leave a budget's pods below what it allows is refused with 429 and the API
//! server's words. The lab has no disruption controller; the budget's allowance is
//! computed from the pods at the time of the eviction, as that controller would.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::selectors::LabelSelector;
use super::status::ApiError;
use super::store::Store;

fn ready(pod: &Value) -> bool {
    pod["metadata"]["deletionTimestamp"].is_null()
        && pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// An int or a percentage of `total` (rounded up, as the disruption controller does).
fn resolve(v: &Value, total: i64) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let pct: i64 = s.strip_suffix('%')?.parse().ok()?;
            Some((pct * total + 99) / 100)
        }
        _ => None,
    }
}

/// `Err(429)` when evicting `pod` would violate a budget in its namespace.
pub fn check_eviction(store: &Store, pod: &Value) -> Result<(), ApiError> {
    let (Some(pdbs), Some(pods)) = (
        store.registry.find("policy", "v1", "poddisruptionbudgets"),
        store.registry.find("", "v1", "pods"),
    ) else {
        return Ok(());
    };
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    // A pod that is not Ready counts as already disrupted: evicting it costs nothing.
    if !ready(pod) {
        return Ok(());
    }
    let pod_labels = labels(pod);
    for pdb in store.list(&pdbs, Some(ns)).iter().map(|e| e.value()) {
        let selector = LabelSelector::from_label_selector_json(&pdb["spec"]["selector"]);
        if selector.is_empty() || !selector.matches(&pod_labels) {
            continue;
        }
        let covered: Vec<Value> = store
            .list(&pods, Some(ns))
            .iter()
            .map(|e| e.value())
            .filter(|p| selector.matches(&labels(p)))
            .collect();
        let expected = covered.len() as i64;
        let healthy = covered.iter().filter(|p| ready(p)).count() as i64;
        let (allowed, needs) = if let Some(min) = resolve(&pdb["spec"]["minAvailable"], expected) {
            (healthy - min, min)
        } else if let Some(max) = resolve(&pdb["spec"]["maxUnavailable"], expected) {
            (max - (expected - healthy), expected - max)
        } else {
            continue;
        };
        if allowed < 1 {
            let name = pdb["metadata"]["name"].as_str().unwrap_or_default();
            let mut err = ApiError::new(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
            );
            err.details = Some(json!({"causes": [{
                "reason": "DisruptionBudget",
                "message": format!("The disruption budget {name} needs {needs} healthy pods and has {healthy} currently")
            }]}));
            return Err(err);
        }
    }
    Ok(())
}
