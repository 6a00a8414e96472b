//! Release this node's leaked host-local IP reservations: `:release-ips [network]`.
//! Not a paged wizard (the finding already is the evidence) but the same split:
//! [`gather`] reads the latest host report from the console's snapshot; [`assess`]
//! picks the network (the first with leaks unless named) and builds the plan, or says
//! why there is none. The executor checks each file again before deleting it, and the
//! plan ends by checking the node's pods stuck on their sandbox get an address (a new
//! "no IP addresses available" failure stops it and says so).

use std::path::Path;

use super::error::WizardError;
use crate::model::snapshot::Snapshot;
use crate::ops::plan::Plan;

/// What the release needs to know; `host` is `None` until the first host report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub host: Option<Host>,
}

/// The node the console runs on and its leaked reservations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The node this machine is; `None` when it is not a known node of the cluster.
    pub node: Option<String>,
    /// The host root probed (`/` on a real node).
    pub root: String,
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

/// Reads the latest host report of the console's snapshot.
pub fn gather(s: &Snapshot) -> Facts {
    let host = s.host.as_ref().map(|report| Host {
        node: report.node.clone(),
        root: report.root.clone(),
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
    Facts { host }
}

/// The plan releasing the leaks of `network` (default: the first network with any);
/// `sandboxes_command` is how the executor lists the live sandboxes again.
pub fn assess(
    facts: &Facts,
    network: Option<&str>,
    sandboxes_command: Option<Vec<String>>,
) -> Result<Plan, WizardError> {
    let host = facts.host.as_ref().ok_or_else(|| {
        WizardError::not_found_because("host report yet", "the host probes run every 10s")
    })?;
    let node = host.node.as_deref().ok_or_else(|| {
        WizardError::not_applicable(
            "this machine",
            "is not a known node of the cluster (--node)",
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
    Ok(Plan::release_leaked(
        node,
        Path::new(&host.root),
        &leaked.network,
        sandboxes_command,
        leaked.reservations.clone(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::op::Op;

    fn leaked(network: &str, ips: &[&str]) -> Leaked {
        Leaked {
            network: network.into(),
            reservations: ips
                .iter()
                .map(|ip| (ip.to_string(), format!("sb-{ip}")))
                .collect(),
        }
    }

    fn facts() -> Facts {
        Facts {
            host: Some(Host {
                node: Some("node1".into()),
                root: "/host".into(),
                sandboxes_known: true,
                networks: vec![
                    leaked("a-net", &[]),
                    leaked("cbr0", &["10.244.1.4", "10.244.1.5"]),
                ],
            }),
        }
    }

    #[test]
    fn the_first_network_with_leaks_is_released_by_its_typed_name() {
        let plan = assess(&facts(), None, Some(vec!["crictl".into(), "pods".into()]))
            .unwrap_or_else(|e| panic!("no plan: {e}"));
        assert_eq!(
            plan.title,
            "Release leaked IP reservations of cbr0 on node1"
        );
        assert!(plan.check_confirmation("cbr0").is_ok());
        match &plan.steps[0].op {
            Op::ReleaseReservations {
                node,
                host_root,
                reservations,
                sandboxes_command,
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
    fn nothing_to_release_says_why() {
        let e = assess(&facts(), Some("a-net"), None).map(|p| p.title);
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("no leaked IP reservations to release on node1 (none found)".into())
        );
        let mut f = facts();
        if let Some(h) = f.host.as_mut() {
            h.sandboxes_known = false;
            h.networks.clear();
        }
        assert!(
            assess(&f, None, None)
                .is_err_and(|e| e.to_string().ends_with("(the live sandboxes are unknown)"))
        );
        if let Some(h) = f.host.as_mut() {
            h.node = None;
        }
        assert_eq!(
            assess(&f, None, None)
                .map(|p| p.title)
                .map_err(|e| e.to_string()),
            Err("this machine is not a known node of the cluster (--node)".into())
        );
        assert_eq!(
            assess(&Facts { host: None }, None, None)
                .map(|p| p.title)
                .map_err(|e| e.to_string()),
            Err("no host report yet (the host probes run every 10s)".into())
        );
    }
}
