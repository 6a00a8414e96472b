//! Kubernetes client errors in an operator's words: unreachable API server, 403 from
//! RBAC, expired credentials, and the rest verbatim.

/// Describes a kube client error for the status line and findings.
pub fn describe(err: &::kube::Error, server: &str) -> String {
    match err {
        ::kube::Error::Api(resp) if resp.code == 403 => {
            format!("forbidden by RBAC: {}", resp.message)
        }
        ::kube::Error::Api(resp) if resp.code == 401 => {
            format!("unauthorized: the API server at {server} rejected our credentials")
        }
        ::kube::Error::Api(resp) => format!(
            "API error {} ({}): {}",
            resp.code, resp.reason, resp.message
        ),
        other => {
            let text = error_chain(other);
            if text.contains("Connection refused") || text.contains("connection refused") {
                format!("cannot reach the API server at {server}: connection refused")
            } else if text.contains("timed out") || text.contains("deadline") {
                format!("cannot reach the API server at {server}: timed out")
            } else if text.contains("certificate") {
                format!("TLS error talking to {server}: {text}")
            } else {
                text
            }
        }
    }
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

/// A watcher error, described.
pub fn describe_watcher(err: &::kube::runtime::watcher::Error, server: &str) -> String {
    use ::kube::runtime::watcher::Error as W;
    match err {
        W::InitialListFailed(e) | W::WatchStartFailed(e) | W::WatchFailed(e) => describe(e, server),
        W::WatchError(resp) if resp.code == 403 => format!("forbidden by RBAC: {}", resp.message),
        W::WatchError(resp) => format!(
            "watch error {} ({}): {}",
            resp.code, resp.reason, resp.message
        ),
        other => error_chain(other),
    }
}
