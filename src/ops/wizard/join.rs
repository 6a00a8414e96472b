//! `:join`: prepare a join for a new machine from the console and follow it. The
//! plan creates a bootstrap token through the API (kubeadm's Secret, usages and
//! group) and waits for the new node to register, get a podCIDR, run its network
//! agent and turn Ready; the pages show the exact join command (token, the CA's
//! public-key hash as kubeadm computes it, the endpoint from cluster-info).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::Client;
use kube::api::{Api, ListParams};

use super::{Page, Wizard, WizardOption};
use crate::ops::op::{ObjectRef, Op, WaitFor};
use crate::ops::plan::{Confirmation, Plan, Step};
use crate::setup::{discovery, token};

/// How long the follow waits for the new node to be Ready.
pub const FOLLOW_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// What `:join` judges: live reads, failures kept.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The API server the console talks to (`https://host:port`).
    pub server: String,
    /// kube-public/cluster-info's data (`Ok(None)`: not there).
    pub cluster_info: Result<Option<BTreeMap<String, String>>, String>,
    /// The nodes before the join.
    pub nodes: Result<Vec<String>, String>,
    /// The token the plan will create (made up here, created on confirm).
    pub token: String,
    pub ttl: Duration,
}

/// Reads cluster-info and the nodes; never fails (a failed read stays in the facts).
pub async fn gather(client: &Client, server: &str) -> Facts {
    let timeout = Duration::from_secs(10);
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-public");
    let cluster_info = match tokio::time::timeout(timeout, cms.get_opt("cluster-info")).await {
        Ok(Ok(cm)) => Ok(cm.map(|c| c.data.unwrap_or_default())),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer from the API server".into()),
    };
    let nodes: Api<Node> = Api::all(client.clone());
    let nodes = match tokio::time::timeout(timeout, nodes.list(&ListParams::default())).await {
        Ok(Ok(list)) => Ok(list
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer from the API server".into()),
    };
    Facts {
        server: server.to_string(),
        cluster_info,
        nodes,
        token: token::new_token(),
        ttl: token::DEFAULT_TTL,
    }
}

/// The join command for the facts: endpoint (cluster-info's server, else the
/// console's) and the CA pin; an error says what is missing.
pub fn join_command(f: &Facts) -> Result<String, String> {
    let data = match &f.cluster_info {
        Ok(Some(d)) => d,
        Ok(None) => {
            return Err("ConfigMap kube-public/cluster-info does not exist: joining machines have nothing to discover (kubeadm creates it in its bootstrap-token phase)".into());
        }
        Err(e) => return Err(format!("cannot read kube-public/cluster-info: {e}")),
    };
    let kubeconfig = data
        .get("kubeconfig")
        .ok_or("kube-public/cluster-info has no kubeconfig key")?;
    let parsed: serde_json::Value = serde_yaml_ng::from_str(kubeconfig)
        .map_err(|e| format!("cluster-info's kubeconfig does not parse: {e}"))?;
    let cluster = &parsed["clusters"][0]["cluster"];
    let ca = cluster["certificate-authority-data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or("cluster-info's kubeconfig has no certificate-authority-data")?;
    let pin = discovery::ca_pins(&ca)
        .map_err(|e| format!("the cluster CA in cluster-info does not parse: {e}"))?
        .into_iter()
        .next()
        .ok_or("cluster-info holds no CA certificate")?;
    let server = cluster["server"].as_str().unwrap_or(&f.server);
    Ok(token::join_command(
        &token::endpoint_of(server),
        &f.token,
        &pin,
    ))
}

/// Pages, blocker and plan.
pub fn assess(f: &Facts) -> Wizard {
    let id = token::token_id(&f.token).to_string();
    let subject = ObjectRef::new(
        "Secret",
        Some("kube-system"),
        format!("bootstrap-token-{id}").as_str(),
    );
    let mut w = Wizard::new("Join a new machine", subject.clone());
    let command = match join_command(f) {
        Ok(c) => c,
        Err(why) => {
            w.block_as(
                why,
                vec!["kubeadm init phase bootstrap-token   # on a control-plane machine".into()],
                Some("root on a control-plane machine"),
            );
            return w;
        }
    };
    let known = match &f.nodes {
        Ok(n) => n.clone(),
        Err(e) => {
            w.block_as(format!("cannot list the nodes: {e}"), vec![], None);
            return w;
        }
    };
    w.clipboard = Some(command.clone());
    let mut page = Page::new("Join command");
    page.plain("On the new machine, as root (after its preflight: kcops setup join checks the token and hash first):");
    page.plain(command.clone());
    page.plain(format!(
        "The token is created when you confirm and is valid for {}; the hash pins this cluster's CA.",
        crate::ops::op::human_duration(f.ttl)
    ));
    page.plain("Copied to the clipboard (OSC 52) when the terminal allows it.");
    w.pages.push(page);
    let mut follow = Page::new("Then, followed here");
    for s in [
        "the new node registers (its kubelet's TLS bootstrap with this token)",
        "it gets a podCIDR (kube-controller-manager --allocate-node-cidrs)",
        "its network agent (flannel, calico) runs there",
        "it turns Ready (the agent wrote its CNI config)",
    ] {
        follow.plain(s);
    }
    follow.plain(format!(
        "Known nodes now: {}",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ));
    w.pages.push(follow);
    let token_value = f.token.clone();
    let ttl = f.ttl;
    w.set_plan(Arc::new(move |_: &[WizardOption]| {
        Plan::new("Join a new machine", subject.clone(), Confirmation::YesNo)
            .step(Step::new(
                Op::CreateBootstrapToken {
                    token: token_value.clone(),
                    ttl,
                },
                false,
            ))
            .then_wait(
                WaitFor::NodeJoined {
                    known: known.clone(),
                    token_id: id.clone(),
                },
                FOLLOW_TIMEOUT,
            )
    }));
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBdTCCARugAwIBAgIUdol6qlFZ4Ql64CpEkREVkLgvfDAwCgYIKoZIzj0EAwIw\nFzEVMBMGA1UEAwwMa2NvcHMtbGFiLWNhMCAXDTc1MDEwMTAwMDAwMFoYDzQwOTYw\nMTAxMDAwMDAwWjAXMRUwEwYDVQQDDAxrY29wcy1sYWItY2EwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAASunkV+YMEv8fdcLZcofgwcWPpDgLFSbtg4TsslV/+scsSY\n7t8bn2nxhT9uVxbiIUkPiJWNsfcAoq1xK4U5Nr4Xo0MwQTAPBgNVHQ8BAf8EBQMD\nB4YAMB0GA1UdDgQWBBSTKRZJurfMM8TfNWYZAmMWhxRQEzAPBgNVHRMBAf8EBTAD\nAQH/MAoGCCqGSM49BAMCA0gAMEUCIE/KvWPy+Vo0FgQWS+5lEIJ15m9UIUKvzXyE\nR4jOtZ13AiEAo90vExxqgnPlwmn+96K2PtLqvcpQBeoLxXeXlxjZSqc=\n-----END CERTIFICATE-----\n";

    fn facts() -> Facts {
        let kubeconfig = format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {}\n    server: https://10.0.0.1:6443\n  name: \"\"\nkind: Config\n",
            base64::engine::general_purpose::STANDARD.encode(CA)
        );
        Facts {
            server: "https://127.0.0.1:6443".into(),
            cluster_info: Ok(Some(BTreeMap::from([(
                "kubeconfig".to_string(),
                kubeconfig,
            )]))),
            nodes: Ok(vec!["master".into()]),
            token: "abcdef.0123456789abcdef".into(),
            ttl: token::DEFAULT_TTL,
        }
    }

    #[test]
    fn the_command_pins_the_ca_and_names_cluster_infos_endpoint() {
        let w = assess(&facts());
        let text = w.render().join("\n");
        assert!(text.contains("kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:93291649bab7cc33c4df35661902631687145013d6652e351ed9b0e194741a61"), "{text}");
        let plan = w.plan().unwrap_or_else(|| panic!("no plan: {text}"));
        assert_eq!(plan.steps.len(), 2);
        assert!(matches!(plan.steps[0].op, Op::CreateBootstrapToken { .. }));
        assert!(
            !plan.render().join("\n").contains("0123456789abcdef"),
            "the token's secret part is in the preview"
        );
    }

    #[test]
    fn without_cluster_info_there_is_nothing_to_discover() {
        let mut f = facts();
        f.cluster_info = Ok(None);
        let w = assess(&f);
        assert!(w.plan().is_none());
        assert!(
            w.render()
                .join("\n")
                .contains("kube-public/cluster-info does not exist")
        );
    }
}
