//! Synthetic load for benchmarks: thousands of nodes and pods of a realistic shape
//! (two containers with resources and probes, full status, an owner, a PVC volume;
//! about 4 KB of JSON each), created in their final state, plus steady watch churn.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, anyhow};
use serde_json::{Value, json};

use super::api::store::{Store, now_rfc3339};

/// Label that keeps lab controllers (DaemonSets, kubelets) off synthetic nodes.
pub const SYNTHETIC_LABEL: &str = "lab.kcops.io/synthetic";
const NAMESPACES: usize = 100;
/// Synthetic pods name ReplicaSets the lab never creates (150k pods would need
/// thousands of them, each reconciled): the garbage collector leaves owners with this
/// uid prefix alone.
pub const SYNTHETIC_OWNER_UID_PREFIX: &str = "00000000-0000-4000-8000-";

fn node(i: usize, now: &str) -> Value {
    let name = format!("synth-node-{i:05}");
    let ip = format!("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256);
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", SYNTHETIC_LABEL: "true"}},
        "spec": {"podCIDR": format!("10.{}.{}.0/24", 128 + i / 256 % 64, i % 256)},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "capacity": {"cpu": "32", "memory": "131900000Ki", "pods": "110"},
            "allocatable": {"cpu": "31800m", "memory": "131000000Ki", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "nodeInfo": {"kubeletVersion": "v1.33.1", "kubeProxyVersion": "v1.33.1", "containerRuntimeVersion": "containerd://1.7.24", "osImage": "Debian GNU/Linux 12 (bookworm)", "kernelVersion": "6.1.0-28-amd64", "operatingSystem": "linux", "architecture": "amd64", "machineID": "", "systemUUID": "", "bootID": ""}
        }
    })
}

fn container(name: &str, image: &str, port: u16) -> Value {
    json!({
        "name": name, "image": image,
        "ports": [{"containerPort": port, "protocol": "TCP", "name": "http"}],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}, {"name": "LOG_LEVEL", "value": "info"}],
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": port, "scheme": "HTTP"}, "initialDelaySeconds": 10, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": port, "scheme": "HTTP"}, "periodSeconds": 5, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}],
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"
    })
}

pub(crate) fn pod(i: usize, nodes: usize, now: &str) -> Value {
    let ns = format!("bench-{:02}", i % NAMESPACES);
    let app = format!("app-{:04}", (i / NAMESPACES) % 1000);
    let name = format!("{app}-7d9f8c6b5-{i:06}");
    let node = format!("synth-node-{:05}", i % nodes.max(1));
    let ip = format!(
        "10.{}.{}.{}",
        128 + (i / 65536) % 64,
        (i / 256) % 256,
        i % 256
    );
    let cstatus = |n: &str, image: &str| json!({"name": n, "image": image, "imageID": format!("{image}@sha256:{:064x}", i), "containerID": format!("containerd://{:064x}", i * 2 + n.len()), "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": now}}});
    let conditions: Vec<Value> = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    .iter()
    .map(|t| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": now}))
    .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": ns,
            "labels": {"app": app, "pod-template-hash": "7d9f8c6b5", "tier": "backend"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": now, "prometheus.io/scrape": "true"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-7d9f8c6b5"), "uid": format!("{SYNTHETIC_OWNER_UID_PREFIX}{:012}", i / NAMESPACES % 1000), "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "nodeName": node,
            "containers": [container("app", "registry.example/app:1.4.2", 8080), container("sidecar", "registry.example/envoy:1.31", 9901)],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": format!("data-{name}")}}, {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst", "serviceAccountName": "default", "schedulerName": "default-scheduler",
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}, {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
        },
        "status": {
            "phase": "Running", "hostIP": "10.100.0.1", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": now, "qosClass": "Burstable",
            "conditions": conditions,
            "containerStatuses": [cstatus("app", "registry.example/app:1.4.2"), cstatus("sidecar", "registry.example/envoy:1.31")]
        }
    })
}

/// Creates the synthetic nodes, namespaces and pods.
pub fn populate(store: &Store, nodes: usize, pods: usize) -> Result<()> {
    let now = now_rfc3339();
    let find = |p: &str| {
        store
            .registry
            .find("", "v1", p)
            .ok_or_else(|| anyhow!("{p} type missing"))
    };
    let (nodes_t, ns_t, pods_t) = (find("nodes")?, find("namespaces")?, find("pods")?);
    for i in 0..nodes {
        store
            .create(&nodes_t, node(i, &now))
            .map_err(|e| anyhow!("synthetic node {i}: {e}"))?;
    }
    if pods > 0 {
        for n in 0..NAMESPACES {
            let mut obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": format!("bench-{n:02}")}});
            super::api::defaults::apply("Namespace", &mut obj);
            let _ = store.create(&ns_t, obj);
        }
    }
    for i in 0..pods {
        store
            .create(&pods_t, pod(i, nodes, &now))
            .map_err(|e| anyhow!("synthetic pod {i}: {e}"))?;
    }
    Ok(())
}

/// Steady churn: `rate` pod updates per second (a restart count ticking up).
pub async fn churn(store: Arc<Store>, rate: f64) {
    let Some(pods_t) = store.registry.find("", "v1", "pods") else {
        return;
    };
    let keys: Vec<(String, String)> = (0..NAMESPACES)
        .flat_map(|n| {
            store
                .list(&pods_t, Some(&format!("bench-{n:02}")))
                .into_iter()
                .take(50)
                .map(|e| {
                    (
                        e.field("metadata.namespace").to_string(),
                        e.field("metadata.name").to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if keys.is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.1)));
    let mut i = 0usize;
    loop {
        tick.tick().await;
        let (ns, name) = &keys[i % keys.len()];
        i += 1;
        let _ = store.mutate(&pods_t, ns, name, None, |p| {
            if let Some(cs) = p["status"]["containerStatuses"].as_array_mut() {
                for c in cs {
                    let n = c["restartCount"].as_i64().unwrap_or(0);
                    c["restartCount"] = json!(n + 1);
                }
            }
            Ok(())
        });
    }
}
