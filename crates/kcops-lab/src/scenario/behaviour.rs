//! Member StatefulSets and per-pod behaviours: crash loops, sandbox and mount
//! failures the lab plays for matching pods.

#[allow(unused_imports)]
use super::*;

/// A StatefulSet whose pods run real member processes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemberSpec {
    pub kind: MemberKind,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub stateful_set: String,
}

pub(super) fn default_namespace() -> String {
    "default".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MemberKind {
    Etcd,
    /// Real ZooKeeper servers (Debian's `zookeeper` package) running the template's
    /// command, with the lab's stand-ins for the image's scripts (`pods/zookeeper.rs`).
    Zookeeper,
}

/// What the lab kubelet does with pods that match.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Behaviour {
    #[serde(default, rename = "match")]
    pub matches: BehaviourMatch,
    /// Delay between the containers starting and the pod turning Ready.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub ready_after: Option<Duration>,
    /// What `kubectl logs` prints for a running pod.
    #[serde(default)]
    pub logs: Vec<String>,
    #[serde(default)]
    pub crash_loop: Option<CrashLoop>,
    #[serde(default)]
    pub sandbox_failure: Option<SandboxFailure>,
    #[serde(default)]
    pub mount_failure: Option<MountFailure>,
}

impl Behaviour {
    /// Every free text of the behaviour, for placeholder expansion and checks.
    pub(super) fn texts_mut(&mut self) -> Vec<&mut String> {
        let mut texts: Vec<&mut String> = self.logs.iter_mut().collect();
        if let Some(c) = &mut self.crash_loop {
            texts.push(&mut c.reason);
            texts.extend(c.message.iter_mut());
            texts.extend(c.logs.iter_mut());
        }
        if let Some(s) = &mut self.sandbox_failure {
            texts.push(&mut s.reason);
            texts.push(&mut s.message);
        }
        if let Some(m) = &mut self.mount_failure {
            texts.push(&mut m.message);
        }
        texts
    }

    /// The same texts with their field paths (relative to the behaviour), for errors.
    pub(super) fn texts(&self) -> Vec<(Vec<Seg>, &str)> {
        let mut texts = Vec::new();
        for (i, line) in self.logs.iter().enumerate() {
            texts.push((vec![key("logs"), Seg::Index(i)], line.as_str()));
        }
        if let Some(c) = &self.crash_loop {
            texts.push((vec![key("crashLoop"), key("reason")], c.reason.as_str()));
            if let Some(m) = &c.message {
                texts.push((vec![key("crashLoop"), key("message")], m.as_str()));
            }
            for (i, line) in c.logs.iter().enumerate() {
                texts.push((
                    vec![key("crashLoop"), key("logs"), Seg::Index(i)],
                    line.as_str(),
                ));
            }
        }
        if let Some(s) = &self.sandbox_failure {
            texts.push((
                vec![key("sandboxFailure"), key("reason")],
                s.reason.as_str(),
            ));
            texts.push((
                vec![key("sandboxFailure"), key("message")],
                s.message.as_str(),
            ));
        }
        if let Some(m) = &self.mount_failure {
            texts.push((
                vec![key("mountFailure"), key("message")],
                m.message.as_str(),
            ));
        }
        texts
    }
}

/// Which pods a behaviour applies to; every given field must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BehaviourMatch {
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name_prefix: Option<String>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `false` matches only pods on the pod network, which is what CNI failures hit;
    /// host-network pods (kube-proxy, flannel itself) keep running.
    #[serde(default)]
    pub host_network: Option<bool>,
}

/// The facts about a pod a behaviour is matched on.
#[derive(Debug, Clone, Copy)]
pub struct PodInfo<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    /// `spec.nodeName`, once scheduled.
    pub node: Option<&'a str>,
    pub labels: &'a BTreeMap<String, String>,
    pub host_network: bool,
}

impl BehaviourMatch {
    pub fn matches(&self, pod: &PodInfo<'_>) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| ns == pod.namespace)
            && self
                .name_prefix
                .as_deref()
                .is_none_or(|p| pod.name.starts_with(p))
            && self.node.as_deref().is_none_or(|n| pod.node == Some(n))
            && self
                .labels
                .iter()
                .all(|(k, v)| pod.labels.get(k) == Some(v))
            && self.host_network.is_none_or(|h| h == pod.host_network)
    }
}

/// The pod's (first, or named) container exits after `runFor`, again and again, and
/// the pod goes into CrashLoopBackOff.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CrashLoop {
    /// The container that crashes; the first one if not given.
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default = "default_exit_code")]
    pub exit_code: i32,
    #[serde(default = "default_crash_reason")]
    pub reason: String,
    /// The termination message (`lastState.terminated.message`).
    #[serde(default)]
    pub message: Option<String>,
    /// What each run of the container prints before it exits.
    #[serde(default)]
    pub logs: Vec<String>,
    #[serde(default = "default_run_for", deserialize_with = "de_duration")]
    pub run_for: Duration,
}

pub(super) fn default_exit_code() -> i32 {
    1
}

pub(super) fn default_crash_reason() -> String {
    "Error".to_string()
}

pub(super) fn default_run_for() -> Duration {
    Duration::from_secs(1)
}

/// Sandbox creation fails: the pod stays ContainerCreating and this Warning event
/// repeats.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SandboxFailure {
    #[serde(default = "default_sandbox_reason")]
    pub reason: String,
    pub message: String,
}

pub(super) fn default_sandbox_reason() -> String {
    "FailedCreatePodSandBox".to_string()
}

/// Mounting fails: the pod stays ContainerCreating with this FailedMount event.
/// (RBD lock conflicts need no behaviour: the lab kubelet reports them from the real
/// lock.)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MountFailure {
    /// The Event's reason: `FailedMount` (the kubelet's, default) or
    /// `FailedAttachVolume` (the attach/detach controller's, e.g. Multi-Attach).
    #[serde(default = "default_mount_reason")]
    pub reason: String,
    pub message: String,
}

fn default_mount_reason() -> String {
    "FailedMount".to_string()
}
