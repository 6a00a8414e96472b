//! When the findings are diagnosed, so a large cluster's diagnosis never holds rows back.

use std::time::{Duration, Instant};

use crate::diagnose::Finding;

/// When the findings are diagnosed. While that is nearly free (under a millisecond: a
/// small cluster), with every view, as the rows are; otherwise (30,000 pods take
/// milliseconds, 150,000 about ten) in the background, at most once per two hundred
/// times its cost and once a second, the views in between keeping the last
/// findings, so neither rows nor an idle console under churn pay for a diagnosis per
/// change: findings cost at most 0.5 % of a core (the pass over every pod is the one
/// cost of a churning console that follows the number of pods), and at 150,000 pods
/// (10 ms a diagnosis) lag a cluster that never stops changing by about 2 s.
///
/// Every method takes the time it is asked at, so the schedule is tested without
/// sleeping.
#[derive(Debug)]
pub(crate) struct FindingsSchedule {
    /// The findings of the last diagnosis (shown until the next one is done).
    pub(crate) latest: Vec<Finding>,
    /// Something changed since the last diagnosis started.
    dirty: bool,
    running: bool,
    cost: Duration,
    next_start: Instant,
}

impl FindingsSchedule {
    /// Below this cost a diagnosis runs with each view.
    const INLINE_BELOW: Duration = Duration::from_millis(1);
    /// A background diagnosis starts at most once per this many times its cost.
    const PERIOD_PER_COST: u32 = 200;
    /// The shortest time between two background diagnoses.
    const MIN_PERIOD: Duration = Duration::from_secs(1);

    pub(crate) fn new(now: Instant) -> Self {
        Self {
            latest: Vec::new(),
            dirty: true,
            running: false,
            cost: Duration::ZERO,
            next_start: now,
        }
    }

    /// Notes a change the findings should reflect.
    pub(crate) fn changed(&mut self) {
        self.dirty = true;
    }

    /// Whether the next view diagnoses the findings itself.
    pub(crate) fn inline(&self) -> bool {
        self.cost < Self::INLINE_BELOW && !self.running
    }

    /// Claims a background diagnosis if one is due at `now`.
    pub(crate) fn start_due(&mut self, now: Instant) -> bool {
        if !self.dirty || self.running || now < self.next_start {
            return false;
        }
        self.dirty = false;
        self.running = true;
        self.next_start = now + (self.cost * Self::PERIOD_PER_COST).max(Self::MIN_PERIOD);
        true
    }

    /// How long after `now` a pending background diagnosis may start (`None`: none
    /// is pending).
    pub(crate) fn due_in(&self, now: Instant) -> Option<Duration> {
        (self.dirty && !self.running && !self.inline())
            .then(|| self.next_start.saturating_duration_since(now))
    }

    /// A diagnosis finished at `now`, having taken `cost`.
    pub(crate) fn done(&mut self, findings: Vec<Finding>, cost: Duration, now: Instant) {
        self.latest = findings;
        self.cost = cost;
        self.running = false;
        self.next_start = self
            .next_start
            .max(now + cost * (Self::PERIOD_PER_COST - 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn cheap_diagnoses_run_with_every_view() {
        let t0 = Instant::now();
        let mut s = FindingsSchedule::new(t0);
        assert!(s.inline(), "nothing measured yet: inline");
        s.done(Vec::new(), MS / 2, t0);
        assert!(s.inline());
        s.changed();
        assert_eq!(s.due_in(t0), None, "inline diagnoses are never pending");
    }

    #[test]
    fn a_costly_diagnosis_moves_to_the_background_and_waits_two_hundred_times_its_cost() {
        let t0 = Instant::now();
        let mut s = FindingsSchedule::new(t0);
        s.done(Vec::new(), 100 * MS, t0);
        assert!(!s.inline(), "100 ms is too slow for every view");
        // Done at t0 after 100 ms: the next may start 199 x 100 ms later.
        s.changed();
        assert_eq!(s.due_in(t0), Some(19_900 * MS));
        assert!(!s.start_due(t0), "not yet due");
        let later = t0 + 19_900 * MS;
        assert_eq!(s.due_in(later), Some(Duration::ZERO));
        assert!(s.start_due(later), "due: claimed");
        assert!(!s.inline(), "one is running");
        assert!(!s.start_due(later), "claimed once");
        assert_eq!(s.due_in(later), None, "nothing pending while one runs");
        // The next start is 200 x the cost after this one started.
        s.done(Vec::new(), 100 * MS, later + 100 * MS);
        s.changed();
        assert_eq!(s.due_in(later), Some(20_000 * MS));
    }

    #[test]
    fn background_diagnoses_wait_at_least_a_second_apart() {
        let t0 = Instant::now();
        let mut s = FindingsSchedule::new(t0);
        s.done(Vec::new(), 2 * MS, t0);
        assert!(!s.inline(), "2 ms a view is too much under churn");
        s.changed();
        let start = t0 + 398 * MS;
        assert!(s.start_due(start));
        s.done(Vec::new(), 2 * MS, start + 2 * MS);
        s.changed();
        assert_eq!(s.due_in(start), Some(Duration::from_secs(1)));
    }

    #[test]
    fn nothing_starts_without_a_change() {
        let t0 = Instant::now();
        let mut s = FindingsSchedule::new(t0);
        s.done(Vec::new(), 100 * MS, t0);
        let later = t0 + Duration::from_secs(60);
        s.changed();
        assert!(s.start_due(later));
        s.done(Vec::new(), 100 * MS, later);
        let much_later = later + Duration::from_secs(60);
        assert_eq!(s.due_in(much_later), None);
        assert!(!s.start_due(much_later), "nothing changed since");
    }
}
