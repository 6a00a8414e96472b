//! Garbage collection: dependents of a deleted owner (ownerReferences), everything in a
//! deleted namespace, and pods bound to a deleted node.
//!
//! Like Kubernetes' collector, it does not rely on seeing the owner's deletion alone:
//! a workload controller that read its owner just before it went can still create a
//! dependent afterwards (a ReplicaSet for a deleted Deployment, a pod for a deleted
//! ReplicaSet), so every new object whose owners are all gone is collected too, and
//! a subscriber that fell behind the change stream sweeps every owned object.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::Ctx;
use crate::api::resources::ResourceType;
use crate::api::store::{Change, ChangeKind, Entry, table_name};
use crate::synthetic::SYNTHETIC_OWNER_UID_PREFIX;

pub async fn run(ctx: Arc<Ctx>) {
    let mut changes = ctx.store.subscribe();
    loop {
        match changes.recv().await {
            Ok(change) => on_change(&ctx, &change),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "garbage collector fell behind; sweeping owned objects"
                );
                sweep_orphans(&ctx);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

fn on_change(ctx: &Ctx, change: &Change) {
    match change.kind {
        ChangeKind::Deleted => on_deleted(ctx, change),
        ChangeKind::Added => {
            let (ns, _) = &change.key;
            collect_if_orphaned(ctx, &change.table, ns, &change.object);
        }
        ChangeKind::Modified => {}
    }
}

fn on_deleted(ctx: &Ctx, change: &Change) {
    let (ns, name) = &change.key;
    if change.table == "/namespaces" {
        for rt in namespaced_types(ctx) {
            for e in ctx.store.list(&rt, Some(name)) {
                let _ = ctx
                    .store
                    .delete(&rt, name, e.field("metadata.name"), Some(0), None);
            }
        }
        return;
    }
    if change.table == "/nodes" {
        for p in ctx.store.pods_on_node(&ctx.kinds.pods, name) {
            let _ = ctx.store.delete(
                &ctx.kinds.pods,
                p.field("metadata.namespace"),
                p.field("metadata.name"),
                Some(0),
                None,
            );
        }
        return;
    }
    if ns.is_empty() || !may_own(&change.table) {
        return;
    }
    let uid = &change.object.uid;
    for rt in namespaced_types(ctx) {
        for e in ctx.store.list(&rt, Some(ns)) {
            let mentions = contains(&e.raw, uid.as_bytes());
            if mentions && super::owned_by(&e.value(), uid) {
                let _ = ctx
                    .store
                    .delete(&rt, ns, e.field("metadata.name"), None, None);
            }
        }
    }
}

/// Only workload objects (and custom resources) own anything; pods and events are
/// the churn.
fn may_own(table: &str) -> bool {
    ["apps/", "batch/", "policy/"]
        .iter()
        .any(|g| table.starts_with(g))
        || table.contains('.')
}

fn namespaced_types(ctx: &Ctx) -> impl Iterator<Item = Arc<ResourceType>> {
    ctx.store
        .registry
        .all()
        .into_iter()
        .filter(|t| t.namespaced)
}

/// Every namespaced object with owners, checked as if it had just been created.
fn sweep_orphans(ctx: &Ctx) {
    for rt in namespaced_types(ctx) {
        let table = table_name(&rt);
        for e in ctx.store.list(&rt, None) {
            let ns = e.field("metadata.namespace").to_string();
            collect_if_orphaned(ctx, &table, &ns, &e);
        }
    }
}

/// Deletes `e` when it names owners and none of them exists any more.
fn collect_if_orphaned(ctx: &Ctx, table: &str, ns: &str, e: &Entry) {
    if ns.is_empty() || !contains(&e.raw, b"ownerReferences") {
        return;
    }
    let value = e.value();
    let Some(refs) = value["metadata"]["ownerReferences"].as_array() else {
        return;
    };
    if refs.is_empty() || refs.iter().any(|r| owner_may_exist(ctx, ns, r)) {
        return;
    }
    let Some(rt) = ctx
        .store
        .registry
        .all()
        .into_iter()
        .find(|t| table_name(t) == table)
    else {
        return;
    };
    let name = value["metadata"]["name"].as_str().unwrap_or_default();
    tracing::debug!(
        table,
        ns,
        name,
        "collecting an object whose owners are gone"
    );
    let _ = ctx.store.delete(&rt, ns, name, None, None);
}

/// False only when the owner's kind is known and no object of it with that name and
/// uid exists; an owner of a kind the lab does not serve, or a synthetic one, is given
/// the benefit of the doubt.
fn owner_may_exist(ctx: &Ctx, ns: &str, owner: &Value) -> bool {
    let field = |k: &str| owner[k].as_str().unwrap_or_default();
    if field("uid").starts_with(SYNTHETIC_OWNER_UID_PREFIX) {
        return true;
    }
    let Some(rt) = ctx
        .store
        .registry
        .by_kind(field("apiVersion"), field("kind"))
    else {
        return true;
    };
    let owner_ns = if rt.namespaced { ns } else { "" };
    ctx.store
        .get(&rt, owner_ns, field("name"))
        .is_some_and(|o| o.uid == field("uid"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}
