//! The plans this console is running, and how a signal stops them: the event loop
//! asks them to stop ([`PlanStop`]) and waits until none runs before it restores the
//! terminal, so a dropped SSH session never leaves a step half-recorded.

use tokio::sync::watch;

use crate::ops::PlanStop;

/// Counts running plans and carries the stop every executor of the console shares.
#[derive(Debug)]
pub(crate) struct Plans {
    pub stop: PlanStop,
    running: watch::Sender<usize>,
}

impl Default for Plans {
    fn default() -> Self {
        Plans {
            stop: PlanStop::default(),
            running: watch::Sender::new(0),
        }
    }
}

impl Plans {
    /// Marks a plan as running until the returned guard is dropped (at its end).
    pub fn start(&self) -> Running {
        self.running.send_modify(|n| *n += 1);
        Running {
            running: self.running.clone(),
        }
    }

    pub fn running(&self) -> usize {
        *self.running.borrow()
    }

    /// Resolves once no plan runs.
    pub async fn idle(&self) {
        let mut rx = self.running.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// A running plan; dropping it says the plan ended.
#[derive(Debug)]
pub struct Running {
    running: watch::Sender<usize>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.running.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_once_every_plan_ended() {
        let plans = Plans::default();
        plans.idle().await;
        let a = plans.start();
        let b = plans.start();
        assert_eq!(plans.running(), 2);
        drop(a);
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), plans.idle());
        assert!(waiting.await.is_err(), "one plan still runs");
        drop(b);
        plans.idle().await;
        assert_eq!(plans.running(), 0);
    }
}
