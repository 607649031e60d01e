//! Agent executions: statuses, error codes and the API document.

/// The lifecycle of an execution. Every run ends in one of the terminal statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Queued, not yet claimed by a worker.
    Pending,
    /// A worker is running it.
    Running,
    /// Finished with an output.
    Completed,
    /// Finished with an error (see the error code).
    Failed,
    /// Stopped by a user.
    Cancelled,
    /// Stopped by its deadline.
    Timeout,
    /// Stopped before a tool call that a person must approve; holds no worker slot.
    AwaitingApproval,
    /// Stopped, to be resumed (`pausedReason` says why, e.g. `budget`); holds no worker slot.
    Paused,
}

impl Status {
    /// All statuses, in lifecycle order.
    pub const ALL: [Status; 8] = [
        Status::Pending,
        Status::Running,
        Status::AwaitingApproval,
        Status::Paused,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
        Status::Timeout,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Timeout => "timeout",
            Status::AwaitingApproval => "awaiting_approval",
            Status::Paused => "paused",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True once the run has ended.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            Status::Pending | Status::Running | Status::AwaitingApproval | Status::Paused
        )
    }

    /// True while the run is stopped waiting for someone (an approval, a budget): not
    /// ended, yet holding no worker slot, no lease and no deadline clock.
    pub fn is_waiting(self) -> bool {
        matches!(self, Status::AwaitingApproval | Status::Paused)
    }

    /// True when nothing will happen to the run without someone acting: it has ended or
    /// it is waiting. `wait` returns then.
    pub fn is_settled(self) -> bool {
        self.is_terminal() || self.is_waiting()
    }

    /// What a waiting run waits for, in words (the CLI and the pages say it).
    pub fn waiting_for(self, paused_reason: Option<&str>) -> Option<String> {
        match self {
            Status::AwaitingApproval => Some("a person to approve or reject a tool call".into()),
            Status::Paused => Some(match paused_reason {
                Some("budget") => "its budget to be raised (or an admin's resume)".into(),
                Some(other) => format!("a resume ({other})"),
                None => "a resume".into(),
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error codes recorded on failed, timed-out and cancelled executions.
pub mod codes {
    /// The step limit was reached.
    pub const MAX_STEPS: &str = "max_steps";
    /// The process running it died.
    pub const INTERRUPTED: &str = "interrupted";
    /// No provider is configured for the model.
    pub const NO_PROVIDER: &str = "no_provider";
    /// The provider answered with an error.
    pub const PROVIDER_ERROR: &str = "provider_error";
    /// The provider kept answering 429 after every retry.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// The whole-run deadline passed.
    pub const TIMEOUT: &str = "timeout";
    /// A user cancelled it.
    pub const CANCELLED: &str = "cancelled";
    /// The structured output did not match the agent's outputSchema.
    pub const INVALID_OUTPUT: &str = "invalid_output";
    /// The agent was deleted or deactivated before the run started.
    pub const AGENT_UNAVAILABLE: &str = "agent_unavailable";
    /// An unexpected internal error.
    pub const INTERNAL: &str = "internal";
    /// The prompt did not fit the context window of the last model of the chain.
    pub const CONTEXT_LENGTH: &str = "context_length";
    /// Every model of the chain was skipped by its open circuit breaker.
    pub const CIRCUIT_OPEN: &str = "circuit_open";
    /// A step of a chain failed (the message names the step and says why).
    pub const STEP_FAILED: &str = "step_failed";
}

/// The statuses an execution may be resumed from (`POST …/{id}/resume`): an interrupted
/// run (`failed` with code `interrupted`), a timed-out one and a paused one. A run awaiting
/// approval continues when its approval is decided, not through a bare resume.
pub fn resumable(status: Status, error_code: Option<&str>) -> bool {
    match status {
        Status::Timeout | Status::Paused => true,
        Status::Failed => error_code == Some(codes::INTERRUPTED),
        _ => false,
    }
}

/// Tokens and cost of a run and all its descendants (`aggregateUsage`); a run's own
/// `tokenUsage` stays its own.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregateUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Sum of both.
    pub total_tokens: u64,
    /// Cost in USD: the sum of the known costs; `None` when none is known.
    pub estimated_cost: Option<f64>,
}

impl AggregateUsage {
    /// Usage of one run on its own.
    pub fn own(input_tokens: u64, output_tokens: u64, estimated_cost: Option<f64>) -> Self {
        Self {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens + output_tokens,
            estimated_cost,
        }
    }

    /// Adds `other` to this sum.
    pub fn add(&mut self, other: &AggregateUsage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.total_tokens += other.total_tokens;
        self.estimated_cost = match (self.estimated_cost, other.estimated_cost) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        };
    }

    /// The stored `aggregate_usage` of an execution; `None` when absent or unreadable.
    pub fn from_stored(v: Option<&serde_json::Value>) -> Option<Self> {
        v.and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The stored JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
