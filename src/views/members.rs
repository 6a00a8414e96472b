//! The Members pane's view (pane 9): one row per ensemble and, for each, its members'
//! lines, derived off the UI task from the snapshot (the pods the watchers keep and
//! the last member poll).

use jiff::Timestamp;

use super::tables::{ObjKey, ObjKind, TableModel, Tone, model};
use crate::members::{Ensemble, EnsembleKind, Member, Owner, Verdict, ensembles};
use crate::model::columns::{Column, ColumnKind};
use crate::model::snapshot::Snapshot;

const ENSEMBLE_COLUMNS: &[Column] = &[
    Column::new("KIND", ColumnKind::Text),
    Column::new("ENSEMBLE", ColumnKind::Name),
    Column::new("PODS", ColumnKind::Ready),
    Column::new("VOTERS", ColumnKind::Text),
    Column::new("LEADER", ColumnKind::Name),
    Column::new("QUORUM", ColumnKind::Text),
    Column::new("VERDICT", ColumnKind::Status),
];

/// The members' columns, most telling first (the URLs last: at 80 columns they are
/// what is cut).
pub(crate) const MEMBER_COLUMNS: &[&str] = &[
    "NAME",
    "HEALTH",
    "ROLE",
    "POD",
    "NODE",
    "PHASE",
    "ID",
    "TERM/INDEX",
    "LAG",
    "DB",
    "VERSION",
    "PEER",
    "CLIENT",
];

/// One ensemble's members as the pane lists them.
#[derive(Debug, Clone, Default)]
pub struct EnsembleDetail {
    pub key: Option<ObjKey>,
    /// `StatefulSet default/etcd · 3 voters · quorum 2 · tolerates 1`.
    pub title: String,
    pub polled_at: Option<Timestamp>,
    /// Why the member list could not be read.
    pub error: Option<String>,
    /// One line of cells per member ([`MEMBER_COLUMNS`]), with its tone.
    pub members: Vec<(Vec<String>, Tone)>,
    /// Lines below the members: pods that are no member, stale claims.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct MembersView {
    pub ensembles: TableModel,
    /// In the order of `ensembles`' rows as derived.
    pub details: Vec<EnsembleDetail>,
}

impl MembersView {
    pub fn detail(&self, key: &ObjKey) -> Option<&EnsembleDetail> {
        self.details.iter().find(|d| d.key.as_ref() == Some(key))
    }
}

fn key(e: &Ensemble) -> (String, String) {
    match &e.owner {
        Owner::StatefulSet { namespace, name } => (namespace.clone(), name.clone()),
        Owner::StaticPods { namespace } => (
            namespace.clone(),
            e.pods.first().map(|p| p.name.clone()).unwrap_or_default(),
        ),
    }
}

fn kind(e: &Ensemble) -> ObjKind {
    match e.owner {
        Owner::StatefulSet { .. } => ObjKind::StatefulSet,
        Owner::StaticPods { .. } => ObjKind::Pod,
    }
}

fn verdict_tone(v: Verdict) -> Tone {
    match v {
        Verdict::Healthy => Tone::Ok,
        Verdict::NoQuorum | Verdict::Unreachable => Tone::Error,
        Verdict::AtRisk | Verdict::Degraded => Tone::Warning,
        Verdict::NotPolled => Tone::Muted,
    }
}

fn ensemble_cells(e: &Ensemble) -> Vec<String> {
    let (ready, desired) = e.pods_ready();
    let q = e.quorum();
    let listed = e.listed();
    let name = match &e.owner {
        Owner::StatefulSet { namespace, name } => format!("{namespace}/{name}"),
        Owner::StaticPods { namespace } => format!("{namespace} (static pods)"),
    };
    vec![
        e.kind.as_str().to_string(),
        name,
        format!("{ready}/{desired}"),
        if !listed {
            "-".to_string()
        } else if q.learners > 0 {
            format!("{} +{}L", q.voters, q.learners)
        } else {
            q.voters.to_string()
        },
        e.leader()
            .map(Member::label)
            .unwrap_or_else(|| if listed { "none" } else { "-" }.to_string()),
        if listed {
            q.to_string()
        } else {
            "-".to_string()
        },
        e.verdict().word().to_string(),
    ]
}

/// `20 KiB`, `1.5 MiB`.
fn size(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b < 1024.0 {
        format!("{b} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    }
}

fn member_cells(e: &Ensemble, m: &Member) -> (Vec<String>, Tone) {
    let pod = m
        .pod
        .as_ref()
        .and_then(|p| e.pods.iter().find(|x| &x.name == p));
    let zookeeper = e.kind == EnsembleKind::ZooKeeper;
    // ZooKeeper's own words: followers and observers, myid in decimal, the zxid, znodes.
    let role = match (m.leader, m.learner, zookeeper) {
        (true, _, _) => "leader",
        (false, true, false) => "learner",
        (false, false, false) => "voter",
        (false, true, true) => "observer",
        (false, false, true) => "follower",
    };
    let dash = || "-".to_string();
    let cells = vec![
        m.label(),
        m.health.word().to_string(),
        role.to_string(),
        pod.map(|p| p.name.clone())
            .unwrap_or_else(|| "no pod".to_string()),
        pod.and_then(|p| p.node.clone()).unwrap_or_else(dash),
        pod.map(|p| p.phase.clone()).unwrap_or_else(dash),
        if zookeeper {
            m.id.to_string()
        } else {
            m.id_hex()
        },
        m.status
            .as_ref()
            .map(|s| {
                if zookeeper {
                    format!("zxid {:#x}", (s.raft_term << 32) | s.raft_index)
                } else {
                    format!("{}/{}", s.raft_term, s.raft_index)
                }
            })
            .unwrap_or_else(dash),
        m.lag.map(|l| l.to_string()).unwrap_or_else(dash),
        m.status
            .as_ref()
            .map(|s| {
                if zookeeper {
                    format!("{} znodes", s.db_size)
                } else {
                    size(s.db_size)
                }
            })
            .unwrap_or_else(dash),
        m.status
            .as_ref()
            .map(|s| s.version.clone())
            .unwrap_or_else(dash),
        m.peer_urls.join(","),
        m.client_urls.join(","),
    ];
    let tone = if !m.health.is_healthy() || m.pod.is_none() {
        Tone::Error
    } else if m.learner {
        Tone::Warning
    } else {
        Tone::Ok
    };
    (cells, tone)
}

fn detail(e: &Ensemble) -> EnsembleDetail {
    let (namespace, name) = key(e);
    let mut notes = Vec::new();
    for p in e.pods.iter().filter(|p| p.member.is_none()) {
        notes.push(format!(
            "pod {} ({}, {}) {}",
            p.name,
            p.phase,
            p.ip.as_deref().unwrap_or("no IP"),
            if e.kind == EnsembleKind::ZooKeeper {
                "is in no server list (its myid is not in zoo.cfg)"
            } else {
                "is no registered member"
            }
        ));
    }
    for c in &e.stale_claims {
        notes.push(format!(
            "claim {} ({}) is of ordinal {} but replicas is {}: a pod taking that ordinal would start on a removed member's data",
            c.name,
            c.phase,
            c.ordinal,
            e.replicas.unwrap_or_default()
        ));
    }
    EnsembleDetail {
        key: Some(ObjKey {
            kind: kind(e),
            namespace: namespace.into(),
            name: name.into(),
        }),
        title: if e.listed() {
            format!("{} · {}", e.label(), e.quorum())
        } else {
            e.label()
        },
        polled_at: e.poll.as_ref().map(|p| p.at),
        error: e.poll.as_ref().and_then(|p| p.error.clone()),
        members: e.members.iter().map(|m| member_cells(e, m)).collect(),
        notes,
    }
}

/// The pane's view of `s`.
pub fn derive(s: &Snapshot) -> MembersView {
    let all = ensembles(s);
    MembersView {
        ensembles: model(
            ENSEMBLE_COLUMNS,
            &all,
            ObjKind::StatefulSet,
            ensemble_cells,
            key,
            |e| verdict_tone(e.verdict()),
            |_| None,
        ),
        details: all.iter().map(detail).collect(),
    }
    .with_kinds(&all)
}

impl MembersView {
    /// Static-pod ensembles' rows stand for their first pod (describe shows it).
    fn with_kinds(mut self, all: &[Ensemble]) -> Self {
        let super::Rows::Made(rows) = &mut self.ensembles.rows else {
            return self;
        };
        for (i, e) in all.iter().enumerate() {
            if let Some(row) = rows.get(i)
                && kind(e) != row.key.kind
            {
                let mut r = (**row).clone();
                r.key.kind = kind(e);
                rows.set(i, std::sync::Arc::new(r));
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::members::fixtures::scaled_down;

    #[test]
    fn seed_003_scaled_down_in_the_pane() {
        let v = derive(&scaled_down());
        assert_eq!(v.ensembles.rows.len(), 1);
        let row = v.ensembles.rows.at(0);
        let cells: Vec<String> = (0..row.len())
            .map(|i| row.cell(i, jiff::Timestamp::UNIX_EPOCH).into_owned())
            .collect();
        assert_eq!(
            cells,
            [
                "etcd",
                "default/etcd",
                "2/2",
                "3",
                "etcd-0",
                "3 voters · quorum 2 · tolerates 1",
                "at risk"
            ]
        );
        let d = &v.details[0];
        assert_eq!(d.members.len(), 3);
        let etcd2 = &d.members[2].0;
        assert_eq!(&etcd2[..4], ["etcd-2", "unreachable", "voter", "no pod"]);
        assert_eq!(etcd2[6], "1002", "the id in hex");
        assert_eq!(d.members[0].0[2], "leader");
        assert_eq!(d.members[1].0[1], "healthy");
        assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
        assert!(d.notes[0].starts_with("claim data-etcd-2 (Bound) is of ordinal 2"));
    }
}
