//! Validation of what serde cannot check: references between nodes, behaviours and
//! timeline, duplicates, placeholders.

#[allow(unused_imports)]
use super::*;

/// A problem found after deserialization, with the path of the offending field.
pub(super) struct Issue {
    pub(super) path: Vec<Seg>,
    pub(super) message: String,
}

/// Collects issues in document order; `parse` reports the first.
#[derive(Default)]
pub(super) struct Checker {
    issues: Vec<Issue>,
    /// Ids of the Ceph users the scenario declares, for `{{lab.cephSecret.<id>}}`.
    ceph_users: BTreeSet<String>,
}

impl Checker {
    pub(super) fn fail(&mut self, path: Vec<Seg>, message: impl Into<String>) {
        self.issues.push(Issue {
            path,
            message: message.into(),
        });
    }

    fn placeholders(&mut self, path: Vec<Seg>, text: &str, pod_allowed: bool) {
        for name in placeholders(text) {
            let known = LAB_PLACEHOLDERS.contains(&name)
                || (pod_allowed && POD_PLACEHOLDERS.contains(&name))
                || name
                    .strip_prefix(CEPH_SECRET_PREFIX)
                    .is_some_and(|id| self.ceph_users.contains(id));
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

pub(super) fn extend(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut out = path.to_vec();
    out.push(seg);
    out
}

/// RFC 1123 label: what namespaces and most names must be.
pub(super) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: what node names must be (`node1`, `172.16.20.10`).
pub(super) fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Checks the syntax Kubernetes accepts for label selectors: comma-separated
/// `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`.
pub(super) fn check_selector(selector: &str) -> Result<(), String> {
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

pub(super) fn validate(s: &Scenario) -> Vec<Issue> {
    let mut c = Checker {
        ceph_users: s.ceph.users.iter().map(|u| u.id().to_string()).collect(),
        ..Default::default()
    };
    c.ceph_users
        .extend(["admin".to_string(), "kube".to_string()]);
    check_ceph(&mut c, &s.ceph);
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
    if s.storage == StorageKind::CephCsi && s.kubeadm {
        c.fail(
            vec![key("storage")],
            "storage: ceph-csi needs a running cluster from the start (not kubeadm: true)",
        );
    }
    let nodes: BTreeSet<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
    if let Some(console) = &s.console_node {
        c.node_ref(&nodes, vec![key("consoleNode")], console);
    }
    if let Some(network) = &s.network {
        for node in network.kube_proxy_started_with.keys() {
            c.node_ref(
                &nodes,
                vec![
                    key("network"),
                    key("kubeProxyStartedWithClusterCIDR"),
                    key(node),
                ],
                node,
            );
        }
    }

    let mut objects = BTreeSet::new();
    for (i, object) in s.objects.iter().enumerate() {
        let path = vec![key("objects"), Seg::Index(i)];
        check_fields(&mut c, &path, object);
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
            TimelineAction::Delete(d) => {
                let base = extend(&path, key("delete"));
                if d.kind.is_empty() {
                    c.fail(extend(&base, key("kind")), "kind is empty");
                }
                if d.name.is_empty() {
                    c.fail(extend(&base, key("name")), "name is empty");
                }
            }
            TimelineAction::Apply(object) => {
                check_fields(&mut c, &extend(&path, key("apply")), object);
                c.manifest(&extend(&path, key("apply")), object);
            }
        }
    }
    c.issues
}

/// The strict field checks of `objects` in a document whose scenario keys did not
/// parse, so a typo in a manifest is reported beside the schema error.
pub(super) fn validate_raw_objects(raw: &Value) -> Vec<Issue> {
    let mut c = Checker::default();
    if let Some(objects) = raw.get("objects").and_then(Value::as_array) {
        for (i, object) in objects.iter().enumerate() {
            check_fields(&mut c, &[key("objects"), Seg::Index(i)], object);
        }
    }
    c.issues
}

pub(super) fn check_nodes(c: &mut Checker, s: &Scenario) {
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

pub(super) fn check_host(c: &mut Checker, path: &[Seg], host: &HostSpec) {
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
