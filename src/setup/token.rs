//! Bootstrap tokens as `kubeadm token create` makes them, and the join command that
//! carries one: what `:join` creates through the API and shows.

use std::time::Duration;

use serde_json::{Value, json};

/// The group kubeadm gives node bootstrap tokens (its RBAC lets them post CSRs).
pub const NODE_GROUP: &str = "system:bootstrappers:kubeadm:default-node-token";

/// kubeadm's default token lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// A fresh random token `[a-z0-9]{6}.[a-z0-9]{16}`.
pub fn new_token() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let mut part = |n: usize| -> String {
        (0..n)
            .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
            .collect()
    };
    format!("{}.{}", part(6), part(16))
}

/// The token's public id (`abcdef` of `abcdef.0123456789abcdef`).
pub fn token_id(token: &str) -> &str {
    token.split_once('.').map_or(token, |(id, _)| id)
}

/// The Secret `bootstrap-token-<id>` in kube-system as kubeadm writes it: the token,
/// its expiry, the authentication and signing usages and the node group.
pub fn secret(token: &str, expiration_rfc3339: &str, description: &str) -> Value {
    let (id, secret) = token.split_once('.').unwrap_or((token, ""));
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("bootstrap-token-{id}"), "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {
            "description": description,
            "token-id": id,
            "token-secret": secret,
            "expiration": expiration_rfc3339,
            "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true",
            "auth-extra-groups": NODE_GROUP,
        }
    })
}

/// The command the new machine runs (`kubeadm token create --print-join-command`'s).
pub fn join_command(endpoint: &str, token: &str, ca_pin: &str) -> String {
    format!("kubeadm join {endpoint} --token {token} --discovery-token-ca-cert-hash {ca_pin}")
}

/// `https://10.0.0.1:6443/` -> `10.0.0.1:6443` (a server URL without a port means 443).
pub fn endpoint_of(server: &str) -> String {
    let rest = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let host_port = rest.split('/').next().unwrap_or(rest);
    if host_port
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host_port.to_string()
    } else {
        format!("{host_port}:443")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_their_secret_have_kubeadms_shape() {
        let t = new_token();
        assert!(crate::setup::discovery::split_token(&t).is_some(), "{t}");
        let s = secret(&t, "2030-01-01T00:00:00Z", "for node3");
        assert_eq!(
            s["metadata"]["name"],
            format!("bootstrap-token-{}", token_id(&t))
        );
        assert_eq!(s["type"], "bootstrap.kubernetes.io/token");
        assert_eq!(s["stringData"]["auth-extra-groups"], NODE_GROUP);
        assert_eq!(s["stringData"]["usage-bootstrap-signing"], "true");
    }

    #[test]
    fn endpoints_come_from_the_server_url() {
        assert_eq!(endpoint_of("https://10.0.0.1:6443"), "10.0.0.1:6443");
        assert_eq!(
            endpoint_of("https://api.example.com/"),
            "api.example.com:443"
        );
        assert_eq!(
            join_command("10.0.0.1:6443", "abcdef.0123456789abcdef", "sha256:00"),
            "kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:00"
        );
    }
}
