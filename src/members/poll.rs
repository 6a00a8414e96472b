//! The member poll: every ensemble's members read in the background, every 5 s and at
//! once when asked (`r` on the Members pane), never on the UI task. The ensembles'
//! pods are looked up by name in the watchers' store ([`recognise`]), so a poll costs
//! the same on a cluster of 150,000 pods as on one of ten.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::etcd::EtcdSource;
use super::recognise::Target;
use super::source::{MemberSource, PollSettings};
use super::zookeeper::ZooKeeperSource;
use crate::model::members::MembersReport;

/// How often the members are read.
pub const EVERY: Duration = Duration::from_secs(5);

/// Polls every target with the source of its kind, side by side.
pub async fn poll_all(targets: &[Target], sources: &[Box<dyn MemberSource>]) -> MembersReport {
    let polls = targets.iter().filter_map(|t| {
        let source = sources.iter().find(|s| s.kind() == t.kind)?;
        Some(source.poll(t))
    });
    MembersReport {
        ensembles: futures::future::join_all(polls).await,
    }
}

/// The sources of every kind kcops knows.
pub fn sources(settings: &PollSettings) -> Vec<Box<dyn MemberSource>> {
    vec![
        Box::new(EtcdSource {
            settings: settings.clone(),
        }),
        Box::new(ZooKeeperSource {
            settings: settings.clone(),
        }),
    ]
}

/// The process's "poll now" request (the pane asks; the running watch hears).
fn asked() -> &'static Notify {
    static ASKED: OnceLock<Notify> = OnceLock::new();
    ASKED.get_or_init(Notify::new)
}

/// Asks the running [`MembersWatch`] to poll at once.
pub fn poll_now() {
    asked().notify_one();
}

/// The latest report and the task refreshing it (stopped on drop).
pub(crate) struct MembersWatch {
    latest: Arc<Mutex<Option<Arc<MembersReport>>>>,
    /// A poll said something new to the findings since [`MembersWatch::take_news`].
    news: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Drop for MembersWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MembersWatch {
    /// Polls the ensembles `targets` finds, every [`EVERY`] and on [`poll_now`]; pings
    /// `changed` after each poll (its time is new: the view shows the data's age),
    /// and notes news for the findings when the report says something new
    /// ([`MembersReport::same_state`]).
    pub fn start(
        settings: PollSettings,
        targets: impl Fn() -> Vec<Target> + Send + 'static,
        changed: Arc<Notify>,
    ) -> MembersWatch {
        let latest: Arc<Mutex<Option<Arc<MembersReport>>>> = Arc::new(Mutex::new(None));
        let slot = latest.clone();
        let news = Arc::new(AtomicBool::new(false));
        let noted = news.clone();
        let task = tokio::spawn(async move {
            let sources = sources(&settings);
            loop {
                let report = poll_all(&targets(), &sources).await;
                let mut news = true;
                if let Ok(mut cur) = slot.lock() {
                    // Nothing recognised, before and after: nothing to show or
                    // diagnose (a view and a diagnosis every 5 s cost an idle
                    // console at 150,000 pods about 1 % of a core).
                    news = !(report.ensembles.is_empty()
                        && cur.as_ref().is_some_and(|c| c.ensembles.is_empty()));
                    if cur.as_ref().is_none_or(|c| !c.same_state(&report)) {
                        noted.store(true, Ordering::Relaxed);
                    }
                    *cur = Some(Arc::new(report));
                }
                // Each poll has a new time, so the view shows the data's age moving.
                if news {
                    changed.notify_one();
                }
                tokio::select! {
                    _ = tokio::time::sleep(EVERY) => {}
                    _ = asked().notified() => {}
                }
            }
        });
        MembersWatch { latest, news, task }
    }

    /// Whether a poll said something new to the findings since the last call.
    pub fn take_news(&self) -> bool {
        self.news.swap(false, Ordering::Relaxed)
    }

    /// The latest report, once a poll finished.
    pub fn latest(&self) -> Option<Arc<MembersReport>> {
        self.latest.lock().ok().and_then(|l| l.clone())
    }
}
