//! "The last attempt was interrupted": an init that stopped half-way (a hung image
//! pull, Ctrl-C) leaves manifests, certificates and a kubelet config behind but no
//! working cluster, and the rerun then fails preflight on its own leftovers. Detected
//! here so the init wizard can offer a reset first instead of a wall of errors.

use std::time::Duration;

use crate::host::read::{HostFiles, LocalRoot};
use crate::model::host::Probe;

/// What the host root says about an earlier init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EarlierInit {
    /// Nothing left by kubeadm.
    Clean,
    /// Leftovers, and no API server answers for them: reset before a new init.
    Interrupted { leftovers: Vec<String>, why: String },
    /// admin.conf names an API server that answers: a cluster runs here.
    Running { server: String },
}

/// kubeadm's leftovers under the host root, as paths on the host.
pub(crate) fn leftovers(root: &LocalRoot) -> Vec<String> {
    let mut out = Vec::new();
    for dir in [
        "/etc/kubernetes/manifests",
        "/etc/kubernetes/pki",
        "/var/lib/etcd",
        "/var/lib/kubelet",
    ] {
        if let Probe::Found(e) = root.list_dir(dir)
            && !e.is_empty()
        {
            out.push(dir.to_string());
        }
    }
    for file in ["/etc/kubernetes/admin.conf", "/etc/kubernetes/kubelet.conf"] {
        if matches!(root.read_text(file), Probe::Found(_)) {
            out.push(file.to_string());
        }
    }
    out
}

/// The `server:` of a kubeconfig's first cluster, as `host:port`.
pub fn server_of(kubeconfig: &str) -> Option<String> {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(kubeconfig).ok()?;
    let url = v
        .get("clusters")?
        .get(0)?
        .get("cluster")?
        .get("server")?
        .as_str()?;
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let hostport = rest.split('/').next()?;
    Some(
        if hostport
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            hostport.to_string()
        } else {
            format!("{hostport}:443")
        },
    )
}

/// Judges the host root; an API server gets `timeout` to accept a connection.
pub(crate) async fn assess(root: &LocalRoot, timeout: Duration) -> EarlierInit {
    let left = leftovers(root);
    if left.is_empty() {
        return EarlierInit::Clean;
    }
    let why = match root.read_text("/etc/kubernetes/admin.conf") {
        Probe::Missing => "there is no /etc/kubernetes/admin.conf".to_string(),
        Probe::Error(e) => format!("admin.conf cannot be read ({e})"),
        Probe::Found(text) => match server_of(&text) {
            None => "admin.conf names no API server".to_string(),
            Some(server) => {
                match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&server)).await {
                    Ok(Ok(_)) => return EarlierInit::Running { server },
                    Ok(Err(e)) => format!("the API server in admin.conf ({server}) refuses: {e}"),
                    Err(_) => format!(
                        "the API server in admin.conf ({server}) did not answer within {}s",
                        timeout.as_secs()
                    ),
                }
            }
        },
    };
    EarlierInit::Interrupted {
        leftovers: left,
        why,
    }
}

/// The lines the preflight and the wizard print about it.
pub fn describe(e: &EarlierInit) -> Vec<String> {
    match e {
        EarlierInit::Clean => vec![],
        EarlierInit::Interrupted { leftovers, why } => vec![
            format!(
                "The last attempt was interrupted: {} left behind, and {why}.",
                leftovers.join(", ")
            ),
            "Reset first (kcops setup reset), then run the init again.".to_string(),
        ],
        EarlierInit::Running { server } => vec![format!(
            "A cluster runs here (its API server {server} answers): resetting would destroy it."
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn leftovers_without_an_api_are_an_interrupted_init() {
        let dir = super::super::preflight::ports::tests::tempfile_dir("interrupted");
        let root = LocalRoot(dir.clone());
        assert_eq!(
            assess(&root, Duration::from_secs(1)).await,
            EarlierInit::Clean
        );
        std::fs::create_dir_all(dir.join("etc/kubernetes/manifests")).unwrap();
        std::fs::write(
            dir.join("etc/kubernetes/manifests/kube-apiserver.yaml"),
            "x",
        )
        .unwrap();
        match assess(&root, Duration::from_secs(1)).await {
            EarlierInit::Interrupted { leftovers, why } => {
                assert_eq!(leftovers, ["/etc/kubernetes/manifests"]);
                assert_eq!(why, "there is no /etc/kubernetes/admin.conf");
            }
            other => panic!("{other:?}"),
        }
        // admin.conf naming a port nothing listens on: still interrupted.
        std::fs::write(
            dir.join("etc/kubernetes/admin.conf"),
            "clusters:\n- cluster:\n    server: https://127.0.0.1:9\n  name: k\n",
        )
        .unwrap();
        let e = assess(&root, Duration::from_secs(1)).await;
        assert!(
            matches!(&e, EarlierInit::Interrupted { why, .. } if why.contains("127.0.0.1:9") && why.contains("refuses")),
            "{e:?}"
        );
        assert!(describe(&e)[0].starts_with("The last attempt was interrupted"));
        // ... and one that answers is a running cluster.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::fs::write(
            dir.join("etc/kubernetes/admin.conf"),
            format!("clusters:\n- cluster:\n    server: https://127.0.0.1:{port}\n  name: k\n"),
        )
        .unwrap();
        assert_eq!(
            assess(&root, Duration::from_secs(1)).await,
            EarlierInit::Running {
                server: format!("127.0.0.1:{port}")
            }
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
