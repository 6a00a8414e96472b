//! Quorum arithmetic: how many voters an ensemble has, how many must agree, and how
//! many may fail. Learners (etcd's non-voting members) never count towards either.
//! The scaling wizard reads every intermediate step of a plan through [`steps`].

use std::fmt;

/// An ensemble's voting shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quorum {
    /// Voting members.
    pub voters: usize,
    /// Non-voting members (etcd learners): they follow the log but neither vote nor
    /// count towards quorum.
    pub learners: usize,
}

impl Quorum {
    pub fn new(voters: usize, learners: usize) -> Quorum {
        Quorum { voters, learners }
    }

    /// Votes a decision needs: a strict majority of the voters (0 for no voter).
    pub fn quorum(&self) -> usize {
        if self.voters == 0 {
            0
        } else {
            self.voters / 2 + 1
        }
    }

    /// Voters that may fail while the rest still make a quorum.
    pub fn tolerates(&self) -> usize {
        self.voters.saturating_sub(self.quorum())
    }

    /// Whether `healthy` voters still make a quorum.
    pub fn has_quorum(&self, healthy_voters: usize) -> bool {
        self.voters > 0 && healthy_voters >= self.quorum()
    }

    /// An even number of voters tolerates no more failures than one voter fewer.
    pub fn is_even(&self) -> bool {
        self.voters > 0 && self.voters.is_multiple_of(2)
    }

    /// The short form of one step: `3 voters q2 tol1` (the first of a sequence) or
    /// `4 q3 tol1`.
    pub fn short(&self, first: bool) -> String {
        let learners = if self.learners > 0 {
            format!(" +{}L", self.learners)
        } else {
            String::new()
        };
        let voters = if first { " voters" } else { "" };
        format!(
            "{}{voters}{learners} q{} tol{}",
            self.voters,
            self.quorum(),
            self.tolerates()
        )
    }
}

/// `3 voters · quorum 2 · tolerates 1` (with `· 1 learner` when there are learners).
impl fmt::Display for Quorum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let voters = if self.voters == 1 { "voter" } else { "voters" };
        write!(
            f,
            "{} {voters} · quorum {} · tolerates {}",
            self.voters,
            self.quorum(),
            self.tolerates()
        )?;
        if self.learners > 0 {
            let l = if self.learners == 1 {
                "learner"
            } else {
                "learners"
            };
            write!(f, " · {} {l}", self.learners)?;
        }
        Ok(())
    }
}

/// One change of membership, as a plan makes them one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A member joins as a voter (etcd before 3.4, ZooKeeper).
    AddVoter,
    /// A member joins as a learner (no vote yet).
    AddLearner,
    /// A learner becomes a voter.
    Promote,
    /// A voter leaves.
    RemoveVoter,
    /// A learner leaves.
    RemoveLearner,
}

impl Change {
    /// The shape after this change (`None`: there is nothing to promote or remove).
    pub fn apply(self, q: Quorum) -> Option<Quorum> {
        let Quorum { voters, learners } = q;
        Some(match self {
            Change::AddVoter => Quorum::new(voters + 1, learners),
            Change::AddLearner => Quorum::new(voters, learners + 1),
            Change::Promote => Quorum::new(voters + 1, learners.checked_sub(1)?),
            Change::RemoveVoter => Quorum::new(voters.checked_sub(1)?, learners),
            Change::RemoveLearner => Quorum::new(voters, learners.checked_sub(1)?),
        })
    }
}

/// The shape at every step of `changes` applied to `start`, `start` first. Stops
/// at the first change that cannot apply (removing from nothing).
pub fn steps(start: Quorum, changes: &[Change]) -> Vec<Quorum> {
    let mut out = vec![start];
    let mut cur = start;
    for c in changes {
        match c.apply(cur) {
            Some(next) => {
                out.push(next);
                cur = next;
            }
            None => break,
        }
    }
    out
}

/// `3 voters q2 tol1 -> 4 q3 tol1 -> 5 q3 tol2`: the steps' arithmetic on one line.
/// Steps that only add or drop a learner keep the arithmetic and are shown with `+nL`.
pub fn render_steps(steps: &[Quorum]) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, q)| q.short(i == 0))
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_seven_voters() {
        // (voters, quorum, tolerates)
        let want = [
            (0, 0, 0),
            (1, 1, 0),
            (2, 2, 0),
            (3, 2, 1),
            (4, 3, 1),
            (5, 3, 2),
            (6, 4, 2),
            (7, 4, 3),
        ];
        for (v, q, t) in want {
            let s = Quorum::new(v, 0);
            assert_eq!((s.quorum(), s.tolerates()), (q, t), "{v} voters");
            assert_eq!(s.is_even(), v > 0 && v.is_multiple_of(2), "{v} voters");
            assert_eq!(s.has_quorum(q), v > 0, "{v} voters, {q} healthy");
            if q > 0 {
                assert!(!s.has_quorum(q - 1), "{v} voters, {} healthy", q - 1);
            }
        }
    }

    #[test]
    fn learners_do_not_count() {
        for v in 1..=7 {
            for l in 0..=2 {
                let s = Quorum::new(v, l);
                assert_eq!(s.quorum(), Quorum::new(v, 0).quorum());
                assert_eq!(s.tolerates(), Quorum::new(v, 0).tolerates());
            }
        }
        assert!(
            !Quorum::new(0, 3).has_quorum(3),
            "learners alone never make a quorum"
        );
    }

    #[test]
    fn renders() {
        assert_eq!(
            Quorum::new(3, 0).to_string(),
            "3 voters · quorum 2 · tolerates 1"
        );
        assert_eq!(
            Quorum::new(1, 0).to_string(),
            "1 voter · quorum 1 · tolerates 0"
        );
        assert_eq!(
            Quorum::new(2, 1).to_string(),
            "2 voters · quorum 2 · tolerates 0 · 1 learner"
        );
    }

    #[test]
    fn steps_of_a_scale_up_and_down() {
        use Change::*;
        let up = steps(
            Quorum::new(3, 0),
            &[AddLearner, Promote, AddLearner, Promote],
        );
        assert_eq!(
            render_steps(&up),
            "3 voters q2 tol1 -> 3 +1L q2 tol1 -> 4 q3 tol1 -> 4 +1L q3 tol1 -> 5 q3 tol2"
        );
        let voting = steps(Quorum::new(3, 0), &[AddVoter, AddVoter]);
        assert_eq!(
            render_steps(&voting),
            "3 voters q2 tol1 -> 4 q3 tol1 -> 5 q3 tol2"
        );
        let down = steps(Quorum::new(5, 0), &[RemoveVoter, RemoveVoter]);
        assert_eq!(
            render_steps(&down),
            "5 voters q3 tol2 -> 4 q3 tol1 -> 3 q2 tol1"
        );
        // Seed 003's orphan: 3 registered, one gone.
        assert_eq!(
            render_steps(&steps(Quorum::new(3, 0), &[RemoveVoter])),
            "3 voters q2 tol1 -> 2 q2 tol0"
        );
    }

    #[test]
    fn impossible_changes_stop_the_sequence() {
        use Change::*;
        assert_eq!(steps(Quorum::new(1, 0), &[Promote, AddVoter]).len(), 1);
        assert_eq!(
            steps(Quorum::new(1, 0), &[RemoveVoter, RemoveVoter]),
            vec![Quorum::new(1, 0), Quorum::new(0, 0)]
        );
        assert_eq!(RemoveLearner.apply(Quorum::new(3, 0)), None);
    }
}
