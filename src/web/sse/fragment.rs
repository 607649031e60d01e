//! The view model of one event as HTML (`templates/admin/executions/_event.html`): the same
//! fragment is appended to the live transcript and can be listed on a finished run's page.

use askama::Template;
use chrono::SecondsFormat;
use serde_json::Value;

use crate::runner::{Event, StreamItem};
use crate::web::admin::fmt;

/// The HTML fragment of one event, every value escaped by the template.
#[derive(Template, Default)]
#[template(path = "admin/executions/_event.html")]
pub struct EventFragment {
    /// The event's `type`.
    pub kind: &'static str,
    /// Its seq, if stored.
    pub seq: Option<i64>,
    /// ISO timestamp, milliseconds.
    pub iso: String,
    /// Main text (assistant text, reason, message, tool name …).
    pub text: String,
    /// Secondary label (tool call id, error code, model, status …).
    pub label: String,
    /// Pretty JSON (tool input or output, final output).
    pub json: String,
    /// A failed tool call or run.
    pub failed: bool,
    /// Figures line (duration, tokens, cost).
    pub figures: String,
    /// The child execution of a `subagent_start` / `subagent_finish`.
    pub child: Option<i32>,
    /// Rendered for a live page (a sub-run becomes a card following its own stream) rather
    /// than a stored timeline.
    pub live: bool,
    /// The approval of an `approval_requested` / `approval_decided`.
    pub approval: Option<i32>,
    /// Prefix of the DOM ids of the page part it goes to (empty: the page's own run; see
    /// `LiveRun::dom`).
    pub dom: String,
}

/// The fragment is HTML its own template escaped: a page that embeds it (`{{ fragment }}`)
/// must not escape it a second time.
impl askama::filters::HtmlSafe for EventFragment {}

impl EventFragment {
    /// The fragment of a stream item.
    pub fn of(item: &StreamItem) -> Self {
        let base = Self {
            kind: item.kind(),
            seq: item.seq,
            iso: item.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            ..Self::default()
        };
        match &item.event {
            Event::Start { model, tools, .. } => Self {
                text: model.clone(),
                label: tools.join(", "),
                ..base
            },
            Event::Text { text } | Event::TextDelta { text } => Self {
                text: text.clone(),
                ..base
            },
            Event::Warning { message } => Self {
                text: message.clone(),
                ..base
            },
            Event::ToolCall {
                tool_call_id,
                tool_name,
                input,
            } => Self {
                text: tool_name.clone(),
                label: tool_call_id.clone(),
                json: pretty(input),
                ..base
            },
            Event::ToolResult {
                tool_name,
                output,
                error,
                duration_ms,
                tool_call_id,
                ..
            } => Self {
                text: tool_name.clone(),
                label: error.clone().unwrap_or_else(|| tool_call_id.clone()),
                json: pretty(output),
                failed: error.is_some(),
                figures: fmt::duration_ms(&i64::try_from(*duration_ms).unwrap_or(i64::MAX)),
                ..base
            },
            other => Self::summary(other, base),
        }
    }

    /// Usage, retry, error, status and finish.
    fn summary(event: &Event, base: Self) -> Self {
        match event {
            Event::Usage {
                step,
                model,
                input_tokens,
                cache_read_tokens,
                cache_write_tokens,
                output_tokens,
                total_tokens,
                cost,
            } => Self {
                text: format!("Step {step}"),
                label: model.clone().unwrap_or_default(),
                figures: format!(
                    "{} tokens ({} in{} · {} out){}",
                    count(*total_tokens),
                    count(*input_tokens),
                    cache_figures(*cache_read_tokens, *cache_write_tokens),
                    count(*output_tokens),
                    cost.map(|c| format!(" · {}", fmt::usd(&c)))
                        .unwrap_or_default()
                ),
                ..base
            },
            Event::Fallback {
                from_model,
                to_model,
                reason,
            } => Self {
                text: format!("{from_model} → {to_model}"),
                label: reason.clone(),
                ..base
            },
            Event::Breaker {
                model,
                state,
                failures,
                cooldown_ms,
            } => Self {
                text: model.clone(),
                label: state.clone(),
                figures: if state == "open" {
                    format!(
                        "{failures} failures in a row · skipped for {}",
                        fmt::duration_ms(&i64::try_from(*cooldown_ms).unwrap_or(i64::MAX))
                    )
                } else {
                    String::new()
                },
                failed: state == "open",
                ..base
            },
            Event::BudgetReached {
                budget_id,
                spent_usd,
                limit_usd,
            } => Self {
                text: format!("Budget #{budget_id}"),
                label: budget_id.to_string(),
                figures: format!("{} of {} spent", fmt::usd(spent_usd), fmt::usd(limit_usd)),
                failed: true,
                ..base
            },
            Event::BudgetWarning {
                budget_id,
                spent_usd,
                limit_usd,
                warn_at,
            } => Self {
                text: format!("Budget #{budget_id}"),
                label: budget_id.to_string(),
                figures: format!(
                    "{} of {} spent (past {:.0}%)",
                    fmt::usd(spent_usd),
                    fmt::usd(limit_usd),
                    warn_at * 100.0
                ),
                ..base
            },
            Event::Retry {
                attempt,
                delay_ms,
                reason,
            } => Self {
                text: reason.clone(),
                figures: format!(
                    "Retry {attempt} in {}",
                    fmt::duration_ms(&i64::try_from(*delay_ms).unwrap_or(i64::MAX))
                ),
                ..base
            },
            Event::Error { message, code } => Self {
                text: message.clone(),
                label: code.clone(),
                failed: true,
                ..base
            },
            Event::Status { status } => Self {
                label: status.as_str().to_owned(),
                ..base
            },
            Event::Resume { from, step, by } => Self {
                text: format!(
                    "Resumed from {from} after step {step}{}",
                    by.as_deref()
                        .map(|b| format!(" by {b}"))
                        .unwrap_or_default()
                ),
                label: from.as_str().to_owned(),
                ..base
            },
            Event::ApprovalRequested {
                approval_id,
                tool_call_id,
                tool_name,
                input,
            } => Self {
                text: tool_name.clone(),
                label: tool_call_id.clone(),
                json: pretty(input),
                approval: Some(*approval_id),
                ..base
            },
            Event::ApprovalDecided {
                approval_id,
                decision,
                by,
                comment,
            } => Self {
                text: format!(
                    "{decision}{}{}",
                    by.as_deref()
                        .map(|b| format!(" by {b}"))
                        .unwrap_or_default(),
                    comment
                        .as_deref()
                        .map(|c| format!(": {c}"))
                        .unwrap_or_default()
                ),
                label: decision.clone(),
                failed: decision != "approved",
                approval: Some(*approval_id),
                ..base
            },
            Event::SubagentStart {
                execution_id,
                agent_id,
                ..
            } => Self {
                text: agent_id.clone(),
                label: format!("#{execution_id}"),
                child: Some(*execution_id),
                ..base
            },
            Event::SubagentFinish {
                execution_id,
                agent_id,
                status,
                ..
            } => Self {
                text: agent_id.clone(),
                label: status.as_str().to_owned(),
                failed: !matches!(status, crate::domain::executions::Status::Completed),
                child: Some(*execution_id),
                ..base
            },
            Event::Finish {
                status,
                output,
                total_cost,
                token_usage,
            } => Self {
                label: status.as_str().to_owned(),
                json: if output.is_object() || output.is_array() {
                    pretty(output)
                } else {
                    String::new()
                },
                failed: !matches!(status, crate::domain::executions::Status::Completed),
                figures: figures(token_usage.total_tokens, *total_cost),
                ..base
            },
            _ => base,
        }
    }

    /// The notice tone of an `error` or `finish`: `success`, `warning` for a cancelled run
    /// (someone chose to stop it), else `error`.
    pub fn tone(&self) -> &'static str {
        match (self.failed, self.label.as_str()) {
            (false, _) => "success",
            (true, "cancelled") => "warning",
            (true, _) => "error",
        }
    }

    /// The DOM id of a tool call's card (`tc-<call id>` with only `[A-Za-z0-9_-]` kept).
    pub fn dom_id(&self) -> String {
        format!("{}{}", self.dom, tool_dom_id(&self.label))
    }

    /// The DOM id prefix of the card of this event's child execution.
    pub fn child_dom(&self) -> String {
        self.child.map(super::live::card_dom).unwrap_or_default()
    }

    /// The first line of the JSON, shortened: what a closed output shows.
    pub fn preview(&self) -> String {
        let flat: String = self.json.split_whitespace().collect::<Vec<_>>().join(" ");
        if flat.chars().count() > 90 {
            let cut: String = flat.chars().take(89).collect();
            format!("{cut}…")
        } else {
            flat
        }
    }

    /// `14:05:09.123`: the time of day of the event, UTC, for the transcript's margins.
    pub fn time(&self) -> &str {
        self.iso.get(11..23).unwrap_or_default()
    }
}

/// The DOM id of the card of tool call `call_id`.
pub fn tool_dom_id(call_id: &str) -> String {
    let safe: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("tc-{safe}")
}

fn pretty(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn count(n: u64) -> String {
    fmt::int(&i64::try_from(n).unwrap_or(i64::MAX))
}

/// ` · 1,200 cached · 300 cache write`, or nothing without cache traffic.
fn cache_figures(read: u64, write: u64) -> String {
    let mut out = String::new();
    if read > 0 {
        out.push_str(&format!(" · {} cached", count(read)));
    }
    if write > 0 {
        out.push_str(&format!(" · {} cache write", count(write)));
    }
    out
}

fn figures(tokens: u64, cost: Option<f64>) -> String {
    let cost = cost.map_or_else(|| "not priced".to_owned(), |c| fmt::usd(&c));
    format!("{} tokens · {cost}", count(tokens))
}
