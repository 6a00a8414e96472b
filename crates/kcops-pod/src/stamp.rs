//! A time as the API server writes it, in 8 bytes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// A `metav1.Time`, which the API server writes in whole seconds, held as those
/// seconds: 8 bytes where an `Option<Time>` takes 24, for the times every one of
/// 150,000 pods carries (created, started, each condition's last change).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stamp(i64);

impl Stamp {
    /// No time.
    pub const NONE: Stamp = Stamp(i64::MIN);

    /// `t` to the second (the API server never writes a fraction).
    pub fn new(t: Option<&Time>) -> Stamp {
        t.map_or(Stamp::NONE, |t| Stamp(t.0.as_second()))
    }

    /// `secs` seconds since 1970.
    pub fn from_second(secs: i64) -> Stamp {
        Stamp(secs)
    }

    pub fn time(self) -> Option<Time> {
        self.timestamp().map(Time)
    }

    pub fn timestamp(self) -> Option<jiff::Timestamp> {
        (self != Stamp::NONE)
            .then(|| jiff::Timestamp::from_second(self.0).ok())
            .flatten()
    }
}

impl Default for Stamp {
    fn default() -> Self {
        Stamp::NONE
    }
}

impl std::fmt::Debug for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.timestamp() {
            Some(t) => write!(f, "{t}"),
            None => f.write_str("none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_round_trips_to_the_second() {
        let t: jiff::Timestamp = "2026-12-04T10:00:07Z".parse().unwrap_or_default();
        let s = Stamp::new(Some(&Time(t)));
        assert_eq!(s.timestamp(), Some(t));
        assert_eq!(s.time(), Some(Time(t)));
        assert_eq!(Stamp::new(None), Stamp::NONE);
        assert_eq!(Stamp::NONE.time(), None);
        assert_eq!(std::mem::size_of::<Stamp>(), 8);
        // A fraction (which the API server never writes) is dropped.
        let f: jiff::Timestamp = "2026-12-04T10:00:07.9Z".parse().unwrap_or_default();
        assert_eq!(Stamp::new(Some(&Time(f))).timestamp(), Some(t));
    }
}
