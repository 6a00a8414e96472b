//! Scenario errors: each names the file, line, column and field path.

#[allow(unused_imports)]
use super::*;

/// Why a scenario could not be loaded. `Invalid` displays as
/// `file:line:column: field.path: message`, the form editors and terminals can jump to.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(
        "no scenario {name:?}: {} does not exist and there is no built-in scenario of \
         that name (built-in: {known})",
        .path.display()
    )]
    NotFound {
        name: String,
        path: PathBuf,
        known: String,
    },
    #[error("cannot read scenario {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {}{message}", path_prefix(.path))]
    Invalid {
        /// The file (or source name) the text came from.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Field path such as `nodes[1].podCIDR`; empty for the document itself.
        path: String,
        message: String,
    },
    /// Several problems in one file, in the order of their lines, one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ScenarioError>),
}

pub(super) fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

pub(super) fn invalid(
    file: &str,
    line: usize,
    column: usize,
    path: String,
    message: String,
) -> ScenarioError {
    ScenarioError::Invalid {
        file: file.to_string(),
        line,
        column,
        path,
        message,
    }
}

/// The message of a serde_yaml_ng error without the decorations we print ourselves:
/// its own (less precise) path prefix and its ` at line L column C`.
pub(super) fn yaml_message(err: &serde_yaml_ng::Error) -> String {
    let mut text = err.to_string();
    if let Some(loc) = err.location() {
        let at = format!(" at line {} column {}", loc.line(), loc.column());
        text = text.replacen(&at, "", 1);
    }
    // serde_yaml_ng writes "nodes[0]: unknown field ..."; a path never contains
    // whitespace or backticks, and serde's own messages ("invalid type: ...") do.
    if let Some((head, rest)) = text.split_once(": ") {
        let looks_like_path =
            !head.is_empty() && !head.contains(|c: char| c.is_whitespace() || c == '`' || c == '"');
        if looks_like_path {
            text = rest.to_string();
        }
    }
    if text.starts_with("EOF while parsing") {
        text = "the file is empty or ends too early".to_string();
    }
    text
}
