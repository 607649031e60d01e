//! The out-of-band half of the live run page: what an event changes besides appending its
//! fragment to the transcript — the status badge, the usage footer, a tool call's result
//! placed into its card, the finished run's actions. The run page's panel renders the same
//! parts (`templates/admin/run/_panel.html`) so that both agree.

use askama::Template;
use chrono::{DateTime, Utc};

use super::EventFragment;
use crate::domain::executions::Status;
use crate::entities::agent_executions;
use crate::runner::{Event, StreamItem};
use crate::web::admin::fmt;

/// What the live page needs to know about its run.
#[derive(Debug, Clone)]
pub struct LiveRun {
    /// Execution id.
    pub id: i32,
    /// The agent's slug (for "Run again" and "Continue the conversation").
    pub agent_slug: String,
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// Its project, if any.
    pub project_id: Option<i32>,
    /// Its prompt.
    pub prompt: String,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// Whether the viewer may start and cancel runs.
    pub can_edit: bool,
    /// The chain it runs (a chain's execution has no agent of its own).
    pub chain: Option<i32>,
    /// Prefix of the DOM ids its stream updates: empty for the page's own run, `x<id>-` for
    /// a sub-run's card nested in its parent's transcript (a page may show a whole tree).
    pub dom: String,
    /// It stopped and can continue from its checkpoint (Resume).
    pub resumable: bool,
    /// It has a checkpoint a new run can continue from (Continue from this run).
    pub has_state: bool,
}

/// The DOM id prefix of the card of sub-run `id`.
pub fn card_dom(id: i32) -> String {
    format!("x{id}-")
}

impl LiveRun {
    /// The live view of an execution row, for a viewer who may (or may not) edit.
    pub fn of(row: &agent_executions::Model, can_edit: bool) -> Self {
        Self {
            id: row.id,
            agent_slug: row.agent_slug.clone(),
            conversation_id: row.conversation_id.clone(),
            project_id: row.project_id,
            prompt: row.prompt.clone(),
            started_at: row.started_at.map(|t| t.with_timezone(&Utc)),
            can_edit,
            chain: row.chain_id,
            dom: String::new(),
            resumable: row.chain_id.is_none()
                && crate::domain::executions::Status::parse(&row.status).is_some_and(|s| {
                    crate::domain::executions::resumable(s, row.error_code.as_deref())
                }),
            has_state: row.run_state.is_some(),
        }
    }

    /// The live view of a sub-run shown as a card inside its parent's transcript.
    pub fn card(row: &agent_executions::Model, can_edit: bool) -> Self {
        Self {
            dom: card_dom(row.id),
            ..Self::of(row, can_edit)
        }
    }

    /// Whether this is a sub-run's card (no header actions or footer of its own).
    pub fn is_card(&self) -> bool {
        !self.dom.is_empty()
    }

    /// The query string that prefills the run form to continue this conversation.
    pub fn continue_query(&self) -> String {
        let mut pairs = vec![("conversation", self.conversation_id.clone())];
        if let Some(p) = self.project_id {
            pairs.push(("project", p.to_string()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// The query string of the run form starting a new run from this one's whole
    /// conversation (`previousExecution`).
    pub fn previous_query(&self) -> String {
        let mut pairs = vec![("previous", self.id.to_string())];
        if let Some(p) = self.project_id {
            pairs.push(("project", p.to_string()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// The query string that prefills the run form with this run's prompt and project.
    pub fn again_query(&self) -> String {
        let mut pairs = vec![("prompt", self.prompt.clone())];
        if let Some(p) = self.project_id {
            pairs.push(("project", p.to_string()));
        }
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// The usage footer's figures.
#[derive(Debug, Clone)]
pub struct UsageView {
    /// Total tokens.
    pub tokens: String,
    /// "1 000 in · 234 out".
    pub split: String,
    /// Cost, or a dash.
    pub cost: String,
    /// Where the cost comes from (`provider`, `price_table`), when known.
    pub source: String,
    /// Model calls so far.
    pub steps: String,
    /// Run time, once finished.
    pub duration: String,
}

impl Default for UsageView {
    fn default() -> Self {
        let dash = || "—".to_owned();
        Self {
            tokens: dash(),
            split: String::new(),
            cost: dash(),
            source: String::new(),
            steps: dash(),
            duration: dash(),
        }
    }
}

impl UsageView {
    /// The figures of a finished execution row.
    pub fn of_row(row: &agent_executions::Model) -> Self {
        Self {
            tokens: fmt::int(&row.total_tokens),
            split: split(row.input_tokens, row.output_tokens),
            cost: row
                .estimated_cost
                .map_or_else(|| "not priced".to_owned(), |c| fmt::usd(&c)),
            source: row
                .cost_source
                .as_deref()
                .unwrap_or_default()
                .replace('_', " "),
            steps: "—".to_owned(),
            duration: row
                .execution_time_ms
                .map_or_else(|| "—".to_owned(), |ms| fmt::duration_ms(&ms)),
        }
    }
}

fn split(input: i64, output: i64) -> String {
    format!("{} in · {} out", fmt::int(&input), fmt::int(&output))
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Running totals of one stream, for the usage footer. Totals are only shown when the
/// stream started at the beginning; a resumed stream shows them from the `finish` event.
#[derive(Debug, Default)]
pub struct Tally {
    complete: bool,
    input: u64,
    output: u64,
    cost: Option<f64>,
    unpriced: bool,
    steps: u32,
    started: Option<DateTime<Utc>>,
}

impl Tally {
    /// A tally for a stream of `run` that starts after seq `after`.
    pub fn new(run: &LiveRun, after: i64) -> Self {
        Self {
            complete: after == 0,
            started: run.started_at,
            ..Self::default()
        }
    }

    /// Counts an item.
    pub fn add(&mut self, item: &StreamItem) {
        match &item.event {
            Event::Start { .. } => {
                self.started.get_or_insert(item.created_at);
            }
            Event::Usage {
                step,
                input_tokens,
                cache_read_tokens,
                cache_write_tokens,
                output_tokens,
                cost,
                ..
            } => {
                // The footer's "in" is every prompt token, cached or not.
                self.input += input_tokens + cache_read_tokens + cache_write_tokens;
                self.output += output_tokens;
                self.steps = self.steps.max(*step);
                match cost {
                    Some(c) => *self.cost.get_or_insert(0.0) += c,
                    None => self.unpriced = true,
                }
            }
            _ => {}
        }
    }

    /// The footer while running.
    fn running(&self) -> UsageView {
        if !self.complete {
            return UsageView::default();
        }
        UsageView {
            tokens: fmt::int(&signed(self.input + self.output)),
            split: split(signed(self.input), signed(self.output)),
            cost: match (self.cost, self.unpriced) {
                (Some(c), false) => fmt::usd(&c),
                _ => "pending".to_owned(),
            },
            source: String::new(),
            steps: self.steps.to_string(),
            duration: "running".to_owned(),
        }
    }

    /// The footer of a finished run.
    fn finished(&self, item: &StreamItem) -> UsageView {
        let Event::Finish {
            total_cost,
            token_usage,
            ..
        } = &item.event
        else {
            return self.running();
        };
        let duration = self
            .started
            .map(|s| (item.created_at - s).num_milliseconds().max(0));
        UsageView {
            tokens: fmt::int(&signed(token_usage.total_tokens)),
            split: split(
                signed(
                    token_usage.input_tokens
                        + token_usage.cache_read_tokens
                        + token_usage.cache_write_tokens,
                ),
                signed(token_usage.output_tokens),
            ),
            cost: total_cost.map_or_else(|| "not priced".to_owned(), |c| fmt::usd(&c)),
            source: token_usage
                .cost_source
                .as_deref()
                .unwrap_or_default()
                .replace('_', " "),
            steps: if self.complete {
                self.steps.to_string()
            } else {
                "—".to_owned()
            },
            duration: duration.map_or_else(|| "—".to_owned(), |ms| fmt::duration_ms(&ms)),
        }
    }
}

/// The usage footer (`#run-usage`), in the panel and out of band.
#[derive(Template)]
#[template(path = "admin/run/_usage.html")]
pub struct UsageFooter<'a> {
    /// The figures.
    pub usage: &'a UsageView,
    /// Sent out of band.
    pub oob: bool,
}

/// The run's header actions (`#run-actions`): Cancel while it runs; Continue the
/// conversation, Run again and Details once it has finished.
#[derive(Template)]
#[template(path = "admin/run/_actions.html")]
pub struct RunActions<'a> {
    /// The run.
    pub run: &'a LiveRun,
    /// Whether it has ended.
    pub finished: bool,
    /// CSRF token for Cancel (empty out of band: a finished run has no Cancel).
    pub csrf: &'a str,
    /// Sent out of band.
    pub oob: bool,
}

// Rendered templates are escaped HTML already: embedding one in another must not escape it
// twice. (Nothing else is marked safe: every value inside went through the escaper.)
impl askama::filters::HtmlSafe for UsageFooter<'_> {}
impl askama::filters::HtmlSafe for RunActions<'_> {}

/// What an event changes on the live page besides its own fragment.
#[derive(Template)]
#[template(path = "admin/run/_live.html")]
struct LiveUpdate<'a> {
    ev: &'a EventFragment,
    /// DOM id of the tool call's card (for `tool_result`).
    tool: String,
    run: &'a LiveRun,
    usage: Option<UsageView>,
}

impl LiveUpdate<'_> {
    fn actions(&self) -> RunActions<'_> {
        RunActions {
            run: self.run,
            finished: true,
            csrf: "",
            oob: true,
        }
    }

    fn footer(&self) -> Option<UsageFooter<'_>> {
        self.usage
            .as_ref()
            .map(|usage| UsageFooter { usage, oob: true })
    }
}

/// The SSE data of one item: its fragment (appended to `#events`; none for `status` and
/// `tool_result`, which update parts already on the page) and its out-of-band updates.
pub fn render(item: &StreamItem, run: &LiveRun, tally: &Tally) -> Result<String, askama::Error> {
    let ev = EventFragment {
        live: true,
        dom: run.dom.clone(),
        ..EventFragment::of(item)
    };
    let mut html = match item.event {
        Event::Status { .. } | Event::ToolResult { .. } | Event::SubagentFinish { .. } => {
            String::new()
        }
        _ => ev.render()?,
    };
    let usage = match item.event {
        Event::Usage { .. } => Some(tally.running()),
        Event::Finish { .. } => Some(tally.finished(item)),
        _ => None,
    };
    let tool = match &item.event {
        Event::ToolResult { tool_call_id, .. } => {
            format!("{}{}", run.dom, super::fragment::tool_dom_id(tool_call_id))
        }
        _ => String::new(),
    };
    html.push_str(
        &LiveUpdate {
            ev: &ev,
            tool,
            run,
            usage,
        }
        .render()?,
    );
    Ok(html)
}

/// Whether a status string is a terminal one (unknown strings count as ended).
pub fn is_finished(status: &str) -> bool {
    Status::parse(status).is_none_or(Status::is_terminal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::executions::Status;

    fn run(dom: &str) -> LiveRun {
        LiveRun {
            id: 7,
            agent_slug: "story-head-001".into(),
            conversation_id: "c".into(),
            project_id: None,
            prompt: "p".into(),
            started_at: None,
            can_edit: true,
            chain: None,
            dom: dom.into(),
            resumable: false,
            has_state: false,
        }
    }

    fn html(event: Event, run: &LiveRun) -> String {
        let item = StreamItem {
            seq: Some(3),
            created_at: Utc::now(),
            event,
        };
        render(&item, run, &Tally::new(run, 0)).expect("renders")
    }

    #[test]
    fn a_started_sub_run_becomes_a_card_following_its_own_stream() {
        let start = Event::SubagentStart {
            tool_call_id: "call-1".into(),
            execution_id: 42,
            agent_id: "world-builder-001".into(),
        };
        let page = html(start.clone(), &run(""));
        assert!(
            page.contains(r#"<details class="subrun ev" id="x42-card" open"#),
            "{page}"
        );
        assert!(page.contains(r#"data-sse-src="/admin/executions/42/stream?card=1""#));
        assert!(page.contains(r#"id="x42-events""#) && page.contains(r#"id="x42-live-text""#));
        assert!(
            page.contains("subagent_start,subagent_finish"),
            "grandchildren nest too"
        );
        // Inside a card, a grandchild's card is the same.
        let nested = html(start, &run("x7-"));
        assert!(nested.contains(r#"id="x42-card""#));
        let finish = html(
            Event::SubagentFinish {
                tool_call_id: "call-1".into(),
                execution_id: 42,
                agent_id: "world-builder-001".into(),
                status: Status::Failed,
            },
            &run(""),
        );
        assert_eq!(
            finish,
            r#"<span id="x42-run-status" class="badge status-failed" hx-swap-oob="true">failed</span>"#
        );
    }

    #[test]
    fn a_cards_stream_updates_the_cards_ids_only() {
        let status = html(
            Event::Status {
                status: Status::Running,
            },
            &run("x7-"),
        );
        assert!(status.contains(r#"id="x7-run-status""#), "{status}");
        let call = html(
            Event::ToolCall {
                tool_call_id: "c1".into(),
                tool_name: "getProjectContext".into(),
                input: serde_json::json!({}),
            },
            &run("x7-"),
        );
        assert!(call.contains(r#"id="x7-tc-c1""#), "{call}");
    }
}
