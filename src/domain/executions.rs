//! Agent executions: statuses, error codes and the API document.

use serde_json::{Value, json};

use super::iso;
use crate::entities::agent_executions::Model;

/// The lifecycle of an execution. Every run ends in one of the terminal statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
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
}

impl Status {
    /// All statuses, in lifecycle order.
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Running,
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
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True once the run has ended.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Status::Pending | Status::Running)
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
}

/// The execution as an API document.
pub fn to_doc(m: &Model) -> Value {
    let error = m.error_message.as_ref().map(|message| {
        json!({
            "message": message,
            "code": m.error_code,
            "details": m.error_details,
        })
    });
    json!({
        "id": m.id,
        "agent": m.agent_id,
        "agentId": m.agent_slug,
        "department": m.department_id,
        "project": m.project_id,
        "episode": m.episode_id,
        "conversationId": m.conversation_id,
        "parentExecution": m.parent_execution_id,
        "prompt": m.prompt,
        "params": m.params,
        "status": m.status,
        "output": m.output,
        "outputText": m.output_text,
        "executionTime": m.execution_time_ms,
        "tokenUsage": {
            "inputTokens": m.input_tokens,
            "outputTokens": m.output_tokens,
            "totalTokens": m.total_tokens,
            "estimatedCost": m.estimated_cost,
            "costSource": m.cost_source,
        },
        "error": error,
        "retryCount": m.retry_count,
        "maxRetries": m.max_retries,
        "agentSnapshot": m.agent_snapshot,
        "startedAt": m.started_at.as_ref().map(iso),
        "completedAt": m.completed_at.as_ref().map(iso),
        "createdBy": m.created_by,
        "createdAt": iso(&m.created_at),
        "updatedAt": iso(&m.updated_at),
    })
}
