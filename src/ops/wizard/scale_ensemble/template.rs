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

/// The container's command with the join-aware start: when the data dir is empty and
/// the cluster answers, `--initial-cluster-state existing` with the initial cluster =
/// the members it lists + this member; otherwise the template's own start. `None`
/// when the command has no `--initial-cluster-state new` line to change, or no
/// `exec etcd` line to put the check before.
pub fn join_aware(command: &[String], service: &str, client_port: u16) -> Option<Vec<String>> {
    let at = command.iter().position(|c| c.lines().any(is_state_new))?;
    let script = &command[at];
    let flag = |name: &str| {
        let re = regex::Regex::new(&format!(r"--{name}[= ](\S+)")).ok()?;
        re.captures(script)
            .and_then(|c| c.get(1))
            .map(|m| m.as_str().to_string())
    };
    let data_dir = flag("data-dir").unwrap_or_else(|| "${HOSTNAME}.etcd".to_string());
    let peer_url = flag("initial-advertise-peer-urls")?;
    let cluster = flag("initial-cluster")?;
    let mut out = Vec::new();
    let mut inserted = false;
    for line in script.lines() {
        let trimmed = line.trim_start();
        if !inserted && (trimmed.starts_with("exec etcd") || trimmed.starts_with("etcd ")) {
            let indent = &line[..line.len() - trimmed.len()];
            for l in [
                "# Join a running cluster when this member's data dir is empty (kcops).".to_string(),
                "KCOPS_STATE=new".to_string(),
                format!("KCOPS_CLUSTER={cluster}"),
                format!(
                    "if [ ! -d {data_dir}/member ] && KCOPS_MEMBERS=$(etcdctl --endpoints=http://{service}:{client_port} member list 2>/dev/null); then"
                ),
                "  KCOPS_STATE=existing".to_string(),
                "  KCOPS_CLUSTER=$(echo \"${KCOPS_MEMBERS}\" | awk -F', ' -v me=\"${HOSTNAME}\" '$3 != \"\" && $3 != me {printf \"%s%s=%s\", sep, $3, $4; sep=\",\"}')".to_string(),
                format!("  KCOPS_CLUSTER=\"${{KCOPS_CLUSTER}}${{KCOPS_CLUSTER:+,}}${{HOSTNAME}}={peer_url}\""),
                "fi".to_string(),
            ] {
                out.push(format!("{indent}{l}"));
            }
            inserted = true;
        }
        let changed = if is_state_new(line) {
            line.replace(
                "--initial-cluster-state new",
                "--initial-cluster-state ${KCOPS_STATE}",
            )
            .replace(
                "--initial-cluster-state=new",
                "--initial-cluster-state=${KCOPS_STATE}",
            )
        } else {
            line.replace(
                &format!("--initial-cluster {cluster}"),
                "--initial-cluster ${KCOPS_CLUSTER}",
            )
            .replace(
                &format!("--initial-cluster={cluster}"),
                "--initial-cluster=${KCOPS_CLUSTER}",
            )
        };
        out.push(changed);
    }
    if !inserted {
        return None;
    }
    let mut text = out.join("\n");
    if script.ends_with('\n') {
        text.push('\n');
    }
    let mut new = command.to_vec();
    new[at] = text;
    Some(new)
}

fn is_state_new(line: &str) -> bool {
    line.contains("--initial-cluster-state new") || line.contains("--initial-cluster-state=new")
}

/// `old` -> `new` line by line: `  ` kept, `- ` removed, `+ ` added (a longest common
/// subsequence; templates are short).
pub fn diff(old: &[String], new: &[String]) -> Vec<String> {
    let split = |v: &[String]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.lines().map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    let (a, b) = (split(old), split(new));
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push(format!("+ {}", b[j]));
            j += 1;
        } else {
            out.push(format!("- {}", a[i]));
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod join_tests {
    use super::*;

    /// The field report's start, as the lab's scenario carries it.
    fn field_command() -> Vec<String> {
        vec![
            "/bin/sh".into(),
            "-ec".into(),
            "PEERS=\"\"\nfor i in $(seq 0 $((CLUSTER_SIZE - 1))); do\n  PEERS=\"${PEERS}${PEERS:+,}${SET_NAME}-${i}=http://${SET_NAME}-${i}.${SET_NAME}.default.svc.cluster.local:2380\"\ndone\nexec etcd --name ${HOSTNAME} \\\n  --listen-peer-urls http://${POD_IP}:2380 \\\n  --initial-advertise-peer-urls http://${POD_IP}:2380 \\\n  --initial-cluster-token etcd-cluster-1 \\\n  --initial-cluster ${PEERS} \\\n  --initial-cluster-state new \\\n  --data-dir /var/run/etcd/default.etcd\n".into(),
        ]
    }

    #[test]
    fn the_field_start_becomes_join_aware() {
        let new = join_aware(&field_command(), "etcd", 2379).unwrap();
        assert_eq!(new[..2], field_command()[..2]);
        let lines: Vec<String> = new
            .iter()
            .flat_map(|s| s.lines())
            .map(str::to_string)
            .collect();
        assert_eq!(join_support(&lines), Join::Aware);
        let script = &new[2];
        assert!(script.contains("if [ ! -d /var/run/etcd/default.etcd/member ] && KCOPS_MEMBERS=$(etcdctl --endpoints=http://etcd:2379 member list"));
        assert!(script.contains(
            "KCOPS_CLUSTER=\"${KCOPS_CLUSTER}${KCOPS_CLUSTER:+,}${HOSTNAME}=http://${POD_IP}:2380\""
        ));
        assert!(script.contains(
            "  --initial-cluster ${KCOPS_CLUSTER} \\\n  --initial-cluster-state ${KCOPS_STATE} \\"
        ));
        assert!(script.ends_with('\n'));
        let d = diff(&field_command(), &new);
        assert_eq!(
            d.iter().filter(|l| l.starts_with("- ")).count(),
            2,
            "{d:#?}"
        );
        assert_eq!(
            d.iter().filter(|l| l.starts_with("+ ")).count(),
            10,
            "{d:#?}"
        );
        assert!(
            d.contains(&"-   --initial-cluster-state new \\".to_string()),
            "{d:#?}"
        );
        assert!(d.contains(&"+   --initial-cluster-state ${KCOPS_STATE} \\".to_string()));
        // Nothing to change in a start that has no `new`.
        assert_eq!(join_aware(&new, "etcd", 2379), None);
    }
}
