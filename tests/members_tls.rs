//! kubeadm's stacked etcd over mutual TLS, against a real etcd: the static pod
//! `kube-system/etcd-master` is recognised as an ensemble, the poll reads the client
//! certificate under the host root's `/etc/kubernetes/pki/etcd` (as on a control-plane
//! node), and the member (named after its node, as kubeadm names it) is matched to its
//! pod by peer-URL address, healthy, leading. Without the certificate kcops says so
//! and calls nothing healthy. This test starts its own etcd (no lab: nothing here
//! depends on pod networking), on loopback ports it picks free.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kcops::members::recognise::{Tls, recognise};
use kcops::members::source::{MemberSource, PollSettings};
use kcops::members::{EnsembleKind, Health, Owner, ensembles};
use kcops::model::members::MembersReport;
use kcops::model::pod::Pod;
use kcops::model::snapshot::Snapshot;

struct Etcd(Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

#[tokio::test]
async fn kubeadm_etcd_over_mutual_tls() {
    let root = std::env::temp_dir().join(format!("kcops-members-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let pki = root.join("host/etc/kubernetes/pki/etcd");
    // One certificate (no extended key usage: good for serving and for clients),
    // signed by the CA etcd trusts.
    let certs = kcops_lab::tls::load_or_create(&pki, [127, 0, 0, 1].into())
        .unwrap_or_else(|e| panic!("certificates: {e:#}"));
    std::fs::write(pki.join("healthcheck-client.crt"), &certs.cert_pem)
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(pki.join("healthcheck-client.key"), &certs.key_pem)
        .unwrap_or_else(|e| panic!("{e}"));
    let (client, peer) = (free_port(), free_port());
    let ip = "127.0.0.1";
    let log = std::fs::File::create(root.join("etcd.log")).unwrap_or_else(|e| panic!("{e}"));
    let _etcd = Etcd(
        Command::new("etcd")
            .args(["--name", "master", "--data-dir"])
            .arg(root.join("data"))
            .arg(format!("--listen-client-urls=https://{ip}:{client}"))
            .arg(format!("--advertise-client-urls=https://{ip}:{client}"))
            .arg(format!("--listen-peer-urls=http://{ip}:{peer}"))
            .arg(format!("--initial-advertise-peer-urls=http://{ip}:{peer}"))
            .arg(format!("--initial-cluster=master=http://{ip}:{peer}"))
            .arg(format!(
                "--cert-file={}",
                pki.join("apiserver.crt").display()
            ))
            .arg(format!(
                "--key-file={}",
                pki.join("apiserver.key").display()
            ))
            .arg(format!(
                "--trusted-ca-file={}",
                pki.join("ca.crt").display()
            ))
            .arg("--client-cert-auth")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start etcd: {e}")),
    );

    let mut s = Snapshot {
        now: jiff::Timestamp::now(),
        ..Default::default()
    };
    s.nodes.push(Arc::new(
        serde_json::from_value(serde_json::json!({"metadata": {"name": "master"}}))
            .unwrap_or_else(|e| panic!("{e}")),
    ));
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "etcd-master", "namespace": "kube-system",
                     "labels": {"component": "etcd", "tier": "control-plane"}},
        "spec": {"nodeName": "master", "hostNetwork": true, "containers": [{"name": "etcd"}]},
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    s.pods.push(Arc::new(pod));
    let mut targets = recognise(&s.statefulsets, &s.nodes, |ns, n| s.pod(ns, n).cloned());
    assert_eq!(targets.len(), 1);
    assert_eq!(
        targets[0].owner,
        Owner::StaticPods {
            namespace: "kube-system".into()
        }
    );
    assert_eq!(targets[0].tls, Tls::Kubeadm);
    targets[0].client_port = client;

    let source = |host_root: &std::path::Path| kcops::members::etcd::EtcdSource {
        settings: PollSettings {
            host_root: host_root.to_path_buf(),
            ..Default::default()
        },
    };
    // etcd takes a moment to elect itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    let poll = loop {
        let poll = source(&root.join("host")).poll(&targets[0]).await;
        let healthy = poll
            .members
            .first()
            .is_some_and(|m| m.health == Health::Healthy);
        if healthy || Instant::now() > deadline {
            break poll;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(poll.error, None, "{poll:?}");
    assert_eq!(poll.kind, EnsembleKind::Etcd);
    s.members = Some(Arc::new(MembersReport {
        ensembles: vec![poll],
    }));
    let e = ensembles(&s).remove(0);
    assert_eq!(e.members.len(), 1);
    let m = &e.members[0];
    assert_eq!(m.name, "master");
    assert_eq!(m.health, Health::Healthy);
    assert!(m.leader, "a single member leads");
    assert_eq!(
        m.pod.as_deref(),
        Some("etcd-master"),
        "matched by its peer URL's address"
    );
    assert_eq!(m.endpoint, Some(format!("https://{ip}:{client}")));
    assert!(m.status.as_ref().is_some_and(|st| !st.version.is_empty()));
    assert_eq!(e.quorum().to_string(), "1 voter · quorum 1 · tolerates 0");

    // Without the client certificate: said, and nothing is called healthy.
    let poll = source(&root.join("elsewhere")).poll(&targets[0]).await;
    let error = poll.error.unwrap_or_default();
    assert!(
        error.contains("healthcheck-client") || error.contains("ca.crt"),
        "{error}"
    );
    assert!(poll.members.is_empty());
    let _ = std::fs::remove_dir_all(&root);
}
