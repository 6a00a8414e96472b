//! Seed 003's etcd StatefulSet as a snapshot, for the members' and findings' tests.

use std::sync::Arc;

use serde_json::json;

use crate::model::members::{
    EnsembleKind, EnsemblePoll, Health, MemberStatus, MembersReport, Owner, PolledMember,
};
use crate::model::snapshot::Snapshot;

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
    Arc::new(serde_json::from_value(v).unwrap())
}

pub(crate) fn now() -> jiff::Timestamp {
    "2025-01-01T12:00:00Z".parse().unwrap()
}

pub(crate) fn ip(ordinal: usize) -> String {
    format!("10.244.{}.3", ordinal + 1)
}

/// The etcd StatefulSet with `replicas`, its pods `running` (ordinals), claims for
/// `claims` ordinals, no poll.
pub(crate) fn cluster(replicas: i32, running: &[usize], claims: &[usize]) -> Snapshot {
    let mut s = Snapshot {
        now: now(),
        ..Default::default()
    };
    s.statefulsets.push(from(json!({
        "metadata": {"name": "etcd", "namespace": "default"},
        "spec": {"replicas": replicas, "serviceName": "etcd", "selector": {},
          "template": {"spec": {"containers": [{"name": "etcd",
            "image": "quay.io/coreos/etcd:v3.4.23",
            "ports": [{"name": "client", "containerPort": 2379}, {"name": "peer", "containerPort": 2380}]}]}},
          "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}
    })));
    for &i in running {
        s.pods.push(from(json!({
            "metadata": {"name": format!("etcd-{i}"), "namespace": "default"},
            "spec": {"nodeName": format!("node{}", i % 2 + 1), "containers": [{"name": "etcd", "image": "etcd"}]},
            "status": {"phase": "Running", "podIP": ip(i),
              "conditions": [{"type": "Ready", "status": "True"}]}
        })));
    }
    for &i in claims {
        s.pvcs.push(from(json!({
            "metadata": {"name": format!("data-etcd-{i}"), "namespace": "default"},
            "spec": {}, "status": {"phase": "Bound"}
        })));
    }
    s.sort();
    s
}

/// A member of the poll: `etcd-<ordinal>`, healthy or not, at raft index `index`.
pub(crate) fn member(ordinal: usize, health: Health, index: u64) -> PolledMember {
    let reached = !matches!(health, Health::Unreachable(_));
    PolledMember {
        id: 0x1000 + ordinal as u64,
        name: format!("etcd-{ordinal}"),
        peer_urls: vec![format!("http://{}:2380", ip(ordinal))],
        client_urls: vec![format!("http://{}:2379", ip(ordinal))],
        learner: false,
        endpoint: Some(format!("http://{}:2379", ip(ordinal))),
        status: reached.then(|| MemberStatus {
            leader: 0x1000,
            raft_term: 2,
            raft_index: index,
            db_size: 20480,
            version: "3.4.23".to_string(),
            learner: false,
            ..Default::default()
        }),
        health,
    }
}

pub(crate) fn down() -> Health {
    Health::Unreachable("connection refused".to_string())
}

/// `s` with a poll that found `members`.
pub(crate) fn polled(mut s: Snapshot, members: Vec<PolledMember>) -> Snapshot {
    s.members = Some(Arc::new(MembersReport {
        ensembles: vec![EnsemblePoll {
            kind: EnsembleKind::Etcd,
            owner: Owner::StatefulSet {
                namespace: "default".into(),
                name: "etcd".into(),
            },
            polled_at: now(),
            members,
            error: None,
            answered_by: Some(format!("{}:2379", ip(0))),
        }],
    }));
    s
}

/// Seed 003 after `kubectl scale --replicas=2`: etcd-2 registered, its pod gone, its
/// claim kept.
pub(crate) fn scaled_down() -> Snapshot {
    polled(
        cluster(2, &[0, 1], &[0, 1, 2]),
        vec![
            member(0, Health::Healthy, 100),
            member(1, Health::Healthy, 100),
            member(2, down(), 0),
        ],
    )
}

/// Seed 003's ZooKeeper StatefulSet `zk` (`start-zookeeper --servers=<servers>`) with
/// `replicas`, its pods `running` (ordinals), and a poll in which servers 1..=`servers`
/// answered (server 1 leads; the pod of each is `zk-<myid - 1>`).
pub(crate) fn zookeeper(replicas: i32, servers: u64, running: &[usize]) -> Snapshot {
    let mut s = Snapshot {
        now: now(),
        ..Default::default()
    };
    s.statefulsets.push(from(json!({
        "metadata": {"name": "zk", "namespace": "default"},
        "spec": {"replicas": replicas, "serviceName": "zk-hs", "selector": {},
          "template": {"spec": {"containers": [{"name": "kubernetes-zookeeper",
            "image": "gcr.io/google_containers/kubernetes-zookeeper:1.0-3.4.10",
            "command": ["sh", "-c", format!("start-zookeeper --servers={servers} --client_port=2181")],
            "ports": [{"name": "client", "containerPort": 2181}]}]}},
          "volumeClaimTemplates": [{"metadata": {"name": "datadir"}}]}
    })));
    for &i in running {
        s.pods.push(from(json!({
            "metadata": {"name": format!("zk-{i}"), "namespace": "default"},
            "spec": {"nodeName": format!("node{}", i + 1), "containers": [{"name": "kubernetes-zookeeper", "image": "zk"}]},
            "status": {"phase": "Running", "podIP": ip(i),
              "conditions": [{"type": "Ready", "status": "True"}]}
        })));
    }
    let members = (1..=servers)
        .map(|myid| {
            let ordinal = (myid - 1) as usize;
            let up = running.contains(&ordinal);
            PolledMember {
                id: myid,
                name: format!("zk-{ordinal}"),
                peer_urls: Vec::new(),
                client_urls: vec![format!("{}:2181", ip(ordinal))],
                learner: false,
                endpoint: Some(format!("{}:2181", ip(ordinal))),
                status: up.then(|| MemberStatus {
                    leader: if myid == 1 { 1 } else { 0 },
                    raft_term: 1,
                    raft_index: 4,
                    db_size: 5,
                    version: "3.8.0".to_string(),
                    learner: false,
                    ..Default::default()
                }),
                health: if up { Health::Healthy } else { down() },
            }
        })
        .collect();
    s.members = Some(Arc::new(MembersReport {
        ensembles: vec![EnsemblePoll {
            kind: EnsembleKind::ZooKeeper,
            owner: Owner::StatefulSet {
                namespace: "default".into(),
                name: "zk".into(),
            },
            polled_at: now(),
            members,
            error: None,
            answered_by: Some(format!("{}:2181", ip(0))),
        }],
    }));
    s.sort();
    s
}
