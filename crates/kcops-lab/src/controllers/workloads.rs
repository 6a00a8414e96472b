//! Workload controllers: Deployment -> ReplicaSet -> Pods, DaemonSet (one pod per
//! eligible node), and the pod and claim helpers they share with the StatefulSet
//! controller (`statefulset.rs`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::scheduler::{node_ready, tolerates};
use super::{Ctx, is_deleting, owned_by, owner_ref, str_of};
use crate::api::resources::ResourceType;
use crate::api::selectors::LabelSelector;
use crate::api::store::random_suffix;

pub fn reconcile(ctx: &Ctx) {
    for sts in ctx.store.list(&ctx.kinds.statefulsets, None) {
        super::statefulset::reconcile(ctx, &sts.value());
    }
    for d in ctx.store.list(&ctx.kinds.deployments, None) {
        deployment(ctx, &d.value());
    }
    for rs in ctx.store.list(&ctx.kinds.replicasets, None) {
        replicaset(ctx, &rs.value());
    }
    for ds in ctx.store.list(&ctx.kinds.daemonsets, None) {
        daemonset(ctx, &ds.value());
    }
}

pub(super) fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

pub(super) fn pods_owned(ctx: &Ctx, ns: &str, uid: &str) -> Vec<Value> {
    ctx.store
        .list(&ctx.kinds.pods, Some(ns))
        .iter()
        .map(|e| e.value())
        .filter(|p| owned_by(p, uid))
        .collect()
}

/// Short stable hash of a pod template, as controller-revision-hash / pod-template-hash.
pub(super) fn template_hash(template: &Value) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    template.to_string().hash(&mut h);
    let n = h.finish();
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|i| ALPHABET[((n >> (i * 6)) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

pub(super) fn pod_from_template(
    template: &Value,
    ns: &str,
    name: &str,
    owner: Value,
    extra_labels: &[(&str, String)],
) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": template["metadata"].clone(),
        "spec": template["spec"].clone(),
    });
    if !pod["metadata"].is_object() {
        pod["metadata"] = json!({});
    }
    pod["metadata"]["name"] = json!(name);
    pod["metadata"]["namespace"] = json!(ns);
    pod["metadata"]["ownerReferences"] = json!([owner]);
    if !pod["metadata"]["labels"].is_object() {
        pod["metadata"]["labels"] = json!({});
    }
    for (k, v) in extra_labels {
        pod["metadata"]["labels"][*k] = json!(v);
    }
    crate::api::defaults::apply("Pod", &mut pod);
    pod
}

pub(super) fn create_pod(ctx: &Ctx, owner: &Value, owner_kind: &str, pod: Value) {
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match ctx.store.create(&ctx.kinds.pods, pod) {
        Ok(_) => {
            let msg = if owner_kind == "StatefulSet" {
                format!(
                    "create Pod {name} in StatefulSet {} successful",
                    str_of(owner, &["metadata", "name"])
                )
            } else {
                format!("Created pod: {name}")
            };
            ctx.event(
                owner,
                "Normal",
                "SuccessfulCreate",
                &msg,
                &controller_name(owner_kind),
                None,
            );
        }
        Err(e) if e.code == 409 => {}
        Err(e) => tracing::warn!("cannot create pod {name}: {e}"),
    }
}

pub(super) fn delete_pod(ctx: &Ctx, owner: &Value, owner_kind: &str, pod: &Value) {
    let ns = str_of(pod, &["metadata", "namespace"]);
    let name = str_of(pod, &["metadata", "name"]);
    if ctx
        .store
        .delete(&ctx.kinds.pods, ns, name, None, None)
        .is_ok()
    {
        let msg = if owner_kind == "StatefulSet" {
            format!(
                "delete Pod {name} in StatefulSet {} successful",
                str_of(owner, &["metadata", "name"])
            )
        } else {
            format!("Deleted pod: {name}")
        };
        ctx.event(
            owner,
            "Normal",
            "SuccessfulDelete",
            &msg,
            &controller_name(owner_kind),
            None,
        );
    }
}

fn controller_name(kind: &str) -> String {
    match kind {
        "StatefulSet" => "statefulset-controller".into(),
        "ReplicaSet" => "replicaset-controller".into(),
        "DaemonSet" => "daemonset-controller".into(),
        _ => "deployment-controller".into(),
    }
}

pub(super) fn set_status(ctx: &Ctx, rt: &ResourceType, obj: &Value, status: Value) {
    let ns = str_of(obj, &["metadata", "namespace"]);
    let name = str_of(obj, &["metadata", "name"]);
    let mut merged = obj["status"].clone();
    if !merged.is_object() {
        merged = json!({});
    }
    if let (Some(m), Some(s)) = (merged.as_object_mut(), status.as_object()) {
        for (k, v) in s {
            m.insert(k.clone(), v.clone());
        }
    }
    if merged == obj["status"] {
        return;
    }
    let _ = ctx.store.mutate(rt, ns, name, None, |o| {
        o["status"] = merged;
        Ok(())
    });
}

pub(super) fn ensure_claim(ctx: &Ctx, sts: &Value, template: &Value, ns: &str, claim: &str) {
    if ctx.store.get(&ctx.kinds.pvcs, ns, claim).is_some() {
        return;
    }
    let mut pvc = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": claim, "namespace": ns, "labels": template["metadata"]["labels"].clone()},
        "spec": template["spec"].clone(),
    });
    if pvc["metadata"]["labels"].is_null() {
        pvc["metadata"]["labels"] = json!(sts["spec"]["selector"]["matchLabels"].clone());
    }
    crate::api::defaults::apply("PersistentVolumeClaim", &mut pvc);
    match ctx.store.create(&ctx.kinds.pvcs, pvc) {
        Ok(_) => ctx.event(
            sts,
            "Normal",
            "SuccessfulCreate",
            &format!(
                "create Claim {claim} Pod {} in StatefulSet {} success",
                claim.rsplit_once('-').map(|_| claim).unwrap_or(claim),
                str_of(sts, &["metadata", "name"])
            ),
            "statefulset-controller",
            None,
        ),
        Err(e) if e.code == 409 => {}
        Err(e) => tracing::warn!("cannot create claim {claim}: {e}"),
    }
}

/// `(name, ip)` of every member of an etcd StatefulSet up to its replicas, for the
/// `--initial-cluster` of a member starting for the first time.
pub fn etcd_initial_cluster(
    ctx: &Ctx,
    ns: &str,
    sts: &str,
    _self_name: &str,
    _self_ip: Ipv4Addr,
) -> Vec<(String, Ipv4Addr)> {
    let replicas = ctx
        .store
        .get_value(&ctx.kinds.statefulsets, ns, sts)
        .and_then(|s| s["spec"]["replicas"].as_i64())
        .unwrap_or(1);
    (0..replicas.max(1))
        .map(|i| {
            let name = format!("{sts}-{i}");
            let ip = ctx.member_ip(ns, &name);
            (name, ip)
        })
        .collect()
}

fn deployment(ctx: &Ctx, d: &Value) {
    if is_deleting(d) {
        return;
    }
    let ns = str_of(d, &["metadata", "namespace"]).to_string();
    let name = str_of(d, &["metadata", "name"]).to_string();
    let uid = str_of(d, &["metadata", "uid"]).to_string();
    let hash = template_hash(&d["spec"]["template"]);
    let rs_name = format!("{name}-{hash}");
    let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
    let owned: Vec<Value> = ctx
        .store
        .list(&ctx.kinds.replicasets, Some(&ns))
        .iter()
        .map(|e| e.value())
        .filter(|r| owned_by(r, &uid))
        .collect();
    if !owned
        .iter()
        .any(|r| r["metadata"]["name"] == rs_name.as_str())
    {
        let mut template = d["spec"]["template"].clone();
        template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        let mut selector = d["spec"]["selector"].clone();
        selector["matchLabels"]["pod-template-hash"] = json!(hash);
        let mut labels = d["spec"]["template"]["metadata"]["labels"].clone();
        labels["pod-template-hash"] = json!(hash);
        let mut rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": ns, "labels": labels, "ownerReferences": [owner_ref(d, "Deployment", "apps/v1")],
                          "annotations": {"deployment.kubernetes.io/revision": "1", "deployment.kubernetes.io/desired-replicas": replicas.to_string()}},
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        });
        crate::api::defaults::apply("ReplicaSet", &mut rs);
        if ctx.store.create(&ctx.kinds.replicasets, rs).is_ok() {
            ctx.event(
                d,
                "Normal",
                "ScalingReplicaSet",
                &format!("Scaled up replica set {rs_name} from 0 to {replicas}"),
                "deployment-controller",
                None,
            );
        }
    }
    for rs in &owned {
        let rs_n = str_of(rs, &["metadata", "name"]);
        let want = if rs_n == rs_name { replicas } else { 0 };
        let have = rs["spec"]["replicas"].as_i64().unwrap_or(0);
        if have != want {
            let scaled = ctx
                .store
                .mutate(&ctx.kinds.replicasets, &ns, rs_n, None, |r| {
                    r["spec"]["replicas"] = json!(want);
                    Ok(())
                });
            if scaled.is_ok() {
                let how = if want > have { "up" } else { "down" };
                ctx.event(
                    d,
                    "Normal",
                    "ScalingReplicaSet",
                    &format!("Scaled {how} replica set {rs_n} from {have} to {want}"),
                    "deployment-controller",
                    None,
                );
            }
        }
    }
    let (mut total, mut ready, mut updated) = (0, 0, 0);
    for rs in &owned {
        total += rs["status"]["replicas"].as_i64().unwrap_or(0);
        ready += rs["status"]["readyReplicas"].as_i64().unwrap_or(0);
        if rs["metadata"]["name"] == rs_name.as_str() {
            updated += rs["status"]["replicas"].as_i64().unwrap_or(0);
        }
    }
    let available = if ready >= replicas { "True" } else { "False" };
    set_status(
        ctx,
        &ctx.kinds.deployments,
        d,
        json!({
            "observedGeneration": d["metadata"]["generation"],
            "replicas": total, "readyReplicas": ready, "updatedReplicas": updated, "availableReplicas": ready,
            "unavailableReplicas": (replicas - ready).max(0),
            "conditions": [
                {"type": "Available", "status": available, "reason": if available == "True" {"MinimumReplicasAvailable"} else {"MinimumReplicasUnavailable"}, "message": if available == "True" {"Deployment has minimum availability."} else {"Deployment does not have minimum availability."}},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed.")}
            ],
        }),
    );
}

fn replicaset(ctx: &Ctx, rs: &Value) {
    if is_deleting(rs) {
        return;
    }
    let ns = str_of(rs, &["metadata", "namespace"]).to_string();
    let name = str_of(rs, &["metadata", "name"]).to_string();
    let uid = str_of(rs, &["metadata", "uid"]).to_string();
    let replicas = rs["spec"]["replicas"].as_i64().unwrap_or(1);
    let pods = pods_owned(ctx, &ns, &uid);
    let live: Vec<&Value> = pods.iter().filter(|p| !is_deleting(p)).collect();
    let have = live.len() as i64;
    for _ in have..replicas {
        let pod = pod_from_template(
            &rs["spec"]["template"],
            &ns,
            &format!("{name}-{}", random_suffix(5)),
            owner_ref(rs, "ReplicaSet", "apps/v1"),
            &[],
        );
        create_pod(ctx, rs, "ReplicaSet", pod);
    }
    if have > replicas {
        // As the ReplicaSet controller ranks them: unscheduled, then unready, then pods
        // doubled up on a node with their siblings, then the newest go first.
        let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &live {
            *per_node
                .entry(str_of(p, &["spec", "nodeName"]))
                .or_default() += 1;
        }
        let mut victims = live.clone();
        victims.sort_by_key(|p| {
            let node = str_of(p, &["spec", "nodeName"]);
            let colocated = if node.is_empty() {
                0
            } else {
                per_node.get(node).copied().unwrap_or(0)
            };
            (
                !node.is_empty(),
                pod_ready(p),
                std::cmp::Reverse(colocated),
                std::cmp::Reverse(str_of(p, &["metadata", "creationTimestamp"]).to_string()),
            )
        });
        for p in victims.into_iter().take((have - replicas) as usize) {
            delete_pod(ctx, rs, "ReplicaSet", p);
        }
    }
    let ready = live.iter().filter(|p| pod_ready(p)).count();
    set_status(
        ctx,
        &ctx.kinds.replicasets,
        rs,
        json!({"replicas": live.len(), "readyReplicas": ready, "availableReplicas": ready, "fullyLabeledReplicas": live.len(), "observedGeneration": rs["metadata"]["generation"]}),
    );
}

fn daemonset(ctx: &Ctx, ds: &Value) {
    if is_deleting(ds) {
        return;
    }
    let ns = str_of(ds, &["metadata", "namespace"]).to_string();
    let name = str_of(ds, &["metadata", "name"]).to_string();
    let uid = str_of(ds, &["metadata", "uid"]).to_string();
    let template = &ds["spec"]["template"];
    let hash = template_hash(template);
    let pods = pods_owned(ctx, &ns, &uid);
    let node_sel = LabelSelector::from_label_selector_json(
        &json!({"matchLabels": template["spec"]["nodeSelector"].clone()}),
    );
    // Synthetic nodes and nodes the selector rules out are skipped on the labels the
    // store keeps, unparsed: a pass costs the eligible nodes, not thousands of
    // synthetic ones (it runs on every lab change).
    let nodes: Vec<Value> = ctx
        .store
        .list(&ctx.kinds.nodes, None)
        .iter()
        .filter(|e| {
            !e.labels.contains_key(crate::synthetic::SYNTHETIC_LABEL) && node_sel.matches(&e.labels)
        })
        .map(|e| e.value())
        .collect();
    let fake_pod = json!({"spec": template["spec"].clone()});
    let mut desired = 0;
    for node in &nodes {
        let node_name = str_of(node, &["metadata", "name"]);
        let taints_ok = node["spec"]["taints"].as_array().is_none_or(|ts| {
            ts.iter()
                .all(|t| t["effect"] == "PreferNoSchedule" || tolerates(&fake_pod, t))
        });
        if !taints_ok {
            continue;
        }
        desired += 1;
        if pods.iter().any(|p| p["spec"]["nodeName"] == node_name) {
            continue;
        }
        let mut pod = pod_from_template(
            template,
            &ns,
            &format!("{name}-{}", random_suffix(5)),
            owner_ref(ds, "DaemonSet", "apps/v1"),
            &[
                ("controller-revision-hash", hash.clone()),
                ("pod-template-generation", "1".into()),
            ],
        );
        pod["spec"]["nodeName"] = json!(node_name);
        // DaemonSet pods tolerate node problems, as the controller adds these.
        let mut tolerations = pod["spec"]["tolerations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for key in [
            "node.kubernetes.io/not-ready",
            "node.kubernetes.io/unreachable",
        ] {
            tolerations.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute"}));
        }
        tolerations.push(json!({"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}));
        pod["spec"]["tolerations"] = json!(tolerations);
        create_pod(ctx, ds, "DaemonSet", pod);
    }
    let live: Vec<&Value> = pods.iter().filter(|p| !is_deleting(p)).collect();
    let ready = live.iter().filter(|p| pod_ready(p)).count();
    let _ = nodes.iter().filter(|n| node_ready(n)).count();
    set_status(
        ctx,
        &ctx.kinds.daemonsets,
        ds,
        json!({
            "desiredNumberScheduled": desired,
            "currentNumberScheduled": live.len(),
            "numberReady": ready,
            "numberAvailable": ready,
            "numberUnavailable": (desired - ready as i64).max(0),
            "updatedNumberScheduled": live.len(),
            "numberMisscheduled": 0,
            "observedGeneration": ds["metadata"]["generation"],
        }),
    );
}
