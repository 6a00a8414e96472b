//! Bootstrap tokens as the control plane sees them: the Secrets that hold them, the
//! detached JWS the bootstrap signer puts into `cluster-info` for each, and the CA
//! public-key pin (`sha256:<hex>` of the CA's SubjectPublicKeyInfo) that joins check.

use base64::Engine;
use serde_json::Value;

/// `bootstrap.kubernetes.io/token`: the Secret type of a bootstrap token.
pub const SECRET_TYPE: &str = "bootstrap.kubernetes.io/token";
/// The ConfigMap key prefix of a token's signature in kube-public/cluster-info.
pub const JWS_PREFIX: &str = "jws-kubeconfig-";
/// The regular expression kubeadm names when a token is malformed.
pub const TOKEN_PATTERN: &str = r"\A([a-z0-9]{6})\.([a-z0-9]{16})\z";

/// `abcdef.0123456789abcdef` split into id and secret, when it has that form.
pub fn split(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| {
        s.len() == n
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The detached JWS (`<header>..<signature>`, HS256, key = the token secret) over
/// `content`, as `k8s.io/cluster-bootstrap/token/jws` computes it.
pub fn detached_jws(content: &str, token_id: &str, token_secret: &str) -> String {
    let header = b64url(format!(r#"{{"alg":"HS256","kid":"{token_id}"}}"#).as_bytes());
    let signing_input = format!("{header}.{}", b64url(content.as_bytes()));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, token_secret.as_bytes());
    let tag = ring::hmac::sign(&key, signing_input.as_bytes());
    format!("{header}..{}", b64url(tag.as_ref()))
}

/// `sha256:<hex>` of a DER SubjectPublicKeyInfo: kubeadm's CA pin.
pub fn spki_pin(spki_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A bootstrap token Secret's fields, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSecret {
    pub id: String,
    pub secret: String,
    /// RFC 3339; absent: never expires.
    pub expiration: Option<String>,
    pub signing: bool,
    pub authentication: bool,
}

impl TokenSecret {
    /// Reads a Secret object; `None` unless it is a well-formed bootstrap token.
    pub fn from_secret(obj: &Value) -> Option<TokenSecret> {
        if obj["type"].as_str() != Some(SECRET_TYPE) {
            return None;
        }
        let field = |k: &str| {
            obj["data"][k].as_str().and_then(|v| {
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
            })
        };
        let id = field("token-id")?;
        let secret = field("token-secret")?;
        split(&format!("{id}.{secret}"))?;
        if obj["metadata"]["name"].as_str() != Some(&format!("bootstrap-token-{id}")) {
            return None;
        }
        Some(TokenSecret {
            id,
            secret,
            expiration: field("expiration"),
            signing: field("usage-bootstrap-signing").as_deref() == Some("true"),
            authentication: field("usage-bootstrap-authentication").as_deref() == Some("true"),
        })
    }

    /// Whether the token has expired at `now` (an unreadable expiration counts as
    /// expired, as the token cleaner treats it).
    pub fn expired(&self, now: jiff::Timestamp) -> bool {
        match &self.expiration {
            None => false,
            Some(e) => e.parse::<jiff::Timestamp>().map_or(true, |t| t <= now),
        }
    }
}

/// The pins of every certificate in a PEM bundle (`certificate-authority-data`).
pub fn ca_pins(pem: &str) -> Result<Vec<String>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("failed to parse cluster CA: {e}"))?;
    if certs.is_empty() {
        return Err(
            "failed to parse cluster CA: data does not contain any valid RSA or ECDSA certificates"
                .into(),
        );
    }
    certs
        .iter()
        .map(|der| {
            webpki::EndEntityCert::try_from(der)
                .map(|c| spki_pin(c.subject_public_key_info().as_ref()))
                .map_err(|e| format!("failed to parse cluster CA: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_kubeadms_form() {
        assert_eq!(
            split("abcdef.0123456789abcdef"),
            Some(("abcdef", "0123456789abcdef"))
        );
        assert_eq!(split("ABCDEF.0123456789abcdef"), None);
        assert_eq!(split("abcdef.0123456789abcde"), None);
        assert_eq!(split("abcdef0123456789abcdef"), None);
    }

    #[test]
    fn the_detached_jws_matches_cluster_bootstraps() {
        // The controller manager's bootstrap signer test (pkg/controller/bootstrap).
        assert_eq!(
            detached_jws("payload", "abc123", "tokenSecret"),
            "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiYzEyMyJ9..QSxpUG7Q542CirTI2ECPSZjvBOJURUW5a7XqFpNI958"
        );
    }
}
