//! etcd's members through the `etcd-client` crate: the member list from the first pod
//! that answers, then each member's `endpoint status` and `endpoint health` (as
//! etcdctl does it: a linearizable read of the key `health`, which fails without a
//! quorum; a permission error still proves the member serves reads). Members are
//! reached by pod IP; TLS with kubeadm's certificates or a directory named by the
//! StatefulSet's `kcops.io/etcd-tls-dir` annotation.

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use futures::future::BoxFuture;

use super::recognise::{KUBEADM_PKI, Target, Tls};
use super::source::{MemberSource, PollSettings, member_address, pod_addresses};
use crate::model::members::{EnsembleKind, EnsemblePoll, Health, MemberStatus, PolledMember};

/// Reads etcd ensembles.
#[derive(Debug, Clone, Default)]
pub struct EtcdSource {
    pub settings: PollSettings,
}

impl MemberSource for EtcdSource {
    fn kind(&self) -> EnsembleKind {
        EnsembleKind::Etcd
    }

    fn poll<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, EnsemblePoll> {
        Box::pin(self.poll_target(target))
    }
}

/// A failed call in words (gRPC status messages rather than debug dumps).
fn words(e: &etcd_client::Error) -> String {
    match e {
        etcd_client::Error::GRpcStatus(s) => s.message().to_string(),
        etcd_client::Error::TransportError(t) => {
            use std::error::Error as _;
            match t.source() {
                Some(cause) => format!("{t}: {cause}"),
                None => t.to_string(),
            }
        }
        other => other.to_string(),
    }
}

impl EtcdSource {
    fn scheme(tls: &Tls) -> &'static str {
        if matches!(tls, Tls::Off) {
            "http"
        } else {
            "https"
        }
    }

    /// The client certificate for `tls` (`Ok(None)`: plain).
    fn tls_options(&self, tls: &Tls) -> Result<Option<TlsOptions>, String> {
        let dir = match tls {
            Tls::Off => return Ok(None),
            Tls::NoCertificate => {
                return Err(
                    "the template serves TLS and kcops has no client certificate \
                     for it (annotation kcops.io/etcd-tls-dir)"
                        .to_string(),
                );
            }
            Tls::Kubeadm => self.settings.host_root.join(KUBEADM_PKI),
            Tls::Dir(d) => self.settings.host_root.join(d.trim_start_matches('/')),
        };
        let (cert, key) = match tls {
            Tls::Kubeadm => ("healthcheck-client.crt", "healthcheck-client.key"),
            _ => ("tls.crt", "tls.key"),
        };
        let read = |f: &str| {
            let p = dir.join(f);
            std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        };
        Ok(Some(
            TlsOptions::new()
                .ca_certificate(Certificate::from_pem(read("ca.crt")?))
                .identity(Identity::from_pem(read(cert)?, read(key)?)),
        ))
    }

    /// A client of the member at `address` (also the scaling wizard's member steps).
    pub(crate) async fn connect(&self, address: &str, tls: &Tls) -> Result<Client, String> {
        let mut opts = ConnectOptions::new()
            .with_connect_timeout(self.settings.connect_timeout)
            .with_timeout(self.settings.request_timeout);
        if let Some(t) = self.tls_options(tls)? {
            opts = opts.with_tls(t);
        }
        let url = format!("{}://{address}", Self::scheme(tls));
        let limit = self.settings.connect_timeout + self.settings.request_timeout;
        match tokio::time::timeout(limit, Client::connect([url], Some(opts))).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(words(&e)),
            Err(_) => Err(format!("no answer within {}s", limit.as_secs())),
        }
    }

    /// `f` on `client`, bounded by the request timeout.
    pub(crate) async fn bounded<T>(
        &self,
        f: impl Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.settings.request_timeout, f).await {
            Ok(r) => r.map_err(|e| words(&e)),
            Err(_) => Err(format!(
                "no answer within {}s",
                self.settings.request_timeout.as_secs()
            )),
        }
    }

    async fn poll_target(&self, target: &Target) -> EnsemblePoll {
        let mut poll = EnsemblePoll {
            kind: EnsembleKind::Etcd,
            owner: target.owner.clone(),
            polled_at: jiff::Timestamp::now(),
            members: Vec::new(),
            error: None,
            answered_by: None,
        };
        let addresses = pod_addresses(target);
        if addresses.is_empty() {
            poll.error = Some("no pod of the ensemble has an IP to ask".to_string());
            return poll;
        }
        let mut failures = Vec::new();
        let mut list = None;
        for a in &addresses {
            let listed = match self.connect(a, &target.tls).await {
                Ok(mut c) => self.bounded(c.member_list()).await,
                Err(e) => Err(e),
            };
            match listed {
                Ok(l) => {
                    poll.answered_by = Some(a.clone());
                    list = Some(l);
                    break;
                }
                Err(e) => failures.push(format!("{a}: {e}")),
            }
        }
        let Some(list) = list else {
            poll.error = Some(format!("no member answered: {}", failures.join("; ")));
            return poll;
        };
        let checks = list.members().iter().map(|m| async move {
            let address = member_address(target, m.name(), m.peer_urls(), m.client_urls());
            let (status, health) = match &address {
                Ok(a) => self.check(a, &target.tls).await,
                Err(why) => (None, Health::Unreachable(why.clone())),
            };
            PolledMember {
                id: m.id(),
                name: m.name().to_string(),
                peer_urls: m.peer_urls().to_vec(),
                client_urls: m.client_urls().to_vec(),
                learner: m.is_learner(),
                endpoint: address
                    .ok()
                    .map(|a| format!("{}://{a}", Self::scheme(&target.tls))),
                status,
                health,
            }
        });
        poll.members = futures::future::join_all(checks).await;
        poll.polled_at = jiff::Timestamp::now();
        poll
    }

    /// One member's status and health.
    async fn check(&self, address: &str, tls: &Tls) -> (Option<MemberStatus>, Health) {
        let mut client = match self.connect(address, tls).await {
            Ok(c) => c,
            Err(e) => return (None, Health::Unreachable(e)),
        };
        let status = match self.bounded(client.status()).await {
            Ok(s) => Some(MemberStatus {
                leader: s.leader(),
                raft_term: s.raft_term(),
                raft_index: s.raft_index(),
                db_size: s.db_size(),
                version: s.version().to_string(),
                learner: s.is_learner(),
                ..Default::default()
            }),
            Err(e) => return (None, Health::Unreachable(e)),
        };
        // A learner serves no linearizable reads: its health is its status answering.
        if status.as_ref().is_some_and(|s| s.learner) {
            return (status, Health::Healthy);
        }
        let health = match self.bounded(client.get("health", None)).await {
            Ok(_) => Health::Healthy,
            Err(e) if e.contains("permission denied") => Health::Healthy,
            Err(e) => Health::Unhealthy(e),
        };
        (status, health)
    }
}
