//! Time limits of a stage and of the whole pipeline. A step stops at the
//! earliest of its own `timeout`, its stage's and the pipeline's.

use std::time::{Duration, Instant};

use crate::runner::humantime;

/// The node whose `timeout` a [`Deadline`] enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A stage `timeout`.
    Stage,
    /// The pipeline `timeout`.
    Pipeline,
}

/// The moment a stage's or the pipeline's `timeout` passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// The node the timeout belongs to.
    pub scope: Scope,
    /// The `timeout` itself, for messages.
    pub timeout: Duration,
    /// The moment the timeout passes.
    pub at: Instant,
}

impl Deadline {
    /// Returns the deadline of a `timeout` that starts now, or `None` when
    /// the end lies beyond what `Instant` can represent.
    pub fn starting_now(scope: Scope, timeout: Duration) -> Option<Deadline> {
        let at = Instant::now().checked_add(timeout)?;
        Some(Deadline { scope, timeout, at })
    }

    /// Returns whether the deadline has passed.
    pub fn passed(&self) -> bool {
        Instant::now() >= self.at
    }

    /// Returns the reason given to the steps and stages it stops
    /// (`the stage timed out after 10m`).
    pub fn message(&self) -> String {
        let scope = match self.scope {
            Scope::Stage => "stage",
            Scope::Pipeline => "pipeline",
        };
        format!("the {scope} timed out after {}", humantime(self.timeout))
    }

    /// Returns the deadline that passes first, or `first` on a tie.
    pub fn earliest(first: Option<Deadline>, second: Option<Deadline>) -> Option<Deadline> {
        match (first, second) {
            (Some(a), Some(b)) if b.at < a.at => Some(b),
            (Some(a), _) => Some(a),
            (None, b) => b,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_deadline_wins() {
        let stage = Deadline::starting_now(Scope::Stage, Duration::from_secs(60));
        let pipeline = Deadline::starting_now(Scope::Pipeline, Duration::from_secs(5));

        let earliest = Deadline::earliest(stage, pipeline).unwrap();
        assert_eq!(earliest.scope, Scope::Pipeline);
        assert_eq!(Deadline::earliest(stage, None), stage);
        assert_eq!(Deadline::earliest(None, pipeline), pipeline);
        assert_eq!(Deadline::earliest(None, None), None);
    }

    #[test]
    fn deadline_message_names_scope() {
        let stage = Deadline::starting_now(Scope::Stage, Duration::from_secs(600)).unwrap();
        let pipeline = Deadline::starting_now(Scope::Pipeline, Duration::from_secs(90)).unwrap();

        assert_eq!(stage.message(), "the stage timed out after 10m");
        assert_eq!(pipeline.message(), "the pipeline timed out after 1m30s");
        assert!(!stage.passed());
    }

    #[test]
    fn deadline_beyond_instant_is_none() {
        let far = Duration::from_secs(u64::MAX);

        assert_eq!(Deadline::starting_now(Scope::Stage, far), None);
    }
}
