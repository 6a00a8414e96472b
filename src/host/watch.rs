//! Keeps a host report fresh in the background: probes run on the blocking pool every
//! few seconds, never on the UI task, and whoever derives the view is woken only when
//! the host actually changed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::probe::HostProbe;
use crate::model::host::HostReport;

/// The latest report and the task refreshing it (stopped on drop).
pub(crate) struct HostWatch {
    latest: Arc<Mutex<Option<Arc<HostReport>>>>,
    task: JoinHandle<()>,
}

impl Drop for HostWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostWatch {
    /// Starts probing with `probe` every `every`. When the probe names no node,
    /// `find_node` is asked each round (the nodes may not be listed yet at start).
    pub fn start(
        probe: HostProbe,
        find_node: impl Fn() -> Option<String> + Send + 'static,
        changed: Arc<Notify>,
        every: Duration,
    ) -> HostWatch {
        let latest: Arc<Mutex<Option<Arc<HostReport>>>> = Arc::new(Mutex::new(None));
        let slot = latest.clone();
        let task = tokio::spawn(async move {
            loop {
                let mut p = probe.clone();
                if p.node.is_none() {
                    p.node = find_node();
                }
                match tokio::task::spawn_blocking(move || p.run()).await {
                    Ok(report) => {
                        let mut changed_now = false;
                        if let Ok(mut cur) = slot.lock() {
                            changed_now = cur.as_ref().is_none_or(|old| !old.same_state(&report));
                            if changed_now {
                                *cur = Some(Arc::new(report));
                            }
                        }
                        if changed_now {
                            tracing::debug!("host state changed");
                            changed.notify_one();
                        }
                    }
                    Err(e) => tracing::warn!("host probe failed: {e}"),
                }
                tokio::time::sleep(every).await;
            }
        });
        HostWatch { latest, task }
    }

    /// The latest report, if a probe has finished.
    pub fn latest(&self) -> Option<Arc<HostReport>> {
        self.latest.lock().ok().and_then(|l| l.clone())
    }
}
