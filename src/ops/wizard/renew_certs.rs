//! `:renew-certs`: the control plane's certificates on this machine in
//! `kubeadm certs check-expiration`'s table, and the guided renewal. Renewing runs
//! kubeadm on the control-plane machine itself (it rewrites /etc/kubernetes/pki and
//! the kubeconfigs there): when kcops runs there with kubeadm on its PATH, the plan
//! renews, re-reads every certificate (none may still be due) and restarts the static
//! pods; elsewhere the wizard ends in the exact commands, in order.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::model::host::{HostReport, Probe};
use crate::ops::op::{ObjectRef, Op};
use crate::ops::plan::{Confirmation, Plan, Step};
use crate::ops::steps::node_reset::NodeOp;

use super::{Page, Wizard, WizardOption};
use crate::diagnose::certs::WARN_BEFORE;

/// How long the static pods' manifests stay away: the kubelet looks at the directory
/// every 20 s (`fileCheckFrequency`).
pub const RESTART_PAUSE: Duration = Duration::from_secs(20);

/// `365d`, `10d`, `<invalid>` (kubeadm's RESIDUAL TIME, in days).
fn residual(left: jiff::SignedDuration) -> String {
    if left <= jiff::SignedDuration::ZERO {
        "<invalid>".to_string()
    } else {
        format!("{}d", left.as_hours() / 24)
    }
}

/// The commands that renew every leaf certificate and make the control plane load them.
pub fn renew_commands() -> Vec<String> {
    vec![
        "kubeadm certs check-expiration".into(),
        "kubeadm certs renew all".into(),
        "mkdir -p /tmp/kcops-manifests && mv /etc/kubernetes/manifests/*.yaml /tmp/kcops-manifests/ && sleep 20 && mv /tmp/kcops-manifests/*.yaml /etc/kubernetes/manifests/   # restarts the static pods".into(),
        "cp /etc/kubernetes/admin.conf $HOME/.kube/config   # admin.conf was renewed too".into(),
        "kubeadm certs check-expiration".into(),
    ]
}

/// The wizard for the certificates `host` read; `kubeadm` is the binary a plan runs
/// (`None`: not on this machine, so the commands are shown instead).
pub fn assess(host: Option<&HostReport>, kubeadm: Option<&Path>) -> Wizard {
    let node = host.and_then(|h| h.node.clone()).unwrap_or_default();
    let mut w = Wizard::new(
        "Control-plane certificates",
        ObjectRef::new("Node", None, node.as_str()),
    );
    let Some(h) = host else {
        w.block_as(
            "no host probe: kcops reads the certificates from this machine's --host-root",
            vec![],
            None,
        );
        return w;
    };
    let certs = match &h.certs {
        Probe::Found(c) => c,
        Probe::Missing => {
            w.block_as(
                format!("{} has no /etc/kubernetes/pki: this is not a control-plane machine; run kcops there", h.root),
                vec![],
                None,
            );
            return w;
        }
        Probe::Error(e) => {
            w.block_as(
                format!("cannot read /etc/kubernetes/pki: {e}"),
                vec![],
                None,
            );
            return w;
        }
    };
    let mut page =
        Page::new("CERTIFICATE                EXPIRES                  RESIDUAL TIME  CA");
    let mut due = 0;
    for c in certs {
        match &c.not_after {
            Ok(t) => {
                let left = t.duration_since(h.probed_at);
                let line = format!(
                    "{:<26} {:<24} {:<14} {}",
                    c.name,
                    t.strftime("%b %d, %Y %H:%M UTC"),
                    residual(left),
                    if c.ca { "yes" } else { "no" }
                );
                if left <= jiff::SignedDuration::ZERO {
                    due += 1;
                    page.bad(line);
                } else if left < WARN_BEFORE {
                    due += 1;
                    page.warn(line);
                } else {
                    page.ok(line);
                }
            }
            Err(e) => page.bad(format!("{:<26} cannot read {}: {e}", c.name, c.path)),
        }
    }
    w.pages.push(page);
    let run_as = format!(
        "root on {}",
        if node.is_empty() {
            "the control-plane machine"
        } else {
            &node
        }
    );
    if due == 0 {
        w.block_as(
            "nothing is due: renew when a certificate gets within 30 days of expiry (or upgrade: kubeadm upgrade renews them)",
            renew_commands(),
            Some(&run_as),
        );
        return w;
    }
    let Some(kubeadm) = kubeadm else {
        w.block_as(
            format!(
                "{due} certificate(s) expired or due: kubeadm is not on this console's PATH, so renew as root on the control-plane machine"
            ),
            renew_commands(),
            Some(&run_as),
        );
        return w;
    };
    let mut then = Page::new("After the plan");
    then.warn(format!(
        "{due} certificate(s) expired or due: the plan renews them all, checks none is still due, and restarts the control plane's static pods (the API server is away for about {}s)",
        RESTART_PAUSE.as_secs()
    ));
    then.plain("A kubeconfig copied from admin.conf holds the old client certificate: copy it again (cp /etc/kubernetes/admin.conf $HOME/.kube/config).");
    w.pages.push(then);
    let (kubeadm, host_root, confirm) = (
        kubeadm.to_path_buf(),
        PathBuf::from(&h.root),
        if node.is_empty() {
            "renew".to_string()
        } else {
            node.clone()
        },
    );
    w.set_plan(Arc::new(move |_: &[WizardOption]| {
        Plan::new(
            "Renew the control-plane certificates",
            ObjectRef::node(&confirm),
            Confirmation::TypedName(confirm.clone()),
        )
        .step(Step::new(
            Op::Node(NodeOp::RenewCerts {
                kubeadm: kubeadm.clone(),
                host_root: host_root.clone(),
            }),
            true,
        ))
        .step(Step::new(
            Op::Node(NodeOp::RestartStaticPods {
                host_root: host_root.clone(),
                pause: RESTART_PAUSE,
            }),
            true,
        ))
    }));
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::host::CertExpiry;

    #[test]
    fn the_table_marks_what_is_due_and_ends_in_kubeadms_commands() {
        let at = jiff::Timestamp::from_second(1_800_000_000).unwrap_or_default();
        let mut h = HostReport::empty("/", Some("master".into()), at);
        let cert = |name: &str, days: i64| CertExpiry {
            name: name.into(),
            path: format!("/etc/kubernetes/pki/{name}.crt"),
            ca: false,
            not_after: Ok(at + jiff::SignedDuration::from_hours(days * 24)),
        };
        h.certs = Probe::Found(vec![cert("apiserver", -2), cert("etcd-server", 200)]);
        let text = assess(Some(&h), None).render().join("\n");
        assert!(text.contains("✗ apiserver"), "{text}");
        assert!(text.contains("<invalid>"), "{text}");
        assert!(text.contains("✓ etcd-server"), "{text}");
        assert!(text.contains("1 certificate(s) expired or due"), "{text}");
        assert!(text.contains("kubeadm certs renew all"), "{text}");
        // With kubeadm here, a plan: renew (re-checked), then the static pods.
        let w = assess(Some(&h), Some(Path::new("/usr/bin/kubeadm")));
        let plan = w.plan().unwrap_or_else(|| panic!("{:#?}", w.render()));
        let steps: Vec<&str> = plan.steps.iter().map(|s| s.op.action()).collect();
        assert_eq!(steps, ["kubeadm-certs-renew", "restart-static-pods"]);
        assert_eq!(plan.confirmation, Confirmation::TypedName("master".into()));
        // Nothing due: no plan.
        h.certs = Probe::Found(vec![cert("apiserver", 200)]);
        assert!(
            assess(Some(&h), Some(Path::new("/usr/bin/kubeadm")))
                .plan()
                .is_none()
        );
    }
}
