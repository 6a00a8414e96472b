//! What follows a successful `kubeadm init`: the kubeconfig for the user (an existing
//! one moved aside first), the network add-on applied through the API (server-side
//! apply), the optional untaint of a single-machine cluster, and the wait until the
//! node and CoreDNS are Ready — each reported as one more phase of the progress list.

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::discovery::{self, Scope};
use serde_json::Value;

/// Copies `<host root>/etc/kubernetes/admin.conf` to `dest` (mode 0600), moving an
/// existing `dest` aside first. Returns what it did.
pub fn install_kubeconfig(host_root: &Path, dest: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let admin = host_root.join("etc/kubernetes/admin.conf");
    let text =
        std::fs::read(&admin).map_err(|e| format!("cannot read {}: {e}", admin.display()))?;
    let mut said = String::new();
    if dest.exists() {
        let backup = crate::setup::reset::backup_path(dest, jiff::Timestamp::now());
        std::fs::rename(dest, &backup)
            .map_err(|e| format!("cannot move {} aside: {e}", dest.display()))?;
        said = format!(" (the earlier one kept as {})", backup.display());
    }
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::write(dest, text).map_err(|e| format!("cannot write {}: {e}", dest.display()))?;
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot restrict {}: {e}", dest.display()))?;
    Ok(format!("kubeconfig written to {}{said}", dest.display()))
}

/// The node this machine registered as: the `system:node:<name>` user of the
/// kubelet.conf init wrote (kubeadm's `--node-name` or the hostname), else the hostname.
pub fn node_name(host_root: &Path) -> Option<String> {
    let conf = std::fs::read_to_string(host_root.join("etc/kubernetes/kubelet.conf")).ok();
    conf.as_deref()
        .and_then(|t| t.split("system:node:").nth(1))
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
                .collect::<String>()
        })
        .filter(|n| !n.is_empty())
        .or_else(|| {
            crate::setup::preflight::network::hostname(&crate::host::read::LocalRoot(
                host_root.to_path_buf(),
            ))
        })
}

/// The user's kubeconfig path: `--kubeconfig`, else `~/.kube/config`.
pub fn user_kubeconfig(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
}

/// Server-side applies each object (field manager `kcops`).
pub async fn apply(client: &kube::Client, docs: &[Value]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for d in docs {
        let obj: DynamicObject = serde_json::from_value(d.clone()).map_err(|e| e.to_string())?;
        let types = obj
            .types
            .clone()
            .ok_or("an object without apiVersion/kind")?;
        let gvk = kube::core::GroupVersionKind::try_from(&types).map_err(|e| e.to_string())?;
        let (ar, caps) = match discovery::pinned_kind(client, &gvk).await {
            Ok(found) => found,
            // Said, not hidden: a server without this kind (the lab serves no RBAC).
            Err(kube::Error::Api(e)) if e.code == 404 => {
                out.push(format!(
                    "{} {}: skipped, this API server does not serve {}",
                    types.kind,
                    obj.metadata.name.as_deref().unwrap_or("?"),
                    types.api_version
                ));
                continue;
            }
            Err(e) => return Err(format!("{}: {e}", types.kind)),
        };
        let name = obj
            .metadata
            .name
            .clone()
            .ok_or("an object without a name")?;
        let api: Api<DynamicObject> = match (caps.scope, obj.metadata.namespace.as_deref()) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
            (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &ar),
            (Scope::Cluster, _) => Api::all_with(client.clone(), &ar),
        };
        match api
            .patch(
                &name,
                &PatchParams::apply("kcops").force(),
                &Patch::Apply(&obj),
            )
            .await
        {
            Ok(_) => {}
            // An API server that applies only to existing objects: create it.
            Err(kube::Error::Api(e)) if e.code == 404 => {
                api.create(&PostParams::default(), &obj)
                    .await
                    .map_err(|e| format!("creating {} {name}: {e}", types.kind))?;
            }
            Err(e) => return Err(format!("applying {} {name}: {e}", types.kind)),
        }
        out.push(format!("{} {name} applied", types.kind));
    }
    Ok(out)
}

/// Removes the control-plane NoSchedule taint from `node` (a single-machine cluster).
pub async fn untaint(client: &kube::Client, node: &str) -> Result<String, String> {
    let api: Api<Node> = Api::all(client.clone());
    let n = api
        .get(node)
        .await
        .map_err(|e| format!("node {node}: {e}"))?;
    let taints: Vec<_> = n
        .spec
        .and_then(|s| s.taints)
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.key != "node-role.kubernetes.io/control-plane")
        .collect();
    let patch = serde_json::json!({"spec": {"taints": taints}});
    api.patch(node, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| format!("untainting {node}: {e}"))?;
    Ok(format!(
        "{node} takes ordinary pods (control-plane taint removed)"
    ))
}

fn ready(conditions: Option<&Vec<k8s_openapi::api::core::v1::NodeCondition>>) -> bool {
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits until `node` is Ready and every CoreDNS pod is Ready.
pub async fn wait_ready(
    client: &kube::Client,
    node: &str,
    timeout: Duration,
) -> Result<String, String> {
    let nodes: Api<Node> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "kube-system");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let node_state = match nodes.get(node).await {
            Ok(n) => Ok(ready(n.status.as_ref().and_then(|s| s.conditions.as_ref()))),
            Err(e) => Err(format!("node {node}: {e}")),
        };
        let node_ready = matches!(node_state, Ok(true));
        let dns = pods
            .list(&ListParams::default().labels("k8s-app=kube-dns"))
            .await
            .map(|l| {
                let total = l.items.len();
                let ok = l
                    .items
                    .iter()
                    .filter(|p| {
                        p.status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .is_some_and(|c| {
                                c.iter().any(|c| c.type_ == "Ready" && c.status == "True")
                            })
                    })
                    .count();
                (ok, total)
            });
        let node_said = match &node_state {
            Ok(true) => format!("node {node} Ready"),
            Ok(false) => format!("node {node} not Ready"),
            Err(e) => e.clone(),
        };
        let last = match &dns {
            Ok((ok, total)) if node_ready && *total > 0 && ok == total => {
                return Ok(format!("node {node} Ready, CoreDNS {ok}/{total} Ready"));
            }
            Ok((ok, total)) => format!("{node_said}, CoreDNS {ok}/{total} Ready"),
            Err(e) => format!("{node_said}, CoreDNS pods: {e}"),
        };
        if tokio::time::Instant::now() > deadline {
            return Err(format!("not Ready within {}s: {last}", timeout.as_secs()));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
