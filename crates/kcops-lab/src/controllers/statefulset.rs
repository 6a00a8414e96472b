//! The StatefulSet controller as Kubernetes runs it: ordinals, OrderedReady/Parallel,
//! claim templates, scale-down from the highest ordinal, and template updates through
//! ControllerRevisions: `RollingUpdate` replaces pods highest ordinal first, each back
//! Running and Ready before the next goes, never below `partition` (`maxUnavailable`
//! is taken as 1); `OnDelete` gives a pod the new revision only when it is deleted.
//! The status says where the update stands (`currentRevision`, `updateRevision`,
//! `updatedReplicas`), which is what `kubectl rollout status` reads.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::workloads::{
    create_pod, delete_pod, ensure_claim, pod_from_template, pod_ready, pods_owned, set_status,
    template_hash,
};
use super::{Ctx, is_deleting, owned_by, owner_ref, str_of};

/// The label a ControllerRevision carries its template hash in.
const HASH_LABEL: &str = "controller.kubernetes.io/hash";
/// The label naming the revision a pod was made from.
const POD_REVISION_LABEL: &str = "controller-revision-hash";

/// One revision of the pod template: its ControllerRevision's name and the template.
struct Revision {
    name: String,
    template: Value,
}

pub(super) fn reconcile(ctx: &Ctx, sts: &Value) {
    if is_deleting(sts) {
        return;
    }
    let ns = str_of(sts, &["metadata", "namespace"]).to_string();
    let name = str_of(sts, &["metadata", "name"]).to_string();
    let uid = str_of(sts, &["metadata", "uid"]).to_string();
    let replicas = sts["spec"]["replicas"].as_i64().unwrap_or(1);
    let parallel = sts["spec"]["podManagementPolicy"] == "Parallel";
    let strategy = &sts["spec"]["updateStrategy"];
    let rolling = strategy["type"].as_str() != Some("OnDelete");
    let partition = strategy["rollingUpdate"]["partition"]
        .as_i64()
        .unwrap_or(0)
        .max(0);
    let mut pods: BTreeMap<i64, Value> = BTreeMap::new();
    for p in pods_owned(ctx, &ns, &uid) {
        if let Some(o) = ordinal(&name, str_of(&p, &["metadata", "name"])) {
            pods.insert(o, p);
        }
    }
    let in_use: Vec<&str> = pods
        .values()
        .map(|p| str_of(p, &["metadata", "labels", POD_REVISION_LABEL]))
        .collect();
    let (current, update) = sync_revisions(ctx, sts, &ns, &name, &uid, &in_use);
    // The revision a pod (re)created at an ordinal gets: below the partition of a
    // rolling update it keeps the current one.
    let revision_for = |ord: i64| {
        if rolling && ord < partition {
            &current
        } else {
            &update
        }
    };
    let claim_templates = sts["spec"]["volumeClaimTemplates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Missing pods, in ordinal order; OrderedReady waits for each to be Ready.
    let mut blocked = false;
    for ord in 0..replicas {
        if let Some(p) = pods.get(&ord) {
            if !healthy(p) {
                blocked = true;
            }
            continue;
        }
        if blocked && !parallel {
            break;
        }
        blocked = true;
        let pod = new_pod(
            ctx,
            sts,
            &ns,
            &name,
            ord,
            revision_for(ord),
            &claim_templates,
        );
        create_pod(ctx, sts, "StatefulSet", pod);
        if !parallel {
            break;
        }
    }
    // Scale down from the highest ordinal, one at a time unless Parallel.
    let extra: Vec<i64> = pods.keys().copied().filter(|o| *o >= replicas).collect();
    for o in extra.iter().rev() {
        let p = &pods[o];
        if !is_deleting(p) {
            delete_pod(ctx, sts, "StatefulSet", p);
        }
        if !parallel {
            break;
        }
    }
    if rolling && (parallel || (!blocked && extra.is_empty())) {
        roll_one(ctx, sts, &pods, partition, replicas, &update.name);
    }
    let live: Vec<&Value> = pods.values().filter(|p| !is_deleting(p)).collect();
    let ready = live.iter().filter(|p| pod_ready(p)).count();
    let at = |rev: &str| {
        live.iter()
            .filter(|p| str_of(p, &["metadata", "labels", POD_REVISION_LABEL]) == rev)
            .count()
    };
    let updated = at(&update.name);
    // A finished rolling update makes the update revision current (OnDelete never
    // does, as in Kubernetes).
    let complete =
        rolling && updated == live.len() && ready == live.len() && live.len() as i64 >= replicas;
    let (current_name, current_replicas) = if complete {
        (update.name.as_str(), updated)
    } else {
        (current.name.as_str(), at(&current.name))
    };
    set_status(
        ctx,
        &ctx.kinds.statefulsets,
        sts,
        json!({
            "observedGeneration": sts["metadata"]["generation"],
            "replicas": live.len(),
            "readyReplicas": ready,
            "currentReplicas": current_replicas,
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": current_name,
            "updateRevision": update.name,
            "collisionCount": 0,
        }),
    );
}

/// Running, Ready and not going: what a rolling update waits for.
fn healthy(p: &Value) -> bool {
    pod_ready(p) && !is_deleting(p) && p["status"]["phase"] == "Running"
}

/// One step of a rolling update: from the highest ordinal down to the partition, the
/// first pod not at the update revision is deleted (it comes back at it), unless a
/// pod above it is not yet healthy again.
fn roll_one(
    ctx: &Ctx,
    sts: &Value,
    pods: &BTreeMap<i64, Value>,
    partition: i64,
    replicas: i64,
    update: &str,
) {
    for ord in (partition..replicas).rev() {
        let Some(p) = pods.get(&ord) else {
            return;
        };
        if str_of(p, &["metadata", "labels", POD_REVISION_LABEL]) != update && !is_deleting(p) {
            delete_pod(ctx, sts, "StatefulSet", p);
            return;
        }
        if !healthy(p) {
            return;
        }
    }
}

fn ordinal(sts_name: &str, pod_name: &str) -> Option<i64> {
    pod_name
        .strip_prefix(sts_name)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// The pod of ordinal `ord` from a revision's template, its claims created first.
fn new_pod(
    ctx: &Ctx,
    sts: &Value,
    ns: &str,
    name: &str,
    ord: i64,
    revision: &Revision,
    claim_templates: &[Value],
) -> Value {
    let pod_name = format!("{name}-{ord}");
    let mut template = revision.template.clone();
    for t in claim_templates {
        let claim = format!("{}-{pod_name}", str_of(t, &["metadata", "name"]));
        ensure_claim(ctx, sts, t, ns, &claim);
        let tname = str_of(t, &["metadata", "name"]);
        let mut vols: Vec<Value> = template["spec"]["volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v["name"] != tname)
            .collect();
        vols.push(json!({"name": tname, "persistentVolumeClaim": {"claimName": claim}}));
        template["spec"]["volumes"] = json!(vols);
    }
    template["spec"]["hostname"] = json!(pod_name);
    if let Some(svc) = sts["spec"]["serviceName"].as_str() {
        template["spec"]["subdomain"] = json!(svc);
    }
    pod_from_template(
        &template,
        ns,
        &pod_name,
        owner_ref(sts, "StatefulSet", "apps/v1"),
        &[
            ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
            (POD_REVISION_LABEL, revision.name.clone()),
            ("apps.kubernetes.io/pod-index", ord.to_string()),
        ],
    )
}

/// The StatefulSet's ControllerRevisions brought up to date, as its controller keeps
/// them: one per distinct template, numbered in the order they were (last) used, so a
/// template returned to (`kubectl rollout undo`) takes the next number again; old ones
/// beyond `revisionHistoryLimit` go. Returns the current and the update revision.
/// Revisions in `in_use` (pods still run them) are never pruned.
fn sync_revisions(
    ctx: &Ctx,
    sts: &Value,
    ns: &str,
    name: &str,
    uid: &str,
    in_use: &[&str],
) -> (Revision, Revision) {
    let rt = &ctx.kinds.controllerrevisions;
    let template = &sts["spec"]["template"];
    let hash = template_hash(template);
    let update_name = format!("{name}-{hash}");
    let mut owned: Vec<Value> = ctx
        .store
        .list(rt, Some(ns))
        .iter()
        .map(|e| e.value())
        .filter(|r| owned_by(r, uid))
        .collect();
    let number = |r: &Value| r["revision"].as_i64().unwrap_or(0);
    let newest = owned.iter().map(number).max().unwrap_or(0);
    match owned
        .iter_mut()
        .find(|r| r["metadata"]["name"] == update_name.as_str())
    {
        Some(r) if number(r) < newest => {
            if let Ok(e) = ctx.store.mutate(rt, ns, &update_name, None, |cr| {
                cr["revision"] = json!(newest + 1);
                Ok(())
            }) {
                *r = e.value();
            }
        }
        Some(_) => {}
        None => {
            let cr = new_revision(sts, template, &hash, &update_name, newest + 1);
            match ctx.store.create(rt, cr) {
                Ok(e) => owned.push(e.value()),
                Err(e) if e.code == 409 => {}
                Err(e) => tracing::warn!("cannot create revision {update_name}: {e}"),
            }
        }
    }
    let update = Revision {
        name: update_name.clone(),
        template: template.clone(),
    };
    let current = sts["status"]["currentRevision"]
        .as_str()
        .and_then(|c| owned.iter().find(|r| r["metadata"]["name"] == c))
        .map(|r| Revision {
            name: str_of(r, &["metadata", "name"]).to_string(),
            template: revision_template(r),
        });
    let current = current.unwrap_or_else(|| Revision {
        name: update_name.clone(),
        template: template.clone(),
    });
    let mut keep = vec![current.name.as_str(), update.name.as_str()];
    keep.extend_from_slice(in_use);
    prune_revisions(ctx, sts, ns, owned, &keep);
    (current, update)
}

/// A ControllerRevision holding `template` as the patch that restores it, the form
/// `kubectl rollout history` shows and `kubectl rollout undo` applies.
fn new_revision(sts: &Value, template: &Value, hash: &str, name: &str, number: i64) -> Value {
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    labels[HASH_LABEL] = json!(hash);
    let mut data_template = template.clone();
    data_template["$patch"] = json!("replace");
    let mut cr = json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": name,
            "namespace": sts["metadata"]["namespace"],
            "labels": labels,
            "ownerReferences": [owner_ref(sts, "StatefulSet", "apps/v1")],
        },
        "data": {"spec": {"template": data_template}},
        "revision": number,
    });
    if let Some(a) = sts["metadata"]["annotations"].as_object() {
        let kept: serde_json::Map<String, Value> = a
            .iter()
            .filter(|(k, _)| *k != "kubectl.kubernetes.io/last-applied-configuration")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !kept.is_empty() {
            cr["metadata"]["annotations"] = Value::Object(kept);
        }
    }
    cr
}

/// The pod template a ControllerRevision restores.
fn revision_template(cr: &Value) -> Value {
    let mut t = cr["data"]["spec"]["template"].clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    t
}

/// Deletes the oldest revisions beyond the history limit, except those in `keep` (the
/// current and update revisions, and those pods still run).
fn prune_revisions(ctx: &Ctx, sts: &Value, ns: &str, mut owned: Vec<Value>, keep: &[&str]) {
    let limit = sts["spec"]["revisionHistoryLimit"].as_i64().unwrap_or(10);
    owned.retain(|r| !keep.contains(&str_of(r, &["metadata", "name"])));
    let excess = owned.len() as i64 - limit;
    if excess <= 0 {
        return;
    }
    owned.sort_by_key(|r| r["revision"].as_i64().unwrap_or(0));
    for r in owned.iter().take(excess as usize) {
        let _ = ctx.store.delete(
            &ctx.kinds.controllerrevisions,
            ns,
            str_of(r, &["metadata", "name"]),
            None,
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revision_restores_its_template() {
        let sts = json!({"metadata": {"name": "etcd", "namespace": "default", "uid": "u1",
                          "annotations": {"kubernetes.io/change-cause": "kubectl patch"}}});
        let template =
            json!({"metadata": {"labels": {"component": "etcd"}}, "spec": {"containers": []}});
        let cr = new_revision(&sts, &template, "abc", "etcd-abc", 3);
        assert_eq!(cr["metadata"]["labels"][HASH_LABEL], "abc");
        assert_eq!(cr["metadata"]["labels"]["component"], "etcd");
        assert_eq!(cr["data"]["spec"]["template"]["$patch"], "replace");
        assert_eq!(cr["revision"], 3);
        assert_eq!(
            cr["metadata"]["annotations"]["kubernetes.io/change-cause"],
            "kubectl patch"
        );
        assert_eq!(revision_template(&cr), template);
    }

    #[test]
    fn ordinals_parse_only_for_the_sets_own_pods() {
        assert_eq!(ordinal("etcd", "etcd-2"), Some(2));
        assert_eq!(ordinal("etcd", "etcd-backup-0"), None);
        assert_eq!(ordinal("etcd", "etcdx-1"), None);
    }
}
