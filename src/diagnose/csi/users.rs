//! The user half of `csi.config-mismatch`: the Secrets ceph-csi's StorageClasses name
//! (node-stage, provisioner), as checked against Ceph by `ceph::csi_users` — the
//! Secret readable, its user existing, its `userKey` that user's key, and the user's
//! caps enough for each class's pool ([`super::caps`]). Nothing here ever sees a key.
//! A user kcops may not look up is said to be unchecked, never fine.

use super::caps;
use crate::model::ceph::{CsiUserCheck, CsiUserOutcome};
use crate::model::snapshot::Snapshot;

/// What the users add to the finding.
#[derive(Debug, Default)]
pub(super) struct UserProblems {
    /// Problems that break ceph-csi.
    pub problems: Vec<String>,
    /// Users whose key or caps could not be checked (a warning, not a fault).
    pub unchecked: Vec<String>,
    pub evidence: Vec<String>,
    pub fixes: Vec<String>,
    /// The first Secret with a problem (the finding's subject without a config problem).
    pub secret: Option<(String, String)>,
}

/// `mon 'profile rbd' osd 'profile rbd pool=a, profile rbd pool=b' mgr '...'`.
fn needed_caps(pools: &[&str]) -> String {
    let per_pool = |_: ()| {
        if pools.is_empty() {
            "profile rbd".to_string()
        } else {
            pools
                .iter()
                .map(|p| format!("profile rbd pool={p}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    format!(
        "mon 'profile rbd' osd '{}' mgr '{}'",
        per_pool(()),
        per_pool(())
    )
}

fn shown_caps(caps: &std::collections::BTreeMap<String, String>) -> String {
    if caps.is_empty() {
        return "none".to_string();
    }
    let rank = |k: &str| {
        ["mon", "osd", "mgr"]
            .iter()
            .position(|d| *d == k)
            .unwrap_or(3)
    };
    let mut all: Vec<(&String, &String)> = caps.iter().collect();
    all.sort_by_key(|(k, _)| rank(k));
    all.iter()
        .map(|(k, v)| format!("{k} '{v}'"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn check(s: &Snapshot) -> UserProblems {
    let mut out = UserProblems::default();
    let Some(report) = s.ceph.as_ref() else {
        return out;
    };
    let Some(checks) = report.csi_users.as_ref() else {
        return out;
    };
    for c in checks {
        let before = out.problems.len() + out.unchecked.len();
        one(c, &report.entity, &mut out);
        if out.problems.len() + out.unchecked.len() > before && out.secret.is_none() {
            out.secret = Some((c.namespace.clone(), c.name.clone()));
        }
    }
    out
}

fn one(c: &CsiUserCheck, kcops_user: &str, out: &mut UserProblems) {
    let (ns, name) = (c.namespace.as_str(), c.name.as_str());
    let classes: Vec<&str> = c.classes.iter().map(|(n, _)| n.as_str()).collect();
    let mut pools: Vec<&str> = c.classes.iter().filter_map(|(_, p)| p.as_deref()).collect();
    pools.sort_unstable();
    pools.dedup();
    let id = c.user_id.as_deref().unwrap_or("<userID>");
    let entity = format!("client.{id}");
    let secret = format!("Secret {ns}/{name}");
    let recreate = format!(
        "`kubectl -n {ns} create secret generic {name} --from-literal=userID={id} --from-literal=userKey=\"$(ceph auth get-key {entity})\" --dry-run=client -o yaml | kubectl apply -f -`"
    );
    let caps_fix = format!("`ceph auth caps {entity} {}`", needed_caps(&pools));
    let head = format!(
        "{secret} (StorageClass {}, pool {})",
        classes.join(", "),
        if pools.is_empty() {
            "unnamed".to_string()
        } else {
            pools.join(", ")
        }
    );
    match &c.outcome {
        CsiUserOutcome::Unchecked => {}
        CsiUserOutcome::SecretUnreadable(e) => {
            out.problems.push(format!(
                "{secret}, which StorageClass {} names, cannot be read: {e}",
                classes.join(", ")
            ));
            out.evidence.push(format!("{head}: cannot be read: {e}"));
            out.fixes.push(format!(
                "Create the Secret with the user ceph-csi is to use: {recreate} (and give that user the caps: {caps_fix})"
            ));
        }
        CsiUserOutcome::NoSuchUser => {
            out.problems.push(format!(
                "{secret} names userID {id}, but Ceph has no user {entity}"
            ));
            out.evidence.push(format!(
                "{head}: userID {id}; `ceph auth get {entity}`: no such entity"
            ));
            out.fixes.push(format!(
                "Create the user: `ceph auth get-or-create {entity} {}`, then put its key in the Secret: {recreate}",
                needed_caps(&pools)
            ));
        }
        CsiUserOutcome::Denied(e) | CsiUserOutcome::Failed(e) => {
            out.unchecked.push(format!(
                "the key and caps of {entity} ({secret}) could not be checked: {kcops_user}, kcops' Ceph user, could not run `ceph auth get {entity}` ({e})"
            ));
            out.evidence.push(format!(
                "{head}: userID {id}; `ceph auth get {entity}` failed: {e}"
            ));
            out.fixes.push(format!(
                "Check {entity} by hand as client.admin: `ceph auth get {entity}` — its key must equal `kubectl -n {ns} get secret {name} -o jsonpath='{{.data.userKey}}' | base64 -d`, and its caps must include {}",
                needed_caps(&pools)
            ));
        }
        CsiUserOutcome::Checked { key_matches, caps } => {
            let short: Vec<(&str, Vec<&'static str>)> = if pools.is_empty() {
                vec![("", caps::short(caps, None))]
            } else {
                pools
                    .iter()
                    .map(|p| (*p, caps::short(caps, Some(p))))
                    .collect()
            };
            let short: Vec<_> = short.into_iter().filter(|(_, d)| !d.is_empty()).collect();
            if !key_matches || !short.is_empty() {
                out.evidence.push(format!(
                    "{head}: userID {id}; its userKey {} the key of {entity}; caps of {entity}: {}",
                    if *key_matches { "is" } else { "is not" },
                    shown_caps(caps)
                ));
            }
            if !key_matches {
                out.problems.push(format!(
                    "the userKey in {secret} is not the key of {entity} (Ceph refuses ceph-csi's calls)"
                ));
                out.fixes.push(format!(
                    "Put {entity}'s key in the Secret: {recreate} (`ceph auth get {entity}` shows the user)"
                ));
            }
            for (pool, daemons) in &short {
                let on = if pool.is_empty() {
                    String::new()
                } else {
                    format!(" for pool {pool}")
                };
                out.problems.push(format!(
                    "the caps of {entity} ({secret}) are too few{on}: {} ({} lacking)",
                    shown_caps(caps),
                    daemons.join(", ")
                ));
            }
            if !short.is_empty() {
                out.fixes.push(format!(
                    "Give {entity} the caps ceph-csi needs: {caps_fix} (`ceph auth get {entity}` shows them now)"
                ));
            }
        }
    }
}
