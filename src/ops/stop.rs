//! Asking running plans to stop (SIGTERM, SIGHUP, SIGINT): the step under way finishes
//! (a mutation) or is cancelled (a wait), its outcome is written, and the steps after
//! it are recorded as not run. One [`PlanStop`] is shared by every executor of a
//! console, so one signal reaches whatever plan is running.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// A one-way "stop now, because ..." shared between the signal handler and executors.
#[derive(Debug, Clone, Default)]
pub struct PlanStop {
    token: CancellationToken,
    reason: Arc<OnceLock<String>>,
}

impl PlanStop {
    /// Stops every plan sharing this; the first reason given is kept
    /// (`interrupted by SIGTERM`).
    pub fn stop(&self, reason: impl Into<String>) {
        let _ = self.reason.set(reason.into());
        self.token.cancel();
    }

    /// Why plans were asked to stop, once they were.
    pub fn reason(&self) -> Option<&str> {
        self.reason.get().map(String::as_str)
    }

    /// Resolves once [`PlanStop::stop`] was called.
    pub async fn stopped(&self) {
        self.token.cancelled().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_is_kept_and_waiters_wake() {
        let stop = PlanStop::default();
        assert_eq!(stop.reason(), None);
        let waiter = {
            let stop = stop.clone();
            tokio::spawn(async move { stop.stopped().await })
        };
        stop.stop("interrupted by SIGTERM");
        stop.stop("interrupted by SIGINT");
        assert!(waiter.await.is_ok());
        assert_eq!(stop.reason(), Some("interrupted by SIGTERM"));
    }
}
