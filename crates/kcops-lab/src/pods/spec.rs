//! What a pod's spec says its first container runs: argv, environment, working
//! directory, volume mounts and exec probes, resolved the way a kubelet resolves them
//! (`valueFrom.fieldRef`, `$(VAR)` references in command and args).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// The host's PATH as a container image's default would set it.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a pod's address and node are, for `fieldRef`s.
#[derive(Debug, Clone, Default)]
pub(crate) struct PodFacts {
    pub pod_ip: String,
    pub node_ip: String,
}

/// An exec probe: the command and its timing.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExecProbe {
    pub command: Vec<String>,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub failure_threshold: u32,
}

/// One `volumeMounts` entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct VolumeMount {
    pub volume: String,
    pub mount_path: String,
    pub read_only: bool,
}

/// The container the lab runs for a pod (its first container).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: String,
    pub mounts: Vec<VolumeMount>,
    pub readiness: Option<ExecProbe>,
    pub liveness: Option<ExecProbe>,
}

/// The pod's hostname (`spec.hostname`, else its name) and subdomain.
pub(crate) fn hostname_of(pod: &Value) -> (String, Option<String>) {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let host = pod["spec"]["hostname"].as_str().unwrap_or(name).to_string();
    let sub = pod["spec"]["subdomain"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    (host, sub)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A `fieldRef` path's value for this pod, as the downward API gives it.
fn field_ref(pod: &Value, path: &str, facts: &PodFacts) -> String {
    let s = |p: &[&str]| crate::controllers::str_of(pod, p).to_string();
    match path {
        "metadata.name" => s(&["metadata", "name"]),
        "metadata.namespace" => s(&["metadata", "namespace"]),
        "metadata.uid" => s(&["metadata", "uid"]),
        "spec.nodeName" => s(&["spec", "nodeName"]),
        "spec.serviceAccountName" => s(&["spec", "serviceAccountName"]),
        "status.podIP" => facts.pod_ip.clone(),
        "status.hostIP" => facts.node_ip.clone(),
        other => {
            let label = other
                .strip_prefix("metadata.labels['")
                .and_then(|r| r.strip_suffix("']"));
            label
                .and_then(|l| pod["metadata"]["labels"][l].as_str())
                .unwrap_or_default()
                .to_string()
        }
    }
}

/// Kubernetes' `$(VAR)` expansion: known names are replaced, `$$` escapes, unknown
/// references stay as written.
pub(crate) fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('(')
            && let Some(end) = inner.find(')')
            && let Some(value) = env.get(&inner[..end])
        {
            out.push_str(value);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn probe(v: &Value) -> Option<ExecProbe> {
    let command = strings(&v["exec"]["command"]);
    if command.is_empty() {
        return None;
    }
    let secs = |key: &str, default: u64| {
        Duration::from_secs(
            v[key]
                .as_u64()
                .unwrap_or(default)
                .max(if key == "initialDelaySeconds" { 0 } else { 1 }),
        )
    };
    Some(ExecProbe {
        command,
        initial_delay: secs("initialDelaySeconds", 0),
        period: secs("periodSeconds", 10),
        timeout: secs("timeoutSeconds", 1),
        failure_threshold: v["failureThreshold"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(3)
            .max(1),
    })
}

/// The pod's first container as the lab runs it. An image without a command runs
/// `default_command` (a shell for the host-runnable images).
pub(crate) fn container_of(pod: &Value, facts: &PodFacts) -> Option<ContainerSpec> {
    let c = pod["spec"]["containers"].as_array()?.first()?;
    let (hostname, _) = hostname_of(pod);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("PATH".into(), DEFAULT_PATH.into());
    env.insert("HOME".into(), "/root".into());
    env.insert("HOSTNAME".into(), hostname);
    let mut ordered: Vec<String> = vec!["PATH".into(), "HOME".into(), "HOSTNAME".into()];
    for e in c["env"].as_array().into_iter().flatten() {
        let Some(name) = e["name"].as_str() else {
            continue;
        };
        let value = match e["value"].as_str() {
            Some(v) => expand(v, &env),
            None => e["valueFrom"]["fieldRef"]["fieldPath"]
                .as_str()
                .map(|p| field_ref(pod, p, facts))
                .unwrap_or_default(),
        };
        if !ordered.iter().any(|n| n == name) {
            ordered.push(name.to_string());
        }
        env.insert(name.to_string(), value);
    }
    let mut argv: Vec<String> = strings(&c["command"]);
    argv.extend(strings(&c["args"]));
    let argv = if argv.is_empty() {
        vec!["sh".to_string()]
    } else {
        argv.iter().map(|a| expand(a, &env)).collect()
    };
    let mounts = c["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            Some(VolumeMount {
                volume: m["name"].as_str()?.to_string(),
                mount_path: m["mountPath"].as_str()?.to_string(),
                read_only: m["readOnly"].as_bool().unwrap_or(false),
            })
        })
        .collect();
    Some(ContainerSpec {
        name: c["name"].as_str().unwrap_or_default().to_string(),
        image: c["image"].as_str().unwrap_or_default().to_string(),
        argv,
        env: ordered
            .into_iter()
            .filter_map(|n| env.get(&n).map(|v| (n.clone(), v.clone())))
            .collect(),
        working_dir: c["workingDir"].as_str().unwrap_or("/").to_string(),
        mounts,
        readiness: probe(&c["readinessProbe"]),
        liveness: probe(&c["livenessProbe"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn env_field_refs_and_var_references_resolve_as_a_kubelet_does() {
        let pod = json!({
            "metadata": {"name": "etcd-1", "namespace": "default"},
            "spec": {"nodeName": "node1", "containers": [{
                "name": "etcd", "image": "quay.io/coreos/etcd:v3.4.23",
                "command": ["/bin/sh", "-ec", "echo $(SET_NAME) $${X} $(NOPE)"],
                "args": ["--ip=$(POD_IP)"],
                "env": [
                    {"name": "SET_NAME", "value": "etcd"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
                ],
                "volumeMounts": [{"name": "data", "mountPath": "/var/run/etcd"}],
                "readinessProbe": {"exec": {"command": ["sh", "-c", "true"]}, "timeoutSeconds": 5}
            }]}
        });
        let facts = PodFacts {
            pod_ip: "10.244.1.3".into(),
            node_ip: "198.18.9.11".into(),
        };
        let c = container_of(&pod, &facts).unwrap_or_else(|| panic!("no container"));
        assert_eq!(
            c.argv,
            [
                "/bin/sh",
                "-ec",
                "echo etcd ${X} $(NOPE)",
                "--ip=10.244.1.3"
            ]
        );
        let env: BTreeMap<_, _> = c.env.iter().cloned().collect();
        assert_eq!(env["HOSTNAME"], "etcd-1");
        assert_eq!(env["POD_IP"], "10.244.1.3");
        assert_eq!(env["NODE"], "node1");
        assert_eq!(c.mounts[0].mount_path, "/var/run/etcd");
        let probe = c.readiness.unwrap_or_else(|| panic!("no probe"));
        assert_eq!(probe.timeout, Duration::from_secs(5));
        assert_eq!(probe.period, Duration::from_secs(10));
        assert!(c.liveness.is_none());
    }
}
