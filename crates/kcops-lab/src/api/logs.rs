//! Container logs the lab kubelet writes and `pods/log` serves (current and previous
//! instance, bounded, with followers).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::broadcast;

/// Lines kept per container instance.
const MAX_LINES: usize = 5000;

type Key = (String, String, String);

#[derive(Default)]
struct ContainerLog {
    current: VecDeque<String>,
    previous: Option<Vec<String>>,
}

/// A line appended to a container's current log.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    pub line: String,
}

pub struct LogStore {
    logs: Mutex<HashMap<Key, ContainerLog>>,
    tx: broadcast::Sender<LogLine>,
}

impl Default for LogStore {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            logs: Mutex::new(HashMap::new()),
            tx,
        }
    }
}

impl LogStore {
    fn key(ns: &str, pod: &str, container: &str) -> Key {
        (ns.to_string(), pod.to_string(), container.to_string())
    }

    pub fn append(&self, ns: &str, pod: &str, container: &str, line: &str) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let log = logs.entry(Self::key(ns, pod, container)).or_default();
        log.current.push_back(line.to_string());
        while log.current.len() > MAX_LINES {
            log.current.pop_front();
        }
        let _ = self.tx.send(LogLine {
            namespace: ns.into(),
            pod: pod.into(),
            container: container.into(),
            line: line.into(),
        });
    }

    /// A container started without writing anything yet: its (empty) log exists.
    pub fn start(&self, ns: &str, pod: &str, container: &str) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.entry(Self::key(ns, pod, container)).or_default();
    }

    /// A container restarted: its current log becomes the previous one.
    pub fn rotate(&self, ns: &str, pod: &str, container: &str) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let log = logs.entry(Self::key(ns, pod, container)).or_default();
        log.previous = Some(log.current.drain(..).collect());
    }

    /// Forgets a deleted pod's logs.
    pub fn remove_pod(&self, ns: &str, pod: &str) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.retain(|(n, p, _), _| !(n == ns && p == pod));
    }

    /// The lines of the current (or previous) instance; `None` when there is none.
    pub fn read(
        &self,
        ns: &str,
        pod: &str,
        container: &str,
        previous: bool,
    ) -> Option<Vec<String>> {
        let logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let log = logs.get(&Self::key(ns, pod, container))?;
        if previous {
            log.previous.clone()
        } else {
            Some(log.current.iter().cloned().collect())
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.tx.subscribe()
    }
}
