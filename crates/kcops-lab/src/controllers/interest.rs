//! Which store changes can give the controllers work. The controllers run a pass
//! (every controller, over the lab's objects) on a change, coalesced, and on a 500 ms
//! resync; a change that concerns none of them must not cost a pass, or a steady churn
//! of synthetic pods makes the lab's CPU grow with the size of the cluster.

use serde::Deserialize;

use super::Ctx;
use crate::api::store::{Change, Entry, table_name};
use crate::synthetic::SYNTHETIC_OWNER_UID_PREFIX;

/// True unless the change is to a pod that, before and after, no lab controller
/// looks after: bound to a node without a lab kubelet (no scheduling, no kubelet) and
/// controlled only by a synthetic owner (no workload controller counts it). The
/// garbage collector has its own subscription, and the resync still sees everything.
pub(crate) fn concerns_controllers(ctx: &Ctx, change: &Change) -> bool {
    if change.table != table_name(&ctx.kinds.pods) {
        return true;
    }
    let inert = |e: &Entry| {
        let node = e.field("spec.nodeName");
        !node.is_empty() && !ctx.nodes.contains_key(node) && synthetic_owners_only(e)
    };
    !(inert(&change.object) && change.old.as_deref().is_none_or(inert))
}

#[derive(Deserialize)]
struct Owned {
    metadata: OwnedMeta,
}

#[derive(Deserialize)]
struct OwnedMeta {
    #[serde(default, rename = "ownerReferences")]
    owner_references: Vec<OwnerUid>,
}

#[derive(Deserialize)]
struct OwnerUid {
    #[serde(default)]
    uid: String,
}

/// The object has owners and every one is synthetic (read without building the
/// object's JSON tree).
fn synthetic_owners_only(e: &Entry) -> bool {
    serde_json::from_slice::<Owned>(&e.raw).is_ok_and(|o| {
        !o.metadata.owner_references.is_empty()
            && o.metadata
                .owner_references
                .iter()
                .all(|r| r.uid.starts_with(SYNTHETIC_OWNER_UID_PREFIX))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::api::store::Store;

    fn ctx() -> anyhow::Result<Ctx> {
        let store = Arc::new(Store::new(10_000));
        crate::synthetic::populate(&store, 5, 50)?;
        crate::controllers::test_ctx(store, "interest")
    }

    /// What the benchmark's churn does: a container's restart count goes up.
    fn bump(ctx: &Ctx, ns: &str, name: &str) -> anyhow::Result<()> {
        ctx.store.mutate(&ctx.kinds.pods, ns, name, None, |p| {
            let n = p["status"]["containerStatuses"][0]["restartCount"]
                .as_i64()
                .unwrap_or(0);
            p["status"]["containerStatuses"][0]["restartCount"] = json!(n + 1);
            Ok(())
        })?;
        Ok(())
    }

    /// A synthetic pod's status change concerns no controller; a pod with a real owner,
    /// a pod waiting for the scheduler and any other kind of object do.
    #[test]
    fn only_changes_a_controller_looks_after_concern_them() -> anyhow::Result<()> {
        let ctx = ctx()?;
        let mut changes = ctx.store.subscribe();
        let pods = ctx.store.list(&ctx.kinds.pods, Some("bench-03"));
        let synthetic = pods.first().ok_or_else(|| anyhow::anyhow!("no pods"))?;
        let (ns, name) = (
            synthetic.field("metadata.namespace"),
            synthetic.field("metadata.name"),
        );
        bump(&ctx, ns, name)?;
        assert!(!concerns_controllers(&ctx, &*changes.try_recv()?));

        let mut owned = synthetic.value();
        owned["metadata"]["name"] = json!("owned-by-a-real-replicaset");
        owned["metadata"]["ownerReferences"][0]["uid"] = json!("8d7c3e6a-real");
        ctx.store.create(&ctx.kinds.pods, owned)?;
        assert!(concerns_controllers(&ctx, &*changes.try_recv()?));

        let mut pending = synthetic.value();
        pending["metadata"]["name"] = json!("waiting-for-the-scheduler");
        pending["spec"]["nodeName"] = json!("");
        ctx.store.create(&ctx.kinds.pods, pending)?;
        assert!(concerns_controllers(&ctx, &*changes.try_recv()?));

        let cm = json!({"metadata": {"name": "c", "namespace": "default"}});
        ctx.store.create(&ctx.kinds.configmaps, cm)?;
        assert!(concerns_controllers(&ctx, &*changes.try_recv()?));
        Ok(())
    }

    /// The controllers run no pass for a churn of synthetic pods (each pass visits
    /// every lab object, so the lab's CPU per update grew with the cluster), and still
    /// run one for a change they look after.
    #[tokio::test(flavor = "current_thread")]
    async fn synthetic_pod_churn_costs_no_controller_pass() -> anyhow::Result<()> {
        let ctx = Arc::new(ctx()?);
        let runner = tokio::spawn(crate::controllers::run(ctx.clone()));
        // The controllers subscribe when they first run.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let pods = ctx.store.list(&ctx.kinds.pods, None);
        // Spread past the controllers' 20 ms coalescing: each would be its own pass.
        for e in pods.iter().take(30) {
            bump(
                &ctx,
                e.field("metadata.namespace"),
                e.field("metadata.name"),
            )?;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let after_churn = ctx.change_passes.load(Ordering::Relaxed);
        let cm = json!({"metadata": {"name": "c", "namespace": "default"}});
        ctx.store.create(&ctx.kinds.configmaps, cm)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while ctx.change_passes.load(Ordering::Relaxed) == 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let after_config_map = ctx.change_passes.load(Ordering::Relaxed);
        runner.abort();
        assert_eq!(after_churn, 0, "passes for 30 synthetic pod updates");
        assert_eq!(after_config_map, 1, "a ConfigMap's creation runs one pass");
        Ok(())
    }
}
