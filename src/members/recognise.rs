//! Which workloads are ensembles, without configuration: a StatefulSet whose pod
//! template looks like ZooKeeper (image or command naming zookeeper/zkServer, or its
//! ports 2181/2888/3888) or like etcd (an image named etcd, a command or arguments that run
//! `etcd`, or container ports 2379/2380), unless its `kcops.io/ensemble` annotation
//! says otherwise (`etcd` or `zookeeper` forces it, `none` opts out); and kubeadm's stacked etcd (the
//! static pods `etcd-<node>` in kube-system labelled `component=etcd`).
//!
//! Pods are looked up by name (`<statefulset>-<ordinal>`, `etcd-<node>`), so the member
//! poll never walks every pod of a large cluster.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, Node, PodSpec};

use crate::model::members::{EnsembleKind, Owner};
use crate::model::pod::Pod;

/// The StatefulSet annotation that forces (`etcd`, `zookeeper`) or refuses (`none`)
/// recognition.
pub const ANNOTATION: &str = "kcops.io/ensemble";
/// The StatefulSet annotation naming a directory on the console's host with the client
/// certificate for a TLS ensemble: `ca.crt`, `tls.crt`, `tls.key`.
pub const TLS_DIR_ANNOTATION: &str = "kcops.io/etcd-tls-dir";
/// Where kubeadm keeps the stacked etcd's certificates (read relative to the host root).
pub const KUBEADM_PKI: &str = "etc/kubernetes/pki/etcd";
/// etcd's client port, where a template names none.
pub const ETCD_CLIENT_PORT: u16 = 2379;
/// ZooKeeper's client port, where a template names none.
pub const ZOOKEEPER_CLIENT_PORT: u16 = 2181;

/// How members of an ensemble are reached over TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tls {
    /// Plain HTTP.
    Off,
    /// kubeadm's certificates under the host root's `/etc/kubernetes/pki/etcd`.
    Kubeadm,
    /// The files `ca.crt`, `tls.crt`, `tls.key` in this directory (annotation).
    Dir(String),
    /// The template serves TLS and kcops was given no client certificate for it.
    NoCertificate,
}

/// A recognised ensemble: what runs it and its pods now.
#[derive(Debug, Clone)]
pub struct Target {
    pub kind: EnsembleKind,
    pub owner: Owner,
    /// The StatefulSet's `spec.replicas` (`None` for static pods).
    pub replicas: Option<i32>,
    /// Pods of the ensemble that exist, in ordinal (or node) order.
    pub pods: Vec<Arc<Pod>>,
    /// The port clients (and kcops) reach a member on.
    pub client_port: u16,
    pub tls: Tls,
    /// Recognised by its annotation rather than by its looks.
    pub by_annotation: bool,
    /// The StatefulSet's volume claim template names (`data` makes `data-etcd-2`).
    pub claim_templates: Vec<String>,
    /// The static server list's size a ZooKeeper template writes into `zoo.cfg`
    /// (`start-zookeeper --servers=3`), if it says.
    pub servers: Option<u32>,
}

/// Every ensemble among `statefulsets` and the static pods of `nodes`; `pod` finds a
/// pod by namespace and name.
pub fn recognise<'a>(
    statefulsets: impl IntoIterator<Item = &'a Arc<StatefulSet>>,
    nodes: impl IntoIterator<Item = &'a Arc<Node>>,
    pod: impl Fn(&str, &str) -> Option<Arc<Pod>>,
) -> Vec<Target> {
    let mut out: Vec<Target> = statefulsets
        .into_iter()
        .filter_map(|s| statefulset(s, &pod))
        .collect();
    out.extend(kubeadm(nodes, &pod));
    out
}

fn statefulset(sts: &StatefulSet, pod: &impl Fn(&str, &str) -> Option<Arc<Pod>>) -> Option<Target> {
    let namespace = sts.metadata.namespace.clone().unwrap_or_default();
    let name = sts.metadata.name.clone()?;
    let annotations = sts.metadata.annotations.as_ref();
    let forced = annotations
        .and_then(|a| a.get(ANNOTATION))
        .map(|v| v.trim());
    let spec = sts.spec.as_ref()?;
    let template = spec.template.spec.as_ref();
    let kind = match forced {
        Some("none") => return None,
        Some(v) if v.eq_ignore_ascii_case("etcd") => EnsembleKind::Etcd,
        Some(v) if v.eq_ignore_ascii_case("zookeeper") => EnsembleKind::ZooKeeper,
        _ if template.is_some_and(looks_like_zookeeper) => EnsembleKind::ZooKeeper,
        _ if template.is_some_and(looks_like_etcd) => EnsembleKind::Etcd,
        _ => return None,
    };
    let replicas = spec.replicas.unwrap_or(1);
    let mut pods = Vec::new();
    for ordinal in 0..=(replicas.max(0) + 64) {
        match pod(&namespace, &format!("{name}-{ordinal}")) {
            Some(p) => pods.push(p),
            None if ordinal >= replicas => break,
            None => {}
        }
    }
    let tls_dir = annotations
        .and_then(|a| a.get(TLS_DIR_ANNOTATION))
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty());
    let tls = match (template.is_some_and(serves_tls), tls_dir) {
        _ if kind == EnsembleKind::ZooKeeper => Tls::Off,
        (false, _) => Tls::Off,
        (true, Some(dir)) => Tls::Dir(dir),
        (true, None) => Tls::NoCertificate,
    };
    Some(Target {
        kind,
        owner: Owner::StatefulSet { namespace, name },
        replicas: Some(replicas),
        pods,
        client_port: template
            .and_then(|t| client_port(t, kind))
            .unwrap_or(match kind {
                EnsembleKind::Etcd => ETCD_CLIENT_PORT,
                EnsembleKind::ZooKeeper => ZOOKEEPER_CLIENT_PORT,
            }),
        tls,
        by_annotation: forced.is_some(),
        claim_templates: spec
            .volume_claim_templates
            .iter()
            .flatten()
            .filter_map(|c| c.metadata.name.clone())
            .collect(),
        servers: template.and_then(zookeeper_servers),
    })
}

/// kubeadm's stacked etcd: `kube-system/etcd-<node>` labelled `component=etcd`.
fn kubeadm<'a>(
    nodes: impl IntoIterator<Item = &'a Arc<Node>>,
    pod: &impl Fn(&str, &str) -> Option<Arc<Pod>>,
) -> Option<Target> {
    // One buffer for the 5,000 names of a big cluster.
    let mut name = String::from("etcd-");
    let pods: Vec<Arc<Pod>> = nodes
        .into_iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .filter_map(|n| {
            name.truncate("etcd-".len());
            name.push_str(n);
            pod("kube-system", &name)
        })
        .filter(|p| {
            p.metadata
                .labels()
                .and_then(|l| l.get("component"))
                .is_some_and(|c| c == "etcd")
        })
        .collect();
    (!pods.is_empty()).then(|| Target {
        kind: EnsembleKind::Etcd,
        owner: Owner::StaticPods {
            namespace: "kube-system".to_string(),
        },
        replicas: None,
        pods,
        client_port: ETCD_CLIENT_PORT,
        tls: Tls::Kubeadm,
        by_annotation: false,
        claim_templates: Vec::new(),
        servers: None,
    })
}

/// The words a container runs: command, args and env values.
fn words(c: &Container) -> impl Iterator<Item = &str> {
    c.command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .map(String::as_str)
        .chain(c.env.iter().flatten().filter_map(|e| e.value.as_deref()))
}

fn runs_etcd(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'))
        .any(|w| w == "etcd" || w.ends_with("/etcd"))
}

/// An image named etcd, a command that runs `etcd`, or etcd's ports.
pub(crate) fn looks_like_etcd(spec: &PodSpec) -> bool {
    spec.containers.iter().any(|c| {
        c.image
            .as_deref()
            .is_some_and(|i| i.to_ascii_lowercase().contains("etcd"))
            || c.command
                .iter()
                .chain(c.args.iter())
                .flatten()
                .any(|w| runs_etcd(w))
            || c.ports
                .iter()
                .flatten()
                .any(|p| matches!(p.container_port, 2379 | 2380))
    })
}

/// An image or command naming ZooKeeper (`zookeeper`, `zkServer.sh`,
/// `start-zookeeper`), or ZooKeeper's ports 2181/2888/3888 together.
pub(crate) fn looks_like_zookeeper(spec: &PodSpec) -> bool {
    let named = |w: &str| {
        let lower = w.to_ascii_lowercase();
        lower.contains("zookeeper") || lower.contains("zkserver")
    };
    spec.containers.iter().any(|c| {
        c.image.as_deref().is_some_and(named)
            || c.command
                .iter()
                .chain(c.args.iter())
                .flatten()
                .any(|w| named(w))
            || {
                let ports: Vec<i32> = c.ports.iter().flatten().map(|p| p.container_port).collect();
                [2181, 2888, 3888].iter().all(|p| ports.contains(p))
            }
    })
}

/// `--servers=N` in the template's command or arguments (the kubernetes-zookeeper
/// image's `start-zookeeper`), the size of its static server list.
fn zookeeper_servers(spec: &PodSpec) -> Option<u32> {
    spec.containers
        .iter()
        .flat_map(|c| c.command.iter().chain(c.args.iter()).flatten())
        .flat_map(|w| w.split(|c: char| c.is_whitespace() || c == '\\'))
        .find_map(|tok| tok.strip_prefix("--servers=")?.trim().parse().ok())
}

/// The template serves clients over TLS (`https://` client URLs, flags or env).
fn serves_tls(spec: &PodSpec) -> bool {
    spec.containers.iter().flat_map(words).any(|w| {
        w.split(|c: char| c.is_whitespace() || c == '\\')
            .any(|tok| {
                let lower = tok.to_ascii_lowercase();
                (lower.contains("client-urls=https://") || lower.starts_with("https://"))
                    && !lower.contains(":2380")
            })
            || w.contains("--client-cert-auth")
    })
}

/// The container port named `client` (or the kind's usual one).
fn client_port(spec: &PodSpec, kind: EnsembleKind) -> Option<u16> {
    let usual = match kind {
        EnsembleKind::Etcd => 2379,
        EnsembleKind::ZooKeeper => 2181,
    };
    let ports = || {
        spec.containers
            .iter()
            .flat_map(|c| c.ports.iter().flatten())
    };
    ports()
        .find(|p| p.name.as_deref() == Some("client"))
        .or_else(|| ports().find(|p| p.container_port == usual))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sts(v: serde_json::Value) -> Arc<StatefulSet> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn template(container: serde_json::Value) -> Arc<StatefulSet> {
        sts(json!({"metadata": {"name": "db", "namespace": "default"},
            "spec": {"replicas": 3, "serviceName": "db", "selector": {},
              "template": {"spec": {"containers": [container]}}}}))
    }

    fn none(_: &str, _: &str) -> Option<Arc<Pod>> {
        None
    }

    fn found(s: &Arc<StatefulSet>) -> bool {
        !recognise([s], [], none).is_empty()
    }

    #[test]
    fn zookeeper_is_recognised_with_its_server_list_and_client_port() {
        let kind = |s: &Arc<StatefulSet>| recognise([s], [], none).first().map(|t| t.kind);
        // Seed 003's template: the image names it, `--servers=3` sizes zoo.cfg.
        let seed = template(json!({"name": "kubernetes-zookeeper",
            "image": "gcr.io/google_containers/kubernetes-zookeeper:1.0-3.4.10",
            "command": ["sh", "-c", "start-zookeeper \\ --servers=3 \\ --client_port=2181"],
            "ports": [{"containerPort": 2181, "name": "client"}]}));
        let t = recognise([&seed], [], none).remove(0);
        assert_eq!(t.kind, EnsembleKind::ZooKeeper);
        assert_eq!(t.servers, Some(3));
        assert_eq!(t.client_port, 2181);
        assert_eq!(t.tls, Tls::Off);
        let by_command = template(json!({"name": "c", "image": "registry/coord:1",
            "command": ["/opt/zk/bin/zkServer.sh", "start-foreground"]}));
        assert_eq!(kind(&by_command), Some(EnsembleKind::ZooKeeper));
        let by_ports = template(json!({"name": "c", "image": "registry/coord:1",
            "ports": [{"containerPort": 2181}, {"containerPort": 2888}, {"containerPort": 3888}]}));
        let t = recognise([&by_ports], [], none).remove(0);
        assert_eq!(
            (t.kind, t.servers, t.client_port),
            (EnsembleKind::ZooKeeper, None, 2181)
        );
        // 2181 alone is any client port; the annotation forces it.
        let plain = template(json!({"name": "c", "image": "registry/coord:1",
            "ports": [{"containerPort": 2181}]}));
        assert_eq!(kind(&plain), None);
        let mut forced = (*plain).clone();
        forced.metadata.annotations =
            Some([(ANNOTATION.to_string(), "zookeeper".to_string())].into());
        assert_eq!(kind(&Arc::new(forced)), Some(EnsembleKind::ZooKeeper));
    }

    #[test]
    fn etcd_is_recognised_by_image_command_or_ports() {
        assert!(found(&template(
            json!({"name": "c", "image": "quay.io/coreos/etcd:v3.4.23"})
        )));
        assert!(found(&template(
            json!({"name": "c", "image": "registry/kv:1",
            "command": ["/bin/sh", "-ec", "exec etcd --name ${HOSTNAME}"]})
        )));
        assert!(found(&template(
            json!({"name": "c", "image": "registry/kv:1",
            "command": ["/usr/local/bin/etcd"]})
        )));
        assert!(found(&template(
            json!({"name": "c", "image": "registry/kv:1",
            "ports": [{"containerPort": 2380}]})
        )));
        assert!(!found(&template(
            json!({"name": "c", "image": "postgres:16",
            "args": ["--etcd-servers=https://127.0.0.1:2379"]})
        )));
    }

    #[test]
    fn the_annotation_forces_or_refuses() {
        let mut plain = (*template(json!({"name": "c", "image": "registry/kv:1"}))).clone();
        plain.metadata.annotations = Some([(ANNOTATION.to_string(), "etcd".to_string())].into());
        let t = recognise([&Arc::new(plain)], [], none);
        assert_eq!(t.len(), 1);
        assert!(t[0].by_annotation);
        let mut refused = (*template(json!({"name": "c", "image": "etcd:3"}))).clone();
        refused.metadata.annotations = Some([(ANNOTATION.to_string(), "none".to_string())].into());
        assert!(recognise([&Arc::new(refused)], [], none).is_empty());
    }

    #[test]
    fn tls_is_seen_in_the_client_urls() {
        let plain = template(
            json!({"name": "c", "image": "etcd", "command": ["/bin/sh", "-ec",
            "exec etcd --listen-client-urls http://${POD_IP}:2379 --advertise-client-urls http://${POD_IP}:2379"]}),
        );
        assert_eq!(recognise([&plain], [], none)[0].tls, Tls::Off);
        let tls = template(json!({"name": "c", "image": "etcd", "command": ["etcd",
            "--listen-client-urls=https://0.0.0.0:2379", "--listen-peer-urls=http://0.0.0.0:2380"]}));
        assert_eq!(recognise([&tls], [], none)[0].tls, Tls::NoCertificate);
    }

    #[test]
    fn pods_are_looked_up_by_ordinal_and_static_pods_by_node() {
        let s = template(json!({"name": "c", "image": "etcd"}));
        let pod = |ns: &str, name: &str| -> Option<Arc<Pod>> {
            let labels = if ns == "kube-system" {
                json!({"component": "etcd"})
            } else {
                json!({})
            };
            ["db-0", "db-2", "db-3", "etcd-master"]
                .contains(&name)
                .then(|| {
                    Arc::new(
                        serde_json::from_value(json!({"metadata": {"name": name,
                    "namespace": ns, "labels": labels}}))
                        .unwrap(),
                    )
                })
        };
        let node: Arc<Node> =
            Arc::new(serde_json::from_value(json!({"metadata": {"name": "master"}})).unwrap());
        let t = recognise([&s], [&node], pod);
        let names: Vec<_> = t[0]
            .pods
            .iter()
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        assert_eq!(
            names,
            ["db-0", "db-2", "db-3"],
            "db-1 is missing; db-3 is past replicas but present"
        );
        assert_eq!(
            t[1].owner,
            Owner::StaticPods {
                namespace: "kube-system".into()
            }
        );
        assert_eq!(t[1].tls, Tls::Kubeadm);
        assert_eq!(t[1].replicas, None);
    }
}
