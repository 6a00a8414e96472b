//! The ceph-csi checks on the fixture cluster: healthy gives nothing, each fault its
//! one id (beside `node.notready` for a dead node).

use super::fixtures::*;
use crate::diagnose::fixtures::{ids, json, only, with};
use crate::diagnose::{Severity, diagnose};

fn id_set(s: &crate::model::snapshot::Snapshot) -> Vec<&'static str> {
    let f = diagnose(s);
    ids(&f);
    let mut v: Vec<&str> = f.iter().map(|f| f.id).collect();
    v.sort_unstable();
    v
}

#[test]
fn a_healthy_csi_cluster_has_no_finding() {
    let s = healthy();
    assert!(diagnose(&s).is_empty(), "{:#?}", diagnose(&s));
    // Without Ceph data too.
    let mut s = healthy();
    s.ceph = None;
    assert!(diagnose(&s).is_empty(), "{:#?}", diagnose(&s));
}

#[test]
fn a_held_attachment_is_one_finding_with_the_waiting_pod() {
    let s = node_lost("FailedAttachVolume", &multi_attach());
    assert_eq!(
        id_set(&s),
        [
            "node.notready",
            "pv.attached-elsewhere",
            "rbd.stale-watcher"
        ]
    );
    let f = only(&s, "pv.attached-elsewhere");
    assert_eq!(f.len(), 1);
    let f = &f[0];
    assert_eq!(f.object, format!("VolumeAttachment {VA}"));
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.node.as_deref(), Some("worker-a"));
    assert!(
        f.evidence[0].starts_with(&format!(
            "VolumeAttachment {VA}: PV {PV} (claim default/data-web-0) attached to worker-a since"
        )),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence
            .iter()
            .any(|l| l.starts_with("node worker-a: Ready=Unknown since")),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence.iter().any(|l| l.starts_with(
            "pod default/web-0 on worker-b (Pending) waits: FailedAttachVolume: Multi-Attach error"
        )),
        "{:?}",
        f.evidence
    );
    assert!(
        f.explanation.contains("about 6 minutes"),
        "{}",
        f.explanation
    );
    assert!(
        f.fix.contains(
            "`kubectl taint nodes worker-a node.kubernetes.io/out-of-service=nodeshutdown:NoExecute`"
        ) && f.fix.contains("NoExecute-`")
            && f.fix.contains("`ceph osd blocklist add <address> 3600`"),
        "{}",
        f.fix
    );
    // The pod's Multi-Attach error is that finding's, not one of its own.
    assert!(only(&s, "pod.multi-attach").is_empty());
}

#[test]
fn without_ceph_data_the_held_attachment_stays() {
    let mut s = node_lost("FailedAttachVolume", &multi_attach());
    s.ceph = None;
    assert_eq!(id_set(&s), ["node.notready", "pv.attached-elsewhere"]);
}

#[test]
fn a_stale_watcher_after_the_detach_is_one_finding() {
    let mut s = node_lost("FailedMount", &still_used());
    s.volume_attachments.clear();
    assert_eq!(id_set(&s), ["node.notready", "rbd.stale-watcher"]);
    let f = &only(&s, "rbd.stale-watcher")[0];
    assert_eq!(f.object, format!("RbdImage rbd/{IMG}"));
    assert_eq!(f.node.as_deref(), Some("worker-a"));
    assert_eq!(
        f.evidence[..4],
        [
            format!("image rbd/{IMG}: PV {PV} (Bound), claim default/data-web-0"),
            format!(
                "watcher client.4201 at {A_IP}:0/6201 from worker-a (the address is worker-a's InternalIP {A_IP})"
            ),
            format!(
                "node worker-a: Ready=Unknown since {} (NodeStatusUnknown)",
                crate::diagnose::fixtures::ago(300)
            ),
            "no live pod using the volume runs on worker-a".to_string(),
        ]
    );
    assert!(
        f.evidence.iter().any(|l| l
            == &format!(
                "pod default/web-0 on worker-b (Pending) waits: FailedMount: {}",
                still_used()
            )),
        "{:?}",
        f.evidence
    );
    assert!(
        f.fix
            .contains(&format!("`ceph osd blocklist add {A_IP}:0/6201 3600`")),
        "{}",
        f.fix
    );
    // The pod's `still being used` is the watcher's evidence, not pod.volume-locked.
    assert!(only(&s, "pod.volume-locked").is_empty());
    // Without Ceph data the pod's own finding says what it can.
    s.ceph = None;
    assert_eq!(id_set(&s), ["node.notready", "pod.volume-locked"]);
}

#[test]
fn a_watcher_of_a_ready_node_counts_only_once_ceph_csi_refuses() {
    // web-0 moved to worker-b; worker-a is Ready and still watches the image.
    let mut s = healthy();
    s.pods
        .retain(|p| p.metadata.name.as_deref() != Some("web-0"));
    s.volume_attachments.clear();
    let p = crate::diagnose::fixtures::using_claim(
        crate::diagnose::fixtures::creating_pod("default", "web-0", "worker-b", 20),
        "data-web-0",
    );
    s.pods.push(p.clone());
    // Still unstaging, no refusal yet: nothing to say.
    assert!(diagnose(&s).is_empty(), "{:#?}", diagnose(&s));
    s.events.push(crate::diagnose::fixtures::pod_event(
        &p,
        "Warning",
        "FailedMount",
        &still_used(),
        3,
    ));
    assert_eq!(id_set(&s), ["rbd.stale-watcher"]);
}

#[test]
fn a_multi_attach_between_two_ready_nodes_stays_pod_multi_attach() {
    // Two pods of one RWO claim on two Ready nodes: no dead node holds anything.
    let mut s = healthy();
    let p = crate::diagnose::fixtures::using_claim(
        crate::diagnose::fixtures::creating_pod("default", "web-x", "worker-b", 20),
        "data-web-0",
    );
    s.events.push(crate::diagnose::fixtures::pod_event(
        &p,
        "Warning",
        "FailedAttachVolume",
        &multi_attach(),
        3,
    ));
    s.pods.push(p);
    assert_eq!(id_set(&s), ["pod.multi-attach"]);
}

#[test]
fn a_node_without_a_ready_plugin_is_one_finding() {
    let mut s = healthy();
    plugin_down(&mut s, "worker-a");
    assert_eq!(id_set(&s), ["csi.plugin-down"]);
    let f = &only(&s, "csi.plugin-down")[0];
    assert_eq!(f.object, "Node worker-a");
    // web-0 runs: its volume stays mounted.
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.evidence
            .iter()
            .any(|l| l
                .starts_with("pod ceph-csi/csi-rbdplugin-worker-a on worker-a: CrashLoopBackOff")),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence
            .iter()
            .any(|l| l.starts_with("Pod ceph-csi/csi-rbdplugin-worker-a: ")),
        "the crash loop is folded in: {:?}",
        f.evidence
    );
    assert!(
        f.fix
            .contains("`kubectl -n ceph-csi logs csi-rbdplugin-worker-a -c csi-rbdplugin`"),
        "{}",
        f.fix
    );
    // A node without ceph-csi users needs no plugin finding (its crash loop stays).
    let mut s = healthy();
    plugin_down(&mut s, "worker-b");
    assert_eq!(id_set(&s), ["pod.crashloop"]);
    // A NotReady node is node.notready's alone.
    let mut s = healthy();
    plugin_down(&mut s, "worker-a");
    s.nodes[1] = crate::diagnose::fixtures::node_at("worker-a", "Unknown", A_IP);
    assert_eq!(id_set(&s), ["node.notready"]);
}

#[test]
fn config_mismatches_are_one_finding_for_the_config_map() {
    // A monitor that is not the cluster's.
    let mut s = healthy();
    s.configmaps[0] = with(
        s.configmaps[0].clone(),
        json!({"data": {"config.json": format!("[{{\"clusterID\":\"{FSID}\",\"monitors\":[\"198.18.1.99:6789\"]}}]")}}),
    );
    assert_eq!(id_set(&s), ["csi.config-mismatch"]);
    let f = &only(&s, "csi.config-mismatch")[0];
    assert_eq!(f.object, "ConfigMap ceph-csi/ceph-csi-config");
    assert!(
        f.evidence.contains(&format!(
            "problem: clusterID {FSID} lists 198.18.1.99:6789 which is not a monitor of the cluster"
        )),
        "{:?}",
        f.evidence
    );
    assert!(
        f.fix
            .contains("`kubectl -n ceph-csi edit configmap ceph-csi-config`")
            && f.fix.contains(&format!(
                "\"monitors\": [\"{MASTER_IP}:3300\", \"{MASTER_IP}:6789\"]"
            )),
        "{}",
        f.fix
    );
    // A clusterID the file does not list (found without Ceph data too).
    let mut s = healthy();
    s.ceph = None;
    s.configmaps[0] = with(
        s.configmaps[0].clone(),
        json!({"data": {"config.json": "[{\"clusterID\":\"other\",\"monitors\":[\"10.0.0.1:6789\"]}]"}}),
    );
    assert_eq!(id_set(&s), ["csi.config-mismatch"]);
    let f = &only(&s, "csi.config-mismatch")[0];
    assert!(
        f.explanation.contains(&format!(
            "StorageClass csi-rbd-sc names clusterID {FSID}, which config.json does not list"
        )),
        "{}",
        f.explanation
    );
    // An entry for another Ceph cluster is not compared with ours.
    let mut s = healthy();
    s.configmaps[0] = with(
        s.configmaps[0].clone(),
        json!({"data": {"config.json": format!("[{{\"clusterID\":\"{FSID}\",\"monitors\":[\"{MASTER_IP}:6789\"]}},{{\"clusterID\":\"dr\",\"monitors\":[\"10.9.0.1:6789\"]}}]")}}),
    );
    assert!(diagnose(&s).is_empty(), "{:#?}", diagnose(&s));
}

#[test]
fn csi_user_problems_are_each_the_one_finding_for_the_secret() {
    use crate::model::ceph::CsiUserOutcome as O;
    let cases: Vec<(O, &str, &str)> = vec![
        (
            O::Checked {
                key_matches: false,
                caps: caps(
                    "profile rbd",
                    "profile rbd pool=rbd",
                    Some("profile rbd pool=rbd"),
                ),
            },
            "the userKey in Secret ceph-csi/csi-rbd-secret is not the key of client.kube (Ceph refuses ceph-csi's calls)",
            "--from-literal=userKey=\"$(ceph auth get-key client.kube)\"",
        ),
        (
            O::Checked {
                key_matches: true,
                caps: caps("allow r", "allow r pool=rbd", None),
            },
            "the caps of client.kube (Secret ceph-csi/csi-rbd-secret) are too few for pool rbd: mon 'allow r' osd 'allow r pool=rbd' (mon, osd, mgr lacking)",
            "`ceph auth caps client.kube mon 'profile rbd' osd 'profile rbd pool=rbd' mgr 'profile rbd pool=rbd'`",
        ),
        (
            O::SecretUnreadable("secrets \"csi-rbd-secret\" is forbidden".into()),
            "Secret ceph-csi/csi-rbd-secret, which StorageClass csi-rbd-sc names, cannot be read: secrets \"csi-rbd-secret\" is forbidden",
            "kubectl -n ceph-csi create secret generic csi-rbd-secret",
        ),
        (
            O::NoSuchUser,
            "Secret ceph-csi/csi-rbd-secret names userID kube, but Ceph has no user client.kube",
            "`ceph auth get-or-create client.kube mon 'profile rbd'",
        ),
    ];
    for (outcome, problem, fix) in cases {
        let mut s = healthy();
        with_user(&mut s, outcome.clone());
        assert_eq!(id_set(&s), ["csi.config-mismatch"], "{outcome:?}");
        let f = &only(&s, "csi.config-mismatch")[0];
        assert_eq!(f.object, "Secret ceph-csi/csi-rbd-secret");
        assert_eq!(f.severity, Severity::Critical);
        assert!(
            f.evidence.contains(&format!("problem: {problem}")),
            "{outcome:?}: {:#?}",
            f.evidence
        );
        assert!(f.fix.contains(fix), "{outcome:?}: {}", f.fix);
        assert!(
            !f.explanation.contains("could not be checked"),
            "{}",
            f.explanation
        );
    }
}

#[test]
fn a_user_kcops_may_not_look_up_is_unchecked_never_fine() {
    let mut s = healthy();
    with_user(
        &mut s,
        crate::model::ceph::CsiUserOutcome::Denied("access denied (EACCES)".into()),
    );
    assert_eq!(id_set(&s), ["csi.config-mismatch"]);
    let f = &only(&s, "csi.config-mismatch")[0];
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.explanation.contains("could not be checked"),
        "{}",
        f.explanation
    );
    assert!(f.fix.contains("`ceph auth get client.kube`"), "{}", f.fix);
    // A ConfigMap problem and a user problem are still one finding, on the ConfigMap.
    let mut s = healthy();
    with_user(&mut s, crate::model::ceph::CsiUserOutcome::NoSuchUser);
    s.configmaps[0] = with(
        s.configmaps[0].clone(),
        json!({"data": {"config.json": "[{\"clusterID\":\"other\",\"monitors\":[\"10.0.0.1:6789\"]}]"}}),
    );
    assert_eq!(id_set(&s), ["csi.config-mismatch"]);
    let f = &only(&s, "csi.config-mismatch")[0];
    assert_eq!(f.object, "ConfigMap ceph-csi/ceph-csi-config");
    assert!(
        f.explanation.contains("no user client.kube"),
        "{}",
        f.explanation
    );
}
