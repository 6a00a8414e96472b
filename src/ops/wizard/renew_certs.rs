//! `:renew-certs`: the control plane's certificates on this machine in
//! `kubeadm certs check-expiration`'s table, and the guided renewal. Renewing runs
//! kubeadm as root on the control-plane machine itself (it rewrites
//! /etc/kubernetes/pki and the kubeconfigs there), so the wizard ends in the exact
//! commands, in order, rather than a plan the console would run through the API.

use crate::model::host::{HostReport, Probe};
use crate::ops::op::ObjectRef;

use super::{Page, Wizard};
use crate::diagnose::certs::WARN_BEFORE;

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

pub fn assess(host: Option<&HostReport>) -> Wizard {
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
    let why = if due == 0 {
        "nothing is due: renew when a certificate gets within 30 days of expiry (or upgrade: kubeadm upgrade renews them)".to_string()
    } else {
        format!(
            "{due} certificate(s) expired or due: renewal runs as root on this control-plane machine"
        )
    };
    w.block_as(
        why,
        renew_commands(),
        Some(&format!(
            "root on {}",
            if node.is_empty() {
                "the control-plane machine"
            } else {
                &node
            }
        )),
    );
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
        let text = assess(Some(&h)).render().join("\n");
        assert!(text.contains("✗ apiserver"), "{text}");
        assert!(text.contains("<invalid>"), "{text}");
        assert!(text.contains("✓ etcd-server"), "{text}");
        assert!(text.contains("1 certificate(s) expired or due"), "{text}");
        assert!(text.contains("kubeadm certs renew all"), "{text}");
    }
}
