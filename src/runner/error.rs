//! Errors of the runner's public operations (a run's own failures are recorded on the
//! execution, not returned).

use sea_orm::DbErr;

use crate::domain::executions::Status;

/// Why `execute`, `wait`, `cancel` or `subscribe` could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No agent with this agentId, or it is inactive (lifecycle rule 1: no execution row).
    #[error("Agent not found or inactive: {0}")]
    AgentNotFound(String),
    /// No chain with this id or chainId, or it is inactive (no execution row).
    #[error("Chain not found or inactive: {0}")]
    ChainNotFound(String),
    /// The chain cannot run as it stands (no execution row).
    #[error("Chain {chain} cannot run: {reason}.")]
    ChainUnavailable {
        /// The chain's chainId.
        chain: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The given projectId does not exist.
    #[error("Project not found: {0}")]
    ProjectNotFound(i32),
    /// No execution with this id.
    #[error("Execution not found: {0}")]
    ExecutionNotFound(i32),
    /// The execution already ended; there is nothing to cancel.
    #[error("This execution has already ended ({0}).")]
    AlreadyFinished(Status),
    /// The execution cannot be resumed (only `interrupted`, `timeout`, `paused` and decided
    /// `awaiting_approval` runs of an agent can).
    #[error("This execution cannot be resumed: {0}.")]
    NotResumable(String),
    /// `previousExecution` names an execution that does not exist or has no run state.
    #[error("{0}")]
    PreviousExecution(String),
    /// The agent has no such version (or it can no longer be read).
    #[error("The agent has no usable version {0}.")]
    VersionNotFound(i32),
    /// The runner is shutting down and accepts no new runs.
    #[error("The runner is shutting down; try again shortly.")]
    ShuttingDown,
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}
