//! Release a node's leaked host-local IP reservations: `:release-ips [node] [network]`.
//! Not a paged wizard (the finding already is the evidence) but the same split:
//! [`gather`] reads the node's latest host report from the console's snapshot (its
//! own host, or one read through a debug pod); [`assess`] picks the network (the first
//! with leaks unless named) and builds the plan, or says why there is none. The
//! executor checks each file again before deleting it, on the node itself, and the
//! plan ends by checking the node's pods stuck on their sandbox get an address (a new
//! "no IP addresses available" failure stops it and says so).

use super::error::WizardError;
use crate::model::snapshot::Snapshot;
use crate::ops::op::HostAccess;
use crate::ops::plan::Plan;
use crate::ops::steps::debug_pod::DebugPodSpec;

/// What the release needs to know; `host` is `None` until the node's host was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The node asked for (`None`: the console's own).
    pub wanted: Option<String>,
    pub host: Option<Host>,
}

/// A node's host and its leaked reservations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The node this host is; `None` when the console's machine is not a known node.
    pub node: Option<String>,
    /// The host root probed (`/` on a real node), or `None` when the report was read
    /// through a debug pod (and the release goes through one too).
    pub local_root: Option<String>,
    /// The live sandboxes are known (without them nothing can be called leaked).
    pub sandboxes_known: bool,
    /// Per CNI network in name order, its reservations whose sandbox is gone.
    pub networks: Vec<Leaked>,
}

/// A network's leaked reservations, `(ip, sandbox id)` in address order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaked {
    pub network: String,
    pub reservations: Vec<(String, String)>,
}

/// Reads the host report of `node` (default: the console's own) from the snapshot.
pub fn gather(s: &Snapshot, node: Option<&str>) -> Facts {
    let report = match node {
        Some(n) => s.host_of(n),
        None => s.host.as_ref(),
    };
    let local = s.host.as_ref();
    let host = report.map(|report| Host {
        node: report.node.clone(),
        local_root: local
            .filter(|l| std::sync::Arc::ptr_eq(l, report))
            .map(|l| l.root.clone()),
        sandboxes_known: report.sandboxes.found().is_some(),
        networks: report
            .ipam
            .found()
            .into_iter()
            .flatten()
            .filter_map(|n| {
                Some(Leaked {
                    network: n.name.clone(),
                    reservations: report
                        .leaked(n)?
                        .iter()
                        .map(|r| (r.ip.to_string(), r.sandbox.clone()))
                        .collect(),
                })
            })
            .collect(),
    });
    Facts {
        wanted: node.map(str::to_string),
        host,
    }
}

/// The plan releasing the leaks of `network` (default: the first network with any).
/// `sandboxes_command` is how a local release lists the live sandboxes again; `debug`
/// is how a remote one runs.
pub fn assess(
    facts: &Facts,
    network: Option<&str>,
    sandboxes_command: Option<Vec<String>>,
    debug: &DebugPodSpec,
) -> Result<Plan, WizardError> {
    let host = facts.host.as_ref().ok_or_else(|| match &facts.wanted {
        Some(n) => WizardError::not_found_because(
            format!("host report of {n} yet"),
            format!("read it first with :probe-host {n} (a short-lived debug pod)"),
        ),
        None => WizardError::not_found_because("host report yet", "the host probes run every 10s"),
    })?;
    let node = host.node.as_deref().ok_or_else(|| {
        WizardError::not_applicable(
            "this machine",
            "is not a known node of the cluster (--node); name one: :release-ips NODE",
        )
    })?;
    let chosen = host
        .networks
        .iter()
        .filter(|n| network.is_none_or(|want| n.network == want))
        .find(|n| !n.reservations.is_empty());
    let Some(leaked) = chosen else {
        let why = if host.sandboxes_known {
            "none found"
        } else {
            "the live sandboxes are unknown"
        };
        return Err(WizardError::not_found_because(
            format!("leaked IP reservations to release on {node}"),
            why,
        ));
    };
    let via = match &host.local_root {
        Some(root) => HostAccess::Local {
            host_root: root.into(),
            sandboxes_command,
        },
        None => HostAccess::DebugPod(debug.clone()),
    };
    Ok(Plan::release_leaked(
        node,
        via,
        &leaked.network,
        leaked.reservations.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::op::Op;
    use std::path::Path;

    fn leaked(network: &str, ips: &[&str]) -> Leaked {
        Leaked {
            network: network.into(),
            reservations: ips
                .iter()
                .map(|ip| (ip.to_string(), format!("sb-{ip}")))
                .collect(),
        }
    }

    fn facts(local_root: Option<&str>) -> Facts {
        Facts {
            wanted: None,
            host: Some(Host {
                node: Some("node1".into()),
                local_root: local_root.map(str::to_string),
                sandboxes_known: true,
                networks: vec![
                    leaked("a-net", &[]),
                    leaked("cbr0", &["10.244.1.4", "10.244.1.5"]),
                ],
            }),
        }
    }

    fn debug() -> DebugPodSpec {
        DebugPodSpec {
            namespace: "kube-system".into(),
            image: "registry.local/busybox:1.36".into(),
        }
    }

    #[test]
    fn the_first_network_with_leaks_is_released_by_its_typed_name() {
        let plan = assess(
            &facts(Some("/host")),
            None,
            Some(vec!["crictl".into(), "pods".into()]),
            &debug(),
        )
        .unwrap_or_else(|e| panic!("no plan: {e}"));
        assert_eq!(
            plan.title,
            "Release leaked IP reservations of cbr0 on node1"
        );
        assert!(plan.check_confirmation("cbr0").is_ok());
        match &plan.steps[0].op {
            Op::ReleaseReservations {
                node,
                via:
                    HostAccess::Local {
                        host_root,
                        sandboxes_command,
                    },
                reservations,
                ..
            } => {
                assert_eq!(node, "node1");
                assert_eq!(host_root, Path::new("/host"));
                assert_eq!(reservations.len(), 2);
                assert_eq!(sandboxes_command.as_deref().map(<[String]>::len), Some(2));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_node_read_through_a_debug_pod_is_released_through_one_and_the_plan_says_so() {
        let plan =
            assess(&facts(None), None, None, &debug()).unwrap_or_else(|e| panic!("no plan: {e}"));
        match &plan.steps[0].op {
            Op::ReleaseReservations {
                via: HostAccess::DebugPod(d),
                ..
            } => assert_eq!(d, &debug()),
            other => panic!("{other:?}"),
        }
        let text = plan.steps[0].op.describe();
        assert!(
            text.contains("through a debug pod in kube-system (image registry.local/busybox:1.36"),
            "{text}"
        );
    }

    #[test]
    fn nothing_to_release_says_why() {
        let d = debug();
        let e = assess(&facts(Some("/")), Some("a-net"), None, &d).map(|p| p.title);
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("no leaked IP reservations to release on node1 (none found)".into())
        );
        let mut f = facts(Some("/"));
        if let Some(h) = f.host.as_mut() {
            h.sandboxes_known = false;
            h.networks.clear();
        }
        assert!(
            assess(&f, None, None, &d)
                .is_err_and(|e| e.to_string().ends_with("(the live sandboxes are unknown)"))
        );
        if let Some(h) = f.host.as_mut() {
            h.node = None;
        }
        assert_eq!(
            assess(&f, None, None, &d)
                .map(|p| p.title)
                .map_err(|e| e.to_string()),
            Err("this machine is not a known node of the cluster (--node); name one: :release-ips NODE".into())
        );
        assert_eq!(
            assess(
                &Facts {
                    wanted: None,
                    host: None
                },
                None,
                None,
                &d
            )
            .map(|p| p.title)
            .map_err(|e| e.to_string()),
            Err("no host report yet (the host probes run every 10s)".into())
        );
        assert_eq!(
            assess(&Facts { wanted: Some("node2".into()), host: None }, None, None, &d)
                .map(|p| p.title)
                .map_err(|e| e.to_string()),
            Err("no host report of node2 yet (read it first with :probe-host node2 (a short-lived debug pod))".into())
        );
    }
}
