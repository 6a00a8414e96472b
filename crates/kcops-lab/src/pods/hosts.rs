//! Lab DNS: the names a real cluster resolves for pods behind a headless Service
//! (`etcd-0.etcd`, `etcd-0.etcd.default.svc.cluster.local`) and each pod's own hostname
//! (for `hostname -i`), as one hosts file per pod bind-mounted over `/etc/hosts`. The
//! files are rewritten in place (a bind mount follows the inode, not the name) whenever
//! a pod the lab runs for real gets or loses its address.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Mutex;

/// The cluster domain the lab's names end in.
pub(crate) const CLUSTER_DOMAIN: &str = "cluster.local";

/// A pod the lab runs for real, as lab DNS knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DnsEntry {
    pub namespace: String,
    pub hostname: String,
    pub subdomain: Option<String>,
    pub ip: Ipv4Addr,
    /// This pod's own hosts file.
    pub hosts_file: PathBuf,
}

/// Pod uid -> its DNS entry.
#[derive(Debug, Default)]
pub(crate) struct Registry(Mutex<BTreeMap<String, DnsEntry>>);

impl Registry {
    pub(crate) fn insert(&self, uid: &str, entry: DnsEntry) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(uid.to_string(), entry);
        write_all(&all);
    }

    pub(crate) fn remove(&self, uid: &str) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if all.remove(uid).is_some() {
            write_all(&all);
        }
    }
}

/// The names `e` is known by from a pod in `namespace`.
fn names_of(e: &DnsEntry, namespace: &str) -> Vec<String> {
    let Some(sub) = &e.subdomain else {
        return Vec::new();
    };
    let mut names = vec![format!(
        "{}.{sub}.{}.svc.{CLUSTER_DOMAIN}",
        e.hostname, e.namespace
    )];
    if e.namespace == namespace {
        names.push(format!("{}.{sub}", e.hostname));
    }
    names.push(format!("{}.{sub}.{}", e.hostname, e.namespace));
    names.push(format!("{}.{sub}.{}.svc", e.hostname, e.namespace));
    // The headless Service's own name resolves to every pod behind it (one line per
    // pod; resolvers return them all), as `etcdctl --endpoints=http://etcd:2379` in a
    // start script expects.
    names.push(format!("{sub}.{}.svc.{CLUSTER_DOMAIN}", e.namespace));
    names.push(format!("{sub}.{}.svc", e.namespace));
    names.push(format!("{sub}.{}", e.namespace));
    if e.namespace == namespace {
        names.push(sub.clone());
    }
    names
}

/// The hosts file of pod `own` among `all`, as the kubelet writes it (localhost, the
/// pod's own FQDN and hostname) plus every other pod's headless-Service names.
pub(crate) fn render(own: &DnsEntry, all: &[&DnsEntry]) -> String {
    let mut out = String::from(
        "# Kubernetes-managed hosts file (kept current by the kcops lab).\n\
         127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    // The kubelet's line (FQDN, hostname), then the short names cluster DNS would
    // resolve through the search path (there is no DNS server here).
    let mut own_names = names_of(own, &own.namespace);
    let fqdn = (!own_names.is_empty()).then(|| own_names.remove(0));
    let mut line = fqdn.map(|f| format!("{f}\t")).unwrap_or_default();
    line.push_str(&own.hostname);
    for n in own_names {
        line.push(' ');
        line.push_str(&n);
    }
    out.push_str(&format!("{}\t{line}\n", own.ip));
    for e in all {
        if *e == own {
            continue;
        }
        let names = names_of(e, &own.namespace);
        if !names.is_empty() {
            out.push_str(&format!("{}\t{}\n", e.ip, names.join(" ")));
        }
    }
    out
}

fn write_all(all: &BTreeMap<String, DnsEntry>) {
    let entries: Vec<&DnsEntry> = all.values().collect();
    for own in &entries {
        let text = render(own, &entries);
        if std::fs::read_to_string(&own.hosts_file).is_ok_and(|t| t == text) {
            continue;
        }
        // In place: the pod's mount namespace holds this inode.
        if let Err(e) = std::fs::write(&own.hosts_file, text) {
            tracing::warn!("cannot write {}: {e}", own.hosts_file.display());
        }
    }
}

/// The pod's resolv.conf: cluster search domains, and no reachable name server (names
/// outside the hosts file fail at once instead of timing out).
pub(crate) fn resolv_conf(namespace: &str) -> String {
    format!(
        "search {namespace}.svc.{CLUSTER_DOMAIN} svc.{CLUSTER_DOMAIN} {CLUSTER_DOMAIN}\n\
         nameserver 127.0.0.1\noptions ndots:5 attempts:1 timeout:1\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ns: &str, host: &str, last: u8) -> DnsEntry {
        DnsEntry {
            namespace: ns.into(),
            hostname: host.into(),
            subdomain: Some("etcd".into()),
            ip: Ipv4Addr::new(10, 244, 1, last),
            hosts_file: PathBuf::new(),
        }
    }

    #[test]
    fn statefulset_names_resolve_as_behind_a_headless_service() {
        let a = entry("default", "etcd-0", 2);
        let b = entry("default", "etcd-1", 3);
        let c = entry("other", "etcd-0", 4);
        let text = render(&a, &[&a, &b, &c]);
        assert!(
            text.contains("10.244.1.2\tetcd-0.etcd.default.svc.cluster.local\tetcd-0 etcd-0.etcd "),
            "{text}"
        );
        assert!(
            text.contains("10.244.1.3\tetcd-1.etcd.default.svc.cluster.local etcd-1.etcd "),
            "{text}"
        );
        // Another namespace's pod: only its qualified names.
        let other = text
            .lines()
            .find(|l| l.starts_with("10.244.1.4"))
            .unwrap_or_default();
        assert!(
            other.contains("etcd-0.etcd.other.svc.cluster.local"),
            "{text}"
        );
        assert!(
            !other.split_whitespace().any(|w| w == "etcd-0.etcd"),
            "{text}"
        );
        // The Service's name is every pod's, short only within the namespace.
        let with_service: Vec<&str> = text
            .lines()
            .filter(|l| l.split_whitespace().any(|w| w == "etcd"))
            .collect();
        assert_eq!(with_service.len(), 2, "{text}");
        assert!(other.contains("etcd.other.svc.cluster.local"), "{text}");
    }
}
