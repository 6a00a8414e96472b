//! Finding and loading the kubeconfig: `--kubeconfig`, `KUBECONFIG`, `~/.kube/config`,
//! and `--context`, with errors that say which file and what is wrong.

use std::path::PathBuf;

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

/// Loads the kubeconfig and builds a client (no request is made yet).
pub async fn connect(opts: &ConnectOptions) -> Result<Connection, ConnectError> {
    let paths = candidates(opts);
    let Some(path) = paths.iter().find(|p| p.is_file()).cloned() else {
        return Err(ConnectError::NoKubeconfig {
            searched: paths.iter().map(|p| p.display().to_string()).collect(),
        });
    };
    let shown = path.display().to_string();
    let kc =
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
    let options = ::kube::config::KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let config = ::kube::Config::from_custom_kubeconfig(kc, &options)
        .await
        .map_err(|e| ConnectError::BadContext {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
    let client = ::kube::Client::try_from(config).map_err(|e| ConnectError::BadKubeconfig {
        path: shown,
        reason: e.to_string(),
    })?;
    Ok(Connection {
        client,
        context,
        user,
        server,
    })
}
