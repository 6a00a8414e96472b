//! Kubernetes client errors as one typed value at the kube boundary: callers match on
//! what went wrong (unreachable API server, 403 from RBAC, expired credentials, ...)
//! and show its `Display`, which says it in an operator's words.

use std::fmt;

use ::kube::core::Status;

use super::connect::ConnectError;

/// Why the API server could not be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    Refused,
    TimedOut,
    /// The server's host name does not resolve (NXDOMAIN, no such host).
    NoSuchHost,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unreachable::Refused => "connection refused",
            Unreachable::TimedOut => "timed out",
            Unreachable::NoSuchHost => "its host name does not resolve (DNS)",
        })
    }
}

/// A failed request, list or watch against the API server, or a kubeconfig that gives
/// no client at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// No answer: the connection was refused or timed out. Retrying may help.
    #[error("cannot reach the API server at {server}: {why}")]
    Unreachable { server: String, why: Unreachable },
    /// 401: the credentials were rejected (expired token or certificate).
    #[error("unauthorized: the API server at {server} rejected our credentials")]
    Unauthorized { server: String },
    /// 403: RBAC does not allow this user the request.
    #[error("forbidden by RBAC: {message}")]
    Forbidden { message: String },
    /// 404 on a request (a watch's 404 is an [`KubeError::Api`] with `watch`).
    #[error("API error 404 ({reason}): {message}")]
    NotFound { reason: String, message: String },
    /// Any other status the API server answered with; `watch` when it came inside a
    /// watch stream rather than as a response.
    #[error("{} error {code} ({reason}): {message}", if *.watch { "watch" } else { "API" })]
    Api {
        code: u16,
        reason: String,
        message: String,
        watch: bool,
    },
    /// The TLS handshake failed (an unknown CA, a wrong server name, ...).
    #[error("TLS error talking to {server}: {detail}")]
    Tls { server: String, detail: String },
    /// The connection was made (or is pending) but nothing came back in time: a hung
    /// server, a proxy that swallows requests, a firewall that drops packets.
    #[error("the API server at {server} did not answer within {after_secs}s")]
    NoAnswer { server: String, after_secs: u64 },
    /// The exec credential plugin failed. Its arguments and output are never kept:
    /// they may hold a token.
    #[error("the credential plugin (exec) of the kubeconfig failed: {status}")]
    CredentialPlugin { status: String },
    /// The kubeconfig gives no client.
    #[error(transparent)]
    Config(#[from] ConnectError),
    /// Anything else, as the client said it (with its causes).
    #[error("{0}")]
    Other(String),
}

impl KubeError {
    /// Classifies a client error; `server` is the API server's address, for the text.
    pub(crate) fn from_kube(err: &::kube::Error, server: &str) -> KubeError {
        if let Some(status) = failed_plugin_status(err) {
            return KubeError::CredentialPlugin { status };
        }
        match err {
            ::kube::Error::Api(resp) => Self::from_response(resp, server, false),
            ::kube::Error::RustlsTls(_) => KubeError::Tls {
                server: server.to_string(),
                detail: error_chain(err),
            },
            other => Self::from_transport(other, server),
        }
    }

    /// Classifies a watcher error (a failed list or watch, or an error event).
    pub(crate) fn from_watcher(err: &::kube::runtime::watcher::Error, server: &str) -> KubeError {
        use ::kube::runtime::watcher::Error as W;
        match err {
            W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => {
                Self::from_kube(e, server)
            }
            W::WatchError(resp) => Self::from_response(resp, server, true),
            other => KubeError::Other(error_chain(other)),
        }
    }

    /// The connection failed or timed out: the API server may come back by itself.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            KubeError::Unreachable { .. } | KubeError::NoAnswer { .. }
        )
    }

    /// Asking again will get the same answer: the credentials, the CA, the address or
    /// the kubeconfig are wrong, so `kcops check` stops at the first one instead of
    /// retrying until its timeout. A timeout or a 5xx may pass; these do not.
    pub(crate) fn is_definitive(&self) -> bool {
        match self {
            KubeError::Unreachable { why, .. } => {
                matches!(why, Unreachable::Refused | Unreachable::NoSuchHost)
            }
            KubeError::Unauthorized { .. }
            | KubeError::Forbidden { .. }
            | KubeError::Tls { .. }
            | KubeError::CredentialPlugin { .. }
            | KubeError::Config(_) => true,
            KubeError::Api { code, .. } => (400..500).contains(code) && *code != 429,
            KubeError::NotFound { .. } => true,
            KubeError::NoAnswer { .. } | KubeError::Other(_) => false,
        }
    }

    fn from_response(resp: &Status, server: &str, watch: bool) -> KubeError {
        match resp.code {
            403 => KubeError::Forbidden {
                message: resp.message.clone(),
            },
            401 if !watch => KubeError::Unauthorized {
                server: server.to_string(),
            },
            404 if !watch => KubeError::NotFound {
                reason: resp.reason.clone(),
                message: resp.message.clone(),
            },
            code => KubeError::Api {
                code,
                reason: resp.reason.clone(),
                message: resp.message.clone(),
                watch,
            },
        }
    }

    /// No status from the server: the connection's fate decides, read from the
    /// `io::Error` among the causes, else from the causes' words.
    fn from_transport(err: &::kube::Error, server: &str) -> KubeError {
        let text = error_chain(err);
        let why = io_kind(err)
            .and_then(|kind| match kind {
                std::io::ErrorKind::ConnectionRefused => Some(Unreachable::Refused),
                std::io::ErrorKind::TimedOut => Some(Unreachable::TimedOut),
                _ => None,
            })
            .or_else(|| {
                let lower = text.to_ascii_lowercase();
                if lower.contains("connection refused") {
                    Some(Unreachable::Refused)
                } else if lower.contains("failed to lookup address")
                    || lower.contains("name or service not known")
                    || lower.contains("no address associated")
                    || lower.contains("nodename nor servname")
                {
                    Some(Unreachable::NoSuchHost)
                } else if text.contains("timed out") || text.contains("deadline") {
                    Some(Unreachable::TimedOut)
                } else {
                    None
                }
            });
        match why {
            Some(why) => KubeError::Unreachable {
                server: server.to_string(),
                why,
            },
            None if text.contains("certificate") => KubeError::Tls {
                server: server.to_string(),
                detail: text,
            },
            None => KubeError::Other(text),
        }
    }
}

/// The exit status of a failed exec credential plugin, when that is what `err` is.
/// kube's own text for it holds the plugin's arguments, environment and stdout.
pub(crate) fn failed_plugin_status(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    use ::kube::client::AuthError;
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(auth) = e.downcast_ref::<AuthError>() {
            return match auth {
                AuthError::AuthExecRun { out, .. } => Some(out.status.to_string()),
                AuthError::AuthExecParse(_) => {
                    Some("it printed something that is not an ExecCredential".to_string())
                }
                _ => None,
            };
        }
        if let Some(::kube::Error::Auth(auth)) = e.downcast_ref::<::kube::Error>() {
            cur = Some(auth);
            continue;
        }
        cur = e.source();
    }
    None
}

/// The kind of the first `io::Error` among `err`'s causes.
fn io_kind(err: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = e.source();
    }
    None
}

/// Describes a kube client error for the status line and findings.
pub fn describe(err: &::kube::Error, server: &str) -> String {
    KubeError::from_kube(err, server).to_string()
}

/// The error and its sources on one line (the cause is usually deepest).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::kube::runtime::watcher::Error as W;

    const SERVER: &str = "https://10.0.0.1:6443";

    fn api(code: u16, reason: &str, message: &str) -> ::kube::Error {
        ::kube::Error::Api(response(code, reason, message))
    }

    fn response(code: u16, reason: &str, message: &str) -> Box<Status> {
        Status::failure(message, reason).with_code(code).boxed()
    }

    fn transport(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ::kube::Error {
        ::kube::Error::Service(e.into())
    }

    #[test]
    fn statuses_map_to_their_variants() {
        let e = KubeError::from_kube(&api(403, "Forbidden", "pods is forbidden"), SERVER);
        assert_eq!(
            e,
            KubeError::Forbidden {
                message: "pods is forbidden".into()
            }
        );
        assert_eq!(e.to_string(), "forbidden by RBAC: pods is forbidden");

        let e = KubeError::from_kube(&api(401, "Unauthorized", "Unauthorized"), SERVER);
        assert!(matches!(e, KubeError::Unauthorized { .. }));
        assert_eq!(
            e.to_string(),
            "unauthorized: the API server at https://10.0.0.1:6443 rejected our credentials"
        );

        let e = KubeError::from_kube(&api(404, "NotFound", "pods \"x\" not found"), SERVER);
        assert!(matches!(e, KubeError::NotFound { .. }));
        assert_eq!(
            e.to_string(),
            "API error 404 (NotFound): pods \"x\" not found"
        );

        let e = KubeError::from_kube(&api(500, "InternalError", "etcd down"), SERVER);
        assert!(matches!(
            e,
            KubeError::Api {
                code: 500,
                watch: false,
                ..
            }
        ));
        assert_eq!(e.to_string(), "API error 500 (InternalError): etcd down");
    }

    #[test]
    fn connection_failures_are_unreachable() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "os error 111");
        let e = KubeError::from_kube(&transport(refused), SERVER);
        assert!(e.is_unreachable());
        assert_eq!(
            e.to_string(),
            "cannot reach the API server at https://10.0.0.1:6443: connection refused"
        );

        let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer");
        let e = KubeError::from_kube(&transport(timeout), SERVER);
        assert_eq!(
            e,
            KubeError::Unreachable {
                server: SERVER.into(),
                why: Unreachable::TimedOut
            }
        );

        // A wrapper that hides the io::Error still says so in words.
        let e = KubeError::from_kube(&transport("request timed out"), SERVER);
        assert!(e.is_unreachable());
    }

    #[test]
    fn certificates_are_tls_and_the_rest_verbatim() {
        let e = KubeError::from_kube(
            &transport("invalid peer certificate: UnknownIssuer"),
            SERVER,
        );
        assert!(matches!(e, KubeError::Tls { .. }));
        assert!(
            e.to_string()
                .starts_with("TLS error talking to https://10.0.0.1:6443: ")
        );

        let e = KubeError::from_kube(&transport("something odd"), SERVER);
        assert_eq!(e, KubeError::Other("ServiceError: something odd".into()));
        assert!(!e.is_unreachable());
    }

    #[test]
    fn watcher_errors() {
        let e = KubeError::from_watcher(&W::WatchError(response(403, "Forbidden", "no")), SERVER);
        assert_eq!(
            e,
            KubeError::Forbidden {
                message: "no".into()
            }
        );

        let e = KubeError::from_watcher(&W::WatchError(response(410, "Gone", "too old")), SERVER);
        assert_eq!(e.to_string(), "watch error 410 (Gone): too old");

        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "os error 111");
        let e = KubeError::from_watcher(&W::InitialListFailed(transport(refused)), SERVER);
        assert!(e.is_unreachable());
    }

    #[test]
    fn definitive_errors_end_a_check_at_once() {
        let e = KubeError::from_kube(&api(401, "Unauthorized", "Unauthorized"), SERVER);
        assert!(e.is_definitive());
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "os error 111");
        assert!(KubeError::from_kube(&transport(refused), SERVER).is_definitive());
        let nx = KubeError::from_kube(
            &transport(
                "dns error: failed to lookup address information: Name or service not known",
            ),
            SERVER,
        );
        assert_eq!(
            nx.to_string(),
            "cannot reach the API server at https://10.0.0.1:6443: its host name does not resolve (DNS)"
        );
        assert!(nx.is_definitive());
        let tls = KubeError::from_kube(
            &transport("invalid peer certificate: UnknownIssuer"),
            SERVER,
        );
        assert!(tls.is_definitive());
        // These may pass by themselves: retried until the timeout.
        let timeout = std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer");
        assert!(!KubeError::from_kube(&transport(timeout), SERVER).is_definitive());
        assert!(
            !KubeError::from_kube(&api(503, "ServiceUnavailable", "x"), SERVER).is_definitive()
        );
        assert!(!KubeError::from_kube(&api(429, "TooManyRequests", "x"), SERVER).is_definitive());
        let silent = KubeError::NoAnswer {
            server: SERVER.into(),
            after_secs: 20,
        };
        assert!(!silent.is_definitive() && silent.is_unreachable());
        assert_eq!(
            silent.to_string(),
            "the API server at https://10.0.0.1:6443 did not answer within 20s"
        );
    }

    #[test]
    fn kubeconfig_errors_keep_their_words() {
        let c = ConnectError::NoKubeconfig {
            searched: vec!["/root/.kube/config".into()],
        };
        let e = KubeError::from(c.clone());
        assert_eq!(e.to_string(), c.to_string());
    }
}
