//! The Ceph thread: owns the connection (librados handles are not `Send`), serves
//! requests one at a time, reconnects when needed, and publishes the connection state.
//!
//! When Ceph stops answering, every request would wait out librados' op timeout in
//! turn, and a pane refreshing four things would take four timeouts to show it. So a
//! failure that means "unreachable" (connect failure, op timeout) is remembered with
//! its time, and requests queued before it fail at once with the same error; requests
//! made afterwards try again (one connect attempt per burst, not per request).

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::Receiver;
use std::time::{Instant, SystemTime};

use tokio::sync::oneshot;
use tokio::sync::watch;

use crate::ceph::calls::{self, Connection};
use crate::ceph::client::ConnectionState;
use crate::ceph::config::CephSettings;
use crate::ceph::error::CephError;

/// One request, type-erased so the thread can serve any of them.
pub(crate) trait Task: Send {
    /// The caller went away (timed out or dropped): nothing to do.
    fn abandoned(&self) -> bool;
    /// Runs the request and replies; returns the error, if any, for bookkeeping.
    fn run(self: Box<Self>, conn: &Connection) -> Option<CephError>;
    /// Replies with `err` without running.
    fn fail(self: Box<Self>, err: CephError);
}

/// A request and where its reply goes.
pub(crate) struct Call<T, F> {
    pub f: F,
    pub reply: oneshot::Sender<Result<T, CephError>>,
}

impl<T, F> Task for Call<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, CephError> + Send + 'static,
{
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn run(self: Box<Self>, conn: &Connection) -> Option<CephError> {
        let result = (self.f)(conn);
        let err = result.as_ref().err().cloned();
        let _ = self.reply.send(result);
        err
    }

    fn fail(self: Box<Self>, err: CephError) {
        let _ = self.reply.send(Err(err));
    }
}

pub(crate) struct Job {
    pub task: Box<dyn Task>,
    /// How messages name it (`health detail`, `image info rbd/x`).
    pub what: String,
    pub enqueued: Instant,
    /// The caller gives up then; later the job is not started.
    pub deadline: Instant,
}

/// Starts the thread. It connects right away and serves until every sender is gone.
pub(crate) fn spawn(
    settings: CephSettings,
    jobs: Receiver<Job>,
    state: watch::Sender<ConnectionState>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("kcops-ceph".into())
        .spawn(move || serve(settings, jobs, state))
}

struct Worker {
    settings: CephSettings,
    state: watch::Sender<ConnectionState>,
    conn: Option<Connection>,
    /// The last "unreachable" failure and when it happened.
    down: Option<(Instant, CephError)>,
}

impl Worker {
    fn connect(&mut self) -> Result<(), CephError> {
        self.state.send_if_modified(|s| {
            let changed = !matches!(s, ConnectionState::Connecting);
            *s = ConnectionState::Connecting;
            changed
        });
        match calls::connect(&self.settings) {
            Ok(conn) => {
                self.conn = Some(conn);
                self.mark_up();
                Ok(())
            }
            Err(err) => {
                tracing::warn!("Ceph connect failed: {err}");
                self.mark_down(err.clone());
                Err(err)
            }
        }
    }

    fn mark_up(&mut self) {
        self.down = None;
        let Some(conn) = &self.conn else { return };
        self.state.send_if_modified(|s| {
            if matches!(s, ConnectionState::Connected { .. }) {
                return false;
            }
            *s = ConnectionState::Connected {
                entity: conn.entity.clone(),
                mons: conn.mons.clone(),
                addrs: conn.own_addrs.iter().map(ToString::to_string).collect(),
                since: SystemTime::now(),
            };
            true
        });
    }

    fn mark_down(&mut self, error: CephError) {
        self.down = Some((Instant::now(), error.clone()));
        self.state.send_replace(ConnectionState::Down {
            error,
            since: SystemTime::now(),
        });
    }

    fn handle(&mut self, job: Job) {
        if job.task.abandoned() {
            return;
        }
        if Instant::now() >= job.deadline {
            let after = job.deadline.saturating_duration_since(job.enqueued);
            job.task.fail(CephError::Timeout {
                what: job.what,
                after,
            });
            return;
        }
        if let Some((at, err)) = &self.down
            && job.enqueued <= *at
        {
            job.task.fail(err.clone());
            return;
        }
        if self.conn.is_none()
            && let Err(err) = self.connect()
        {
            job.task.fail(err);
            return;
        }
        let Some(conn) = self.conn.as_ref() else {
            return;
        };
        let what = job.what;
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| job.task.run(conn)));
        match outcome {
            Ok(None) => self.mark_up(),
            Ok(Some(err)) if err.is_blocklisted() => {
                tracing::warn!("this Ceph client was blocklisted ({err}); reconnecting");
                self.conn = None;
                self.mark_down(err);
            }
            Ok(Some(err)) if err.is_timeout() => self.mark_down(err),
            // A refused request (permissions, missing image): the session is fine.
            Ok(Some(_)) => self.mark_up(),
            Err(_) => {
                tracing::error!(request = %what, "a Ceph request panicked; dropping the connection");
                self.conn = None;
            }
        }
    }
}

fn serve(settings: CephSettings, jobs: Receiver<Job>, state: watch::Sender<ConnectionState>) {
    let mut worker = Worker {
        settings,
        state,
        conn: None,
        down: None,
    };
    // Connect now, so the first request finds a session (or its error) ready.
    let _ = worker.connect();
    while let Ok(job) = jobs.recv() {
        worker.handle(job);
    }
    tracing::debug!("Ceph client closed");
    // Dropping the worker shuts the connection down.
}
