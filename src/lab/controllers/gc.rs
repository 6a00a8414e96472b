//! Garbage collection: dependents of a deleted owner (ownerReferences), everything in a
//! deleted namespace, and pods bound to a deleted node.

use std::sync::Arc;

use super::Ctx;
use crate::lab::api::store::ChangeKind;

pub async fn run(ctx: Arc<Ctx>) {
    let mut changes = ctx.store.subscribe();
    loop {
        let change = match changes.recv().await {
            Ok(c) => c,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if change.kind != ChangeKind::Deleted {
            continue;
        }
        let (ns, name) = change.key.clone();
        let uid = change.object.uid.clone();
        if change.table == "/namespaces" {
            for rt in ctx
                .store
                .registry
                .all()
                .into_iter()
                .filter(|t| t.namespaced)
            {
                for e in ctx.store.list(&rt, Some(&name)) {
                    let _ = ctx
                        .store
                        .delete(&rt, &name, e.field("metadata.name"), Some(0), None);
                }
            }
            continue;
        }
        if change.table == "/nodes" {
            for p in ctx.store.pods_on_node(&ctx.kinds.pods, &name) {
                let _ = ctx.store.delete(
                    &ctx.kinds.pods,
                    p.field("metadata.namespace"),
                    p.field("metadata.name"),
                    Some(0),
                    None,
                );
            }
            continue;
        }
        // Only workload objects own anything; pods and events are the churn.
        let owners_only = ["apps/", "batch/", "policy/"];
        if ns.is_empty()
            || !(owners_only.iter().any(|g| change.table.starts_with(g))
                || change.table.contains('.'))
        {
            continue;
        }
        for rt in ctx
            .store
            .registry
            .all()
            .into_iter()
            .filter(|t| t.namespaced)
        {
            for e in ctx.store.list(&rt, Some(&ns)) {
                let mentions = e.raw.windows(uid.len()).any(|w| w == uid.as_bytes());
                if mentions && super::owned_by(&e.value(), &uid) {
                    let _ = ctx
                        .store
                        .delete(&rt, &ns, e.field("metadata.name"), None, None);
                }
            }
        }
    }
}
