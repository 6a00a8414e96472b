//! Lab scenarios: the YAML files in `crates/kcops-lab/scenarios/` that say what a lab cluster
//! looks like (nodes, objects, per-pod behaviour, host files) and what happens to it
//! over time.
//!
//! Scenarios are data a user may write, so this module is strict and loud: every
//! struct denies unknown keys (a typo must not silently become a default), values are
//! typed (CIDRs, durations, sandbox ids are checked while parsing), and a second pass
//! checks what serde cannot see (references between nodes, behaviours and timeline,
//! duplicates, placeholders). Every error names the file, the line and column, and the
//! field path, so the user can go straight to the mistake. Parsing never panics.
//!
//! The schema is documented for users in `crates/kcops-lab/scenarios/README.md`; keep the two
//! in step.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

mod behaviour;
mod ceph;
mod error;
mod host;
mod locate;
mod placeholders;
mod schema;
mod strict;
mod timeline;
mod validate;
mod values;

pub use behaviour::*;
pub use ceph::*;
pub use error::*;
pub use host::*;
#[allow(unused_imports)]
use locate::*;
pub use placeholders::*;
pub use schema::*;
#[allow(unused_imports)]
use strict::*;
pub use timeline::*;
#[allow(unused_imports)]
use validate::*;
pub use values::*;

#[cfg(test)]
mod tests;

// ---------------------------------------------------------------------------------
// Built-in scenarios
// ---------------------------------------------------------------------------------

/// The scenarios shipped with kcops, embedded so that `kcops lab up --scenario healthy`
/// works from any directory, not only from a source checkout.
pub(super) const BUILTINS: [(&str, &str); 12] = [
    (
        "healthy",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/healthy.yaml"
        )),
    ),
    (
        "rbd-stale-lock",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/rbd-stale-lock.yaml"
        )),
    ),
    (
        "flannel-broken",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/flannel-broken.yaml"
        )),
    ),
    (
        "etcd-scaled-down",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/etcd-scaled-down.yaml"
        )),
    ),
    (
        "etcd-join-aware",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/etcd-join-aware.yaml"
        )),
    ),
    (
        "calico-broken",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/calico-broken.yaml"
        )),
    ),
    (
        "zk-static",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/zk-static.yaml"
        )),
    ),
    (
        "zk-dynamic",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/zk-dynamic.yaml"
        )),
    ),
    (
        "rbd-failures",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/rbd-failures.yaml"
        )),
    ),
    (
        "kubeadm",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/kubeadm.yaml"
        )),
    ),
    (
        "csi-healthy",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/csi-healthy.yaml"
        )),
    ),
    (
        "csi-node-lost",
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/csi-node-lost.yaml"
        )),
    ),
];

/// Names of the built-in scenarios, in the order `BUILTINS` lists them.
pub(super) const BUILTIN_NAMES: [&str; 12] = [
    BUILTINS[0].0,
    BUILTINS[1].0,
    BUILTINS[2].0,
    BUILTINS[3].0,
    BUILTINS[4].0,
    BUILTINS[5].0,
    BUILTINS[6].0,
    BUILTINS[7].0,
    BUILTINS[8].0,
    BUILTINS[9].0,
    BUILTINS[10].0,
    BUILTINS[11].0,
];

/// Where the built-in files live in the source tree; used as the file name in error
/// messages about an embedded scenario, so they point at a file a developer can open.
pub(super) const BUILTIN_DIR: &str = "crates/kcops-lab/scenarios";

/// The text of a built-in scenario, or `None` if there is none of that name.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTINS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

/// The names of the built-in scenarios (`healthy` first, the default).
pub fn builtin_names() -> &'static [&'static str] {
    &BUILTIN_NAMES
}

/// Loads a scenario by name or path.
///
/// A bare name such as `healthy` means `<assets_dir>/healthy.yaml`; when that file does
/// not exist (the binary runs outside a checkout) the embedded copy of a built-in
/// scenario of that name is used. Anything containing a `/` or ending in `.yaml`/`.yml`
/// is a file path, read as given.
pub fn load(name_or_path: &str, assets_dir: &Path) -> Result<Scenario, ScenarioError> {
    let is_path = name_or_path.contains('/')
        || name_or_path.ends_with(".yaml")
        || name_or_path.ends_with(".yml");
    let path = if is_path {
        PathBuf::from(name_or_path)
    } else {
        assets_dir.join(format!("{name_or_path}.yaml"))
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text, &path.display().to_string()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !is_path => {
            match builtin(name_or_path) {
                Some(text) => parse(text, &format!("{BUILTIN_DIR}/{name_or_path}.yaml")),
                None => Err(ScenarioError::NotFound {
                    name: name_or_path.to_string(),
                    path,
                    known: builtin_names().join(", "),
                }),
            }
        }
        Err(source) => Err(ScenarioError::Io { path, source }),
    }
}

/// Parses and validates scenario text. `source` names the text in error messages
/// (normally its file path).
pub fn parse(text: &str, source: &str) -> Result<Scenario, ScenarioError> {
    if text.trim().is_empty() {
        return Err(invalid(
            source,
            1,
            1,
            String::new(),
            "the file is empty".into(),
        ));
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let typed: Result<Scenario, _> = serde_path_to_error::deserialize(de);
    let mut errors = Vec::new();
    let scenario = match typed {
        Ok(s) => Some(s),
        Err(err) => {
            let path = path_from_serde(err.path());
            let inner = err.into_inner();
            let (line, column) = inner
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            errors.push(invalid(source, line, column, path, yaml_message(&inner)));
            None
        }
    };
    // Everything else wrong in the file, not only the first: the semantic checks when
    // the schema parsed, the manifests' strict field checks in any case.
    let issues = match &scenario {
        Some(s) => validate(s),
        None => match serde_yaml_ng::from_str::<Value>(text) {
            Ok(raw) => validate_raw_objects(&raw),
            Err(_) => Vec::new(),
        },
    };
    for issue in issues {
        let (line, column) = locate_best(text, &issue.path);
        errors.push(invalid(
            source,
            line,
            column,
            path_string(&issue.path),
            issue.message,
        ));
    }
    match (scenario, errors.len()) {
        (Some(s), 0) => Ok(s),
        (_, 1) => Err(errors.remove(0)),
        _ => {
            errors.sort_by_key(|e| match e {
                ScenarioError::Invalid { line, column, .. } => (*line, *column),
                _ => (0, 0),
            });
            Err(ScenarioError::Many(errors))
        }
    }
}
