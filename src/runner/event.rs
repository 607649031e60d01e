//! The event vocabulary of an execution: the one language the admin page, the JSON API, the
//! CLI and the tests speak. Shaped after `@codebuff/sdk`'s `handleEvent` events so that seed
//! users can migrate: `{"type": "tool_call", "toolCallId": …}`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use crate::domain::executions::Status;
use crate::entities::execution_events;

/// Something that happened during an execution.
///
/// Serialized internally tagged with `type` in snake_case and camelCase fields. Every variant
/// except [`Event::TextDelta`] is stored (append-only, `seq` 1, 2, 3 … per execution).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// The run started: what it runs with.
    Start {
        /// The agent's slug.
        agent_id: String,
        /// The model id as configured (before routing).
        model: String,
        /// The provider chosen for it (`openrouter`, `openai`, `anthropic`), if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provider: Option<String>,
        /// Tools offered to the model, built-ins included.
        tools: Vec<String>,
        /// Most model calls allowed.
        max_steps: u32,
        /// Retries per provider request.
        max_retries: u32,
        /// Whole-run deadline in milliseconds.
        timeout_ms: u64,
    },
    /// An assistant message, complete.
    Text {
        /// The text.
        text: String,
    },
    /// A chunk of assistant text as it streams. Live only: never stored, no `seq`.
    TextDelta {
        /// The new text.
        text: String,
    },
    /// The model asked for a tool call.
    ToolCall {
        /// Provider-assigned call id.
        tool_call_id: String,
        /// Tool name.
        tool_name: String,
        /// The input as the model sent it.
        input: Value,
    },
    /// A tool call ended.
    ToolResult {
        /// The call this answers.
        tool_call_id: String,
        /// Tool name.
        tool_name: String,
        /// The tool's JSON result (`null` when it failed).
        output: Value,
        /// Why it failed (validation error, thrown error, limit hit …).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Wall-clock duration of the call.
        duration_ms: u64,
        /// Captured `console.*` output of a JavaScript tool.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        console: Option<String>,
    },
    /// Token usage reported by the provider for one model call.
    Usage {
        /// Which model call (1-based).
        step: u32,
        /// The model that answered (as configured, before routing to a provider).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
        /// Prompt tokens neither read from nor written to the prompt cache.
        input_tokens: u64,
        /// Prompt tokens read from the cache.
        #[serde(default, skip_serializing_if = "is_zero")]
        cache_read_tokens: u64,
        /// Prompt tokens written to the cache.
        #[serde(default, skip_serializing_if = "is_zero")]
        cache_write_tokens: u64,
        /// Generated tokens.
        output_tokens: u64,
        /// Every token of the call: input, cache reads and writes, output.
        total_tokens: u64,
        /// Cost in USD when the provider reported it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost: Option<f64>,
    },
    /// A provider request failed transiently and will be retried.
    Retry {
        /// 1 for the first retry.
        attempt: u32,
        /// Wait before the retry.
        delay_ms: u64,
        /// What went wrong.
        reason: String,
    },
    /// The step moved to the next model of the fallback chain.
    Fallback {
        /// The model that failed (or was skipped).
        from_model: String,
        /// The model the step goes to.
        to_model: String,
        /// `rate_limited`, `overloaded`, `server_error`, `timeout`, `unreachable`,
        /// `stream_dropped`, `context_length` or `circuit_open`.
        reason: String,
    },
    /// A model's circuit breaker changed state because of this run: `open` (this run's
    /// failure was the last of `failures` in a row; every run skips the model for
    /// `cooldownMs`), `half_open` (this run probes the model after the cooldown) or `closed`
    /// (the probe succeeded).
    Breaker {
        /// The model.
        model: String,
        /// `open`, `half_open` or `closed`.
        state: String,
        /// Consecutive failures counted.
        failures: u32,
        /// How long the model is skipped once open.
        cooldown_ms: u64,
    },
    /// A model call did not fit a budget: nothing was sent, and the run is paused
    /// (`pausedReason: "budget"`) until the budget is raised or an admin resumes it.
    BudgetReached {
        /// The budget without room.
        budget_id: i32,
        /// What it had spent this period, USD.
        spent_usd: f64,
        /// Its limit, USD.
        limit_usd: f64,
    },
    /// This run's spend took a budget past its `warnAt` fraction (once per budget and period).
    BudgetWarning {
        /// The budget.
        budget_id: i32,
        /// What it has spent this period, USD.
        spent_usd: f64,
        /// Its limit, USD.
        limit_usd: f64,
        /// The fraction crossed.
        warn_at: f64,
    },
    /// Something the user should know that does not stop the run.
    Warning {
        /// The warning.
        message: String,
    },
    /// The run failed, timed out or was cancelled.
    Error {
        /// What happened.
        message: String,
        /// Stable snake_case code (`max_steps`, `provider_error`, …).
        code: String,
    },
    /// A `spawn_agents` call (or a chain step) started a child execution.
    SubagentStart {
        /// The tool call that spawned it (for a chain: `step-N`).
        tool_call_id: String,
        /// The child execution.
        execution_id: i32,
        /// The child's agent.
        agent_id: String,
    },
    /// A child execution ended.
    SubagentFinish {
        /// The tool call that spawned it (for a chain: `step-N`).
        tool_call_id: String,
        /// The child execution.
        execution_id: i32,
        /// The child's agent.
        agent_id: String,
        /// Its terminal status.
        status: Status,
    },
    /// A stopped execution continues from its last checkpoint (`runState`), on the same row.
    Resume {
        /// The status it had stopped in.
        from: Status,
        /// Model calls already made (the next step is `step + 1`).
        step: u32,
        /// The user who resumed it, if known.
        by: Option<String>,
    },
    /// A tool call waits for a person's approval (the run becomes `awaiting_approval`).
    ApprovalRequested {
        /// The `approvals` document.
        approval_id: i32,
        /// The call waiting.
        tool_call_id: String,
        /// Tool name.
        tool_name: String,
        /// The input as the model sent it.
        input: Value,
    },
    /// A person (or the expiry) decided an approval.
    ApprovalDecided {
        /// The `approvals` document.
        approval_id: i32,
        /// `approved`, `rejected` or `expired`.
        decision: String,
        /// The email of who decided (none for an expiry).
        by: Option<String>,
        /// Their comment.
        comment: Option<String>,
    },
    /// The execution's status changed.
    Status {
        /// The new status.
        status: Status,
    },
    /// The run ended: its result. Followed by the terminal [`Event::Status`].
    Finish {
        /// Terminal status.
        status: Status,
        /// The output (text as a JSON string, or the structured object); `null` if none.
        output: Value,
        /// Cost in USD, when known.
        total_cost: Option<f64>,
        /// Token totals and where the cost came from.
        token_usage: TokenUsage,
    },
}

/// Token totals of a run and where its cost figure comes from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Prompt tokens neither read from nor written to the prompt cache, over every call.
    pub input_tokens: u64,
    /// Generated tokens over every model call.
    pub output_tokens: u64,
    /// Prompt tokens read from the cache.
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the cache.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Every token: input, cache reads and writes, output.
    pub total_tokens: u64,
    /// Cost in USD, when known.
    pub estimated_cost: Option<f64>,
    /// `provider`, `price_table` or `unknown`; `None` when no model call was made.
    pub cost_source: Option<String>,
    /// The same figures per model that answered (fallbacks make several), keyed by model
    /// id as configured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_model: BTreeMap<String, ModelUsage>,
}

/// The usage and cost of the calls one model answered in a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    /// Successful calls.
    pub calls: u32,
    /// Prompt tokens neither read from nor written to the cache.
    pub input_tokens: u64,
    /// Generated tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the cache.
    pub cache_write_tokens: u64,
    /// Every token.
    pub total_tokens: u64,
    /// Cost in USD, when known.
    pub estimated_cost: Option<f64>,
    /// `provider`, `price_table` or `unknown`.
    pub cost_source: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Event {
    /// The `type` tag: also the SSE event name and the stored `type` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Start { .. } => "start",
            Event::Text { .. } => "text",
            Event::TextDelta { .. } => "text_delta",
            Event::ToolCall { .. } => "tool_call",
            Event::ToolResult { .. } => "tool_result",
            Event::Usage { .. } => "usage",
            Event::Retry { .. } => "retry",
            Event::Fallback { .. } => "fallback",
            Event::Breaker { .. } => "breaker",
            Event::BudgetReached { .. } => "budget_reached",
            Event::BudgetWarning { .. } => "budget_warning",
            Event::Warning { .. } => "warning",
            Event::Error { .. } => "error",
            Event::SubagentStart { .. } => "subagent_start",
            Event::SubagentFinish { .. } => "subagent_finish",
            Event::Resume { .. } => "resume",
            Event::ApprovalRequested { .. } => "approval_requested",
            Event::ApprovalDecided { .. } => "approval_decided",
            Event::Status { .. } => "status",
            Event::Finish { .. } => "finish",
        }
    }

    /// True for the last event of every execution: a `status` event with a terminal status.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Event::Status { status } if status.is_terminal())
    }

    /// The stored `data` column: the event's JSON without its `type`.
    pub fn to_data(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("type");
        }
        value
    }

    /// Rebuilds an event from its stored `type` and `data`.
    pub fn from_stored(kind: &str, data: &Value) -> Result<Event, serde_json::Error> {
        let mut value = match data {
            Value::Object(_) => data.clone(),
            _ => Value::Object(serde_json::Map::new()),
        };
        if let Value::Object(map) = &mut value {
            map.insert("type".into(), Value::String(kind.to_owned()));
        }
        serde_json::from_value(value)
    }
}

/// One item of an execution's event stream: a stored event (with its `seq`) or a live-only
/// `text_delta` (without). Serializes flat:
/// `{"seq": 3, "createdAt": "2025-01-01T10:00:00.123Z", "type": "tool_call", "toolCallId": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamItem {
    /// Position in the execution's event log (1, 2, 3 …); `None` for live-only items. SSE
    /// adapters use it as the event id, so `Last-Event-ID` resumes after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<i64>,
    /// When it happened, millisecond precision.
    #[serde(serialize_with = "iso_millis")]
    pub created_at: DateTime<Utc>,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

impl StreamItem {
    /// A stored item.
    pub fn stored(seq: i64, event: Event) -> Self {
        Self {
            seq: Some(seq),
            created_at: now_millis(),
            event,
        }
    }

    /// A live-only item (a text delta).
    pub fn live(event: Event) -> Self {
        Self {
            seq: None,
            created_at: now_millis(),
            event,
        }
    }

    /// The item of a stored event row. A row this version cannot read (written by a newer
    /// one) becomes a `warning` so that streams never stall on it.
    pub fn from_row(row: &execution_events::Model) -> Self {
        let event = Event::from_stored(&row.r#type, &row.data).unwrap_or_else(|e| Event::Warning {
            message: format!("unreadable {} event: {e}", row.r#type),
        });
        Self {
            seq: Some(row.seq),
            created_at: row.created_at.with_timezone(&Utc),
            event,
        }
    }

    /// The `type` tag (the SSE event name).
    pub fn kind(&self) -> &'static str {
        self.event.kind()
    }

    /// True for the last item of every execution's stream.
    pub fn is_terminal(&self) -> bool {
        self.event.is_terminal()
    }
}

/// The current time truncated to milliseconds, so stored and live copies are identical.
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    let nanos = now.nanosecond() / 1_000_000 * 1_000_000;
    now.with_nanosecond(nanos).unwrap_or(now)
}

fn iso_millis<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A stream item as the hub hands it to every watcher: one allocation shared by all of them,
/// and its JSON encoded at most once however many watchers send it.
#[derive(Debug)]
pub struct SharedItem {
    item: StreamItem,
    json: OnceLock<String>,
}

impl SharedItem {
    /// Shares `item`.
    pub fn new(item: StreamItem) -> Arc<Self> {
        Arc::new(Self {
            item,
            json: OnceLock::new(),
        })
    }

    /// The item as JSON (the body of a JSON SSE message), encoded on first use.
    pub fn json(&self) -> &str {
        self.json
            .get_or_init(|| serde_json::to_string(&self.item).unwrap_or_else(|_| "{}".into()))
    }

    /// The item itself.
    pub fn item(&self) -> &StreamItem {
        &self.item
    }
}

impl std::ops::Deref for SharedItem {
    type Target = StreamItem;

    fn deref(&self) -> &StreamItem {
        &self.item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_serialize_with_a_snake_case_type_and_camel_case_fields() {
        let event = Event::ToolResult {
            tool_call_id: "call_1".into(),
            tool_name: "calc".into(),
            output: json!({"x": 1}),
            error: None,
            duration_ms: 12,
            console: Some("hi\n".into()),
        };
        assert_eq!(
            serde_json::to_value(&event).expect("serializes"),
            json!({"type": "tool_result", "toolCallId": "call_1", "toolName": "calc",
                   "output": {"x": 1}, "durationMs": 12, "console": "hi\n"})
        );
        let data = event.to_data();
        assert!(data.get("type").is_none());
        assert_eq!(
            Event::from_stored("tool_result", &data).expect("reads back"),
            event
        );
    }

    #[test]
    fn stream_items_are_flat_with_millisecond_timestamps() {
        let mut item = StreamItem::stored(
            3,
            Event::Status {
                status: Status::Completed,
            },
        );
        item.created_at = DateTime::parse_from_rfc3339("2025-01-02T03:04:05.678Z")
            .expect("date")
            .with_timezone(&Utc);
        assert_eq!(
            serde_json::to_value(&item).expect("serializes"),
            json!({"seq": 3, "createdAt": "2025-01-02T03:04:05.678Z", "type": "status", "status": "completed"})
        );
        assert!(item.is_terminal());
        assert!(!StreamItem::live(Event::TextDelta { text: "a".into() }).is_terminal());
        assert_eq!(now_millis().nanosecond() % 1_000_000, 0);
    }
}
