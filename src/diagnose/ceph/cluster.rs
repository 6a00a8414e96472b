//! The Ceph cluster and the console's Ceph user: `ceph.unreachable`, `ceph.health` and
//! `ceph.fence-denied`.

use crate::ceph::{HealthCheck, HealthReport};
use crate::model::ceph::{CephFailure, CephReport, FencePermission, fence_caps_fix};
use crate::model::objref::ObjRef;

use super::super::index::Index;
use super::super::{Finding, Severity, cap_listed};
use super::locks::osd_caps;
use crate::ceph::source::FENCE_PROBE_ADDR;

/// At most this many detail lines per health check.
const MAX_DETAILS: usize = 5;

pub(super) fn check(report: &CephReport, ix: &Index, stale_locks: usize, out: &mut Vec<Finding>) {
    if let Some(error) = &report.error {
        out.push(unreachable(report, error, ix));
    }
    if let Some(data) = &report.data {
        // The health of a cluster we cannot reach now is unknown, not the old one.
        if report.error.is_none()
            && let Some(f) = health(report, &data.health)
        {
            out.push(f);
        }
        if let FencePermission::Denied { caps } = &data.fencing {
            out.push(fence_denied(report, caps.as_deref(), stale_locks));
        }
    }
}

/// `admin` for `client.admin`: what `ceph --id` takes.
fn id_of(entity: &str) -> &str {
    entity.strip_prefix("client.").unwrap_or(entity)
}

fn cluster_subject(report: &CephReport) -> ObjRef {
    ObjRef::cluster("CephCluster", report.conf.clone())
}

fn cluster_object(report: &CephReport) -> String {
    cluster_subject(report).to_string()
}

fn unreachable(report: &CephReport, error: &str, ix: &Index) -> Finding {
    let conf = &report.conf;
    let entity = &report.entity;
    let mut evidence = vec![
        format!("error: {error}"),
        format!("conf {conf}, user {entity}"),
    ];
    if let Some(t) = report.attempted_at {
        evidence.push(format!("last attempt at {t}"));
    }
    let stale = match report.fetched_at.filter(|_| report.data.is_some()) {
        Some(t) => {
            let age = ix.now.duration_since(t).as_secs().max(0);
            evidence.push(format!("last good data fetched at {t} ({age}s ago)"));
            format!(
                " The Ceph findings shown come from that data, {age}s old, and may no longer hold."
            )
        }
        None => {
            evidence.push("no Ceph data fetched since kcops started".to_string());
            String::new()
        }
    };
    let refused = format!(
        "Ceph refused the user {entity} (its key is wrong, or its caps do not allow reading the cluster state)"
    );
    let silent =
        "the monitors did not answer in time (down, unreachable from here, or a wrong `mon host`)";
    let cause = match report.failure {
        Some(CephFailure::NoMonitors) => format!("{conf} names no monitors (no `mon host`)"),
        Some(CephFailure::Keyring) => format!(
            "there is no usable keyring for {entity} (missing, unreadable, or without its key), so kcops never asked the monitors"
        ),
        Some(CephFailure::Settings) => {
            "the Ceph settings cannot be used (see the error), so kcops never asked the monitors"
                .to_string()
        }
        Some(CephFailure::Refused) => refused,
        Some(CephFailure::NoAnswer) => silent.to_string(),
        Some(CephFailure::Other) | None => {
            let lower = error.to_ascii_lowercase();
            if lower.contains("permission denied")
                || lower.contains("eacces")
                || lower.contains("access denied")
                || lower.contains("keyring")
            {
                refused
            } else if lower.contains("timed out") || lower.contains("did not answer") {
                silent.to_string()
            } else {
                "the last refresh failed (see the error)".to_string()
            }
        }
    };
    let id = id_of(entity);
    Finding {
        id: "ceph.unreachable",
        severity: Severity::Critical,
        subject: Some(cluster_subject(report)),
        object: cluster_object(report),
        namespace: None,
        node: None,
        evidence,
        explanation: format!(
            "kcops cannot read the Ceph cluster of {conf} as {entity}: {cause}. RBD locks, watchers and images cannot be checked, so stale locks (pods stuck in ContainerCreating) and orphaned images go unseen; if the nodes cannot reach the monitors either, new RBD mounts and provisioning fail too.{stale}"
        ),
        fix: format!(
            "Run `ceph -c {conf} --id {id} -s` here: it fails the same way. Check the `mon host` addresses in {conf} and that each monitor listens (`systemctl status ceph-mon@<name>` on the mon hosts, port 6789/3300 reachable from here); for an authentication error check the keyring of {entity} (`--ceph-keyring`) and, as client.admin, `ceph auth get {entity}`. kcops retries on its own."
        ),
    }
}

/// Why a health check matters for RBD volumes, and what to do; `None` for the rest.
fn hint(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "MON_DISK_LOW" | "MON_DISK_CRIT" => (
            "a monitor's data disk is low on space; below mon_data_avail_crit (5%) the monitor shuts itself down",
            "free space on the monitor host's disk that holds /var/lib/ceph/mon",
        ),
        "MON_DOWN" => (
            "a monitor is down; the cluster keeps working while a majority is in quorum",
            "start it again (`systemctl start ceph-mon@<name>` on its host)",
        ),
        "OSD_DOWN" | "OSD_HOST_DOWN" => (
            "OSDs are down: the placement groups on them are degraded, and when too few copies are left, I/O to the RBD images in them blocks (pods hang)",
            "start the OSDs again (`ceph osd tree down` lists them; `systemctl start ceph-osd@<id>` on their hosts)",
        ),
        "PG_AVAILABILITY" => (
            "some placement groups are inactive: reads and writes to the RBD images in them block, so pods using them hang",
            "`ceph pg dump_stuck inactive` names them; bring their OSDs back",
        ),
        "PG_DEGRADED" => (
            "some data has fewer copies than the pool asks for",
            "let recovery finish; bring back or replace the OSDs that are down",
        ),
        "OSD_NEARFULL" | "OSD_BACKFILLFULL" | "POOL_NEARFULL" => (
            "the cluster is filling up; once an OSD is full, writes stop and RBD volumes hang",
            "delete data (orphaned images: rbd.orphan-image), add OSDs or rebalance",
        ),
        "OSD_FULL" | "POOL_FULL" => (
            "an OSD or pool is full: writes to RBD images stop and pods using them hang",
            "free space now (delete unused images or snapshots) or add OSDs",
        ),
        "SLOW_OPS" => (
            "requests to OSDs or monitors are slow: RBD I/O of pods stalls",
            "`ceph health detail` names the daemons; check their disks and network",
        ),
        "POOL_APP_NOT_ENABLED" => (
            "a pool has no application set: if it holds RBD images, kcops (which lists the pools marked `rbd`) does not see them",
            "`ceph osd pool application enable <pool> rbd` (or `rbd pool init <pool>`)",
        ),
        "AUTH_INSECURE_GLOBAL_ID_RECLAIM_ALLOWED" | "AUTH_INSECURE_GLOBAL_ID_RECLAIM" => (
            "the monitors let clients reclaim their global_id insecurely (CVE-2021-20288)",
            "once every client is updated: `ceph config set mon auth_allow_insecure_global_id_reclaim false`",
        ),
        "RECENT_CRASH" => (
            "a Ceph daemon crashed recently",
            "`ceph crash ls` and `ceph crash info <id>`; `ceph crash archive-all` once handled",
        ),
        _ => return None,
    })
}

fn check_lines(c: &HealthCheck) -> Vec<String> {
    let tag = if c.severity == "HEALTH_ERR" {
        "ERR"
    } else {
        "WRN"
    };
    let mut lines = vec![format!("[{tag}] {}: {}", c.code, c.summary)];
    let mut details = c.details.clone();
    if details.len() > MAX_DETAILS {
        let more = details.len() - MAX_DETAILS;
        details.truncate(MAX_DETAILS);
        details.push(format!("... and {more} more"));
    }
    lines.extend(details.into_iter().map(|d| format!("    {d}")));
    lines
}

fn health(report: &CephReport, h: &HealthReport) -> Option<Finding> {
    if h.is_ok() {
        return None;
    }
    let checks: Vec<&HealthCheck> = h.checks.iter().filter(|c| !c.muted).collect();
    if checks.is_empty() {
        return None;
    }
    let err = checks.iter().any(|c| c.severity == "HEALTH_ERR");
    let mut evidence = vec![format!(
        "{} ({} check{})",
        h.status,
        checks.len(),
        if checks.len() == 1 { "" } else { "s" }
    )];
    for c in &checks {
        evidence.extend(check_lines(c));
    }
    let mut why: Vec<String> = Vec::new();
    let mut fix: Vec<String> = Vec::new();
    for c in &checks {
        if let Some((w, f)) = hint(&c.code) {
            why.push(format!("{}: {w}.", c.code));
            fix.push(format!("{}: {f}.", c.code));
        }
    }
    let codes: Vec<&str> = checks.iter().map(|c| c.code.as_str()).collect();
    let mut explanation = format!(
        "Ceph ({}) reports {}: {}.",
        report.conf,
        h.status,
        codes.join(", ")
    );
    for w in why {
        explanation.push(' ');
        explanation.push_str(&w);
    }
    let mut fix_text = "`ceph health detail` says more about each check.".to_string();
    for f in fix {
        fix_text.push(' ');
        fix_text.push_str(&f);
    }
    fix_text.push_str(
        " A check you accept can be muted (`ceph health mute <code>`); kcops then leaves it out.",
    );
    Some(Finding {
        id: "ceph.health",
        severity: if err || h.status == "HEALTH_ERR" {
            Severity::Critical
        } else {
            Severity::Warning
        },
        subject: Some(cluster_subject(report)),
        object: cluster_object(report),
        namespace: None,
        node: None,
        evidence: cap_listed(evidence, "lines"),
        explanation,
        fix: fix_text,
    })
}

fn fence_denied(report: &CephReport, caps: Option<&str>, stale_locks: usize) -> Finding {
    let entity = &report.entity;
    let mut evidence = vec![format!(
        "{entity} may not blocklist: the monitor answered \"access denied\" to `osd blocklist rm {FENCE_PROBE_ADDR}` (a probe that changes nothing)"
    )];
    evidence.push(match caps {
        Some(c) => format!("caps of {entity}: {c}"),
        None => {
            format!("caps of {entity}: unreadable with its own caps (it may not read `auth get`)")
        }
    });
    if stale_locks > 0 {
        evidence.push(format!(
            "{stale_locks} image{} with a stale lock (rbd.stale-lock)",
            if stale_locks == 1 { "" } else { "s" }
        ));
    }
    let osd = osd_caps(caps);
    let keep = if osd.is_some() {
        "its OSD caps are kept as they are".to_string()
    } else {
        format!(
            "the command sets the OSD caps too, so check them first with `ceph auth get {entity}`"
        )
    };
    Finding {
        id: "ceph.fence-denied",
        severity: if stale_locks > 0 {
            Severity::Warning
        } else {
            Severity::Info
        },
        subject: Some(ObjRef::cluster("CephUser", entity)),
        object: format!("CephUser {entity}"),
        namespace: None,
        node: None,
        evidence,
        explanation: format!(
            "Ceph user {entity} may not blocklist clients, so it cannot break a stale RBD lock safely: librbd blocklists the holder before it breaks a lock, and that fails with \"rbd: releasing lock failed: (13) Permission denied ... unable to blacklist client\". A kubelet or storage class using a user with these caps cannot take over the image of a pod that moved either, so the pod stays ContainerCreating."
        ),
        fix: format!(
            "As client.admin: `{}` (`mon 'profile rbd'` allows `osd blocklist`; {keep}). Or run kcops as a user that may blocklist (`--ceph-id admin`).",
            fence_caps_fix(entity, osd.as_deref())
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::model::ceph::CephFailure;

    use super::super::super::fixtures::*;
    use super::super::super::{Severity, diagnose};
    use crate::ceph::{HealthCheck, HealthReport};
    use crate::model::ceph::{CephReport, FencePermission};

    fn check(code: &str, severity: &str, summary: &str, details: &[&str]) -> HealthCheck {
        HealthCheck {
            code: code.to_string(),
            severity: severity.to_string(),
            summary: summary.to_string(),
            details: details.iter().map(|d| d.to_string()).collect(),
            count: 1,
            muted: false,
        }
    }

    #[test]
    fn health_warn_and_err_with_every_check() {
        let mut s = snapshot();
        let mut data = ceph_data(Vec::new());
        data.health = HealthReport {
            status: "HEALTH_WARN".to_string(),
            checks: vec![
                check(
                    "MON_DISK_LOW",
                    "HEALTH_WARN",
                    "mon a is low on available space",
                    &["mon.a has 9% avail"],
                ),
                check("OSD_NEARFULL", "HEALTH_WARN", "1 nearfull osd(s)", &[]),
                HealthCheck {
                    muted: true,
                    ..check(
                        "RECENT_CRASH",
                        "HEALTH_WARN",
                        "1 daemons have recently crashed",
                        &[],
                    )
                },
            ],
        };
        s.ceph = Some(ceph_report(data.clone()));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [("ceph.health", "CephCluster /etc/ceph/ceph.conf".to_string())]
        );
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(
            f[0].evidence,
            [
                "HEALTH_WARN (2 checks)",
                "[WRN] MON_DISK_LOW: mon a is low on available space",
                "    mon.a has 9% avail",
                "[WRN] OSD_NEARFULL: 1 nearfull osd(s)",
            ]
        );
        assert!(
            f[0].explanation
                .contains("MON_DISK_LOW: a monitor's data disk"),
            "{}",
            f[0].explanation
        );
        assert!(!f[0].explanation.contains("RECENT_CRASH"));

        data.health.status = "HEALTH_ERR".to_string();
        data.health.checks.push(check(
            "PG_AVAILABILITY",
            "HEALTH_ERR",
            "Reduced data availability: 8 pgs inactive",
            &[],
        ));
        s.ceph = Some(ceph_report(data.clone()));
        assert_eq!(only(&s, "ceph.health")[0].severity, Severity::Critical);

        // Only muted checks, or HEALTH_OK: nothing.
        data.health.checks.iter_mut().for_each(|c| c.muted = true);
        s.ceph = Some(ceph_report(data.clone()));
        assert!(only(&s, "ceph.health").is_empty());
        data.health = HealthReport {
            status: "HEALTH_OK".to_string(),
            checks: Vec::new(),
        };
        s.ceph = Some(ceph_report(data));
        assert!(diagnose(&s).is_empty());
    }

    /// D18: the cause named is the one that happened, not always the monitors.
    #[test]
    fn unreachable_names_the_real_cause() {
        let said = |failure: CephFailure, error: &str| {
            let mut s = snapshot();
            s.ceph = Some(Arc::new(CephReport {
                entity: "client.kube".to_string(),
                conf: "/etc/ceph/ceph.conf".to_string(),
                attempted_at: Some(now()),
                error: Some(error.to_string()),
                failure: Some(failure),
                ..Default::default()
            }));
            let f = diagnose(&s);
            assert_eq!(f.len(), 1, "{f:?}");
            f[0].explanation.clone()
        };
        let no_mons = said(CephFailure::NoMonitors, "names no monitors");
        assert!(no_mons.contains("/etc/ceph/ceph.conf names no monitors (no `mon host`)"));
        assert!(!no_mons.contains("did not answer"), "{no_mons}");
        let keyring = said(CephFailure::Keyring, "keyring /k is not found");
        assert!(
            keyring.contains("no usable keyring for client.kube"),
            "{keyring}"
        );
        assert!(!keyring.contains("did not answer") && !keyring.contains("refused"));
        let refused = said(CephFailure::Refused, "(13) Permission denied");
        assert!(
            refused.contains("Ceph refused the user client.kube"),
            "{refused}"
        );
        let silent = said(CephFailure::NoAnswer, "(110) Connection timed out");
        assert!(
            silent.contains("the monitors did not answer in time"),
            "{silent}"
        );
    }

    #[test]
    fn unreachable_is_critical_and_says_how_old_the_data_is() {
        let mut s = snapshot();
        s.ceph = Some(Arc::new(CephReport {
            entity: "client.admin".to_string(),
            conf: "/etc/ceph/ceph.conf".to_string(),
            attempted_at: Some(now()),
            fetched_at: None,
            error: Some("cannot connect to the Ceph monitors: timed out (110)".to_string()),
            failure: None,
            data: None,
            csi_users: None,
        }));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [(
                "ceph.unreachable",
                "CephCluster /etc/ceph/ceph.conf".to_string()
            )]
        );
        assert_eq!(f[0].severity, Severity::Critical);
        assert_eq!(
            f[0].evidence,
            [
                "error: cannot connect to the Ceph monitors: timed out (110)".to_string(),
                "conf /etc/ceph/ceph.conf, user client.admin".to_string(),
                format!("last attempt at {}", now()),
                "no Ceph data fetched since kcops started".to_string(),
            ]
        );
        assert!(f[0].explanation.contains("did not answer in time"));
        assert!(
            f[0].fix
                .contains("`ceph -c /etc/ceph/ceph.conf --id admin -s`"),
            "{}",
            f[0].fix
        );

        // With older data: its findings stay, marked with their age; the old health does not.
        let mut data = ceph_data(vec![image(
            "rbd",
            "kubernetes-dynamic-pvc-1",
            vec![],
            vec![],
        )]);
        data.health.status = "HEALTH_WARN".to_string();
        data.health
            .checks
            .push(check("OSD_DOWN", "HEALTH_WARN", "1 osds down", &[]));
        let mut report = (*ceph_report(data)).clone();
        report.error = Some("timed out".to_string());
        report.attempted_at = Some(now());
        s.ceph = Some(Arc::new(report));
        let f = diagnose(&s);
        assert_eq!(
            f.iter().map(|f| f.id).collect::<Vec<_>>(),
            ["ceph.unreachable", "rbd.orphan-image"]
        );
        assert_eq!(
            f[0].evidence[3],
            format!("last good data fetched at {} (60s ago)", ago(60))
        );
        assert_eq!(
            f[1].evidence.last().map(String::as_str),
            Some(
                format!(
                    "Ceph data from {} (60s old): the latest refresh failed (see ceph.unreachable)",
                    ago(60)
                )
                .as_str()
            )
        );
    }

    #[test]
    fn fence_denied_gives_the_caps_command() {
        let mut s = snapshot();
        let mut data = ceph_data(Vec::new());
        data.fencing = FencePermission::Denied { caps: None };
        let mut report = (*ceph_report(data)).clone();
        report.entity = "client.kube".to_string();
        s.ceph = Some(Arc::new(report.clone()));
        let f = diagnose(&s);
        assert_eq!(
            ids(&f),
            [("ceph.fence-denied", "CephUser client.kube".to_string())]
        );
        assert_eq!(f[0].severity, Severity::Info);
        assert!(
            f[0].fix.starts_with(
                "As client.admin: `ceph auth caps client.kube mon 'profile rbd' osd 'profile rbd'`"
            ),
            "{}",
            f[0].fix
        );
        assert!(f[0].explanation.contains("unable to blacklist client"));

        // With a stale lock it is a warning, and the user's OSD caps are kept.
        s.nodes.push(node_at("node2", "True", "198.18.1.12"));
        rbd_volume(
            &mut s,
            "default",
            "c",
            "pvc-1",
            "rbd",
            "kubernetes-dynamic-pvc-1",
        );
        if let Some(d) = report.data.as_mut() {
            d.fencing = FencePermission::Denied {
                caps: Some("mon 'allow r' osd 'allow rwx pool=rbd'".to_string()),
            };
            d.images.push(image(
                "rbd",
                "kubernetes-dynamic-pvc-1",
                vec![kubelet_lock("node1", "10.0.0.1", 3)],
                vec![],
            ));
        }
        s.ceph = Some(Arc::new(report));
        let f = only(&s, "ceph.fence-denied");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(
            f[0].evidence[1],
            "caps of client.kube: mon 'allow r' osd 'allow rwx pool=rbd'"
        );
        assert_eq!(
            f[0].evidence[2],
            "1 image with a stale lock (rbd.stale-lock)"
        );
        assert!(
            f[0].fix.contains(
                "`ceph auth caps client.kube mon 'profile rbd' osd 'allow rwx pool=rbd'`"
            ),
            "{}",
            f[0].fix
        );

        // Allowed, unknown or a failed probe: nothing.
        for fencing in [
            FencePermission::Allowed,
            FencePermission::Unknown,
            FencePermission::CheckFailed("x".into()),
        ] {
            let mut d = ceph_data(Vec::new());
            d.fencing = fencing;
            s.ceph = Some(ceph_report(d));
            assert!(only(&s, "ceph.fence-denied").is_empty());
        }
    }

    #[test]
    fn no_ceph_no_ceph_findings() {
        let mut s = snapshot();
        s.nodes.push(node_at("node1", "Unknown", "198.18.1.11"));
        s.ceph = None;
        assert!(
            diagnose(&s)
                .iter()
                .all(|f| !f.id.starts_with("ceph.") && !f.id.starts_with("rbd."))
        );
    }
}
