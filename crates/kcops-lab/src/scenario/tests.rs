use super::*;

fn err(text: &str) -> String {
    match parse(text, "x.yaml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const BASE: &str = "\
name: t
nodes:
  - name: master
    roles: [control-plane]
  - name: node1
    podCIDR: 10.244.1.0/24
";

#[test]
fn scenario_builtins_parse_and_validate() {
    for name in builtin_names() {
        let text = builtin(name).unwrap_or_default();
        let s = match parse(text, &format!("{BUILTIN_DIR}/{name}.yaml")) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(s.name, *name);
        assert!(!s.description.is_empty(), "{name} has no description");
        if *name == "rbd-failures" {
            // Cloud machines keep their provider's names; see its own test.
            continue;
        }
        if name.starts_with("csi-") {
            // ceph-csi's documented caps for client.kube on pool rbd.
            let kube = CephUser {
                name: "client.kube".into(),
                caps: CephCaps {
                    mon: Some("profile rbd".into()),
                    osd: Some("profile rbd pool=rbd".into()),
                    mgr: Some("profile rbd pool=rbd".into()),
                },
            };
            assert_eq!(s.ceph.users, [kube], "{name}");
            assert!(
                s.ceph.pools.is_empty() && s.ceph.images.is_empty(),
                "{name}"
            );
        } else {
            // No pools declared: pool rbd and client.kube only, as always.
            assert_eq!(s.ceph, CephSpec::default(), "{name}");
        }
        assert_eq!(s.console_node(), "master");
        // The ZooKeeper scenarios need a node per server under required anti-affinity.
        let workers: &[&str] = if name.starts_with("zk-") {
            &["node1", "node2", "node3", "node4", "node5"]
        } else if name.starts_with("csi-") {
            // Nothing may depend on the workers' names.
            assert_eq!(s.storage, StorageKind::CephCsi, "{name}");
            &["k8s-worker-1", "k8s-worker-2"]
        } else if *name == "kubeadm" {
            // One machine per join test: the stand-in's, :join's, :reset-node's.
            &["node1", "node2", "node3"]
        } else {
            &["node1", "node2"]
        };
        let names: Vec<&str> = s.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names[0], "master");
        assert_eq!(&names[1..], workers, "{name}");
    }
    assert_eq!(builtin_names()[0], "healthy");
    assert!(builtin("nope").is_none());
}

/// `storage` is `in-tree` (the default) or `ceph-csi`; anything else is an error with
/// its place, and ceph-csi needs a cluster from the start.
#[test]
fn scenario_storage_key_is_checked() {
    let s = parse(&format!("{BASE}storage: ceph-csi\n"), "x.yaml").map_err(|e| e.to_string());
    assert_eq!(s.map(|s| s.storage), Ok(StorageKind::CephCsi));
    let s = parse(BASE, "x.yaml").map_err(|e| e.to_string());
    assert_eq!(s.map(|s| s.storage), Ok(StorageKind::InTree));
    let e = err(&format!("{BASE}storage: csi\n"));
    assert!(
        e.starts_with("x.yaml:7:10: storage: unknown variant `csi`"),
        "{e}"
    );
    let e = err(&format!("{BASE}storage: ceph-csi\nkubeadm: true\n"));
    assert!(
        e.contains("storage: ceph-csi needs a running cluster"),
        "{e}"
    );
}

#[test]
fn scenario_load_resolves_names_and_paths() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let s = load("healthy", &dir).map_err(|e| e.to_string());
    assert_eq!(s.map(|s| s.name), Ok("healthy".to_string()));
    // Outside a checkout, the embedded copy is used.
    let s = load("flannel-broken", Path::new("/nonexistent")).map_err(|e| e.to_string());
    assert_eq!(s.map(|s| s.name), Ok("flannel-broken".to_string()));
    let e = load("nope", Path::new("/nonexistent"))
        .err()
        .map(|e| e.to_string());
    assert!(e.is_some_and(|e| e.contains("built-in: healthy, rbd-stale-lock")));
    let e = load("/nonexistent/x.yaml", &dir)
        .err()
        .map(|e| e.to_string());
    assert!(e.is_some_and(|e| e.starts_with("cannot read scenario /nonexistent/x.yaml")));
}

#[test]
fn scenario_unknown_field_names_line_and_path() {
    let e = err(&format!("{BASE}    podCidr: 10.244.2.0/24\n"));
    assert!(
        e.starts_with("x.yaml:7:5: nodes[1].podCidr: unknown field `podCidr`"),
        "{e}"
    );
}

#[test]
fn scenario_bad_cidr_names_line_and_path() {
    let text = BASE.replace("10.244.1.0/24", "10.244.1.0/33");
    let e = err(&text);
    assert_eq!(
        e,
        "x.yaml:6:14: nodes[1].podCIDR: invalid IPv4 CIDR \"10.244.1.0/33\": the prefix \
             length must be a number from 0 to 32"
    );
    // Host bits set: found by validation, reported at the key.
    let e = err(&BASE.replace("10.244.1.0/24", "10.244.1.1/24"));
    assert!(
        e.starts_with("x.yaml:6:5: nodes[1].podCIDR: podCIDR 10.244.1.1/24 has host bits"),
        "{e}"
    );
}

#[test]
fn scenario_bad_duration_names_line_and_path() {
    let text = format!("{BASE}behaviours:\n  - match: {{namespace: demo}}\n    readyAfter: 2 s\n");
    let e = err(&text);
    assert!(
        e.starts_with("x.yaml:9:17: behaviours[0].readyAfter: invalid duration \"2 s\""),
        "{e}"
    );
    let e = err(&format!("{BASE}timeline:\n  - at: 5\n    cordon: node1\n"));
    assert!(
        e.starts_with("x.yaml:8:9: timeline[0].at: invalid duration 5: a unit is missing"),
        "{e}"
    );
}

#[test]
fn scenario_unknown_node_names_line_and_path() {
    let text = format!(
        "{BASE}timeline:\n  - at: 1s\n    cordon: node1\n  - at: 2s\n    setNodeReady: {{node: node9, ready: false}}\n"
    );
    let e = err(&text);
    assert_eq!(
        e,
        "x.yaml:11:20: timeline[1].setNodeReady.node: unknown node \"node9\" (nodes: \
             master, node1)"
    );
    let text = format!("{BASE}behaviours:\n  - match:\n      node: node3\n");
    let e = err(&text);
    assert!(
        e.starts_with("x.yaml:9:7: behaviours[0].match.node: unknown node \"node3\""),
        "{e}"
    );
}

#[test]
fn scenario_timeline_entry_with_two_actions() {
    let text = format!("{BASE}timeline:\n  - at: 1s\n    cordon: node1\n    uncordon: node1\n");
    let e = err(&text);
    assert!(
        e.starts_with(
            "x.yaml:10:5: timeline[0].uncordon: a timeline entry takes exactly one action, \
                 but has both `cordon` and `uncordon`"
        ),
        "{e}"
    );
    let e = err(&format!("{BASE}timeline:\n  - at: 1s\n"));
    assert!(
        e.starts_with("x.yaml:8:5: timeline[0]: a timeline entry needs one action"),
        "{e}"
    );
}

#[test]
fn scenario_semantic_errors_are_located() {
    // Duplicate node name.
    let e = err(&format!("{BASE}  - name: node1\n"));
    assert!(
        e.starts_with("x.yaml:7:5: nodes[2].name: node \"node1\" is declared twice"),
        "{e}"
    );
    // Manifest without a name.
    let text = format!(
        "{BASE}objects:\n  - apiVersion: v1\n    kind: Namespace\n    metadata: {{labels: {{a: b}}}}\n"
    );
    let e = err(&text);
    assert!(
        e.starts_with("x.yaml:10:5: objects[0].metadata: missing field `name`"),
        "{e}"
    );
    // A kube-proxy start planted on a node that does not exist.
    let e = err(&format!(
        "{BASE}network:\n  cni: flannel\n  kubeProxyStartedWithClusterCIDR: {{node9: 10.244.0.0/16}}\n"
    ));
    assert!(
        e.contains("network.kubeProxyStartedWithClusterCIDR.node9: unknown node \"node9\""),
        "{e}"
    );
    // Member without its StatefulSet.
    let e = err(&format!(
        "{BASE}members:\n  - {{kind: etcd, statefulSet: etcd}}\n"
    ));
    assert!(
        e.starts_with("x.yaml:8:18: members[0].statefulSet: no StatefulSet default/etcd"),
        "{e}"
    );
    // Unknown placeholder, and a pod placeholder outside behaviours.
    let text = format!(
        "{BASE}objects:\n  - apiVersion: v1\n    kind: ConfigMap\n    metadata: {{name: c}}\n    data:\n      x: \"{{{{lab.nope}}}}\"\n      y: \"{{{{ .Values.x }}}} ${{HOSTNAME}}\"\n"
    );
    let e = err(&text);
    assert!(
        e.starts_with("x.yaml:12:7: objects[0].data.x: unknown placeholder {{lab.nope}}"),
        "{e}"
    );
    // A host file path escaping the host root.
    let text = format!("{BASE}    host:\n      files:\n        /../etc/passwd: x\n");
    let e = err(&text);
    assert!(
        e.starts_with("x.yaml:9:9: nodes[1].host.files[\"/../etc/passwd\"]: host file path"),
        "{e}"
    );
    // IPAM reservation outside the range.
    let id = "a".repeat(64);
    let text = format!(
        "{BASE}    host:\n      ipamReservations:\n        range: 10.244.1.0/24\n        ids: {{10.244.2.5: {id}}}\n"
    );
    let e = err(&text);
    assert!(
        e.starts_with(
            "x.yaml:10:15: nodes[1].host.ipamReservations.ids[\"10.244.2.5\"]: 10.244.2.5 is not"
        ),
        "{e}"
    );
    // Empty file, YAML syntax error.
    assert_eq!(err("  \n"), "x.yaml:1:1: the file is empty");
    let e = err("name: t\n  bad: : :\n");
    assert!(
        e.starts_with("x.yaml:2:6: mapping values are not allowed"),
        "{e}"
    );
}

#[test]
fn scenario_readme_example_parses() {
    // The README is what users copy from: its example must stay valid.
    let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/README.md"));
    let example = readme
        .split("## A short example")
        .nth(1)
        .and_then(|rest| rest.split("```yaml\n").nth(1))
        .and_then(|block| block.split("```").next())
        .unwrap_or_default();
    let s = parse(example, "README.md").map_err(|e| e.to_string());
    let Ok(s) = s else {
        panic!("{s:?}");
    };
    assert_eq!(s.name, "web-on-bad-node");
    assert_eq!(s.console_node(), "master");
    assert_eq!(s.timeline[0].at, Duration::from_secs(30));
}

#[test]
fn scenario_parse_duration_forms() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
    assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    for bad in [
        "",
        "5",
        "s",
        "2x",
        "1..5s",
        "-1s",
        "99999999999999999999999h",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn scenario_cidr_and_ipam_arithmetic() {
    let cidr: Ipv4Cidr = "10.244.1.1/24".parse().unwrap_or(Ipv4Cidr {
        addr: Ipv4Addr::UNSPECIFIED,
        prefix: 0,
    });
    assert_eq!(cidr.network(), Ipv4Addr::new(10, 244, 1, 0));
    assert_eq!(cidr.broadcast(), Ipv4Addr::new(10, 244, 1, 255));
    assert!(!cidr.is_network());
    assert!(
        "10.244.1.0/24"
            .parse::<Ipv4Cidr>()
            .is_ok_and(|c| c.is_network())
    );
    for bad in [
        "10.244.1.0",
        "10.244.1.0/",
        "10.244.1/24",
        "10.244.1.0/+4",
        "x/8",
    ] {
        assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn scenario_host_root_is_written_as_documented() {
    let Some(s) = builtin("flannel-broken").and_then(|t| parse(t, "f.yaml").ok()) else {
        panic!("flannel-broken does not parse");
    };
    let dir = std::env::temp_dir().join(format!("kcops-scenario-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap_or_else(|e| format!("<{e}>"));
    let node1 = s.node("node1").map(|n| n.host.clone()).unwrap_or_default();
    let written = node1.write_to(&dir);
    assert!(written.is_ok(), "{written:?}");
    let sandboxes = read(SANDBOXES_FILE);
    let live: Vec<&str> = sandboxes.lines().collect();
    assert!(!live.is_empty());
    assert_eq!(read("proc/sys/net/ipv4/ip_forward"), "1\n");
    assert_eq!(
        read("sys/class/net/cni0/kcops-addresses"),
        "10.244.1.1/24\n"
    );
    assert_eq!(read("sys/class/net/cni0/operstate"), "up\n");
    let ipam = dir.join("var/lib/cni/networks/cbr0");
    let mut reserved = 0;
    let mut leaked = 0;
    for last in 2..=254 {
        let content = read(&format!("var/lib/cni/networks/cbr0/10.244.1.{last}"));
        let Some((id, ifname)) = content.split_once("\r\n") else {
            panic!("10.244.1.{last}: {content:?}");
        };
        assert_eq!(ifname, "eth0");
        assert!(id.parse::<SandboxId>().is_ok());
        reserved += 1;
        if !live.contains(&id) {
            leaked += 1;
        }
    }
    assert_eq!(reserved, 253);
    assert!(leaked >= 250, "{leaked}");
    assert!(!ipam.join("10.244.1.1").exists() && !ipam.join("10.244.1.255").exists());
    assert_eq!(
        read("var/lib/cni/networks/cbr0/last_reserved_ip.0"),
        "10.244.1.254"
    );
    // node2 has no subnet.env: the scenario's point.
    let node2 = s.node("node2").map(|n| n.host.clone()).unwrap_or_default();
    assert!(!node2.files.contains_key("/run/flannel/subnet.env"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scenario_placeholders_and_behaviours() {
    let Some(s) = builtin("flannel-broken").and_then(|t| parse(t, "f.yaml").ok()) else {
        panic!("flannel-broken does not parse");
    };
    let lab = LabValues {
        ceph_monitors: "198.18.0.1:6789".into(),
        api_server: "https://127.3.0.1:6443".into(),
        ceph_admin_secret: "QUFB".into(),
        ceph_kube_secret: "QkJC".into(),
        ceph_secrets: BTreeMap::from([("fast".to_string(), "RkFTVA==".to_string())]),
    };
    let r = s.resolve(&lab);
    let text = serde_json::to_string(&r.objects).unwrap_or_default();
    assert!(text.contains("198.18.0.1:6789") && !text.contains("{{lab."));
    // The faults kcops offers to fix are states the lab plays, not behaviours.
    assert!(
        r.behaviours
            .iter()
            .all(|b| b.crash_loop.is_none() && b.sandbox_failure.is_none()),
        "{:?}",
        r.behaviours
    );
    assert!(r.network.is_some());

    // A scripted crash loop renders its pod placeholders.
    let scripted = r#"
name: scripted
nodes: [{name: node1}, {name: node2}]
behaviours:
  - match: {namespace: kube-flannel, namePrefix: kube-flannel-ds-, node: node2}
    crashLoop:
      logs:
        - 'E{{pod.klogTime}}       1 main.go:240] Failed to create SubnetManager: error retrieving pod spec for ''{{pod.namespace}}/{{pod.name}}'': i/o timeout'
  - match: {namespace: kube-flannel}
    readyAfter: 2s
"#;
    let r = match parse(scripted, "s.yaml") {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let labels = BTreeMap::from([("app".to_string(), "flannel".to_string())]);
    let pod = PodInfo {
        namespace: "kube-flannel",
        name: "kube-flannel-ds-x7k2q",
        node: Some("node2"),
        labels: &labels,
        host_network: true,
    };
    let Some(crash) = r.behaviour_for(&pod).and_then(|b| b.crash_loop.as_ref()) else {
        panic!("flannel on node2 does not crash");
    };
    let values = PodValues {
        name: pod.name.into(),
        namespace: pod.namespace.into(),
        klog_time: "0612 08:14:31.203876".into(),
        ..PodValues::default()
    };
    let last = crash
        .logs
        .last()
        .map(|l| values.render(l))
        .unwrap_or_default();
    assert_eq!(
        last,
        "E0612 08:14:31.203876       1 main.go:240] Failed to create SubnetManager: error \
         retrieving pod spec for 'kube-flannel/kube-flannel-ds-x7k2q': i/o timeout"
    );
    // The same pod on node1 runs normally.
    let on_node1 = PodInfo {
        node: Some("node1"),
        ..pod
    };
    assert!(
        r.behaviour_for(&on_node1)
            .is_some_and(|b| b.crash_loop.is_none())
    );
    assert_eq!(
        klog_time(jiff::Timestamp::from_second(0).unwrap_or_default()),
        "0101 00:00:00.000000"
    );
}

#[test]
fn rbd_failures_declares_its_pools_users_and_old_kernel() {
    let text = builtin("rbd-failures").unwrap_or_default();
    let s = parse(text, "rbd-failures.yaml").map_err(|e| e.to_string());
    let s = match s {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let pools: Vec<&str> = s.ceph.pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(pools, ["archive", "fast"]);
    assert!(
        s.nodes
            .iter()
            .all(|n| n.name.starts_with("iz2ze") && n.name.ends_with('z'))
    );
    let old = s.nodes.iter().find(|n| n.rbd_kernel_features.is_some());
    assert_eq!(
        old.and_then(|n| n.rbd_kernel_features.clone()),
        Some(vec!["layering".to_string(), "exclusive-lock".to_string()])
    );
    assert_eq!(s.ceph.images[0].features.len(), 5, "rbd's default features");
}

#[test]
fn ceph_section_is_checked() {
    let text = format!(
        "{BASE}ceph:\n  pools: [{{name: fast}}, {{name: fast, pgs: 0}}]\n  users:\n    - {{name: kube}}\n    - {{name: client.admin}}\n    - {{name: client.fast, caps: {{mon: 'profile rbd', osd: 'profile rbd pool=fast'}}}}\n  images: [{{pool: slow, name: x, features: [layering, warp]}}]\n"
    );
    let e = err(&text);
    for want in [
        "ceph.pools[1].name: pool \"fast\" is declared twice",
        "ceph.pools[1].pgs: pgs 0 is not from 1 to 128",
        "ceph.users[0].name: invalid user \"kube\": write client.<id>",
        "ceph.users[1].name: client.admin is the lab's own",
        "ceph.images[0].pool: pool \"slow\" is not declared in ceph.pools",
        "ceph.images[0].features[1]: unknown image feature \"warp\"",
    ] {
        assert!(e.contains(want), "missing {want:?} in:\n{e}");
    }
    // A declared user's key is a placeholder; an undeclared one is not.
    let ok = format!(
        "{BASE}ceph:\n  users: [{{name: client.fast, caps: {{mon: 'profile rbd'}}}}]\nobjects:\n  - {{apiVersion: v1, kind: Secret, metadata: {{name: s}}, data: {{key: '{{{{lab.cephSecret.fast}}}}'}}}}\n"
    );
    assert!(parse(&ok, "x.yaml").is_ok());
    let bad = ok.replace("cephSecret.fast", "cephSecret.slow");
    assert!(err(&bad).contains("unknown placeholder {{lab.cephSecret.slow}}"));
}

/// Every problem of a file at once, each with its own line, in line order.
#[test]
fn validation_reports_every_error_with_its_line() {
    let text = format!(
        "{BASE}consoleNode: nobody\ntimeline:\n  - at: 1s\n    cordon: node9\n  - at: 2s\n    uncordon: node8\n"
    );
    let e = err(&text);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0].starts_with("x.yaml:7:1: consoleNode: unknown node \"nobody\""),
        "{e}"
    );
    assert!(
        lines[1].starts_with("x.yaml:10:5: timeline[0].cordon: unknown node \"node9\""),
        "{e}"
    );
    assert!(
        lines[2].starts_with("x.yaml:12:5: timeline[1].uncordon: unknown node \"node8\""),
        "{e}"
    );
}

/// A manifest is decoded strictly, as `kubectl apply` with server-side field
/// validation: a misspelt field names its file:line and dotted path.
#[test]
fn unknown_manifest_fields_are_errors_with_file_and_line() {
    let text = format!(
        "{BASE}objects:\n  - apiVersion: apps/v1\n    kind: Deployment\n    metadata: {{name: web, lables: {{a: b}}}}\n    spec:\n      replcias: 2\n      selector: {{matchLabels: {{app: web}}}}\n      template:\n        metadata: {{labels: {{app: web}}}}\n        spec:\n          containers: [{{name: web, image: nginx, imagePolicy: Always}}]\n  - {{apiVersion: example.com/v1, kind: Widget, metadata: {{name: w}}, spec: {{anything: 1}}}}\n"
    );
    let e = err(&text);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0].starts_with("x.yaml:10:27: objects[0].metadata.lables: strict decoding error: unknown field \"metadata.lables\""),
        "{e}"
    );
    assert!(
        lines[1].starts_with("x.yaml:12:7: objects[0].spec.replcias: strict decoding error: unknown field \"spec.replcias\""),
        "{e}"
    );
    assert!(
        lines[2].contains("unknown field \"spec.template.spec.containers[0].imagePolicy\""),
        "{e}"
    );
    // Even when the scenario's own keys fail to parse, the manifests are checked.
    let both = text.replace("name: t\n", "name: t\nnodez: []\n");
    let e = err(&both);
    assert!(e.contains("unknown field `nodez`"), "{e}");
    assert!(e.contains("spec.replcias"), "{e}");
}

#[test]
fn the_timeline_deletes_any_object() {
    let text = format!(
        "{BASE}timeline:\n  - at: 1s\n    delete: {{kind: Secret, namespace: default, name: ceph-secret-user}}\n  - at: 2s\n    delete: {{kind: StorageClass, name: rbd, force: true}}\n"
    );
    let s = parse(&text, "x.yaml").map_err(|e| e.to_string());
    let actions: Vec<TimelineAction> = s
        .map(|s| s.timeline.into_iter().map(|t| t.action).collect())
        .unwrap_or_default();
    assert_eq!(
        actions,
        [
            TimelineAction::Delete(DeleteObject {
                kind: "Secret".into(),
                namespace: Some("default".into()),
                name: "ceph-secret-user".into(),
                force: false
            }),
            TimelineAction::Delete(DeleteObject {
                kind: "StorageClass".into(),
                namespace: None,
                name: "rbd".into(),
                force: true
            }),
        ]
    );
    assert!(
        err(&text.replace("name: rbd,", "name: '',"))
            .contains("timeline[1].delete.name: name is empty")
    );
}
