//! The network checks on hand-built clusters: a broken flannel install's failures
//! (crash-looping flannel, missing subnet.env, exhausted IPAM) in both wordings,
//! a healthy flannel cluster, calico, and the host checks.

use std::sync::Arc;

use crate::model::pod::Pod;

use super::super::fixtures::*;
use super::super::{Severity, diagnose};
use crate::model::host::{
    CniConfig, HostReport, IfAddr, IpamNetwork, Link, Probe, Reservation, SandboxList, SubnetEnv,
};
use crate::model::snapshot::Snapshot;

const FLANNEL_API_TIMEOUT: &str = "E0101 11:59:40.000000       1 main.go:240] Failed to create SubnetManager: error retrieving pod spec for 'kube-flannel/kube-flannel-ds-c': Get \"https://10.96.0.1:443/api/v1/namespaces/kube-flannel/pods/kube-flannel-ds-c\": dial tcp 10.96.0.1:443: i/o timeout";

fn kubeadm_config(pod_subnet: &str) -> Arc<k8s_openapi::api::core::v1::ConfigMap> {
    from(json!({
        "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
        "data": {"ClusterConfiguration": format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nnetworking:\n  dnsDomain: cluster.local\n  podSubnet: {pod_subnet}\n  serviceSubnet: 10.96.0.0/12\n")}
    }))
}

fn kube_proxy(cluster_cidr: &str) -> Arc<k8s_openapi::api::core::v1::ConfigMap> {
    from(json!({
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "data": {"config.conf": format!("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nclusterCIDR: \"{cluster_cidr}\"\nkind: KubeProxyConfiguration\nmode: \"\"\n")}
    }))
}

fn flannel_node(name: &str, ip: &str, cidr: &str) -> Arc<k8s_openapi::api::core::v1::Node> {
    with(
        node(name, "True"),
        json!({"metadata": {"annotations": {
                "flannel.alpha.coreos.com/backend-type": "vxlan",
                "flannel.alpha.coreos.com/public-ip": ip}},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}),
    )
}

fn agent(ns: &str, ds: &str, name: &str, node_name: &str) -> Arc<Pod> {
    with(
        pod(ns, name, node_name),
        json!({"metadata": {"ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet",
            "name": ds, "uid": format!("uid-{ds}"), "controller": true}]},
            "spec": {"hostNetwork": true}}),
    )
}

fn crashing_agent(name: &str, node_name: &str, message: &str) -> Arc<Pod> {
    with(
        agent("kube-flannel", "kube-flannel-ds", name, node_name),
        json!({"status": {
            "conditions": [{"type": "PodScheduled", "status": "True"},
                {"type": "Ready", "status": "False", "lastTransitionTime": ago(600)}],
            "containerStatuses": [{"name": "kube-flannel", "image": "flannel", "imageID": "", "ready": false,
                "restartCount": 6, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                    "message": message, "finishedAt": ago(20)}}}]}}),
    )
}

fn daemonset(
    ns: &str,
    name: &str,
    label: (&str, &str),
    ready: i32,
) -> Arc<k8s_openapi::api::apps::v1::DaemonSet> {
    from(json!({
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"),
            "labels": {label.0: label.1}, "creationTimestamp": ago(86400)},
        "spec": {"selector": {"matchLabels": {label.0: label.1}}, "template": {"spec": {"containers": [{"name": name}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": ready,
            "numberAvailable": ready, "updatedNumberScheduled": 3, "numberMisscheduled": 0}
    }))
}

/// A healthy three-node kubeadm cluster on flannel.
fn flannel_cluster() -> Snapshot {
    let mut s = snapshot();
    for (n, ip, cidr) in [
        ("master", "192.0.2.10", "10.244.0.0/24"),
        ("node1", "192.0.2.11", "10.244.1.0/24"),
        ("node2", "192.0.2.12", "10.244.2.0/24"),
    ] {
        s.nodes.push(flannel_node(n, ip, cidr));
    }
    s.configmaps.push(kubeadm_config("10.244.0.0/16"));
    s.configmaps.push(kube_proxy("10.244.0.0/16"));
    s.configmaps.push(from(json!({
        "metadata": {"name": "kube-flannel-cfg", "namespace": "kube-flannel"},
        "data": {"net-conf.json": "{\n  \"Network\": \"10.244.0.0/16\",\n  \"Backend\": {\"Type\": \"vxlan\"}\n}\n"}
    })));
    s.daemonsets.push(daemonset(
        "kube-flannel",
        "kube-flannel-ds",
        ("app", "flannel"),
        3,
    ));
    for (i, n) in ["master", "node1", "node2"].iter().enumerate() {
        s.pods.push(agent(
            "kube-flannel",
            "kube-flannel-ds",
            &format!("kube-flannel-ds-{}", ["a", "b", "c"][i]),
            n,
        ));
    }
    s
}

/// A broken kubeadm flannel install on today's components: flannel on node2 cannot
/// reach 10.96.0.1:443 ("dial tcp 10.96.0.1:443: i/o timeout"), kube-proxy has no
/// clusterCIDR, node1's range is exhausted, node2 has no subnet.env.
fn flannel_broken() -> Snapshot {
    let mut s = flannel_cluster();
    s.configmaps
        .retain(|c| c.metadata.name.as_deref() != Some("kube-proxy"));
    s.configmaps.push(kube_proxy(""));
    s.daemonsets = vec![daemonset(
        "kube-flannel",
        "kube-flannel-ds",
        ("app", "flannel"),
        2,
    )];
    s.pods
        .retain(|p| p.metadata.name.as_deref() != Some("kube-flannel-ds-c"));
    s.pods.push(crashing_agent(
        "kube-flannel-ds-c",
        "node2",
        FLANNEL_API_TIMEOUT,
    ));
    let ipam = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"5e4f\": plugin type=\"flannel\" failed (add): failed to delegate add: failed to allocate for range 0: no IP addresses available in range set: 10.244.1.1-10.244.1.254";
    let subnet = "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"6a3c\": plugin type=\"flannel\" failed (add): loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory";
    for (name, n, msg) in [
        ("my-nginx-1", "node1", ipam),
        ("my-nginx-2", "node2", subnet),
        ("my-nginx-3", "node2", subnet),
    ] {
        let p = creating_pod("default", name, n, 60);
        s.events
            .push(pod_event(&p, "Warning", "FailedCreatePodSandBox", msg, 2));
        s.pods.push(p);
    }
    // As the stores keep it (pods are looked up by bisection).
    s.sort();
    s
}

fn node1_host(reserved: usize, live_all: bool) -> HostReport {
    let mut r = HostReport::empty("/lab/hosts/node1", Some("node1".into()), now());
    r.subnet_env = Probe::Found(SubnetEnv {
        network: "10.244.0.0/16".parse().ok(),
        subnet_text: Some("10.244.1.1/24".into()),
        subnet: "10.244.1.0/24".parse().ok(),
        mtu: Some(1450),
        ipmasq: Some(true),
    });
    r.cni_configs = Probe::Found(vec![CniConfig {
        file: "10-flannel.conflist".into(),
        name: Some("cbr0".into()),
        plugins: vec!["flannel".into(), "portmap".into()],
        ..Default::default()
    }]);
    let live = "7c166dd7ae0cece3c7a15ad63a4ea381553e3a11e31f1bb0262d693a94f39541";
    let reservations: Vec<Reservation> = (0..reserved)
        .map(|i| Reservation {
            ip: format!("10.244.1.{}", i + 2).parse().unwrap(),
            sandbox: if i == 0 || live_all {
                live.to_string()
            } else {
                format!("{:064x}", i)
            },
            ifname: Some("eth0".into()),
        })
        .collect();
    r.ipam = Probe::Found(vec![IpamNetwork {
        name: "cbr0".into(),
        reservations,
        range: "10.244.1.0/24".parse().ok(),
        capacity: Some(253),
        range_source: Some("10-flannel.conflist via subnet.env".into()),
    }]);
    r.sandboxes = Probe::Found(SandboxList {
        source: "file /lab/hosts/node1/var/lib/kcops-lab/sandboxes".into(),
        ids: [live.to_string()].into_iter().collect(),
    });
    r.ip_forward = Probe::Found(true);
    r.links = Probe::Found(vec![
        Link {
            name: "cni0".into(),
            operstate: Some("up".into()),
            addresses: vec![IfAddr {
                ip: "10.244.1.1".parse().unwrap(),
                prefix: 24,
            }],
        },
        Link {
            name: "flannel.1".into(),
            operstate: Some("unknown".into()),
            addresses: vec![IfAddr {
                ip: "10.244.1.0".parse().unwrap(),
                prefix: 32,
            }],
        },
    ]);
    r
}

fn id_objects(s: &Snapshot) -> Vec<(&'static str, String)> {
    ids(&diagnose(s))
}

#[test]
fn healthy_flannel_cluster_has_no_findings() {
    let mut s = flannel_cluster();
    assert_eq!(id_objects(&s), []);
    s.host = Some(Arc::new(node1_host(3, true)));
    assert_eq!(id_objects(&s), []);
}

#[test]
fn flannel_broken_on_todays_components() {
    let s = flannel_broken();
    let f = diagnose(&s);
    assert_eq!(
        ids(&f),
        [
            (
                "net.cni-crashloop",
                "Pod kube-flannel/kube-flannel-ds-c".to_string()
            ),
            ("net.ipam-exhausted", "Node node1".to_string()),
            (
                "net.kube-proxy-cluster-cidr",
                "ConfigMap kube-system/kube-proxy".to_string()
            ),
            ("net.subnet-env-missing", "Node node2".to_string()),
        ]
    );
    let crash = &f[0];
    assert_eq!(crash.severity, Severity::Critical);
    assert_eq!(crash.node.as_deref(), Some("node2"));
    assert!(
        crash
            .evidence
            .contains(&format!("container kube-flannel: {FLANNEL_API_TIMEOUT}"))
    );
    assert_eq!(
        crash.evidence.last().map(String::as_str),
        Some("reason: API service unreachable: it cannot reach 10.96.0.1:443 (i/o timeout)")
    );
    assert!(
        crash
            .explanation
            .contains("10.96.0.1:443 is the kubernetes Service"),
        "{}",
        crash.explanation
    );
    assert!(
        crash
            .fix
            .contains("kubectl -n kube-flannel delete pod kube-flannel-ds-c")
    );

    let ipam = &f[1];
    assert_eq!(ipam.evidence.len(), 1);
    assert!(ipam.evidence[0].starts_with("Pod default/my-nginx-1: FailedCreatePodSandBox: "));
    assert!(ipam.explanation.starts_with("1 pod on node1 cannot start: host-local IPAM on node1 has no free address in 10.244.1.1-10.244.1.254."), "{}", ipam.explanation);

    let proxy = &f[2];
    assert_eq!(proxy.severity, Severity::Critical);
    assert_eq!(
        proxy.evidence,
        [
            "ConfigMap kube-system/kube-proxy config.conf clusterCIDR: \"\"",
            "ConfigMap kube-system/kubeadm-config ClusterConfiguration networking.podSubnet: 10.244.0.0/16",
            "Pod kube-flannel/kube-flannel-ds-c on node2: it cannot reach 10.96.0.1:443 (i/o timeout)",
        ]
    );
    assert!(proxy.fix.contains("clusterCIDR: 10.244.0.0/16"));

    let subnet = &f[3];
    assert_eq!(subnet.evidence.len(), 2);
    assert!(
        subnet
            .explanation
            .starts_with("2 pods on node2 cannot start: flannel's CNI plugin")
    );
    assert!(
        subnet
            .explanation
            .contains("(kube-flannel/kube-flannel-ds-c) is crash-looping (net.cni-crashloop)"),
        "{}",
        subnet.explanation
    );
    assert!(subnet.fix.contains("Do not copy another node's subnet.env"));

    // No pod.* finding repeats these causes, and the short DaemonSet is explained.
    assert!(f.iter().all(|x| x.id.starts_with("net.")));
}

#[test]
fn flannel_broken_host_of_the_exhausted_node_lists_the_leaks() {
    let mut s = flannel_broken();
    s.host = Some(Arc::new(node1_host(253, false)));
    let f = diagnose(&s);
    assert_eq!(
        f.iter().map(|x| x.id).collect::<Vec<_>>(),
        [
            "net.cni-crashloop",
            "net.ipam-exhausted",
            "net.kube-proxy-cluster-cidr",
            "net.subnet-env-missing"
        ]
    );
    let ipam = &f[1];
    assert_eq!(
        ipam.evidence[1],
        "host node1: host-local network cbr0: 253 of 253 addresses reserved (range 10.244.1.0/24 from 10-flannel.conflist via subnet.env)"
    );
    assert_eq!(
        ipam.evidence[2],
        "host node1: 252 of them name sandboxes the runtime no longer has (1 live sandboxes from file /lab/hosts/node1/var/lib/kcops-lab/sandboxes)"
    );
    assert_eq!(
        ipam.evidence[3],
        "leaked: /var/lib/cni/networks/cbr0/10.244.1.3 (sandbox 000000000000)"
    );
    assert_eq!(
        ipam.evidence.last().map(String::as_str),
        Some("... and 244 more leaked reservations")
    );
    assert!(
        ipam.fix
            .contains("/var/lib/cni/networks/10.244.1.1-10.244.1.254/")
            || ipam.fix.contains("/var/lib/cni/networks/<network>/")
    );
}

/// Every sandbox signature, in the docker-era kubelet's FailedSync wording and today's,
/// owned by its network finding; pod.sandbox-failed does not fire for them.
#[test]
fn each_sandbox_signature_has_its_finding() {
    let failed_sync = |cause: &str| {
        (
            "FailedSync",
            format!(
                "Error syncing pod, skipping: failed to \"SetupNetwork\" for \"p_default\" with SetupNetworkError: \"Failed to setup network for pod \\\"p_default(ba5ce554)\\\" using network plugins \\\"cni\\\": {cause}; Skipping pod\""
            ),
        )
    };
    let now = |cause: &str| {
        (
            "FailedCreatePodSandBox",
            format!(
                "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"0f6e\": {cause}"
            ),
        )
    };
    let cases = [
        (
            failed_sync("open /run/flannel/subnet.env: no such file or directory"),
            "net.subnet-env-missing",
        ),
        (
            now(
                "plugin type=\"flannel\" failed (add): loadFlannelSubnetEnv failed: open /run/flannel/subnet.env: no such file or directory",
            ),
            "net.subnet-env-missing",
        ),
        (
            failed_sync("no IP addresses available in network: cbr0"),
            "net.ipam-exhausted",
        ),
        (
            now(
                "plugin type=\"flannel\" failed (add): failed to delegate add: failed to allocate for range 0: no IP addresses available in range set: 10.244.1.1-10.244.1.254",
            ),
            "net.ipam-exhausted",
        ),
        (
            failed_sync("cni config unintialized"),
            "net.cni-config-missing",
        ),
        (now("cni plugin not initialized"), "net.cni-config-missing"),
        (
            failed_sync("\\\"cni0\\\" already has an IP address different from 10.244.1.1/24"),
            "net.cni0-conflict",
        ),
        (
            now(
                "plugin type=\"flannel\" failed (add): failed to delegate add: failed to set bridge addr: \"cni0\" already has an IP address different from 10.244.1.1/24",
            ),
            "net.cni0-conflict",
        ),
        (
            now(
                "plugin type=\"calico\" failed (add): error getting ClusterInformation: Get \"https://10.96.0.1:443/apis/crd.projectcalico.org/v1/clusterinformations/default\": dial tcp 10.96.0.1:443: i/o timeout",
            ),
            "net.api-unreachable",
        ),
        (
            now(
                "plugin type=\"calico\" failed (add): stat /var/lib/calico/nodename: no such file or directory: check that the calico/node container is running and has mounted /var/lib/calico/",
            ),
            "net.calico-nodename-missing",
        ),
    ];
    for ((reason, message), want) in cases {
        let mut s = flannel_cluster();
        let p = creating_pod("default", "p", "node1", 30);
        s.events.push(pod_event(&p, "Warning", reason, &message, 1));
        s.pods.push(p);
        let f = diagnose(&s);
        assert_eq!(ids(&f), [(want, "Node node1".to_string())], "{message}");
        assert_eq!(
            f[0].evidence,
            [format!("Pod default/p: {reason}: {message}")]
        );
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(
            f[0].explanation
                .starts_with("1 pod on node1 cannot start: "),
            "{}",
            f[0].explanation
        );
    }
}

#[test]
fn near_miss_sandbox_failures_stay_pod_sandbox_failed_verbatim() {
    for message in [
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"x\": plugin type=\"flannel\" failed (add): open /run/flannel/subnet.env: permission denied",
        "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox \"x\": plugin type=\"calico\" failed (add): stat /var/lib/calico/nodename: permission denied",
    ] {
        let mut s = flannel_cluster();
        let p = creating_pod("default", "p", "node1", 30);
        s.events.push(pod_event(
            &p,
            "Warning",
            "FailedCreatePodSandBox",
            message,
            1,
        ));
        s.pods.push(p);
        let f = diagnose(&s);
        assert_eq!(ids(&f), [("pod.sandbox-failed", "Node node1".to_string())]);
        assert_eq!(
            f[0].evidence,
            [format!("Pod default/p: FailedCreatePodSandBox: {message}")]
        );
        assert!(
            f[0].explanation
                .contains("kcops does not recognise this failure")
        );
    }
}

#[test]
fn mixed_causes_on_one_node_split_between_owners() {
    let mut s = flannel_cluster();
    for (name, msg) in [
        (
            "a",
            "networkPlugin cni failed to set up pod \"a_default\" network: no IP addresses available in network: cbr0",
        ),
        ("b", "something else entirely"),
    ] {
        let p = creating_pod("default", name, "node1", 30);
        s.events
            .push(pod_event(&p, "Warning", "FailedCreatePodSandBox", msg, 1));
        s.pods.push(p);
    }
    assert_eq!(
        id_objects(&s),
        [
            ("net.ipam-exhausted", "Node node1".to_string()),
            ("pod.sandbox-failed", "Node node1".to_string()),
        ]
    );
}

#[test]
fn crash_reasons_in_flannel_log_wording() {
    for (message, reason) in [
        (
            "E1227 06:17:50.605110       1 main.go:127] Failed to create SubnetManager: error retrieving pod spec for 'kube-system/kube-flannel-ds-tr8zr': Get https://10.96.0.1:443/api/v1/namespaces/kube-system/pods/kube-flannel-ds-tr8zr: dial tcp 10.96.0.1:443: i/o timeout",
            "reason: API service unreachable: it cannot reach 10.96.0.1:443 (i/o timeout)",
        ),
        (
            "E1228 05:28:05.013204       1 network.go:106] failed to register network: failed to acquire lease: node \"iz2ze39jeyizepdxhwqci6z\" not found",
            "reason: node not found: it cannot get a lease: there is no Node named iz2ze39jeyizepdxhwqci6z",
        ),
        (
            "E0101 12:00:00.000000       1 main.go:359] Error registering network: failed to acquire lease: node \"node2\" pod cidr not assigned",
            "reason: no podCIDR: it cannot get a lease: node node2 has no podCIDR",
        ),
    ] {
        let mut s = flannel_cluster();
        s.pods
            .retain(|p| p.metadata.name.as_deref() != Some("kube-flannel-ds-c"));
        s.pods
            .push(crashing_agent("kube-flannel-ds-c", "node2", message));
        let f: Vec<_> = diagnose(&s)
            .into_iter()
            .filter(|f| f.id == "net.cni-crashloop")
            .collect();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].evidence.last().map(String::as_str), Some(reason));
    }
    // No termination message: said so, not guessed.
    let mut s = flannel_cluster();
    s.pods
        .retain(|p| p.metadata.name.as_deref() != Some("kube-flannel-ds-c"));
    s.pods
        .push(crashing_agent("kube-flannel-ds-c", "node2", ""));
    let f = diagnose(&s);
    assert_eq!(
        ids(&f),
        [(
            "net.cni-crashloop",
            "Pod kube-flannel/kube-flannel-ds-c".to_string()
        )]
    );
    assert!(f[0].explanation.contains("left no termination message"));
    assert!(f[0].fix.contains("--previous"));
}

#[test]
fn kube_proxy_cluster_cidr_alone_is_a_warning() {
    let mut s = flannel_cluster();
    s.configmaps
        .retain(|c| c.metadata.name.as_deref() != Some("kube-proxy"));
    s.configmaps.push(kube_proxy(""));
    let f = diagnose(&s);
    assert_eq!(
        ids(&f),
        [(
            "net.kube-proxy-cluster-cidr",
            "ConfigMap kube-system/kube-proxy".to_string()
        )]
    );
    assert_eq!(f[0].severity, Severity::Warning);
    // A clusterCIDR that does not cover the pod network.
    s.configmaps
        .retain(|c| c.metadata.name.as_deref() != Some("kube-proxy"));
    s.configmaps.push(kube_proxy("10.32.0.0/16"));
    let f = diagnose(&s);
    assert_eq!(f.len(), 1);
    assert!(
        f[0].explanation
            .starts_with("kube-proxy has clusterCIDR 10.32.0.0/16, which does not cover")
    );
    // The usual fix, `--cluster-cidr` on the DaemonSet, wins over the ConfigMap.
    s.daemonsets.push(from(json!({
        "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "kube-proxy",
            "command": ["kube-proxy", "--kubeconfig=/run/kubeconfig", "--cluster-cidr=10.244.0.0/16"]}]}}}
    })));
    assert_eq!(id_objects(&s), []);
}

#[test]
fn flannel_network_mismatch_and_nodes_without_pod_cidr() {
    let mut s = flannel_cluster();
    s.configmaps
        .retain(|c| c.metadata.name.as_deref() != Some("kube-flannel-cfg"));
    s.configmaps.push(from(json!({
        "metadata": {"name": "kube-flannel-cfg", "namespace": "kube-flannel"},
        "data": {"net-conf.json": "{\"Network\": \"10.244.0.0/17\", \"Backend\": {\"Type\": \"vxlan\"}}"}
    })));
    s.nodes[2] = with(
        s.nodes[2].clone(),
        json!({"spec": {"podCIDR": null, "podCIDRs": null}}),
    );
    s.nodes.push(with(
        flannel_node("node3", "192.0.2.13", "10.244.200.0/24"),
        json!({}),
    ));
    let f = diagnose(&s);
    assert_eq!(
        ids(&f),
        [
            ("net.node-no-pod-cidr", "Node node2".to_string()),
            (
                "net.pod-cidr-mismatch",
                "ConfigMap kube-flannel/kube-flannel-cfg".to_string()
            ),
        ]
    );
    assert_eq!(
        f[1].evidence,
        [
            "ConfigMap kube-flannel/kube-flannel-cfg net-conf.json Network: 10.244.0.0/17",
            "ConfigMap kube-system/kubeadm-config ClusterConfiguration networking.podSubnet: 10.244.0.0/16",
            "kubeadm podSubnet 10.244.0.0/16 is not inside flannel's Network 10.244.0.0/17",
            "Node node3 podCIDR 10.244.200.0/24 is outside flannel's Network",
        ]
    );
    assert_eq!(f[0].evidence[0], "Node node2: spec.podCIDR is empty");
}

#[test]
fn many_nodes_outside_flannels_network_are_counted_past_the_listed_few() {
    let mut s = flannel_cluster();
    for i in 0..20 {
        s.nodes.push(with(
            flannel_node(
                &format!("far{i:02}"),
                "192.0.2.50",
                &format!("10.{}.0.0/24", 100 + i),
            ),
            json!({}),
        ));
    }
    let f = diagnose(&s);
    let mismatch = f
        .iter()
        .find(|f| f.id == "net.pod-cidr-mismatch")
        .unwrap_or_else(|| panic!("no mismatch in {:?}", ids(&f)));
    let listed: Vec<&String> = mismatch
        .evidence
        .iter()
        .filter(|l| l.starts_with("Node "))
        .collect();
    assert_eq!(listed.len(), crate::diagnose::MAX_LISTED);
    assert_eq!(
        listed[0],
        "Node far00 podCIDR 10.100.0.0/24 is outside flannel's Network"
    );
    assert_eq!(
        mismatch.evidence.last().map(String::as_str),
        Some(format!("... and {} more nodes", 20 - crate::diagnose::MAX_LISTED).as_str())
    );
}

#[test]
fn network_unavailable_unless_the_agent_explains_it() {
    let mut s = flannel_cluster();
    s.nodes[1] = with(
        s.nodes[1].clone(),
        json!({"status": {"conditions": [{"type": "Ready", "status": "True"},
            {"type": "NetworkUnavailable", "status": "True", "reason": "NoRouteCreated",
             "message": "Node created without a route", "lastTransitionTime": ago(900)}]}}),
    );
    let f = diagnose(&s);
    assert_eq!(
        ids(&f),
        [("net.network-unavailable", "Node node1".to_string())]
    );
    assert_eq!(
        f[0].evidence,
        [format!(
            "NetworkUnavailable=True since {} (NoRouteCreated): Node created without a route",
            ago(900)
        )]
    );
    s.pods
        .retain(|p| p.metadata.name.as_deref() != Some("kube-flannel-ds-b"));
    s.pods
        .push(crashing_agent("kube-flannel-ds-b", "node1", "x"));
    assert_eq!(
        id_objects(&s),
        [(
            "net.cni-crashloop",
            "Pod kube-flannel/kube-flannel-ds-b".to_string()
        )]
    );
}

#[test]
fn one_public_ip_on_every_node_means_the_wrong_interface() {
    let mut s = flannel_cluster();
    for i in 0..3 {
        s.nodes[i] = with(
            s.nodes[i].clone(),
            json!({"metadata": {"annotations": {"flannel.alpha.coreos.com/public-ip": "59.110.67.15"}}}),
        );
    }
    let f = diagnose(&s);
    assert_eq!(
        ids(&f),
        [(
            "net.flannel-public-ip",
            "DaemonSet kube-flannel/kube-flannel-ds".to_string()
        )]
    );
    assert_eq!(
        f[0].evidence[0],
        "Node master: flannel.alpha.coreos.com/public-ip=59.110.67.15"
    );
    assert!(f[0].fix.contains("--iface"));
    // One node announcing an address that is not its own (flannel picked the public
    // interface, 59.110.67.15, as its external interface).
    let mut s = flannel_cluster();
    s.nodes[2] = with(
        s.nodes[2].clone(),
        json!({"metadata": {"annotations": {"flannel.alpha.coreos.com/public-ip": "59.110.67.15"}}}),
    );
    assert_eq!(
        id_objects(&s),
        [("net.flannel-public-ip", "Node node2".to_string())]
    );
}

#[test]
fn node_not_ready_for_want_of_cni_is_the_networks() {
    let mut s = snapshot();
    s.nodes.push(with(
        node("master", "False"),
        json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
            "message": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
            "lastTransitionTime": ago(300)}]}}),
    ));
    let f = diagnose(&s);
    assert_eq!(
        ids(&f),
        [("net.cni-config-missing", "Node master".to_string())]
    );
    assert!(f[0].evidence[0].starts_with("Ready=False since "));
    assert!(
        f[0].explanation
            .contains("No pod network add-on (flannel or calico) is installed."),
        "{}",
        f[0].explanation
    );
    assert!(f[0].fix.starts_with("Install a pod network add-on"));
}

#[test]
fn host_checks_of_this_node() {
    // ip_forward off.
    let mut s = flannel_cluster();
    let mut h = node1_host(3, true);
    h.ip_forward = Probe::Found(false);
    s.host = Some(Arc::new(h));
    assert_eq!(
        id_objects(&s),
        [("net.ip-forward-off", "Node node1".to_string())]
    );

    // Leaked reservations in a range that is not full yet.
    let mut s = flannel_cluster();
    s.host = Some(Arc::new(node1_host(5, false)));
    let f = diagnose(&s);
    assert_eq!(
        ids(&f),
        [("net.leaked-reservations", "Node node1".to_string())]
    );
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].evidence.len(), 6);

    // A full range without events yet is already exhausted.
    let mut s = flannel_cluster();
    s.host = Some(Arc::new(node1_host(253, false)));
    assert_eq!(
        id_objects(&s),
        [("net.ipam-exhausted", "Node node1".to_string())]
    );

    // subnet.env missing, stale; no CNI config; cni0 from another range; leftovers.
    let mut s = flannel_cluster();
    let mut h = node1_host(1, true);
    h.subnet_env = Probe::Missing;
    h.cni_configs = Probe::Found(vec![]);
    s.host = Some(Arc::new(h));
    assert_eq!(
        id_objects(&s),
        [
            ("net.cni-config-missing", "Node node1".to_string()),
            ("net.subnet-env-missing", "Node node1".to_string()),
        ]
    );
    let mut s = flannel_cluster();
    let mut h = node1_host(1, true);
    h.subnet_env = Probe::Found(SubnetEnv {
        network: "10.244.0.0/16".parse().ok(),
        subnet_text: Some("10.244.5.1/24".into()),
        subnet: "10.244.5.0/24".parse().ok(),
        ..Default::default()
    });
    if let Probe::Found(links) = &mut h.links {
        links[0].addresses[0].ip = "10.244.5.1".parse().unwrap();
        links.push(Link {
            name: "tunl0".into(),
            operstate: Some("unknown".into()),
            addresses: vec![],
        });
        links.push(Link {
            name: "vxlan.calico".into(),
            operstate: Some("unknown".into()),
            addresses: vec![IfAddr {
                ip: "192.168.1.0".parse().unwrap(),
                prefix: 32,
            }],
        });
    }
    s.host = Some(Arc::new(h));
    let f = diagnose(&s);
    assert_eq!(
        ids(&f),
        [
            ("net.cni0-conflict", "Node node1".to_string()),
            ("net.leftover-links", "Node node1".to_string()),
            ("net.subnet-env-stale", "Node node1".to_string()),
        ]
    );
    assert_eq!(
        f[0].evidence,
        ["host node1: cni0 has 10.244.5.1/24, outside node1's podCIDR 10.244.1.0/24"]
    );
    assert_eq!(
        f[1].evidence,
        ["host node1: link vxlan.calico (unknown, 192.168.1.0/32)"]
    );
    assert_eq!(
        f[2].evidence,
        [
            "host node1: /run/flannel/subnet.env FLANNEL_SUBNET=10.244.5.1/24 is not node1's podCIDR 10.244.1.0/24"
        ]
    );

    // Without the flannel pod on the node, its links are leftovers of an earlier install.
    let mut s = flannel_cluster();
    s.pods
        .retain(|p| p.metadata.name.as_deref() != Some("kube-flannel-ds-b"));
    s.host = Some(Arc::new(node1_host(1, true)));
    let f = diagnose(&s);
    assert_eq!(ids(&f), [("net.leftover-links", "Node node1".to_string())]);
    assert_eq!(f[0].evidence.len(), 2);
    assert!(
        f[0].explanation
            .contains("No pod network agent runs on node1.")
    );

    // A machine that is not a node says nothing about the cluster.
    let mut s = flannel_cluster();
    let mut h = node1_host(1, true);
    h.node = None;
    h.ip_forward = Probe::Found(false);
    s.host = Some(Arc::new(h));
    assert_eq!(id_objects(&s), []);
}

fn calico_cluster() -> Snapshot {
    let mut s = snapshot();
    for (n, cidr) in [
        ("master", "10.244.0.0/24"),
        ("node1", "10.244.1.0/24"),
        ("node2", "10.244.2.0/24"),
    ] {
        s.nodes
            .push(with(node(n, "True"), json!({"spec": {"podCIDR": cidr}})));
    }
    s.configmaps.push(kubeadm_config("10.244.0.0/16"));
    s.configmaps.push(kube_proxy("10.244.0.0/16"));
    s.daemonsets.push(daemonset(
        "kube-system",
        "calico-node",
        ("k8s-app", "calico-node"),
        3,
    ));
    for (i, n) in ["master", "node1", "node2"].iter().enumerate() {
        s.pods.push(agent(
            "kube-system",
            "calico-node",
            &format!("calico-node-{}", ["a", "b", "c"][i]),
            n,
        ));
    }
    s.ip_pools.push(from(json!({
        "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": "default-ipv4-ippool"},
        "spec": {"cidr": "10.244.0.0/16", "ipipMode": "Always", "natOutgoing": true}
    })));
    for (n, cidr) in [
        ("master", "10.244.0.0/26"),
        ("node1", "10.244.1.0/26"),
        ("node2", "10.244.2.0/26"),
    ] {
        s.block_affinities.push(from(json!({
            "apiVersion": "crd.projectcalico.org/v1", "kind": "BlockAffinity",
            "metadata": {"name": format!("{n}-{}", cidr.replace(['.', '/'], "-"))},
            "spec": {"node": n, "cidr": cidr, "state": "confirmed", "deleted": "false"}
        })));
    }
    s.pods.push(with(
        pod("demo", "web-1", "node1"),
        json!({"status": {"podIP": "10.244.1.5"}}),
    ));
    s
}

#[test]
fn calico_healthy_then_broken() {
    let mut s = calico_cluster();
    assert_eq!(id_objects(&s), []);
    // The pool outside podSubnet, no block for node1, calico-node on node2 not ready.
    s.ip_pools = vec![from(json!({
        "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": "default-ipv4-ippool"},
        "spec": {"cidr": "192.168.0.0/16", "ipipMode": "Always", "natOutgoing": true}
    }))];
    s.block_affinities.retain(|b| {
        b.metadata
            .name
            .as_deref()
            .is_some_and(|n| !n.starts_with("node1"))
    });
    s.pods
        .retain(|p| p.metadata.name.as_deref() != Some("calico-node-c"));
    s.pods.push(with(
        agent("kube-system", "calico-node", "calico-node-c", "node2"),
        json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady",
            "message": "containers with unready status: [calico-node]", "lastTransitionTime": ago(600)}],
            "containerStatuses": [{"name": "calico-node", "image": "calico/node", "imageID": "", "ready": false,
                "restartCount": 0, "state": {"running": {"startedAt": ago(600)}}}]}}),
    ));
    let p = s.pods.last().cloned().unwrap();
    s.events.push(pod_event(&p, "Warning", "Unhealthy",
        "Readiness probe failed: calico/node is not ready: BIRD is not ready: BGP not established with 192.0.2.10", 30));
    s.daemonsets = vec![daemonset(
        "kube-system",
        "calico-node",
        ("k8s-app", "calico-node"),
        2,
    )];
    let f = diagnose(&s);
    assert_eq!(
        ids(&f),
        [
            (
                "net.cni-not-ready",
                "Pod kube-system/calico-node-c".to_string()
            ),
            (
                "net.pod-cidr-mismatch",
                "IPPool default-ipv4-ippool".to_string()
            ),
            ("net.calico-no-block-affinity", "Node node1".to_string()),
        ]
    );
    assert_eq!(
        f[0].evidence,
        [
            format!("Ready=False since {} (ContainersNotReady): containers with unready status: [calico-node]", ago(600)),
            format!("container calico-node: running since {}, not ready, restarted 0 times", ago(600)),
            "Unhealthy: Readiness probe failed: calico/node is not ready: BIRD is not ready: BGP not established with 192.0.2.10".to_string(),
        ]
    );
    assert!(f[0].fix.contains("TCP 179"));
    assert_eq!(
        f[1].evidence,
        [
            "IPPool default-ipv4-ippool spec.cidr: 192.168.0.0/16",
            "ConfigMap kube-system/kubeadm-config ClusterConfiguration networking.podSubnet: 10.244.0.0/16",
        ]
    );
    assert_eq!(
        f[2].evidence,
        [
            "no BlockAffinity names node1 (held: master 10.244.0.0/26, node2 10.244.2.0/26)",
            "Pod demo/web-1 on node1 has IP 10.244.1.5",
        ]
    );
}

#[test]
fn summary_rows_and_verdicts() {
    let mut s = flannel_broken();
    s.host = Some(Arc::new(node1_host(253, false)));
    let findings = diagnose(&s);
    let sum = super::summarize(&s, &findings);
    assert_eq!(sum.cni, super::CniKind::Flannel);
    assert_eq!(
        sum.facts[0],
        (
            "add-on".to_string(),
            "flannel (DaemonSet kube-flannel/kube-flannel-ds: desired 3, ready 2, available 2)"
                .to_string()
        )
    );
    assert_eq!(sum.facts[1].1, "10.244.0.0/16 (backend vxlan)");
    assert!(
        sum.facts
            .iter()
            .any(|(k, v)| k == "kube-proxy clusterCIDR" && v.starts_with("\"\" (empty"))
    );
    let rows: Vec<Vec<String>> = sum.nodes.iter().map(|n| n.cells()).collect();
    assert_eq!(
        rows[0],
        [
            "master",
            "kube-flannel-ds-a",
            "Running",
            "0",
            "10.244.0.0/24",
            "vxlan",
            "192.0.2.10",
            "0",
            "ok"
        ]
    );
    assert_eq!(rows[1][7], "1");
    assert_eq!(rows[1][8], "IP range exhausted");
    assert_eq!(rows[2][2], "CrashLoopBackOff");
    assert_eq!(rows[2][3], "6");
    assert_eq!(rows[2][7], "2");
    assert_eq!(rows[2][8], "agent crash-looping (+1)");
    assert!(
        sum.host_title
            .starts_with("Host node1 (root /lab/hosts/node1")
    );
    assert!(
        sum.host.iter().any(
            |(k, v)| k == "IPAM cbr0" && v == "253 of 253 (10.244.1.0/24) reserved, 252 leaked"
        )
    );
    assert_eq!(sum.findings.len(), 4);
}

#[test]
fn no_network_findings_without_a_network_to_judge() {
    // Bare fixtures (no add-on, no kubeadm): nodes without podCIDRs are fine.
    let mut s = snapshot();
    s.nodes.push(node("a", "True"));
    s.pods.push(pod("demo", "web", "a"));
    assert_eq!(id_objects(&s), []);
}
