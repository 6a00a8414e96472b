//! The k9s verbs in the real console at 80x24 against a lab (etcd-scaled-down, whose
//! etcd pods run real members): Enter drills into a node's, a workload's and a
//! claim's pods with a breadcrumb and Esc comes back; `s` opens a shell in a pod
//! through `kubectl exec -it` and the console comes back when it ends.

mod common;

use std::time::Duration;

use common::pty::{Console, Options};
use common::{Lab, shared};

fn lab() -> &'static Lab {
    shared("verbs", "etcd-scaled-down", &["--no-ceph"])
}

const T: Duration = Duration::from_secs(60);

fn console(lab: &Lab) -> Console {
    Console::start(
        lab,
        Options {
            rows: 24,
            cols: 80,
            ..Options::default()
        },
    )
}

#[test]
fn enter_drills_down_and_esc_comes_back_at_80x24() {
    let lab = lab();
    let mut c = console(lab);
    c.wait_text("Findings", T);
    // A node's pods: the first node in the table, its name in the breadcrumb.
    c.send("2");
    c.wait("the nodes", T, |s| {
        s.contains("Nodes [all]") && s.contains("node1")
    });
    c.send("\r");
    let s = c.wait("a node's pods", T, |s| s.contains("› Pods [all]"));
    let node = s
        .split("Nodes › ")
        .nth(1)
        .and_then(|rest| rest.split(" › Pods").next())
        .unwrap_or_else(|| panic!("no breadcrumb:\n{s}"))
        .to_owned();
    let on_node = lab.kubectl_ok(&[
        "get",
        "pods",
        "-A",
        "--field-selector",
        &format!("spec.nodeName={node}"),
        "-o",
        "name",
    ]);
    let on_node: Vec<&str> = on_node
        .lines()
        .filter_map(|l| l.strip_prefix("pod/"))
        .collect();
    assert!(!on_node.is_empty(), "no pods on {node}");
    c.wait("only the node's pods", T, |s| {
        s.contains(&format!("{}/{}", on_node.len(), on_node.len()))
    });
    c.send("\x1b");
    c.wait("back on the nodes", T, |s| {
        s.contains("Nodes [all]") && !s.contains('›')
    });
    // A workload's pods.
    c.send(":sts\r");
    c.wait_text("StatefulSets [all]", T);
    c.send("/etcd\r");
    c.send("\r");
    let s = c.wait("the StatefulSet's pods", T, |s| {
        s.contains("Workloads › sts default/etcd › Pods") && s.contains("etcd-0")
    });
    assert!(!s.contains("coredns"), "{s}");
    c.send("\x1b");
    c.wait_text("StatefulSets [all]", T);
    // A claim's pod and its RBD image.
    c.send("/\x1b");
    c.send(":pvc\r");
    c.send("/etcd-0\r");
    c.send("\r");
    let s = c.wait("the claim's pod", T, |s| {
        s.contains("› Pods") && s.contains("etcd-0")
    });
    let pv = lab.kubectl_ok(&[
        "get",
        "pvc",
        "-n",
        "default",
        "data-etcd-0",
        "-o",
        "jsonpath={.spec.volumeName}",
    ]);
    let image = lab.kubectl_ok(&["get", "pv", pv.trim(), "-o", "jsonpath={.spec.rbd.image}"]);
    assert!(
        s.contains("Storage › default/data-etcd-0 › Pods")
            && s.contains(&format!("RBD image rbd/{}", image.trim())),
        "image {image:?} not named:\n{s}"
    );
    c.send("\x1b");
    c.wait_text("PersistentVolumeClaims", T);
}

#[test]
fn s_opens_a_shell_in_the_pod_and_the_console_comes_back() {
    let lab = lab();
    let mut c = console(lab);
    c.wait_text("Findings", T);
    c.send("3");
    c.send("/etcd-0\r");
    c.wait("etcd-0 running", T, |s| {
        s.contains("etcd-0") && s.contains("Running")
    });
    c.send("s");
    // The console's screen is put away while the shell runs.
    c.wait("the console's screen put away", T, |s| {
        !s.contains("Pods [all]")
    });
    std::thread::sleep(Duration::from_secs(2));
    // The lab runs exec'd commands without a TTY: a line ends with a newline (a
    // cluster's TTY turns the Enter key's carriage return into one).
    c.send("echo kcops-$((40+2)) in $HOSTNAME\n");
    c.wait_text("kcops-42 in etcd-0", T);
    c.send("exit\n");
    let s = c.wait("the console back", T, |s| {
        s.contains("shell in default/etcd-0 (etcd) ended")
    });
    // Redrawn in full: the tabs and the table, not only what changed.
    assert!(s.contains("Pods [all]") && s.contains(" kcops "), "{s}");
    // Port-forward: the lab serves no pods/portforward, and the console says so.
    c.send("F");
    c.wait_text(":port-forward ", T);
    c.send("2379\r");
    c.wait_text("the API server does not offer port-forward", T);
}

/// Every file under `dir`, read as text.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

#[test]
fn the_resource_browser_lists_kinds_as_kubectl_and_masks_secrets() {
    let lab = lab();
    let marker = "KCOPS-MARKER-4711";
    let manifest = lab.runtime_dir.join("verbs-secret.json");
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "verbs-token", "namespace": "default"},
        "stringData": {"token": marker},
    });
    std::fs::write(&manifest, secret.to_string()).unwrap_or_else(|e| panic!("{e}"));
    lab.kubectl_ok(&["apply", "-f", &manifest.display().to_string()]);
    let mut c = console(lab);
    c.wait_text("Findings", T);
    // Services in the server's Table columns, as kubectl prints them.
    c.send(":svc\r");
    let s = c.wait("the services", T, |s| {
        s.contains("Service [all]") && s.contains("kube-dns")
    });
    assert!(s.contains("CLUSTER-IP") && s.contains("PORT(S)"), "{s}");
    // Any kind the API server lists, by any name kubectl takes.
    c.send(":lease\r");
    c.wait_text("Lease [all]", T);
    c.send(":nosuchkind\r");
    c.wait_text("unknown command", T);
    // CPU and memory: the lab runs no metrics-server, and the console says so.
    c.send(":top\r");
    c.wait_text("does not serve metrics.k8s.io", T);
    // A Secret: masked in YAML until x, in the browser only.
    c.send(":secrets\r");
    c.wait("the secrets", T, |s| s.contains("verbs-token"));
    c.send("/verbs-token\r");
    c.send("y");
    let s = c.wait_text("<masked: 17 bytes", T);
    assert!(!s.contains(marker), "{s}");
    c.send("\x1b");
    c.send("x");
    c.wait_text("(values SHOWN)", T);
    c.send("y");
    c.wait_text(marker, T);
    c.send("\x1b");
    c.send("q");
    let encoded = "S0NPUFMtTUFSS0VSLTQ3MTE=";
    for (path, text) in files_under(&c.dir) {
        assert!(
            !text.contains(marker) && !text.contains(encoded),
            "the secret's value is in {}",
            path.display()
        );
    }
}

/// Adds the lab's read-only user as a second context of the lab's kubeconfig (its
/// current context stays the admin's), once; returns both context names.
fn two_contexts(lab: &Lab) -> (String, String) {
    use kube::config::Kubeconfig;
    static DONE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let path = &lab.state.kubeconfig;
        let admin = Kubeconfig::read_from(path).unwrap_or_else(|e| panic!("{e}"));
        let readonly = Kubeconfig::read_from(path.with_file_name("kubeconfig-readonly"))
            .unwrap_or_else(|e| panic!("{e}"));
        let names = (
            admin.current_context.clone().unwrap_or_default(),
            readonly.current_context.clone().unwrap_or_default(),
        );
        let merged = admin.merge(readonly).unwrap_or_else(|e| panic!("{e}"));
        let text = serde_yaml_ng::to_string(&merged).unwrap_or_else(|e| panic!("{e}"));
        let tmp = path.with_extension("two-contexts");
        std::fs::write(&tmp, text).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&tmp, path).unwrap_or_else(|e| panic!("{e}"));
        names
    })
    .clone()
}

#[test]
fn ctx_switches_the_context_live_and_ns_offers_a_list() {
    let lab = lab();
    let (admin, readonly) = two_contexts(lab);
    let mut c = console(lab);
    c.wait_text("Findings", T);
    c.wait_text(&format!("context {admin}  user kubernetes-admin"), T);
    c.send(":ctx\r");
    let s = c.wait_text(&format!("* {admin}"), T);
    assert!(s.contains(&format!("  {readonly}")), "{s}");
    assert!(s.contains("(cluster kcops-lab-verbs-"), "{s}");
    c.send("\x1b");
    c.send(&format!(":ctx {readonly}\r"));
    c.wait_text(&format!("context {readonly}  user kcops-readonly"), T);
    // Every source reconnected: the nodes are listed again, as the other user.
    c.send("2");
    c.wait("the nodes through the new context", T, |s| {
        s.contains("Nodes [all]") && s.contains("node1")
    });
    c.send(&format!(":ctx {admin}\r"));
    c.wait_text(&format!("context {admin}  user kubernetes-admin"), T);
    // The namespace picker.
    c.send(":ns\r");
    c.wait("the namespace list", T, |s| {
        s.contains("kube-system") && s.contains("default")
    });
}

#[test]
fn e_edits_an_object_in_the_editor_shows_the_diff_and_replaces_it() {
    let lab = lab();
    let script = lab.runtime_dir.join("verbs-editor.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nsed -i 's/^  labels:$/  labels:\\n    kcops.io\\/edited: \"yes\"/' \"$1\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{e}"));
    let editor = script.display().to_string();
    let env = [("VISUAL", editor.as_str())];
    let mut c = Console::start(
        lab,
        Options {
            rows: 24,
            cols: 80,
            env: &env,
            ..Options::default()
        },
    );
    c.wait_text("Findings", T);
    c.send("2");
    c.send("/node2\r");
    c.wait("node2 alone", T, |s| {
        s.contains("node2") && !s.contains("node1")
    });
    c.send("e");
    let s = c.wait_text("+    kcops.io/edited: \"yes\"", T);
    assert!(s.contains("Close this view to confirm"), "{s}");
    c.send("\x1b");
    c.wait_text("Replace Node node2", T);
    c.send("yes\r");
    c.wait_text("replaced", T);
    let label = lab.kubectl_ok(&[
        "get",
        "node",
        "node2",
        "-o",
        "jsonpath={.metadata.labels.kcops\\.io/edited}",
    ]);
    assert_eq!(label.trim(), "yes");
    lab.kubectl_ok(&["label", "node", "node2", "kcops.io/edited-"]);
}
