//! The control plane's certificates under `/etc/kubernetes/pki`, as
//! `kubeadm certs check-expiration` lists them: each certificate's name (kubeadm's:
//! `apiserver`, `etcd-server`, `front-proxy-client`, the CAs `ca`, `etcd-ca`,
//! `front-proxy-ca`) and when it expires, read from the certificate itself (a small
//! DER walk to the validity; nothing is verified).

use base64::Engine;

use super::read::HostFiles;
use crate::model::host::{CertExpiry, Probe};

/// The files kubeadm's check-expiration reads, with its names for them.
const CERTS: [(&str, &str, bool); 10] = [
    ("/etc/kubernetes/pki/apiserver.crt", "apiserver", false),
    (
        "/etc/kubernetes/pki/apiserver-etcd-client.crt",
        "apiserver-etcd-client",
        false,
    ),
    (
        "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
        "apiserver-kubelet-client",
        false,
    ),
    (
        "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
        "etcd-healthcheck-client",
        false,
    ),
    ("/etc/kubernetes/pki/etcd/peer.crt", "etcd-peer", false),
    ("/etc/kubernetes/pki/etcd/server.crt", "etcd-server", false),
    (
        "/etc/kubernetes/pki/front-proxy-client.crt",
        "front-proxy-client",
        false,
    ),
    ("/etc/kubernetes/pki/ca.crt", "ca", true),
    ("/etc/kubernetes/pki/etcd/ca.crt", "etcd-ca", true),
    (
        "/etc/kubernetes/pki/front-proxy-ca.crt",
        "front-proxy-ca",
        true,
    ),
];

/// Every certificate of the list that exists; `Missing` when there is no
/// `/etc/kubernetes/pki` (not a control-plane machine).
pub(crate) fn read(files: &dyn HostFiles) -> Probe<Vec<CertExpiry>> {
    match files.list_dir("/etc/kubernetes/pki") {
        Probe::Found(_) => {}
        Probe::Missing => return Probe::Missing,
        Probe::Error(e) => return Probe::Error(e),
    }
    let mut out = Vec::new();
    for (path, name, ca) in CERTS {
        let not_after = match files.read_text(path) {
            Probe::Found(pem) => not_after_of_pem(&pem),
            Probe::Missing => continue,
            Probe::Error(e) => Err(e),
        };
        out.push(CertExpiry {
            name: name.to_string(),
            path: path.to_string(),
            ca,
            not_after,
        });
    }
    Probe::Found(out)
}

/// `notAfter` of the first certificate in a PEM text.
pub fn not_after_of_pem(pem: &str) -> Result<jiff::Timestamp, String> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    not_after_of_der(&der)
}

/// One DER element: (tag, contents, rest).
fn element(input: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let bad = || "truncated DER".to_string();
    let (&tag, rest) = input.split_first().ok_or_else(bad)?;
    let (&first, mut rest) = rest.split_first().ok_or_else(bad)?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(bad());
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |a, b| (a << 8) | usize::from(*b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(bad());
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

/// Certificate -> tbsCertificate -> [version] serial signature issuer validity.
pub fn not_after_of_der(der: &[u8]) -> Result<jiff::Timestamp, String> {
    let (_, cert, _) = element(der)?;
    let (_, tbs, _) = element(cert)?;
    let mut rest = tbs;
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..3 {
        rest = element(rest)?.2; // serial, signature, issuer
    }
    let (_, validity, _) = element(rest)?;
    let (_, _, after_not_before) = element(validity)?;
    let (tag, time, _) = element(after_not_before)?;
    let text = std::str::from_utf8(time).map_err(|_| "bad time".to_string())?;
    let full = match tag {
        0x17 => {
            // UTCTime: YY < 50 is 20YY (RFC 5280).
            let yy: u32 = text
                .get(..2)
                .and_then(|y| y.parse().ok())
                .ok_or("bad UTCTime")?;
            format!("{}{text}", if yy < 50 { "20" } else { "19" })
        }
        0x18 => text.to_string(),
        _ => return Err(format!("unexpected time tag {tag:#x}")),
    };
    let d = |r: std::ops::Range<usize>| full.get(r).ok_or_else(|| format!("bad time {full:?}"));
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        d(0..4)?,
        d(4..6)?,
        d(6..8)?,
        d(8..10)?,
        d(10..12)?,
        d(12..14)?
    )
    .parse::<jiff::Timestamp>()
    .map_err(|e| format!("bad time {full:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rcgen's default validity (1975-01-01 to 4096-01-01), from the lab's CA.
    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIBdTCCARugAwIBAgIUdol6qlFZ4Ql64CpEkREVkLgvfDAwCgYIKoZIzj0EAwIw\nFzEVMBMGA1UEAwwMa2NvcHMtbGFiLWNhMCAXDTc1MDEwMTAwMDAwMFoYDzQwOTYw\nMTAxMDAwMDAwWjAXMRUwEwYDVQQDDAxrY29wcy1sYWItY2EwWTATBgcqhkjOPQIB\nBggqhkjOPQMBBwNCAASunkV+YMEv8fdcLZcofgwcWPpDgLFSbtg4TsslV/+scsSY\n7t8bn2nxhT9uVxbiIUkPiJWNsfcAoq1xK4U5Nr4Xo0MwQTAPBgNVHQ8BAf8EBQMD\nB4YAMB0GA1UdDgQWBBSTKRZJurfMM8TfNWYZAmMWhxRQEzAPBgNVHRMBAf8EBTAD\nAQH/MAoGCCqGSM49BAMCA0gAMEUCIE/KvWPy+Vo0FgQWS+5lEIJ15m9UIUKvzXyE\nR4jOtZ13AiEAo90vExxqgnPlwmn+96K2PtLqvcpQBeoLxXeXlxjZSqc=\n-----END CERTIFICATE-----\n";

    #[test]
    fn not_after_is_read_from_utc_and_generalized_times() {
        assert_eq!(
            not_after_of_pem(CA).map(|t| t.to_string()),
            Ok("4096-01-01T00:00:00Z".to_string())
        );
        assert!(not_after_of_pem("no pem").is_err());
    }
}
