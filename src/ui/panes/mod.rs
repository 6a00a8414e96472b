//! The panes: Overview, the table panes (nodes, pods, storage, workloads, events),
//! Network and Ceph.

pub mod ceph;
pub mod network;
pub mod overview;
pub mod table;

/// The top-level panes, in number-key order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pane {
    Overview,
    Nodes,
    Pods,
    Storage,
    Workloads,
    Events,
    Network,
    Ceph,
}

impl Pane {
    pub const ALL: [Pane; 8] = [
        Pane::Overview,
        Pane::Nodes,
        Pane::Pods,
        Pane::Storage,
        Pane::Workloads,
        Pane::Events,
        Pane::Network,
        Pane::Ceph,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Overview => "Overview",
            Pane::Nodes => "Nodes",
            Pane::Pods => "Pods",
            Pane::Storage => "Storage",
            Pane::Workloads => "Workloads",
            Pane::Events => "Events",
            Pane::Network => "Network",
            Pane::Ceph => "Ceph",
        }
    }

    pub fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// Sub-views of the Storage pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StorageView {
    Pvc,
    Pv,
    StorageClass,
}

/// Which workloads the Workloads pane lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkloadFilter {
    All,
    StatefulSets,
    DaemonSets,
    Deployments,
}
