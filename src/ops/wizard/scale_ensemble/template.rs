//! Whether a StatefulSet's pod template lets a new etcd member join a running
//! cluster. etcd reads `--initial-cluster-state` (or `ETCD_INITIAL_CLUSTER_STATE`)
//! only while its data dir is empty: `new` makes a fresh pod bootstrap a cluster of its
//! own from `--initial-cluster`, which the running members reject (a different
//! cluster ID), so the pod crash-loops; `existing` makes it join the cluster its peers
//! already form, once it was added as a member.

use k8s_openapi::api::apps::v1::StatefulSet;

/// What the template does with a new member's empty data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Join {
    /// It starts with `existing` (always, or when the cluster is already there).
    Aware,
    /// It always starts a new cluster; `line` is where the template says so.
    AlwaysNew { line: String },
    /// Neither word was found (a wrapper script or image default): not judged.
    Unknown,
}

/// The container command, arguments and environment of the etcd container (or the
/// first container), one line each, as the template spells them.
pub fn template_lines(sts: &StatefulSet) -> Vec<String> {
    let Some(spec) = sts.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
        return Vec::new();
    };
    let Some(c) = spec
        .containers
        .iter()
        .find(|c| c.name == "etcd")
        .or(spec.containers.first())
    else {
        return Vec::new();
    };
    let mut out: Vec<String> = c
        .command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .flat_map(|s| s.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    for e in c.env.iter().flatten() {
        if let Some(v) = &e.value {
            out.push(format!("{}={v}", e.name));
        }
    }
    out
}

/// Judges `lines` (see [`template_lines`]).
pub fn join_support(lines: &[String]) -> Join {
    let mentions =
        |l: &str| l.contains("initial-cluster-state") || l.contains("ETCD_INITIAL_CLUSTER_STATE");
    if lines.iter().any(|l| mentions(l) && l.contains("existing")) {
        return Join::Aware;
    }
    // `existing` set in a variable the flag reads later (`STATE=existing`).
    if lines
        .iter()
        .any(|l| l.contains("=existing") || l.contains("= existing"))
    {
        return Join::Aware;
    }
    match lines.iter().find(|l| mentions(l) && l.contains("new")) {
        Some(l) => Join::AlwaysNew {
            line: l.trim().to_string(),
        },
        None => Join::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn the_field_template_always_starts_a_new_cluster() {
        let t = lines(
            "exec etcd --name ${HOSTNAME} \\\n  --initial-cluster ${PEERS} \\\n  --initial-cluster-state new \\\n  --data-dir /var/run/etcd/default.etcd",
        );
        assert_eq!(
            join_support(&t),
            Join::AlwaysNew {
                line: "--initial-cluster-state new \\".into()
            }
        );
    }

    #[test]
    fn a_join_aware_script_and_the_environment_form_are_recognised() {
        let t = lines(
            "STATE=new\nif [ -z \"$(ls /data)\" ] && etcdctl member list; then STATE=existing; fi\nexec etcd --initial-cluster-state ${STATE}",
        );
        assert_eq!(join_support(&t), Join::Aware);
        assert_eq!(
            join_support(&lines("ETCD_INITIAL_CLUSTER_STATE=existing")),
            Join::Aware
        );
        assert_eq!(join_support(&lines("exec etcd --name x")), Join::Unknown);
    }
}
