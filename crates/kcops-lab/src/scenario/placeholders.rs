//! Placeholders (`${LAB_API}`, `${POD_IP}`, ...) in scenario text and their values.

#[allow(unused_imports)]
use super::*;

/// Values only a running lab knows, for `{{lab.*}}` placeholders: a scenario is written
/// before the lab picks its addresses and keys.
#[derive(Debug, Clone, Default)]
pub struct LabValues {
    /// `{{lab.cephMonitors}}`: the mons as `ip:port[,ip:port]`.
    pub ceph_monitors: String,
    /// `{{lab.apiServer}}`: the API server URL, `https://ip:port`.
    pub api_server: String,
    /// `{{lab.cephAdminSecret}}`: client.admin's key, base64-encoded for a Secret's
    /// `data`.
    pub ceph_admin_secret: String,
    /// `{{lab.cephKubeSecret}}`: client.kube's key, base64-encoded for a Secret's
    /// `data`.
    pub ceph_kube_secret: String,
    /// `{{lab.cephSecret.<id>}}`: the key of `client.<id>` (a user of the scenario's
    /// `ceph.users`, or `admin`/`kube`), base64-encoded for a Secret's `data`.
    pub ceph_secrets: BTreeMap<String, String>,
}

/// The prefix of `{{lab.cephSecret.<id>}}`.
pub const CEPH_SECRET_PREFIX: &str = "lab.cephSecret.";

/// Placeholders a scenario may use anywhere placeholders are expanded.
pub const LAB_PLACEHOLDERS: [&str; 4] = [
    "lab.cephMonitors",
    "lab.apiServer",
    "lab.cephAdminSecret",
    "lab.cephKubeSecret",
];

/// Placeholders only behaviours may use: they depend on the pod.
pub const POD_PLACEHOLDERS: [&str; 8] = [
    "pod.name",
    "pod.namespace",
    "pod.uid",
    "pod.ip",
    "pod.node",
    "pod.nodeIP",
    "pod.sandboxId",
    "pod.klogTime",
];

impl LabValues {
    pub(super) fn lookup(&self, name: &str) -> Option<String> {
        let v = match name {
            "lab.cephMonitors" => &self.ceph_monitors,
            "lab.apiServer" => &self.api_server,
            "lab.cephAdminSecret" => &self.ceph_admin_secret,
            "lab.cephKubeSecret" => &self.ceph_kube_secret,
            other => {
                return other
                    .strip_prefix(CEPH_SECRET_PREFIX)
                    .and_then(|id| self.ceph_secrets.get(id).cloned());
            }
        };
        Some(v.clone())
    }
}

/// Values for `{{pod.*}}` placeholders in behaviour texts, known when the lab kubelet
/// acts on a pod (its generated name, UID, the sandbox attempt).
#[derive(Debug, Clone, Default)]
pub struct PodValues {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub ip: String,
    pub node: String,
    pub node_ip: String,
    /// A fresh sandbox id for this attempt (64 hex digits).
    pub sandbox_id: String,
    /// The time the text is emitted, as klog writes it: see [`klog_time`].
    pub klog_time: String,
}

impl PodValues {
    /// `text` with its `{{pod.*}}` placeholders filled in.
    pub fn render(&self, text: &str) -> String {
        expand(text, |name| {
            let v = match name {
                "pod.name" => &self.name,
                "pod.namespace" => &self.namespace,
                "pod.uid" => &self.uid,
                "pod.ip" => &self.ip,
                "pod.node" => &self.node,
                "pod.nodeIP" => &self.node_ip,
                "pod.sandboxId" => &self.sandbox_id,
                "pod.klogTime" => &self.klog_time,
                _ => return None,
            };
            Some(v.clone())
        })
    }
}

/// klog's header time, `MMDD hh:mm:ss.uuuuuu` in UTC, e.g. `1227 06:17:50.605110`, so
/// log lines look like the ones in field reports (`E1227 06:17:50.605110 1 main.go...`).
pub fn klog_time(at: jiff::Timestamp) -> String {
    at.strftime("%m%d %H:%M:%S.%6f").to_string()
}

/// Replaces each `{{name}}` for which `lookup` has a value; other text, including
/// placeholders `lookup` does not know, is kept as is. Only `lab.*` and `pod.*` names
/// are placeholders, so `{{ .Values.x }}` or `${HOSTNAME}` in a manifest stay
/// untouched.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        let name = after[..end].trim();
        out.push_str(&rest[..start]);
        match lookup(name) {
            Some(value) if is_placeholder(name) => out.push_str(&value),
            _ => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

pub(super) fn is_placeholder(name: &str) -> bool {
    name.starts_with("lab.") || name.starts_with("pod.")
}

/// The `lab.*`/`pod.*` placeholder names in `text`.
pub(super) fn placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        let name = after[..end].trim();
        if is_placeholder(name) {
            names.push(name);
        }
        rest = &after[end + 2..];
    }
    names
}

pub(super) fn expand_json(value: &mut Value, lookup: &impl Fn(&str) -> Option<String>) {
    match value {
        Value::String(s) => *s = expand(s, lookup),
        Value::Array(items) => items.iter_mut().for_each(|v| expand_json(v, lookup)),
        Value::Object(map) => map.values_mut().for_each(|v| expand_json(v, lookup)),
        _ => {}
    }
}
