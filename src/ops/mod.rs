//! Plans executed step by step: Kubernetes mutations, audit log, read-only refusal.
//!
//! Every change the console makes goes through here, so the safety rules hold in one
//! place: a [`Plan`] is shown before it runs (with a dry-run), confirmed (the typed name
//! for destructive steps), refused under `--read-only`, run one [`Step`] at a time with a
//! re-check after each, stopped at the first failure, and audited line by line.
//!
//! - [`op`]: what a step does ([`Op`], one enum; new kinds of steps are new variants).
//! - [`plan`]: plans, steps, confirmations, builders and the preview (pure data).
//! - [`exec`]: the [`Executor`] that runs plans against the cluster.
//! - [`steps`]: what each step does, one module per system it touches (Kubernetes,
//!   Ceph, the host).
//! - [`audit`]: the JSON-lines audit journal (intent before each step, result after).
//! - [`journal`]: reading it back: interrupted plans and their acknowledgement.
//! - [`stop`]: stopping running plans cleanly on a signal.
//! - [`error`]: refusals and failures, saying what was and was not done.

pub mod audit;
pub mod ensemble;
pub mod error;
pub mod exec;
pub mod force_delete;
pub mod journal;
pub mod op;
pub mod plan;
pub(crate) mod steps;
pub mod stop;
pub mod wizard;

pub use audit::{AuditEntry, AuditLog};
pub use error::{Halt, OpsError};
pub use exec::{ExecContext, Executor, Outcome, Progress, StepReport};
pub use op::{HostAccess, LockNode, ObjectRef, Op, ScaleKind, WaitFor};
pub use plan::{Confirmation, ConfirmationError, Plan, Step};
pub use steps::debug_pod::{DEFAULT_DEBUG_IMAGE, DEFAULT_DEBUG_NAMESPACE, DebugPodSpec};
pub use stop::PlanStop;
