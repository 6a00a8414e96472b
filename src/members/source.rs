//! How a kind of ensemble is asked for its members. Each kind (etcd now, ZooKeeper
//! next) implements [`MemberSource`]; what they share (which addresses to try, in
//! which order, how a member is reached) lives here so a second kind is not a copy.

use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;

use super::matching::{is_ip, match_pod, url_host};
use super::recognise::Target;
use crate::model::members::{EnsembleKind, EnsemblePoll};

/// What every poll needs to know about where it runs.
#[derive(Debug, Clone)]
pub struct PollSettings {
    /// The console host's root (certificates such as kubeadm's are read under it).
    pub host_root: PathBuf,
    /// How long a connection to one member may take.
    pub connect_timeout: Duration,
    /// How long one request (member list, status, health read) may take.
    pub request_timeout: Duration,
}

impl Default for PollSettings {
    fn default() -> Self {
        PollSettings {
            host_root: PathBuf::from("/"),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
        }
    }
}

/// One kind's way of reading an ensemble's members.
pub trait MemberSource: Send + Sync {
    fn kind(&self) -> EnsembleKind;

    /// The members of `target` with each one's status and health; never fails (what
    /// could not be read is in the poll's `error` and each member's health).
    fn poll<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, EnsemblePoll>;
}

/// `ip:port` of each pod of `target` that has an IP and is not being deleted: where
/// the member list is asked (by pod IP: on a real control-plane host the cluster's DNS
/// names do not resolve).
pub(crate) fn pod_addresses(target: &Target) -> Vec<String> {
    target
        .pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp().is_none())
        .filter_map(|p| p.status.as_ref()?.pod_ip.as_deref())
        .map(|ip| host_port(ip, target.client_port))
        .collect()
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Where to reach a registered member: its pod's IP (matched by name or peer-URL host)
/// at the ensemble's client port; else a client URL whose host is an address; else
/// nowhere (`Err` says why).
pub(crate) fn member_address(
    target: &Target,
    name: &str,
    peer_urls: &[String],
    client_urls: &[String],
) -> Result<String, String> {
    let pods: Vec<(&str, Option<&str>)> = target
        .pods
        .iter()
        .map(|p| {
            (
                p.metadata.name.as_deref().unwrap_or_default(),
                p.status.as_ref().and_then(|s| s.pod_ip.as_deref()),
            )
        })
        .collect();
    if let Some(i) = match_pod(name, peer_urls, &pods) {
        return match pods.get(i).and_then(|(_, ip)| *ip) {
            Some(ip) => Ok(host_port(ip, target.client_port)),
            None => Err(format!("its pod {} has no IP yet", pods[i].0)),
        };
    }
    if let Some(url) = client_urls.iter().find(|u| is_ip(url_host(u))) {
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        return Ok(rest.split('/').next().unwrap_or(rest).to_string());
    }
    Err(if client_urls.is_empty() {
        "it has no pod and has never started (no client URL)".to_string()
    } else {
        format!(
            "it has no pod, and its client URL {} names no address kcops can reach",
            client_urls.join(",")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members::fixtures::cluster;

    fn target() -> Target {
        let s = cluster(2, &[0, 1], &[]);
        let mut t = crate::members::recognise::recognise(&s.statefulsets, &s.nodes, |ns, n| {
            s.pod(ns, n).cloned()
        });
        t.remove(0)
    }

    #[test]
    fn members_are_reached_at_their_pod_ip() {
        let t = target();
        assert_eq!(pod_addresses(&t), ["10.244.1.3:2379", "10.244.2.3:2379"]);
        let urls = |u: &str| vec![u.to_string()];
        // Seed 003 advertises DNS names: the pod IP is used instead.
        assert_eq!(
            member_address(
                &t,
                "etcd-1",
                &urls("http://etcd-1.etcd:2380"),
                &urls("http://etcd-1.etcd:2379")
            ),
            Ok("10.244.2.3:2379".to_string())
        );
        // No pod: an address in its client URL is still worth a try; a name is not.
        assert_eq!(
            member_address(
                &t,
                "etcd-2",
                &urls("http://10.244.1.9:2380"),
                &urls("http://10.244.1.9:2379")
            ),
            Ok("10.244.1.9:2379".to_string())
        );
        let err = member_address(
            &t,
            "etcd-2",
            &urls("http://etcd-2.etcd:2380"),
            &urls("http://etcd-2.etcd:2379"),
        );
        assert!(err.is_err_and(|e| e.contains("no pod")));
        assert!(member_address(&t, "", &urls("http://10.244.1.9:2380"), &[]).is_err());
    }
}
