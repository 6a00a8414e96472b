//! Lab scenarios: the YAML files in `crates/kcops-lab/scenarios/` that say what a lab cluster
//! looks like (nodes, objects, per-pod behaviour, host files) and what happens to it
//! over time.
//!
//! Scenarios are data a user may write, so this module is strict and loud: every
//! struct denies unknown keys (a typo must not silently become a default), values are
//! typed (CIDRs, durations, sandbox ids are checked while parsing), and a second pass
//! checks what serde cannot see (references between nodes, behaviours and timeline,
//! duplicates, placeholders). Every error names the file, the line and column, and the
//! field path, so the user can go straight to the mistake. Parsing never panics.
//!
//! The schema is documented for users in `crates/kcops-lab/scenarios/README.md`; keep the two
//! in step.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

// ---------------------------------------------------------------------------------
// Built-in scenarios
// ---------------------------------------------------------------------------------

/// The scenarios shipped with kcops, embedded so that `kcops lab up --scenario healthy`
/// works from any directory, not only from a source checkout.
const BUILTINS: [(&str, &str); 5] = [
    (
        "healthy",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/healthy.yaml"
        )),
    ),
    (
        "rbd-stale-lock",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/rbd-stale-lock.yaml"
        )),
    ),
    (
        "flannel-broken",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/flannel-broken.yaml"
        )),
    ),
    (
        "etcd-scaled-down",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/etcd-scaled-down.yaml"
        )),
    ),
    (
        "calico-broken",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/calico-broken.yaml"
        )),
    ),
];

/// Names of the built-in scenarios, in the order `BUILTINS` lists them.
const BUILTIN_NAMES: [&str; 5] = [
    BUILTINS[0].0,
    BUILTINS[1].0,
    BUILTINS[2].0,
    BUILTINS[3].0,
    BUILTINS[4].0,
];

/// Where the built-in files live in the source tree; used as the file name in error
/// messages about an embedded scenario, so they point at a file a developer can open.
const BUILTIN_DIR: &str = "crates/kcops-lab/scenarios";

/// The text of a built-in scenario, or `None` if there is none of that name.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// The names of the built-in scenarios (`healthy` first, the default).
pub fn builtin_names() -> &'static [&'static str] {
    &BUILTIN_NAMES
}

/// Loads a scenario by name or path.
///
/// A bare name such as `healthy` means `<assets_dir>/healthy.yaml`; when that file does
/// not exist (the binary runs outside a checkout) the embedded copy of a built-in
/// scenario of that name is used. Anything containing a `/` or ending in `.yaml`/`.yml`
/// is a file path, read as given.
pub fn load(name_or_path: &str, assets_dir: &Path) -> Result<Scenario, ScenarioError> {
    let is_path = name_or_path.contains('/')
        || name_or_path.ends_with(".yaml")
        || name_or_path.ends_with(".yml");
    let path = if is_path {
        PathBuf::from(name_or_path)
    } else {
        assets_dir.join(format!("{name_or_path}.yaml"))
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path.display().to_string()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !is_path => {
            match builtin(name_or_path) {
                Some(text) => parse(text, &format!("{BUILTIN_DIR}/{name_or_path}.yaml")),
                None => Err(ScenarioError::NotFound {
                    name: name_or_path.to_string(),
                    path,
                    known: builtin_names().join(", "),
                }),
            }
        }
        Err(source) => Err(ScenarioError::Io { path, source }),
    }
}

/// Parses and validates scenario text. `source` names the text in error messages
/// (normally its file path).
pub fn parse(text: &str, source: &str) -> Result<Scenario, ScenarioError> {
    if text.trim().is_empty() {
        return Err(invalid(
            source,
            1,
            1,
            String::new(),
            "the file is empty".into(),
        ));
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|err| {
        let path = path_from_serde(err.path());
        let inner = err.into_inner();
        let (line, column) = inner
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        invalid(source, line, column, path, yaml_message(&inner))
    })?;
    if let Some(issue) = validate(&scenario).into_iter().next() {
        let (line, column) = locate_best(text, &issue.path);
        return Err(invalid(
            source,
            line,
            column,
            path_string(&issue.path),
            issue.message,
        ));
    }
    Ok(scenario)
}

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

/// Why a scenario could not be loaded. `Invalid` displays as
/// `file:line:column: field.path: message`, the form editors and terminals can jump to.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(
        "no scenario {name:?}: {} does not exist and there is no built-in scenario of \
         that name (built-in: {known})",
        .path.display()
    )]
    NotFound {
        name: String,
        path: PathBuf,
        known: String,
    },
    #[error("cannot read scenario {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {}{message}", path_prefix(.path))]
    Invalid {
        /// The file (or source name) the text came from.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Field path such as `nodes[1].podCIDR`; empty for the document itself.
        path: String,
        message: String,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

fn invalid(file: &str, line: usize, column: usize, path: String, message: String) -> ScenarioError {
    ScenarioError::Invalid {
        file: file.to_string(),
        line,
        column,
        path,
        message,
    }
}

/// The message of a serde_yaml_ng error without the decorations we print ourselves:
/// its own (less precise) path prefix and its ` at line L column C`.
fn yaml_message(err: &serde_yaml_ng::Error) -> String {
    let mut text = err.to_string();
    if let Some(loc) = err.location() {
        let at = format!(" at line {} column {}", loc.line(), loc.column());
        text = text.replacen(&at, "", 1);
    }
    // serde_yaml_ng writes "nodes[0]: unknown field ..."; a path never contains
    // whitespace or backticks, and serde's own messages ("invalid type: ...") do.
    if let Some((head, rest)) = text.split_once(": ") {
        let looks_like_path =
            !head.is_empty() && !head.contains(|c: char| c.is_whitespace() || c == '`' || c == '"');
        if looks_like_path {
            text = rest.to_string();
        }
    }
    if text.starts_with("EOF while parsing") {
        text = "the file is empty or ends too early".to_string();
    }
    text
}

// ---------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------

/// The kubelet version nodes report unless a scenario says otherwise.
pub const DEFAULT_KUBELET_VERSION: &str = "v1.32.4";

/// A whole scenario file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    pub name: String,
    /// One paragraph, shown by `kcops lab status`.
    #[serde(default)]
    pub description: String,
    /// The node the console "runs on" (`KCOPS_NODE`); see [`Scenario::console_node`].
    #[serde(default)]
    pub console_node: Option<String>,
    pub nodes: Vec<NodeSpec>,
    /// Kubernetes manifests of any kind, created in order.
    #[serde(default)]
    pub objects: Vec<Value>,
    /// StatefulSets whose pods run real member processes.
    #[serde(default)]
    pub members: Vec<MemberSpec>,
    /// What the lab kubelet does with matching pods; the first match wins.
    #[serde(default)]
    pub behaviours: Vec<Behaviour>,
    /// Changes applied while the lab runs, in order.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
}

impl Scenario {
    /// The node of that name.
    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The node the console runs on: `consoleNode` if given, else the first
    /// control-plane node, else the first node (a scenario always has one).
    pub fn console_node(&self) -> &str {
        if let Some(name) = &self.console_node {
            return name;
        }
        self.nodes
            .iter()
            .find(|n| n.roles.iter().any(|r| r == "control-plane"))
            .or(self.nodes.first())
            .map_or("", |n| n.name.as_str())
    }

    /// The behaviour for a pod: the first entry whose `match` fits it.
    pub fn behaviour_for(&self, pod: &PodInfo<'_>) -> Option<&Behaviour> {
        self.behaviours.iter().find(|b| b.matches.matches(pod))
    }

    /// A copy with every `{{lab.*}}` placeholder replaced by the running lab's values,
    /// in objects, host files, behaviours and the timeline. `{{pod.*}}` placeholders in
    /// behaviours are left for [`PodValues::render`], which knows the pod.
    pub fn resolve(&self, lab: &LabValues) -> Scenario {
        let lookup = |name: &str| lab.lookup(name);
        let mut out = self.clone();
        for object in &mut out.objects {
            expand_json(object, &lookup);
        }
        for node in &mut out.nodes {
            for content in node.host.files.values_mut() {
                *content = expand(content, lookup);
            }
        }
        for b in &mut out.behaviours {
            for text in b.texts_mut() {
                *text = expand(text, lookup);
            }
        }
        for entry in &mut out.timeline {
            match &mut entry.action {
                TimelineAction::Apply(object) => expand_json(object, &lookup),
                TimelineAction::Event(event) => {
                    event.reason = expand(&event.reason, lookup);
                    event.message = expand(&event.message, lookup);
                }
                _ => {}
            }
        }
        out
    }
}

/// One lab node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodeSpec {
    pub name: String,
    /// Each role becomes a `node-role.kubernetes.io/<role>` label.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub taints: Vec<Taint>,
    #[serde(default, rename = "podCIDR")]
    pub pod_cidr: Option<Ipv4Cidr>,
    #[serde(default = "yes")]
    pub ready: bool,
    #[serde(default)]
    pub unschedulable: bool,
    #[serde(default = "default_kubelet_version")]
    pub kubelet_version: String,
    /// Extra labels, on top of the ones a kubelet sets (see [`NodeSpec::all_labels`]).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The node's host root.
    #[serde(default)]
    pub host: HostSpec,
}

fn yes() -> bool {
    true
}

fn default_kubelet_version() -> String {
    DEFAULT_KUBELET_VERSION.to_string()
}

impl NodeSpec {
    /// The labels a kubeadm node carries: what the kubelet sets itself (hostname, os,
    /// arch), one `node-role.kubernetes.io/<role>` per role, then the scenario's own
    /// labels, which win.
    pub fn all_labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        for (k, v) in [
            ("beta.kubernetes.io/arch", "amd64"),
            ("beta.kubernetes.io/os", "linux"),
            ("kubernetes.io/arch", "amd64"),
            ("kubernetes.io/os", "linux"),
        ] {
            labels.insert(k.to_string(), v.to_string());
        }
        labels.insert("kubernetes.io/hostname".to_string(), self.name.clone());
        for role in &self.roles {
            labels.insert(format!("node-role.kubernetes.io/{role}"), String::new());
        }
        labels.extend(self.labels.clone());
        labels
    }
}

/// A node taint.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    /// The spelling Kubernetes uses in `spec.taints[].effect`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// A node's host root: a directory standing in for the node's filesystem, which the
/// console's host probes read. See [`HostSpec::write_to`] for the files it becomes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostSpec {
    /// Absolute path -> content, written as given.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// The node's live CRI pod sandboxes.
    #[serde(default)]
    pub sandboxes: Vec<SandboxId>,
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    #[serde(default = "yes")]
    pub ip_forward: bool,
    #[serde(default)]
    pub ipam_reservations: Option<IpamSpec>,
}

impl Default for HostSpec {
    fn default() -> Self {
        HostSpec {
            files: BTreeMap::new(),
            sandboxes: Vec::new(),
            links: Vec::new(),
            ip_forward: true,
            ipam_reservations: None,
        }
    }
}

/// Where [`HostSpec::write_to`] lists the node's live CRI sandbox ids, relative to the
/// host root: one 64-hex id per line. A real node has no such file (one would ask the
/// CRI with `crictl pods -q`); the lab writes it so host probes can compare host-local
/// IPAM reservations with live sandboxes and find leaks.
pub const SANDBOXES_FILE: &str = "var/lib/kcops-lab/sandboxes";

/// Under `/sys/class/net/<link>/`, the file listing the link's IPv4 addresses, one
/// CIDR per line. Real sysfs has no address file (addresses come from netlink), so
/// the lab writes its own, named so nobody mistakes it for a kernel file.
pub const LINK_ADDRESSES_FILE: &str = "kcops-addresses";

impl HostSpec {
    /// Writes this host root under `root`, creating directories as needed:
    ///
    /// - each of `files` at its path (relative to `root`);
    /// - [`SANDBOXES_FILE`]: the sandbox ids, one per line (empty file if none);
    /// - `proc/sys/net/ipv4/ip_forward`: `1\n` or `0\n`;
    /// - for each link, `sys/class/net/<name>/`: [`LINK_ADDRESSES_FILE`] (one IPv4
    ///   CIDR per line, e.g. `10.244.1.1/24`), `operstate` (`up\n` or `down\n`, as the
    ///   kernel writes it) and, if a MAC is given, `address` (`aa:bb:..\n`);
    /// - for IPAM reservations, `var/lib/cni/networks/<network>/`: one file per
    ///   reserved IP holding `<sandbox id>\r\neth0` (host-local's format),
    ///   `last_reserved_ip.0` holding the highest reserved IP, and an empty `lock`.
    ///
    /// Nothing else is created: `/etc/kubernetes`, `/run/flannel/subnet.env` or
    /// `/etc/cni/net.d` exist only if listed in `files`, so a scenario can leave them
    /// out on purpose. Existing files are overwritten, others are left alone.
    pub fn write_to(&self, root: &Path) -> anyhow::Result<()> {
        for (path, content) in &self.files {
            let rel = host_relative(path)
                .with_context(|| format!("host file path {path:?} is not a clean absolute path"))?;
            write_file(&root.join(rel), content)?;
        }
        let mut sandboxes = String::new();
        for id in &self.sandboxes {
            sandboxes.push_str(id.as_str());
            sandboxes.push('\n');
        }
        write_file(&root.join(SANDBOXES_FILE), &sandboxes)?;
        write_file(
            &root.join("proc/sys/net/ipv4/ip_forward"),
            if self.ip_forward { "1\n" } else { "0\n" },
        )?;
        for link in &self.links {
            let dir = root.join("sys/class/net").join(&link.name);
            let mut addresses = String::new();
            for cidr in link.all_addresses() {
                addresses.push_str(&cidr.to_string());
                addresses.push('\n');
            }
            write_file(&dir.join(LINK_ADDRESSES_FILE), &addresses)?;
            write_file(
                &dir.join("operstate"),
                if link.up { "up\n" } else { "down\n" },
            )?;
            if let Some(mac) = &link.mac {
                write_file(&dir.join("address"), &format!("{mac}\n"))?;
            }
        }
        if let Some(ipam) = &self.ipam_reservations {
            let dir = root.join("var/lib/cni/networks").join(&ipam.network);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let reservations = ipam.reservations();
            for (ip, id) in &reservations {
                write_file(&dir.join(ip.to_string()), &format!("{id}\r\neth0"))?;
            }
            if let Some((last, _)) = reservations.last() {
                write_file(&dir.join("last_reserved_ip.0"), &last.to_string())?;
            }
            write_file(&dir.join("lock"), "")?;
        }
        Ok(())
    }
}

fn write_file(path: &Path, content: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}

/// `/run/flannel/subnet.env` -> `run/flannel/subnet.env`; `None` unless the path is
/// absolute and made of plain components only, so a scenario cannot write outside
/// its host root (`/../../etc/passwd`).
fn host_relative(path: &str) -> Option<PathBuf> {
    if !path.starts_with('/') || path.ends_with('/') || path.contains("//") {
        return None;
    }
    let mut rel = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::RootDir => {}
            Component::Normal(part) => rel.push(part),
            _ => return None,
        }
    }
    if rel.as_os_str().is_empty() {
        None
    } else {
        Some(rel)
    }
}

/// A network link of a node (`cni0`, `flannel.1`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LinkSpec {
    pub name: String,
    /// Shorthand for a single address; combined with `addresses`.
    #[serde(default)]
    pub address: Option<Ipv4Cidr>,
    #[serde(default)]
    pub addresses: Vec<Ipv4Cidr>,
    /// The link's MAC address (lowercase), e.g. flannel.1's VtepMAC.
    #[serde(default, deserialize_with = "de_opt_mac")]
    pub mac: Option<String>,
    #[serde(default = "yes")]
    pub up: bool,
}

impl LinkSpec {
    /// `address` followed by `addresses`.
    pub fn all_addresses(&self) -> impl Iterator<Item = &Ipv4Cidr> {
        self.address.iter().chain(self.addresses.iter())
    }
}

/// host-local IPAM state of one CNI network on a node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IpamSpec {
    #[serde(default = "default_network")]
    pub network: String,
    /// The node's pod range; its first address is the bridge gateway.
    pub range: Ipv4Cidr,
    /// Reserved IP -> the sandbox that holds it.
    #[serde(default)]
    pub ids: BTreeMap<Ipv4Addr, SandboxId>,
    /// Fill every other usable address, e.g. with leaked reservations.
    #[serde(default)]
    pub fill: Option<IpamFill>,
}

fn default_network() -> String {
    "cbr0".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IpamFill {
    /// Every usable address not in `ids` is reserved by a sandbox id that exists
    /// nowhere (generated, stable across runs): the kubelet leak of seed 000.
    Leaked,
}

impl IpamSpec {
    /// Addresses host-local hands out from `range`: all but the network address, the
    /// gateway (the first host address) and the broadcast address.
    pub fn usable(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.range.network()).saturating_add(2);
        let last = u32::from(self.range.broadcast()).saturating_sub(1);
        (first..=last).map(Ipv4Addr::from)
    }

    /// Every reservation, in address order: `ids`, plus the generated ones `fill` asks
    /// for.
    pub fn reservations(&self) -> Vec<(Ipv4Addr, String)> {
        match self.fill {
            None => self
                .ids
                .iter()
                .map(|(ip, id)| (*ip, id.as_str().to_string()))
                .collect(),
            Some(IpamFill::Leaked) => self
                .usable()
                .map(|ip| match self.ids.get(&ip) {
                    Some(id) => (ip, id.as_str().to_string()),
                    None => (ip, leaked_sandbox_id(&self.network, ip)),
                })
                .collect(),
        }
    }
}

/// A made-up but stable sandbox id for a leaked reservation, so runs and snapshots are
/// reproducible (FNV-1a of the network and IP, stretched with splitmix64).
fn leaked_sandbox_id(network: &str, ip: Ipv4Addr) -> String {
    let mut seed: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in network.bytes().chain(ip.octets()) {
        seed ^= u64::from(byte);
        seed = seed.wrapping_mul(0x0100_0000_01b3);
    }
    let mut out = String::with_capacity(64);
    for _ in 0..4 {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.push_str(&format!("{z:016x}"));
    }
    out
}

/// A StatefulSet whose pods run real member processes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MemberSpec {
    pub kind: MemberKind,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub stateful_set: String,
}

fn default_namespace() -> String {
    "default".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MemberKind {
    Etcd,
    /// Part of the schema already; the lab runs ZooKeeper members once the scaling work
    /// lands.
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
    fn texts_mut(&mut self) -> Vec<&mut String> {
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
    fn texts(&self) -> Vec<(Vec<Seg>, &str)> {
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

fn default_exit_code() -> i32 {
    1
}

fn default_crash_reason() -> String {
    "Error".to_string()
}

fn default_run_for() -> Duration {
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

fn default_sandbox_reason() -> String {
    "FailedCreatePodSandBox".to_string()
}

/// Mounting fails: the pod stays ContainerCreating with this FailedMount event.
/// (RBD lock conflicts need no behaviour: the lab kubelet reports them from the real
/// lock.)
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MountFailure {
    pub message: String,
}

/// One timeline step: an action applied `at` after lab start (scaled by the lab's
/// speed factor), and not before `waitFor` holds if given.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub at: Duration,
    pub wait_for: Option<WaitFor>,
    pub action: TimelineAction,
}

/// Holds a timeline step back until enough matching pods are Ready, so a fast speed
/// factor cannot fire it before the state it acts on exists.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WaitFor {
    pub namespace: String,
    pub selector: String,
    pub pods_ready: u32,
}

/// What a timeline step does. In YAML the action is the one key besides `at` and
/// `waitFor`.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineAction {
    /// The node turns NotReady (or Ready again); a NotReady node's kubelet stops
    /// acting, so it neither unmounts nor unlocks.
    SetNodeReady(SetNodeReady),
    DeletePods(DeletePods),
    Cordon(String),
    Uncordon(String),
    Scale(Scale),
    Event(EventSpec),
    /// A manifest, created or replaced.
    Apply(Value),
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetNodeReady {
    pub node: String,
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeletePods {
    pub namespace: String,
    /// A label selector (`app=web`, `tier in (a,b)`, ...).
    pub selector: String,
    /// Grace period 0: gone from the API at once, whatever the kubelet does.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scale {
    pub kind: ScaleKind,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub name: String,
    pub replicas: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ScaleKind {
    StatefulSet,
    Deployment,
    ReplicaSet,
}

/// An Event the timeline records (`kubectl get events`, `describe`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EventSpec {
    pub namespace: String,
    pub involved_object: ObjectRef,
    #[serde(rename = "type", default = "default_event_type")]
    pub event_type: EventType,
    pub reason: String,
    pub message: String,
}

fn default_event_type() -> EventType {
    EventType::Normal
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjectRef {
    pub kind: String,
    pub name: String,
    /// Defaults to the event's namespace (cluster-scoped kinds: leave it out).
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

// The timeline entry is `at` + optional `waitFor` + exactly one action key, so it is
// deserialized by hand: serde's `flatten` does not work with `deny_unknown_fields`,
// and a hand-written key seed lets "two actions" be reported at the second key's line.

const ACTION_KEYS: [&str; 7] = [
    "setNodeReady",
    "deletePods",
    "cordon",
    "uncordon",
    "scale",
    "event",
    "apply",
];
const ENTRY_KEYS: [&str; 9] = [
    "at",
    "waitFor",
    "setNodeReady",
    "deletePods",
    "cordon",
    "uncordon",
    "scale",
    "event",
    "apply",
];

enum EntryKey {
    At,
    WaitFor,
    Action(&'static str),
}

struct EntryKeySeed {
    action: Option<&'static str>,
}

impl<'de> DeserializeSeed<'de> for EntryKeySeed {
    type Value = EntryKey;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<EntryKey, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for EntryKeySeed {
    type Value = EntryKey;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a timeline key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<EntryKey, E> {
        match v {
            "at" => Ok(EntryKey::At),
            "waitFor" => Ok(EntryKey::WaitFor),
            _ => match ACTION_KEYS.iter().find(|k| **k == v) {
                Some(name) => match self.action {
                    Some(first) => Err(E::custom(format!(
                        "a timeline entry takes exactly one action, but has both \
                         `{first}` and `{name}`"
                    ))),
                    None => Ok(EntryKey::Action(name)),
                },
                None => Err(E::unknown_field(v, &ENTRY_KEYS)),
            },
        }
    }
}

impl<'de> Deserialize<'de> for TimelineEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = TimelineEntry;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a timeline entry: a mapping with `at` and one action")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TimelineEntry, A::Error> {
        let mut at = None;
        let mut wait_for = None;
        let mut action = None;
        let mut action_key = None;
        while let Some(k) = map.next_key_seed(EntryKeySeed { action: action_key })? {
            match k {
                EntryKey::At => {
                    if at.is_some() {
                        return Err(de::Error::duplicate_field("at"));
                    }
                    at = Some(map.next_value::<DurationValue>()?.0);
                }
                EntryKey::WaitFor => {
                    if wait_for.is_some() {
                        return Err(de::Error::duplicate_field("waitFor"));
                    }
                    wait_for = Some(map.next_value::<WaitFor>()?);
                }
                EntryKey::Action(name) => {
                    action_key = Some(name);
                    action = Some(match name {
                        "setNodeReady" => TimelineAction::SetNodeReady(map.next_value()?),
                        "deletePods" => TimelineAction::DeletePods(map.next_value()?),
                        "cordon" => TimelineAction::Cordon(map.next_value()?),
                        "uncordon" => TimelineAction::Uncordon(map.next_value()?),
                        "scale" => TimelineAction::Scale(map.next_value()?),
                        "event" => TimelineAction::Event(map.next_value()?),
                        _ => TimelineAction::Apply(map.next_value()?),
                    });
                }
            }
        }
        let at = at.ok_or_else(|| de::Error::missing_field("at"))?;
        let action = action.ok_or_else(|| {
            de::Error::custom(format!(
                "a timeline entry needs one action: one of `{}`",
                ACTION_KEYS.join("`, `")
            ))
        })?;
        Ok(TimelineEntry {
            at,
            wait_for,
            action,
        })
    }
}

// ---------------------------------------------------------------------------------
// Typed values: durations, CIDRs, sandbox ids, MACs
// ---------------------------------------------------------------------------------

/// A duration string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (write e.g. 500ms, 2s, 1m30s, 1h)")]
pub struct InvalidDuration {
    pub input: String,
    pub reason: &'static str,
}

/// Parses durations the way Kubernetes and Go write them: one or more
/// `<number><unit>` with units `ms`, `s`, `m`, `h` and an optional decimal fraction:
/// `500ms`, `2s`, `1.5s`, `1m30s`, `1h`.
pub fn parse_duration(input: &str) -> Result<Duration, InvalidDuration> {
    let fail = |reason| InvalidDuration {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(fail("it is empty"));
    }
    let mut rest = s;
    let mut total_ns: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() {
            return Err(fail("expected a number"));
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let unit_ns: u128 = match unit {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(fail("a unit is missing")),
            _ => return Err(fail("unknown unit")),
        };
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        if int_part.is_empty() && frac_part.is_empty() || frac_part.contains('.') {
            return Err(fail("expected a number"));
        }
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| fail("number too large"))?
        };
        let mut ns = int.checked_mul(unit_ns).ok_or_else(|| fail("too long"))?;
        // At most 9 fraction digits matter (nanoseconds); more are truncated.
        let frac_digits = &frac_part[..frac_part.len().min(9)];
        if !frac_digits.is_empty() {
            let frac: u128 = frac_digits.parse().map_err(|_| fail("expected a number"))?;
            ns += frac * unit_ns / 10u128.pow(frac_digits.len() as u32);
        }
        total_ns = total_ns.checked_add(ns).ok_or_else(|| fail("too long"))?;
        rest = next;
    }
    let secs = u64::try_from(total_ns / 1_000_000_000).map_err(|_| fail("too long"))?;
    // The remainder is below 10^9, so it fits.
    let nanos = (total_ns % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// A duration field: a string such as `2s`; a bare number is refused because its unit
/// would be a guess.
struct DurationValue(Duration);

impl<'de> Deserialize<'de> for DurationValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as 500ms, 2s, 1m")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationValue, E> {
                parse_duration(v).map(DurationValue).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationValue, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: a unit is missing (write {v}s or {v}ms)"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationValue, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: a unit is missing (write e.g. 2s)"
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationValue, E> {
                Err(E::custom(format!(
                    "invalid duration {v}: a unit is missing (write e.g. 1.5s)"
                )))
            }
        }
        deserializer.deserialize_any(V)
    }
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    DurationValue::deserialize(d).map(|v| v.0)
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    Option::<DurationValue>::deserialize(d).map(|v| v.map(|v| v.0))
}

fn de_opt_mac<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<Mac>::deserialize(d).map(|m| m.map(|m| m.0))
}

/// A MAC address as sysfs writes it: six lowercase hex pairs.
struct Mac(String);

impl FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let ok = s.len() == 17
            && s.split(':')
                .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
        if ok {
            Ok(Mac(s.to_ascii_lowercase()))
        } else {
            Err(format!(
                "invalid MAC address {s:?} (write e.g. 4e:1c:a1:22:7f:01)"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FromStrVisitor::new("a MAC address"))
    }
}

/// Parses a string with `FromStr` inside the visitor, so that a parse error is stamped
/// with the scalar's own line and column; parsing after `String::deserialize` returned
/// would get the enclosing mapping's position instead.
struct FromStrVisitor<T> {
    expecting: &'static str,
    target: std::marker::PhantomData<T>,
}

impl<T> FromStrVisitor<T> {
    fn new(expecting: &'static str) -> Self {
        FromStrVisitor {
            expecting,
            target: std::marker::PhantomData,
        }
    }
}

impl<T: FromStr<Err = String>> Visitor<'_> for FromStrVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
}

/// An IPv4 address with a prefix length, e.g. `10.244.1.0/24` (a range) or
/// `10.244.1.1/24` (an interface address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Ipv4Cidr {
    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }
    /// The first address of the range.
    pub fn network(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }
    /// The last address of the range.
    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }
    /// True when no host bits are set, as a range (podCIDR) must be.
    pub fn is_network(self) -> bool {
        self.addr == self.network()
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid IPv4 CIDR {s:?}: {why}");
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| bad("the /prefix length is missing"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_digit()) || prefix.len() > 2 {
            return Err(bad("the prefix length must be a number from 0 to 32"));
        }
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| bad("the prefix length must be a number from 0 to 32"))?;
        if prefix > 32 {
            return Err(bad("the prefix length must be a number from 0 to 32"));
        }
        Ok(Ipv4Cidr { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for Ipv4Cidr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FromStrVisitor::new("an IPv4 CIDR such as 10.244.1.0/24"))
    }
}

/// A CRI pod sandbox id: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SandboxId(String);

impl SandboxId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SandboxId {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SandboxId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() == 64 && s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            Ok(SandboxId(s.to_string()))
        } else {
            Err(format!(
                "invalid sandbox id {s:?}: a CRI sandbox id is 64 lowercase hex digits"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for SandboxId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(FromStrVisitor::new("a 64-hex CRI sandbox id"))
    }
}

// ---------------------------------------------------------------------------------
// Placeholders
// ---------------------------------------------------------------------------------

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
}

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
    fn lookup(&self, name: &str) -> Option<String> {
        let v = match name {
            "lab.cephMonitors" => &self.ceph_monitors,
            "lab.apiServer" => &self.api_server,
            "lab.cephAdminSecret" => &self.ceph_admin_secret,
            "lab.cephKubeSecret" => &self.ceph_kube_secret,
            _ => return None,
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

fn is_placeholder(name: &str) -> bool {
    name.starts_with("lab.") || name.starts_with("pod.")
}

/// The `lab.*`/`pod.*` placeholder names in `text`.
fn placeholders(text: &str) -> Vec<&str> {
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

fn expand_json(value: &mut Value, lookup: &impl Fn(&str) -> Option<String>) {
    match value {
        Value::String(s) => *s = expand(s, lookup),
        Value::Array(items) => items.iter_mut().for_each(|v| expand_json(v, lookup)),
        Value::Object(map) => map.values_mut().for_each(|v| expand_json(v, lookup)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------
// Field paths and locating them in the text
// ---------------------------------------------------------------------------------

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// `nodes[1].host.files["/run/flannel/subnet.env"]`: keys that are not plain words are
/// quoted so the path stays readable and unambiguous.
fn path_string(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
            Seg::Key(k) => {
                let plain = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !plain {
                    out.push_str(&format!("[{k:?}]"));
                } else {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
            }
        }
    }
    out
}

fn path_from_serde(path: &serde_path_to_error::Path) -> String {
    let segs: Vec<Seg> = path
        .iter()
        .filter_map(|seg| match seg {
            serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
            serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            _ => None,
        })
        .collect();
    path_string(&segs)
}

/// Where `path` is in `text` (1-based line and column of its key, or of the sequence
/// item it ends with); if it is absent (a defaulted field), where its nearest present
/// parent is; the document start at worst.
fn locate_best(text: &str, path: &[Seg]) -> (usize, usize) {
    (0..=path.len())
        .rev()
        .find_map(|len| path.get(..len).and_then(|p| locate(text, p)))
        .unwrap_or((1, 1))
}

/// The marker the locator's deliberate error carries.
const LOCATED: &str = "kcops-scenario-locator: found";

/// Finds `path` by deserializing `text` again with a visitor that walks only along
/// the path and fails on purpose when it reaches the end: serde_yaml_ng stamps the
/// error with the position of the YAML node being read, which is exactly where the
/// field is, whatever the style (block, flow, quoted keys).
fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    if path.is_empty() {
        return None;
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    match (Locate { path }).deserialize(de) {
        Ok(()) => None,
        Err(err) if err.to_string().contains(LOCATED) => {
            err.location().map(|l| (l.line(), l.column()))
        }
        Err(_) => None,
    }
}

struct Locate<'a> {
    path: &'a [Seg],
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let target = match self.path.split_first() {
            Some((Seg::Index(i), rest)) => Some((*i, rest)),
            _ => None,
        };
        let mut index = 0;
        loop {
            let more = match target {
                Some((i, rest)) if i == index && rest.is_empty() => {
                    seq.next_element_seed(Fail)?.is_some()
                }
                Some((i, rest)) if i == index => {
                    seq.next_element_seed(Locate { path: rest })?.is_some()
                }
                _ => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let target = match self.path.split_first() {
            Some((Seg::Key(k), rest)) => Some((k.as_str(), rest)),
            _ => None,
        };
        let seed = || LocateKey {
            want: target.map(|(k, rest)| (k, rest.is_empty())),
        };
        while let Some(hit) = map.next_key_seed(seed())? {
            match target {
                Some((_, rest)) if hit => map.next_value_seed(Locate { path: rest })?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Reads a mapping key; fails (on purpose, at the key's position) when it is the last
/// step of the path, else says whether it is the step wanted.
struct LocateKey<'a> {
    want: Option<(&'a str, bool)>,
}

impl LocateKey<'_> {
    fn check<E: de::Error>(self, k: &str) -> Result<bool, E> {
        match self.want {
            Some((want, true)) if want == k => Err(E::custom(LOCATED)),
            Some((want, false)) => Ok(want == k),
            _ => Ok(false),
        }
    }
}

impl<'de> DeserializeSeed<'de> for LocateKey<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LocateKey<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.check(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

/// Fails on whatever value it is given, so the error carries that value's position.
struct Fail;

impl<'de> DeserializeSeed<'de> for Fail {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for Fail {
    type Value = ();
    // Every visit_* method keeps its default, which returns an error naming this.
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(LOCATED)
    }
}

// ---------------------------------------------------------------------------------
// Validation (what serde cannot check)
// ---------------------------------------------------------------------------------

/// A problem found after deserialization, with the path of the offending field.
struct Issue {
    path: Vec<Seg>,
    message: String,
}

/// Collects issues in document order; `parse` reports the first.
#[derive(Default)]
struct Checker {
    issues: Vec<Issue>,
}

impl Checker {
    fn fail(&mut self, path: Vec<Seg>, message: impl Into<String>) {
        self.issues.push(Issue {
            path,
            message: message.into(),
        });
    }

    fn placeholders(&mut self, path: Vec<Seg>, text: &str, pod_allowed: bool) {
        for name in placeholders(text) {
            let known = LAB_PLACEHOLDERS.contains(&name)
                || (pod_allowed && POD_PLACEHOLDERS.contains(&name));
            if known {
                continue;
            }
            let message = if POD_PLACEHOLDERS.contains(&name) {
                format!("{{{{{name}}}}} is only known in behaviours, where there is a pod")
            } else {
                let mut all: Vec<&str> = LAB_PLACEHOLDERS.to_vec();
                if pod_allowed {
                    all.extend(POD_PLACEHOLDERS);
                }
                format!(
                    "unknown placeholder {{{{{name}}}}} (known here: {})",
                    all.join(", ")
                )
            };
            self.fail(path.clone(), message);
        }
    }

    fn json_placeholders(&mut self, path: &[Seg], value: &Value) {
        match value {
            Value::String(s) => self.placeholders(path.to_vec(), s, false),
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.json_placeholders(&extend(path, Seg::Index(i)), v);
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    self.json_placeholders(&extend(path, Seg::Key(k.clone())), v);
                }
            }
            _ => {}
        }
    }

    fn node_ref(&mut self, nodes: &BTreeSet<&str>, path: Vec<Seg>, name: &str) {
        if !nodes.contains(name) {
            let known: Vec<&str> = nodes.iter().copied().collect();
            self.fail(
                path,
                format!("unknown node {name:?} (nodes: {})", known.join(", ")),
            );
        }
    }

    fn selector(&mut self, path: Vec<Seg>, selector: &str) {
        if let Err(why) = check_selector(selector) {
            self.fail(path, format!("invalid label selector {selector:?}: {why}"));
        }
    }

    /// A manifest: a mapping with apiVersion, kind and metadata.name.
    fn manifest(&mut self, path: &[Seg], value: &Value) -> Option<(String, String, String)> {
        let Some(map) = value.as_object() else {
            self.fail(path.to_vec(), "a manifest must be a mapping");
            return None;
        };
        let mut ok = true;
        for field in ["apiVersion", "kind"] {
            match map.get(field) {
                Some(Value::String(s)) if !s.is_empty() => {}
                Some(_) => {
                    self.fail(
                        extend(path, key(field)),
                        format!("{field} must be a non-empty string"),
                    );
                    ok = false;
                }
                None => {
                    self.fail(path.to_vec(), format!("missing field `{field}`"));
                    ok = false;
                }
            }
        }
        let metadata = extend(path, key("metadata"));
        let name = match map.get("metadata") {
            None => {
                self.fail(path.to_vec(), "missing field `metadata` (with a name)");
                None
            }
            Some(Value::Object(meta)) => match meta.get("name") {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(_) => {
                    self.fail(
                        extend(&metadata, key("name")),
                        "name must be a non-empty string",
                    );
                    None
                }
                None => {
                    self.fail(metadata.clone(), "missing field `name`");
                    None
                }
            },
            Some(_) => {
                self.fail(metadata.clone(), "metadata must be a mapping");
                None
            }
        };
        if let Some(Value::String(ns)) = map.get("metadata").and_then(|m| m.get("namespace"))
            && !is_dns_label(ns)
        {
            self.fail(
                extend(&metadata, key("namespace")),
                format!("invalid namespace {ns:?}: lowercase letters, digits and '-'"),
            );
        }
        self.json_placeholders(path, value);
        let kind = map.get("kind").and_then(Value::as_str)?.to_string();
        let namespace = map
            .get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if ok {
            name.map(|n| (kind, namespace, n))
        } else {
            None
        }
    }
}

fn extend(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut out = path.to_vec();
    out.push(seg);
    out
}

/// RFC 1123 label: what namespaces and most names must be.
fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: what node names must be (`node1`, `172.16.20.10`).
fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Checks the syntax Kubernetes accepts for label selectors: comma-separated
/// `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`.
fn check_selector(selector: &str) -> Result<(), String> {
    let is_key = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'))
    };
    let is_value = |v: &str| {
        v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    };
    // Split on commas outside parentheses.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err("unbalanced parentheses".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    parts.push(&selector[start..]);
    if matches!(parts.as_slice(), [only] if only.trim().is_empty()) {
        return Ok(()); // the empty selector selects everything
    }
    for part in parts {
        let part = part.trim();
        let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
        if let [k, rest] = words[..] {
            let rest = rest.trim_start();
            let set = rest
                .strip_prefix("notin")
                .or_else(|| rest.strip_prefix("in"))
                .map(str::trim_start);
            if let Some(set) = set {
                let inner = set
                    .strip_prefix('(')
                    .and_then(|s| s.strip_suffix(')'))
                    .ok_or_else(|| format!("expected (values) in {part:?}"))?;
                if !is_key(k) || !inner.split(',').all(|v| is_value(v.trim())) {
                    return Err(format!("bad requirement {part:?}"));
                }
                continue;
            }
        }
        let ok = if let Some((k, v)) = part.split_once("!=") {
            is_key(k.trim()) && is_value(v.trim())
        } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
            is_key(k.trim()) && is_value(v.trim())
        } else if let Some(k) = part.strip_prefix('!') {
            is_key(k.trim())
        } else {
            is_key(part)
        };
        if !ok {
            return Err(format!("bad requirement {part:?}"));
        }
    }
    Ok(())
}

fn validate(s: &Scenario) -> Vec<Issue> {
    let mut c = Checker::default();
    if !is_dns_subdomain(&s.name) {
        c.fail(
            vec![key("name")],
            format!(
                "invalid name {:?}: lowercase letters, digits, '-' and '.'",
                s.name
            ),
        );
    }
    check_nodes(&mut c, s);
    let nodes: BTreeSet<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
    if let Some(console) = &s.console_node {
        c.node_ref(&nodes, vec![key("consoleNode")], console);
    }

    let mut objects = BTreeSet::new();
    for (i, object) in s.objects.iter().enumerate() {
        let path = vec![key("objects"), Seg::Index(i)];
        if let Some(id) = c.manifest(&path, object)
            && !objects.insert(id.clone())
        {
            let (kind, ns, name) = id;
            let what = if ns.is_empty() {
                format!("{kind} {name}")
            } else {
                format!("{kind} {ns}/{name}")
            };
            c.fail(path, format!("{what} is declared twice"));
        }
    }

    let mut members = BTreeSet::new();
    for (i, m) in s.members.iter().enumerate() {
        let path = vec![key("members"), Seg::Index(i), key("statefulSet")];
        let found = objects.iter().any(|(kind, ns, name)| {
            kind == "StatefulSet" && name == &m.stateful_set && {
                let ns = if ns.is_empty() {
                    "default"
                } else {
                    ns.as_str()
                };
                ns == m.namespace
            }
        });
        if !found {
            c.fail(
                path.clone(),
                format!(
                    "no StatefulSet {}/{} among the objects",
                    m.namespace, m.stateful_set
                ),
            );
        }
        if !members.insert((m.namespace.clone(), m.stateful_set.clone())) {
            c.fail(path, "this StatefulSet is listed twice");
        }
    }

    for (i, b) in s.behaviours.iter().enumerate() {
        let path = vec![key("behaviours"), Seg::Index(i)];
        if let Some(node) = &b.matches.node {
            c.node_ref(
                &nodes,
                extend(&extend(&path, key("match")), key("node")),
                node,
            );
        }
        let failures: Vec<&str> = [
            ("crashLoop", b.crash_loop.is_some()),
            ("sandboxFailure", b.sandbox_failure.is_some()),
            ("mountFailure", b.mount_failure.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect();
        if let [_, second, ..] = failures[..] {
            c.fail(
                extend(&path, key(second)),
                format!(
                    "a behaviour has at most one failure, but has `{}`",
                    failures.join("` and `")
                ),
            );
        }
        for (rel, text) in b.texts() {
            let mut full = path.clone();
            full.extend(rel);
            c.placeholders(full, text, true);
        }
    }

    let mut last_at = Duration::ZERO;
    for (i, entry) in s.timeline.iter().enumerate() {
        let path = vec![key("timeline"), Seg::Index(i)];
        if entry.at < last_at {
            c.fail(
                extend(&path, key("at")),
                format!(
                    "timeline entries must be in time order, but this one comes before \
                     the previous one ({:?} < {:?})",
                    entry.at, last_at
                ),
            );
        }
        last_at = entry.at;
        if let Some(w) = &entry.wait_for {
            c.selector(
                extend(&extend(&path, key("waitFor")), key("selector")),
                &w.selector,
            );
        }
        match &entry.action {
            TimelineAction::SetNodeReady(a) => c.node_ref(
                &nodes,
                extend(&extend(&path, key("setNodeReady")), key("node")),
                &a.node,
            ),
            TimelineAction::Cordon(node) => c.node_ref(&nodes, extend(&path, key("cordon")), node),
            TimelineAction::Uncordon(node) => {
                c.node_ref(&nodes, extend(&path, key("uncordon")), node)
            }
            TimelineAction::DeletePods(a) => c.selector(
                extend(&extend(&path, key("deletePods")), key("selector")),
                &a.selector,
            ),
            TimelineAction::Scale(a) => {
                if a.name.is_empty() {
                    c.fail(
                        extend(&extend(&path, key("scale")), key("name")),
                        "name is empty",
                    );
                }
            }
            TimelineAction::Event(e) => {
                let base = extend(&path, key("event"));
                for (field, value) in [("reason", &e.reason), ("message", &e.message)] {
                    if value.is_empty() {
                        c.fail(extend(&base, key(field)), format!("{field} is empty"));
                    }
                    c.placeholders(extend(&base, key(field)), value, false);
                }
                if e.involved_object.name.is_empty() || e.involved_object.kind.is_empty() {
                    c.fail(
                        extend(&base, key("involvedObject")),
                        "involvedObject needs a kind and a name",
                    );
                }
            }
            TimelineAction::Apply(object) => {
                c.manifest(&extend(&path, key("apply")), object);
            }
        }
    }
    c.issues
}

fn check_nodes(c: &mut Checker, s: &Scenario) {
    if s.nodes.is_empty() {
        c.fail(vec![key("nodes")], "a scenario needs at least one node");
    }
    let mut seen = BTreeSet::new();
    for (i, node) in s.nodes.iter().enumerate() {
        let path = vec![key("nodes"), Seg::Index(i)];
        let at = |field: &str| extend(&path, key(field));
        if !is_dns_subdomain(&node.name) {
            c.fail(
                at("name"),
                format!(
                    "invalid node name {:?}: lowercase letters, digits, '-' and '.'",
                    node.name
                ),
            );
        } else if !seen.insert(node.name.as_str()) {
            c.fail(
                at("name"),
                format!("node {:?} is declared twice", node.name),
            );
        }
        for (r, role) in node.roles.iter().enumerate() {
            if !is_dns_label(role) {
                c.fail(
                    extend(&at("roles"), Seg::Index(r)),
                    format!("invalid role {role:?}: lowercase letters, digits and '-'"),
                );
            }
        }
        for (t, taint) in node.taints.iter().enumerate() {
            if taint.key.is_empty() {
                c.fail(
                    extend(&extend(&at("taints"), Seg::Index(t)), key("key")),
                    "key is empty",
                );
            }
        }
        if let Some(cidr) = node.pod_cidr
            && !cidr.is_network()
        {
            c.fail(
                at("podCIDR"),
                format!(
                    "podCIDR {cidr} has host bits set; did you mean {}/{}?",
                    cidr.network(),
                    cidr.prefix
                ),
            );
        }
        let version_ok = node
            .kubelet_version
            .strip_prefix('v')
            .map(|v| {
                let core = v.split(['-', '+']).next().unwrap_or("");
                let nums: Vec<&str> = core.split('.').collect();
                nums.len() == 3
                    && nums
                        .iter()
                        .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            })
            .unwrap_or(false);
        if !version_ok {
            c.fail(
                at("kubeletVersion"),
                format!(
                    "invalid kubelet version {:?} (write e.g. {DEFAULT_KUBELET_VERSION})",
                    node.kubelet_version
                ),
            );
        }
        check_host(c, &at("host"), &node.host);
    }
}

fn check_host(c: &mut Checker, path: &[Seg], host: &HostSpec) {
    let mut generated = vec![
        format!("/{SANDBOXES_FILE}"),
        "/proc/sys/net/ipv4/ip_forward".to_string(),
    ];
    let mut links = BTreeSet::new();
    for (i, link) in host.links.iter().enumerate() {
        let lpath = extend(&extend(path, key("links")), Seg::Index(i));
        let name_ok = !link.name.is_empty()
            && link.name.len() <= 15
            && link.name != "."
            && link.name != ".."
            && !link
                .name
                .contains(|c: char| c == '/' || c == ':' || c.is_whitespace());
        if !name_ok {
            c.fail(
                extend(&lpath, key("name")),
                format!(
                    "invalid link name {:?} (1-15 characters, no '/', ':' or spaces)",
                    link.name
                ),
            );
        } else if !links.insert(link.name.as_str()) {
            c.fail(
                extend(&lpath, key("name")),
                format!("link {:?} is declared twice", link.name),
            );
        }
        generated.push(format!("/sys/class/net/{}/", link.name));
    }
    if let Some(ipam) = &host.ipam_reservations {
        let ipath = extend(path, key("ipamReservations"));
        if ipam.network.is_empty() || ipam.network.contains('/') || ipam.network.starts_with('.') {
            c.fail(
                extend(&ipath, key("network")),
                format!("invalid network name {:?}", ipam.network),
            );
        }
        if !ipam.range.is_network() {
            c.fail(
                extend(&ipath, key("range")),
                format!(
                    "range {} has host bits set; did you mean {}/{}?",
                    ipam.range,
                    ipam.range.network(),
                    ipam.range.prefix
                ),
            );
        } else if ipam.range.prefix > 30 {
            c.fail(
                extend(&ipath, key("range")),
                format!("range {} leaves no address for pods", ipam.range),
            );
        }
        let usable = |ip: Ipv4Addr| {
            let n = u32::from(ip);
            n >= u32::from(ipam.range.network()).saturating_add(2)
                && n < u32::from(ipam.range.broadcast())
        };
        for ip in ipam.ids.keys() {
            if !usable(*ip) {
                c.fail(
                    extend(&extend(&ipath, key("ids")), Seg::Key(ip.to_string())),
                    format!(
                        "{ip} is not an address host-local hands out from {} (not the \
                         network, the gateway {} or the broadcast address)",
                        ipam.range,
                        Ipv4Addr::from(u32::from(ipam.range.network()).saturating_add(1))
                    ),
                );
            }
        }
        generated.push(format!("/var/lib/cni/networks/{}/", ipam.network));
    }
    let mut sandboxes = BTreeSet::new();
    for (i, id) in host.sandboxes.iter().enumerate() {
        if !sandboxes.insert(id) {
            c.fail(
                extend(&extend(path, key("sandboxes")), Seg::Index(i)),
                format!("sandbox {id} is listed twice"),
            );
        }
    }
    for (file, content) in &host.files {
        let fpath = extend(&extend(path, key("files")), Seg::Key(file.clone()));
        if host_relative(file).is_none() {
            c.fail(
                fpath,
                format!("host file path {file:?} must be absolute, without '.', '..' or '//'"),
            );
            continue;
        }
        let clash = generated
            .iter()
            .find(|g| file == *g || (g.ends_with('/') && file.starts_with(g.as_str())));
        if let Some(g) = clash {
            c.fail(
                fpath,
                format!("{file} is generated (from {g}); set it through its own field, not files"),
            );
            continue;
        }
        c.placeholders(fpath, content, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse(text, "x.yaml") {
            Ok(_) => panic!("expected an error for:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    const BASE: &str = "\
name: t
nodes:
  - name: master
    roles: [control-plane]
  - name: node1
    podCIDR: 10.244.1.0/24
";

    #[test]
    fn scenario_builtins_parse_and_validate() {
        for name in builtin_names() {
            let text = builtin(name).unwrap_or_default();
            let s = match parse(text, &format!("{BUILTIN_DIR}/{name}.yaml")) {
                Ok(s) => s,
                Err(e) => panic!("{e}"),
            };
            assert_eq!(s.name, *name);
            assert!(!s.description.is_empty(), "{name} has no description");
            assert_eq!(s.console_node(), "master");
            assert_eq!(
                s.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
                ["master", "node1", "node2"]
            );
        }
        assert_eq!(builtin_names()[0], "healthy");
        assert!(builtin("nope").is_none());
    }

    #[test]
    fn scenario_load_resolves_names_and_paths() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let s = load("healthy", &dir).map_err(|e| e.to_string());
        assert_eq!(s.map(|s| s.name), Ok("healthy".to_string()));
        // Outside a checkout, the embedded copy is used.
        let s = load("flannel-broken", Path::new("/nonexistent")).map_err(|e| e.to_string());
        assert_eq!(s.map(|s| s.name), Ok("flannel-broken".to_string()));
        let e = load("nope", Path::new("/nonexistent"))
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("built-in: healthy, rbd-stale-lock")));
        let e = load("/nonexistent/x.yaml", &dir)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("cannot read scenario /nonexistent/x.yaml")));
    }

    #[test]
    fn scenario_unknown_field_names_line_and_path() {
        let e = err(&format!("{BASE}    podCidr: 10.244.2.0/24\n"));
        assert!(
            e.starts_with("x.yaml:7:5: nodes[1].podCidr: unknown field `podCidr`"),
            "{e}"
        );
    }

    #[test]
    fn scenario_bad_cidr_names_line_and_path() {
        let text = BASE.replace("10.244.1.0/24", "10.244.1.0/33");
        let e = err(&text);
        assert_eq!(
            e,
            "x.yaml:6:14: nodes[1].podCIDR: invalid IPv4 CIDR \"10.244.1.0/33\": the prefix \
             length must be a number from 0 to 32"
        );
        // Host bits set: found by validation, reported at the key.
        let e = err(&BASE.replace("10.244.1.0/24", "10.244.1.1/24"));
        assert!(
            e.starts_with("x.yaml:6:5: nodes[1].podCIDR: podCIDR 10.244.1.1/24 has host bits"),
            "{e}"
        );
    }

    #[test]
    fn scenario_bad_duration_names_line_and_path() {
        let text =
            format!("{BASE}behaviours:\n  - match: {{namespace: demo}}\n    readyAfter: 2 s\n");
        let e = err(&text);
        assert!(
            e.starts_with("x.yaml:9:17: behaviours[0].readyAfter: invalid duration \"2 s\""),
            "{e}"
        );
        let e = err(&format!("{BASE}timeline:\n  - at: 5\n    cordon: node1\n"));
        assert!(
            e.starts_with("x.yaml:8:9: timeline[0].at: invalid duration 5: a unit is missing"),
            "{e}"
        );
    }

    #[test]
    fn scenario_unknown_node_names_line_and_path() {
        let text = format!(
            "{BASE}timeline:\n  - at: 1s\n    cordon: node1\n  - at: 2s\n    setNodeReady: {{node: node9, ready: false}}\n"
        );
        let e = err(&text);
        assert_eq!(
            e,
            "x.yaml:11:20: timeline[1].setNodeReady.node: unknown node \"node9\" (nodes: \
             master, node1)"
        );
        let text = format!("{BASE}behaviours:\n  - match:\n      node: node3\n");
        let e = err(&text);
        assert!(
            e.starts_with("x.yaml:9:7: behaviours[0].match.node: unknown node \"node3\""),
            "{e}"
        );
    }

    #[test]
    fn scenario_timeline_entry_with_two_actions() {
        let text = format!("{BASE}timeline:\n  - at: 1s\n    cordon: node1\n    uncordon: node1\n");
        let e = err(&text);
        assert!(
            e.starts_with(
                "x.yaml:10:5: timeline[0].uncordon: a timeline entry takes exactly one action, \
                 but has both `cordon` and `uncordon`"
            ),
            "{e}"
        );
        let e = err(&format!("{BASE}timeline:\n  - at: 1s\n"));
        assert!(
            e.starts_with("x.yaml:8:5: timeline[0]: a timeline entry needs one action"),
            "{e}"
        );
    }

    #[test]
    fn scenario_semantic_errors_are_located() {
        // Duplicate node name.
        let e = err(&format!("{BASE}  - name: node1\n"));
        assert!(
            e.starts_with("x.yaml:7:5: nodes[2].name: node \"node1\" is declared twice"),
            "{e}"
        );
        // Manifest without a name.
        let text = format!(
            "{BASE}objects:\n  - apiVersion: v1\n    kind: Namespace\n    metadata: {{labels: {{a: b}}}}\n"
        );
        let e = err(&text);
        assert!(
            e.starts_with("x.yaml:10:5: objects[0].metadata: missing field `name`"),
            "{e}"
        );
        // Member without its StatefulSet.
        let e = err(&format!(
            "{BASE}members:\n  - {{kind: etcd, statefulSet: etcd}}\n"
        ));
        assert!(
            e.starts_with("x.yaml:8:18: members[0].statefulSet: no StatefulSet default/etcd"),
            "{e}"
        );
        // Unknown placeholder, and a pod placeholder outside behaviours.
        let text = format!(
            "{BASE}objects:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {{name: c}}\n    data:\n      x: \"{{{{lab.nope}}}}\"\n      y: \"{{{{ .Values.x }}}} ${{HOSTNAME}}\"\n"
        );
        let e = err(&text);
        assert!(
            e.starts_with("x.yaml:12:7: objects[0].data.x: unknown placeholder {{lab.nope}}"),
            "{e}"
        );
        // A host file path escaping the host root.
        let text = format!("{BASE}    host:\n      files:\n        /../etc/passwd: x\n");
        let e = err(&text);
        assert!(
            e.starts_with("x.yaml:9:9: nodes[1].host.files[\"/../etc/passwd\"]: host file path"),
            "{e}"
        );
        // IPAM reservation outside the range.
        let id = "a".repeat(64);
        let text = format!(
            "{BASE}    host:\n      ipamReservations:\n        range: 10.244.1.0/24\n        ids: {{10.244.2.5: {id}}}\n"
        );
        let e = err(&text);
        assert!(e.starts_with("x.yaml:10:15: nodes[1].host.ipamReservations.ids[\"10.244.2.5\"]: 10.244.2.5 is not"), "{e}");
        // Empty file, YAML syntax error.
        assert_eq!(err("  \n"), "x.yaml:1:1: the file is empty");
        let e = err("name: t\n  bad: : :\n");
        assert!(
            e.starts_with("x.yaml:2:6: mapping values are not allowed"),
            "{e}"
        );
    }

    #[test]
    fn scenario_readme_example_parses() {
        // The README is what users copy from: its example must stay valid.
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/README.md"));
        let example = readme
            .split("## A short example")
            .nth(1)
            .and_then(|rest| rest.split("```yaml\n").nth(1))
            .and_then(|block| block.split("```").next())
            .unwrap_or_default();
        let s = parse(example, "README.md").map_err(|e| e.to_string());
        let Ok(s) = s else {
            panic!("{s:?}");
        };
        assert_eq!(s.name, "web-on-bad-node");
        assert_eq!(s.console_node(), "master");
        assert_eq!(s.timeline[0].at, Duration::from_secs(30));
    }

    #[test]
    fn scenario_parse_duration_forms() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in [
            "",
            "5",
            "s",
            "2x",
            "1..5s",
            "-1s",
            "99999999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn scenario_cidr_and_ipam_arithmetic() {
        let cidr: Ipv4Cidr = "10.244.1.1/24".parse().unwrap_or(Ipv4Cidr {
            addr: Ipv4Addr::UNSPECIFIED,
            prefix: 0,
        });
        assert_eq!(cidr.network(), Ipv4Addr::new(10, 244, 1, 0));
        assert_eq!(cidr.broadcast(), Ipv4Addr::new(10, 244, 1, 255));
        assert!(!cidr.is_network());
        assert!(
            "10.244.1.0/24"
                .parse::<Ipv4Cidr>()
                .is_ok_and(|c| c.is_network())
        );
        for bad in [
            "10.244.1.0",
            "10.244.1.0/",
            "10.244.1/24",
            "10.244.1.0/+4",
            "x/8",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn scenario_host_root_is_written_as_documented() {
        let Some(s) = builtin("flannel-broken").and_then(|t| parse(t, "f.yaml").ok()) else {
            panic!("flannel-broken does not parse");
        };
        let dir = std::env::temp_dir().join(format!("kcops-scenario-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let read =
            |p: &str| std::fs::read_to_string(dir.join(p)).unwrap_or_else(|e| format!("<{e}>"));
        let node1 = s.node("node1").map(|n| n.host.clone()).unwrap_or_default();
        let written = node1.write_to(&dir);
        assert!(written.is_ok(), "{written:?}");
        let sandboxes = read(SANDBOXES_FILE);
        let live: Vec<&str> = sandboxes.lines().collect();
        assert!(!live.is_empty());
        assert_eq!(read("proc/sys/net/ipv4/ip_forward"), "1\n");
        assert_eq!(
            read("sys/class/net/cni0/kcops-addresses"),
            "10.244.1.1/24\n"
        );
        assert_eq!(read("sys/class/net/cni0/operstate"), "up\n");
        let ipam = dir.join("var/lib/cni/networks/cbr0");
        let mut reserved = 0;
        let mut leaked = 0;
        for last in 2..=254 {
            let content = read(&format!("var/lib/cni/networks/cbr0/10.244.1.{last}"));
            let Some((id, ifname)) = content.split_once("\r\n") else {
                panic!("10.244.1.{last}: {content:?}");
            };
            assert_eq!(ifname, "eth0");
            assert!(id.parse::<SandboxId>().is_ok());
            reserved += 1;
            if !live.contains(&id) {
                leaked += 1;
            }
        }
        assert_eq!(reserved, 253);
        assert!(leaked >= 250, "{leaked}");
        assert!(!ipam.join("10.244.1.1").exists() && !ipam.join("10.244.1.255").exists());
        assert_eq!(
            read("var/lib/cni/networks/cbr0/last_reserved_ip.0"),
            "10.244.1.254"
        );
        // node2 has no subnet.env: the scenario's point.
        let node2 = s.node("node2").map(|n| n.host.clone()).unwrap_or_default();
        assert!(!node2.files.contains_key("/run/flannel/subnet.env"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn scenario_placeholders_and_behaviours() {
        let Some(s) = builtin("flannel-broken").and_then(|t| parse(t, "f.yaml").ok()) else {
            panic!("flannel-broken does not parse");
        };
        let lab = LabValues {
            ceph_monitors: "198.18.0.1:6789".into(),
            api_server: "https://127.3.0.1:6443".into(),
            ceph_admin_secret: "QUFB".into(),
            ceph_kube_secret: "QkJC".into(),
        };
        let r = s.resolve(&lab);
        let text = serde_json::to_string(&r.objects).unwrap_or_default();
        assert!(text.contains("198.18.0.1:6789") && !text.contains("{{lab."));
        let labels = BTreeMap::from([("app".to_string(), "flannel".to_string())]);
        let pod = PodInfo {
            namespace: "kube-flannel",
            name: "kube-flannel-ds-x7k2q",
            node: Some("node2"),
            labels: &labels,
            host_network: true,
        };
        let Some(crash) = r.behaviour_for(&pod).and_then(|b| b.crash_loop.as_ref()) else {
            panic!("flannel on node2 does not crash");
        };
        let values = PodValues {
            name: pod.name.into(),
            namespace: pod.namespace.into(),
            klog_time: "0612 08:14:31.203876".into(),
            ..PodValues::default()
        };
        let last = crash
            .logs
            .last()
            .map(|l| values.render(l))
            .unwrap_or_default();
        assert!(last.starts_with("E0612 08:14:31.203876"), "{last}");
        assert!(
            last.ends_with(
                "Failed to create SubnetManager: error retrieving pod spec for \
             'kube-flannel/kube-flannel-ds-x7k2q': Get \
             \"https://10.96.0.1:443/api/v1/namespaces/kube-flannel/pods/kube-flannel-ds-x7k2q\": \
             dial tcp 10.96.0.1:443: i/o timeout"
            ),
            "{last}"
        );
        // The same pod on node1 runs normally.
        let on_node1 = PodInfo {
            node: Some("node1"),
            ..pod
        };
        assert!(
            r.behaviour_for(&on_node1)
                .is_some_and(|b| b.crash_loop.is_none())
        );
        assert_eq!(
            klog_time(jiff::Timestamp::from_second(0).unwrap_or_default()),
            "0101 00:00:00.000000"
        );
    }
}
