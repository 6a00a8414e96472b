//! Finding and loading the kubeconfig: `--kubeconfig`, `KUBECONFIG`, `~/.kube/config`,
//! and `--context`, with errors that say which file and what is wrong.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::errors::{KubeError, failed_plugin_status};

/// Where to connect, from flags and environment.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// A client plus what the status bar and audit log say about it.
#[derive(Clone)]
pub struct Connection {
    pub client: ::kube::Client,
    pub context: String,
    /// The context's cluster entry (k9s shows it beside the context and user).
    pub cluster: String,
    pub user: String,
    pub server: String,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ConnectError {
    #[error("no kubeconfig found (looked at {}); pass --kubeconfig or set KUBECONFIG", .searched.join(", "))]
    NoKubeconfig { searched: Vec<String> },
    #[error("cannot read kubeconfig {path}: {reason}")]
    BadKubeconfig { path: String, reason: String },
    #[error("kubeconfig {path}: {reason}")]
    BadContext { path: String, reason: String },
    /// A credential of the context's user that cannot be sent; names the field, never
    /// its value.
    #[error("kubeconfig {path}: user {user:?}: {field} {problem}")]
    BadCredential {
        path: String,
        user: String,
        field: &'static str,
        problem: String,
    },
    /// The user's exec credential plugin failed; its arguments and output are not
    /// shown, since they may hold a token.
    #[error(
        "kubeconfig {path}: user {user:?}: the credential plugin {command:?} failed ({status}); run it by hand to see why"
    )]
    CredentialPlugin {
        path: String,
        user: String,
        command: String,
        status: String,
    },
}

fn candidates(opts: &ConnectOptions) -> Vec<PathBuf> {
    if let Some(p) = &opts.kubeconfig {
        return vec![p.clone()];
    }
    if let Some(v) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        return std::env::split_paths(&v).collect();
    }
    std::env::var_os("HOME")
        .map(|h| vec![PathBuf::from(h).join(".kube/config")])
        .unwrap_or_default()
}

/// A context of the kubeconfig: its name, cluster and user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    pub name: String,
    pub cluster: String,
    pub user: String,
}

/// The contexts of the kubeconfig `opts` reads, and its current one (`:ctx`).
pub fn contexts(
    opts: &ConnectOptions,
) -> Result<(Vec<ContextEntry>, Option<String>), ConnectError> {
    let paths = candidates(opts);
    let Some(path) = paths.iter().find(|p| p.is_file()) else {
        return Err(ConnectError::NoKubeconfig {
            searched: paths.iter().map(|p| p.display().to_string()).collect(),
        });
    };
    let kc =
        ::kube::config::Kubeconfig::read_from(path).map_err(|e| ConnectError::BadKubeconfig {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    let entries = kc
        .contexts
        .iter()
        .map(|c| ContextEntry {
            name: c.name.clone(),
            cluster: c
                .context
                .as_ref()
                .map(|x| x.cluster.clone())
                .unwrap_or_default(),
            user: c
                .context
                .as_ref()
                .and_then(|x| x.user.clone())
                .unwrap_or_default(),
        })
        .collect();
    Ok((entries, kc.current_context))
}

/// Loads the kubeconfig and builds a client (no request is made yet).
pub async fn connect(opts: &ConnectOptions) -> Result<Connection, ConnectError> {
    let paths = candidates(opts);
    let Some(path) = paths.iter().find(|p| p.is_file()).cloned() else {
        return Err(ConnectError::NoKubeconfig {
            searched: paths.iter().map(|p| p.display().to_string()).collect(),
        });
    };
    let shown = path.display().to_string();
    let mut kc =
        ::kube::config::Kubeconfig::read_from(&path).map_err(|e| ConnectError::BadKubeconfig {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let context = opts
        .context
        .clone()
        .or_else(|| kc.current_context.clone())
        .unwrap_or_default();
    let ctx_entry = kc
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.clone());
    let Some(ctx_entry) = ctx_entry else {
        let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(ConnectError::BadContext {
            path: shown,
            reason: format!(
                "context {context:?} not found (contexts: {})",
                known.join(", ")
            ),
        });
    };
    let user = ctx_entry.user.clone().unwrap_or_default();
    let server = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx_entry.cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .unwrap_or_default();
    let mut plugin = None;
    if let Some(info) = kc
        .auth_infos
        .iter_mut()
        .find(|a| a.name == user)
        .and_then(|a| a.auth_info.as_mut())
    {
        tidy_credentials(info).map_err(|(field, problem)| ConnectError::BadCredential {
            path: shown.clone(),
            user: user.clone(),
            field,
            problem,
        })?;
        plugin = info.exec.as_ref().and_then(|e| e.command.clone());
    }
    let plugin_failed = |status: String| ConnectError::CredentialPlugin {
        path: shown.clone(),
        user: user.clone(),
        command: plugin.clone().unwrap_or_default(),
        status,
    };
    let options = ::kube::config::KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let mut config = ::kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| match failed_plugin_status(&e) {
            Some(status) => plugin_failed(status),
            None => ConnectError::BadContext {
                path: shown.clone(),
                reason: e.to_string(),
            },
        })?;
    // kube 4+ retries 429/503/504 by itself for minutes; kcops shows them at once
    // (an eviction refused by a disruption budget is an answer) and retries where
    // it decides to.
    config.default_retry = false;
    let client = ::kube::Client::try_from(config).map_err(|e| match failed_plugin_status(&e) {
        Some(status) => plugin_failed(status),
        None => ConnectError::BadKubeconfig {
            path: shown.clone(),
            reason: e.to_string(),
        },
    })?;
    Ok(Connection {
        client,
        context,
        cluster: ctx_entry.cluster.clone(),
        user,
        server,
    })
}

/// Makes the user's token usable as kubectl would, or says which field is wrong:
/// an inline `token` must be one line (kube's client panics on a newline in a
/// header); a `tokenFile` is trimmed as kubectl trims it. A file that needed
/// trimming is read once here, so a rotated file is not re-read (kube re-reads an
/// already clean file every minute).
fn tidy_credentials(info: &mut ::kube::config::AuthInfo) -> Result<(), (&'static str, String)> {
    if let Some(token) = &info.token {
        let clean = token.expose_secret().trim().to_string();
        check_token(&clean).map_err(|p| ("token", p))?;
        info.token = Some(SecretString::from(clean));
        return Ok(());
    }
    if let Some(file) = &info.token_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| ("tokenFile", format!("cannot be read ({file}: {e})")))?;
        let clean = text.trim();
        check_token(clean).map_err(|p| ("tokenFile", format!("({file}) {p}")))?;
        if clean.len() != text.len() {
            info.token = Some(SecretString::from(clean.to_string()));
            info.token_file = None;
        }
    }
    Ok(())
}

/// Why `token` cannot go into an `Authorization` header, if it cannot.
fn check_token(token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err("is empty".to_string());
    }
    if token.contains(['\n', '\r']) {
        return Err("holds a line break (a token is one line)".to_string());
    }
    if let Some(c) = token.chars().find(|c| !c.is_ascii_graphic() && *c != ' ') {
        return Err(format!(
            "holds a character a token cannot have ({})",
            c.escape_default()
        ));
    }
    Ok(())
}

/// Waits for the API server to answer one request (its version), for at most
/// `timeout`: `Ok` once it answered, the error at once when asking again cannot help
/// ([`KubeError::is_definitive`]), else the last error (or [`KubeError::NoAnswer`])
/// when the time is up. `kcops check` asks this before it starts its reflectors, so
/// a wrong token or CA is said once, in a second.
pub async fn first_answer(conn: &Connection, timeout: Duration) -> Result<(), KubeError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last: Option<KubeError> = None;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left, conn.client.apiserver_version()).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => {
                let e = KubeError::from_kube(&e, &conn.server);
                if e.is_definitive() {
                    return Err(e);
                }
                last = Some(e);
            }
            Err(_) => break,
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
    }
    Err(last.unwrap_or(KubeError::NoAnswer {
        server: conn.server.clone(),
        after_secs: timeout.as_secs(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(token: Option<&str>, token_file: Option<&std::path::Path>) -> ::kube::config::AuthInfo {
        ::kube::config::AuthInfo {
            token: token.map(|t| SecretString::from(t.to_string())),
            token_file: token_file.map(|p| p.display().to_string()),
            ..Default::default()
        }
    }

    #[test]
    fn a_token_is_one_line() {
        let mut u = user(Some("abc\ndef"), None);
        let (field, problem) = tidy_credentials(&mut u).unwrap_err();
        assert_eq!(field, "token");
        assert_eq!(problem, "holds a line break (a token is one line)");
        assert!(!problem.contains("abc"));
        let mut u = user(Some("  abc\n"), None);
        assert_eq!(tidy_credentials(&mut u), Ok(()));
        assert_eq!(u.token.as_ref().map(|t| t.expose_secret()), Some("abc"));
        assert!(check_token("a\u{7f}b").unwrap_err().contains("\\u{7f}"));
        assert_eq!(check_token(""), Err("is empty".to_string()));
    }

    #[test]
    fn a_token_file_is_trimmed_like_kubectl_does() {
        let dir = std::env::temp_dir().join(format!("kcops-tokenfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "abc\n").unwrap();
        let mut u = user(None, Some(&file));
        assert_eq!(tidy_credentials(&mut u), Ok(()));
        assert_eq!(u.token.as_ref().map(|t| t.expose_secret()), Some("abc"));
        assert_eq!(u.token_file, None);
        // A clean file stays a file, so kube re-reads it when it is rotated.
        std::fs::write(&file, "abc").unwrap();
        let mut u = user(None, Some(&file));
        assert_eq!(tidy_credentials(&mut u), Ok(()));
        assert!(u.token.is_none() && u.token_file.is_some());
        std::fs::write(&file, "ab\ncd\n").unwrap();
        let (field, _) = tidy_credentials(&mut user(None, Some(&file))).unwrap_err();
        assert_eq!(field, "tokenFile");
        let (field, problem) =
            tidy_credentials(&mut user(None, Some(&dir.join("gone")))).unwrap_err();
        assert_eq!(field, "tokenFile");
        assert!(problem.starts_with("cannot be read"), "{problem}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
