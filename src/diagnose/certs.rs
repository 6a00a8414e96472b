//! `cert.expired` and `cert.expiring`: the control plane's certificates on this
//! machine, as `kubeadm certs check-expiration` shows them. kubeadm renews the leaf
//! certificates on upgrade only; a cluster left alone for a year stops with "x509:
//! certificate has expired". Judged at the host probe's time (the snapshot's view).

use super::{Finding, Severity};
use crate::model::host::CertExpiry;
use crate::model::snapshot::Snapshot;

/// Warn this long before a certificate expires.
pub const WARN_BEFORE: jiff::SignedDuration = jiff::SignedDuration::from_hours(30 * 24);

fn renew_fix(c: &CertExpiry) -> String {
    if c.ca {
        format!(
            "{} is a certificate authority: kubeadm does not renew it; rotate it by hand (https://kubernetes.io/docs/tasks/tls/manual-rotation-of-ca-certificates/) before it expires, or every certificate it signed stops being trusted.",
            c.name
        )
    } else {
        format!(
            "On this control-plane machine, as root: kubeadm certs renew {} (or `kubeadm certs renew all`), then restart the control plane's static pods (move each manifest out of /etc/kubernetes/manifests and back) so they load it; :renew-certs shows the table and the steps.",
            c.name
        )
    }
}

pub fn check(s: &Snapshot, out: &mut Vec<Finding>) {
    let Some(r) = s.host.as_deref() else {
        return;
    };
    let Some(certs) = r.certs.found() else {
        return;
    };
    let now = r.probed_at;
    for c in certs {
        let Ok(not_after) = c.not_after else {
            continue;
        };
        let left = not_after.duration_since(now);
        let (id, severity, state) = if left <= jiff::SignedDuration::ZERO {
            (
                "cert.expired",
                Severity::Critical,
                format!("expired {not_after}"),
            )
        } else if left < WARN_BEFORE {
            (
                "cert.expiring",
                Severity::Warning,
                format!("expires {not_after}, in {}d", left.as_hours() / 24),
            )
        } else {
            continue;
        };
        out.push(Finding {
            id,
            severity,
            subject: None,
            object: format!("Certificate {}", c.name),
            namespace: None,
            node: r.node.clone(),
            evidence: vec![format!("{} ({}): {state}", c.path, c.name)],
            explanation: format!(
                "The control plane's {} certificate{} {state}: what presents or trusts it then fails with \"x509: certificate has expired or is not yet valid\".",
                c.name,
                if c.ca { " authority" } else { "" }
            ),
            fix: renew_fix(c),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::diagnose;
    use super::super::fixtures::*;
    use crate::model::host::{CertExpiry, HostReport, Probe};

    #[test]
    fn expired_and_expiring_certificates_are_found_the_rest_not() {
        let mut s = snapshot();
        s.nodes = vec![node("master", "True")].into();
        let at = now();
        let mut r = HostReport::empty("/", Some("master".into()), at);
        let cert = |name: &str, days: i64| CertExpiry {
            name: name.into(),
            path: format!("/etc/kubernetes/pki/{name}.crt"),
            ca: false,
            not_after: Ok(at + jiff::SignedDuration::from_hours(days * 24)),
        };
        r.certs = Probe::Found(vec![
            cert("apiserver", -1),
            cert("etcd-server", 10),
            cert("front-proxy-client", 300),
        ]);
        s.host = Some(Arc::new(r));
        let found = diagnose(&s);
        let ours: Vec<(&str, &str)> = found
            .iter()
            .filter(|f| f.id.starts_with("cert."))
            .map(|f| (f.id, f.object.as_str()))
            .collect();
        assert_eq!(
            ours,
            [
                ("cert.expired", "Certificate apiserver"),
                ("cert.expiring", "Certificate etcd-server")
            ]
        );
        let expired = found
            .iter()
            .find(|f| f.id == "cert.expired")
            .map(|f| f.fix.clone())
            .unwrap_or_default();
        assert!(
            expired.contains("kubeadm certs renew apiserver"),
            "{expired}"
        );
    }
}
