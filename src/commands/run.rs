//! `aladdin run AGENT_ID "prompt" [--project SLUG] [--conversation ID] [--json]` and
//! `aladdin run-chain CHAIN_ID "prompt" [--project SLUG] [--json]`: one run through the same
//! runner and database as the server (claiming only its own execution), streamed to the
//! terminal as it happens. The runs it starts (spawned agents, a chain's steps) are streamed
//! too, as they start: in text, indented two spaces per level under their parent (their text
//! printed whole, so that parallel children do not interleave mid-line); in JSON, each line of
//! a child carries its `executionId` and `depth`.

use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context as _;
use futures_util::StreamExt;
use futures_util::stream::{BoxStream, SelectAll};
use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::cli::{RunArgs, RunChainArgs};
use crate::config::Settings;
use crate::db;
use crate::domain::executions::Status;
use crate::runner::{
    Event, EventStream, RunContext, Runner, RunnerOptions, SharedItem, StreamItem,
};
use crate::startup::connect_and_migrate;

/// Longest tool input or output printed in text mode.
const MAX_SHOWN: usize = 600;

/// What the command runs.
enum Target {
    Agent {
        agent_id: String,
        conversation: Option<String>,
    },
    Chain {
        chain_id: String,
    },
}

/// Runs the agent and prints its events; an error unless the run completed.
pub(super) async fn run_agent(settings: Settings, args: RunArgs) -> anyhow::Result<()> {
    let target = Target::Agent {
        agent_id: args.agent_id,
        conversation: args.conversation,
    };
    run_target(
        settings,
        target,
        &args.prompt,
        args.project.as_deref(),
        args.json,
    )
    .await
}

/// Runs the chain and prints its events and its steps'; an error unless it completed.
pub(super) async fn run_chain(settings: Settings, args: RunChainArgs) -> anyhow::Result<()> {
    let target = Target::Chain {
        chain_id: args.chain_id,
    };
    run_target(
        settings,
        target,
        &args.prompt,
        args.project.as_deref(),
        args.json,
    )
    .await
}

async fn run_target(
    settings: Settings,
    target: Target,
    prompt: &str,
    project: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let db = connect_and_migrate(&settings).await?;
    let project_id = match project {
        Some(project) => Some(find_project(&db, project).await?),
        None => None,
    };
    let settings = Arc::new(settings);
    let runner = Runner::new(db, settings.clone(), RunnerOptions::for_cli(&settings)).await?;
    runner.start();
    let result = run_and_print(&runner, target, prompt, project_id, json).await;
    runner.shutdown().await;
    // With traces on, the run's spans go out before the process exits.
    runner.traces().shutdown().await;
    result
}

/// One execution's events, tagged with its depth and id; `None` once its stream has ended.
type Tagged = BoxStream<'static, (usize, i32, Option<Arc<SharedItem>>)>;

fn tagged(events: EventStream, depth: usize, id: i32) -> Tagged {
    events
        .map(Some)
        .chain(futures_util::stream::once(async { None }))
        .map(move |item| (depth, id, item))
        .boxed()
}

async fn run_and_print(
    runner: &Runner,
    target: Target,
    prompt: &str,
    project_id: Option<i32>,
    json: bool,
) -> anyhow::Result<()> {
    let row = match target {
        Target::Agent {
            agent_id,
            conversation,
        } => {
            let ctx = RunContext {
                project_id,
                conversation_id: conversation,
                ..RunContext::default()
            };
            runner.execute(&agent_id, prompt, ctx).await?
        }
        Target::Chain { chain_id } => {
            let ctx = RunContext {
                project_id,
                ..RunContext::default()
            };
            runner.execute_chain(&chain_id, prompt, ctx).await?
        }
    };
    let mut streams: SelectAll<Tagged> = SelectAll::new();
    streams.push(tagged(runner.subscribe(row.id, 0).await?, 0, row.id));
    let mut printer = Printer::new(json);
    let mut order = TreeOrder::new(row.id);
    let mut interrupted = false;
    loop {
        tokio::select! {
            item = streams.next() => match item {
                Some((depth, id, Some(item))) => {
                    if let Event::SubagentStart { execution_id, .. } = &item.event
                        && let Ok(child) = runner.subscribe(*execution_id, 0).await
                    {
                        streams.push(tagged(child, depth + 1, *execution_id));
                    }
                    order.push(depth, id, item);
                    order.drain(|d, i, item| printer.print(d, i, item))?;
                }
                Some((_, id, None)) => {
                    order.end(id);
                    order.drain(|d, i, item| printer.print(d, i, item))?;
                }
                None => break,
            },
            _ = tokio::signal::ctrl_c(), if !interrupted => {
                interrupted = true;
                eprintln!("\ncancelling execution {} …", row.id);
                runner.cancel(row.id).await.ok();
            }
        }
    }
    order.flush(|d, i, item| printer.print(d, i, item))?;
    let row = runner.wait(row.id).await?;
    if row.status == Status::Completed.as_str() {
        return Ok(());
    }
    let code = row.error_code.as_deref().unwrap_or(row.status.as_str());
    let message = row.error_message.as_deref().unwrap_or("no error message");
    anyhow::bail!("execution {} {} ({code}): {message}", row.id, row.status)
}

/// Prints a tree of streams in an order a reader can follow, whatever order the streams
/// deliver in: a child's events come after the line that starts it, and its parent's
/// `subagent_finish` for it (and what follows) after the child's last event. Parallel
/// children still interleave with each other, as they run.
struct TreeOrder {
    streams: std::collections::HashMap<i32, Branch>,
    /// Streams in the order they were first seen (printing order of the drain).
    seen: Vec<i32>,
}

#[derive(Default)]
struct Branch {
    queue: std::collections::VecDeque<(usize, Arc<SharedItem>)>,
    /// Its start line is printed (the root's is implied).
    announced: bool,
    ended: bool,
}

impl TreeOrder {
    fn new(root: i32) -> Self {
        let mut order = Self {
            streams: std::collections::HashMap::new(),
            seen: Vec::new(),
        };
        order.branch(root).announced = true;
        order
    }

    fn branch(&mut self, id: i32) -> &mut Branch {
        if !self.streams.contains_key(&id) {
            self.seen.push(id);
        }
        self.streams.entry(id).or_default()
    }

    fn push(&mut self, depth: usize, id: i32, item: Arc<SharedItem>) {
        self.branch(id).queue.push_back((depth, item));
    }

    fn end(&mut self, id: i32) {
        self.branch(id).ended = true;
    }

    /// True once every event of stream `id` is printed.
    fn done(&self, id: i32) -> bool {
        self.streams
            .get(&id)
            .is_some_and(|b| b.ended && b.queue.is_empty())
    }

    /// Prints every event that may be printed now.
    fn drain<E>(
        &mut self,
        mut print: impl FnMut(usize, i32, &StreamItem) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut progress = true;
        while progress {
            progress = false;
            for index in 0..self.seen.len() {
                let id = self.seen[index];
                while let Some(branch) = self.streams.get(&id)
                    && branch.announced
                    && let Some((depth, item)) = branch.queue.front().cloned()
                {
                    match &item.event {
                        // Not before the child's own last line.
                        Event::SubagentFinish { execution_id, .. }
                            if self.streams.contains_key(execution_id)
                                && !self.done(*execution_id) =>
                        {
                            break;
                        }
                        Event::SubagentStart { execution_id, .. } => {
                            self.branch(*execution_id).announced = true;
                        }
                        _ => {}
                    }
                    if let Some(branch) = self.streams.get_mut(&id) {
                        branch.queue.pop_front();
                    }
                    print(depth, id, &item)?;
                    progress = true;
                }
            }
        }
        Ok(())
    }

    /// Prints whatever is left (all streams ended), so nothing is lost.
    fn flush<E>(
        &mut self,
        mut print: impl FnMut(usize, i32, &StreamItem) -> Result<(), E>,
    ) -> Result<(), E> {
        self.drain(&mut print)?;
        for id in self.seen.clone() {
            if let Some(branch) = self.streams.get_mut(&id) {
                for (depth, item) in std::mem::take(&mut branch.queue) {
                    print(depth, id, &item)?;
                }
            }
        }
        Ok(())
    }
}

/// A project by slug, or by id.
async fn find_project(db: &DatabaseConnection, project: &str) -> anyhow::Result<i32> {
    let found = match db::projects::find_by_slug(db, project).await? {
        Some(p) => Some(p),
        None => match project.parse::<i32>() {
            Ok(id) => db::projects::find_by_id(db, id).await?,
            Err(_) => None,
        },
    };
    found
        .map(|p| p.id)
        .with_context(|| format!("Project not found: {project}"))
}

/// Writes events to stdout: JSON lines, or text as it streams.
struct Printer {
    json: bool,
    /// Text deltas of the current top-level assistant message were printed.
    streaming: bool,
    /// Why the run paused, once a `budget_reached` said so.
    paused_reason: Option<String>,
}

/// Writes lines with a prefix (the indentation of a child's events).
struct Indented<'a, W: std::io::Write> {
    out: &'a mut W,
    prefix: String,
}

/// A budget event on one line.
fn budget_line(event: &Event) -> String {
    match event {
        Event::BudgetReached {
            budget_id,
            spent_usd,
            limit_usd,
        } => format!(
            "[budget_reached] budget {budget_id}: ${spent_usd:.4} of ${limit_usd:.4} spent; the run pauses"
        ),
        Event::BudgetWarning {
            budget_id,
            spent_usd,
            limit_usd,
            warn_at,
        } => format!(
            "[budget_warning] budget {budget_id}: ${spent_usd:.4} of ${limit_usd:.4} spent (past {:.0}%)",
            warn_at * 100.0
        ),
        _ => String::new(),
    }
}

impl<W: std::io::Write> Indented<'_, W> {
    /// Writes `text`, each line prefixed, and ends the line.
    fn line(&mut self, text: &str) -> std::io::Result<()> {
        if text.is_empty() {
            return writeln!(self.out, "{}", self.prefix.trim_end());
        }
        for line in text.lines() {
            writeln!(self.out, "{}{line}", self.prefix)?;
        }
        Ok(())
    }
}

impl Printer {
    fn new(json: bool) -> Self {
        Self {
            json,
            streaming: false,
            paused_reason: None,
        }
    }

    fn print(&mut self, depth: usize, id: i32, item: &StreamItem) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        if self.json {
            let line = if depth == 0 {
                serde_json::to_string(item).unwrap_or_default()
            } else {
                let mut value = serde_json::to_value(item).unwrap_or_default();
                if let Value::Object(map) = &mut value {
                    map.insert("executionId".into(), id.into());
                    map.insert("depth".into(), depth.into());
                }
                value.to_string()
            };
            writeln!(out, "{line}")?;
            return out.flush();
        }
        if depth > 0 {
            // A chain waits with its step: it waits for what the step waits for.
            if matches!(item.event, Event::BudgetReached { .. }) {
                self.paused_reason = Some(crate::domain::budgets::PAUSED_REASON.to_owned());
            }
            let mut child = Indented {
                out: &mut out,
                prefix: "  ".repeat(depth),
            };
            Self::print_child(&mut child, &item.event, self.paused_reason.as_deref())?;
            return out.flush();
        }
        match &item.event {
            Event::Start {
                agent_id,
                model,
                provider,
                tools,
                ..
            } => {
                let via = provider.as_deref().unwrap_or("no provider");
                writeln!(
                    out,
                    "==> {agent_id} · {model} via {via} · tools: {}",
                    tools.join(", ")
                )?;
            }
            Event::TextDelta { text } => {
                self.streaming = true;
                write!(out, "{text}")?;
            }
            Event::Text { text } => {
                if !self.streaming {
                    write!(out, "{text}")?;
                }
                self.streaming = false;
                writeln!(out)?;
            }
            Event::ToolCall {
                tool_name, input, ..
            } => {
                writeln!(out, "-> {tool_name} {}", shorten(input))?;
            }
            Event::ToolResult {
                tool_name,
                output,
                error,
                duration_ms,
                console,
                ..
            } => {
                for line in console.iter().flat_map(|c| c.lines()) {
                    writeln!(out, "   console: {line}")?;
                }
                match error {
                    Some(error) => {
                        writeln!(out, "<- {tool_name} failed ({duration_ms} ms): {error}")?
                    }
                    None => writeln!(out, "<- {tool_name} ({duration_ms} ms) {}", shorten(output))?,
                }
            }
            Event::Retry {
                attempt,
                delay_ms,
                reason,
            } => {
                self.streaming = false;
                writeln!(out, "\n[retry {attempt} in {delay_ms} ms] {reason}")?;
            }
            Event::Warning { message } => writeln!(out, "[warning] {message}")?,
            Event::Fallback {
                from_model,
                to_model,
                reason,
            } => {
                self.streaming = false;
                writeln!(out, "\n[fallback] {from_model} -> {to_model} ({reason})")?;
            }
            Event::Breaker {
                model,
                state,
                failures,
                cooldown_ms,
            } => {
                let what = match state.as_str() {
                    "open" => format!(
                        "open after {failures} failures in a row: skipped for {cooldown_ms} ms"
                    ),
                    "half_open" => "half-open: this run probes it".to_owned(),
                    _ => "closed: the model answers again".to_owned(),
                };
                writeln!(out, "[breaker] {model} {what}")?;
            }
            Event::Finish {
                status,
                output,
                token_usage,
                ..
            } => {
                writeln!(out, "--- {status} ---")?;
                if matches!(output, Value::Object(_) | Value::Array(_)) {
                    writeln!(
                        out,
                        "{}",
                        serde_json::to_string_pretty(output).unwrap_or_default()
                    )?;
                }
                let cost = match token_usage.estimated_cost {
                    Some(cost) => format!("${cost:.6}"),
                    None => "unknown".into(),
                };
                let source = token_usage.cost_source.as_deref().unwrap_or("none");
                writeln!(
                    out,
                    "tokens: {} in · {} out · {} total · cost {cost} ({source})",
                    token_usage.input_tokens, token_usage.output_tokens, token_usage.total_tokens
                )?;
                if token_usage.cache_read_tokens + token_usage.cache_write_tokens > 0 {
                    writeln!(
                        out,
                        "prompt cache: {} read · {} written",
                        token_usage.cache_read_tokens, token_usage.cache_write_tokens
                    )?;
                }
                if token_usage.by_model.len() > 1 {
                    for (model, used) in &token_usage.by_model {
                        let cost = used
                            .estimated_cost
                            .map_or_else(|| "unknown".to_owned(), |c| format!("${c:.6}"));
                        writeln!(out, "  {model}: {} tokens · {cost}", used.total_tokens)?;
                    }
                }
            }
            Event::SubagentStart {
                execution_id,
                agent_id,
                ..
            } => writeln!(out, "=> {agent_id} started (execution {execution_id})")?,
            Event::SubagentFinish {
                execution_id,
                agent_id,
                status,
                ..
            } => writeln!(out, "<= {agent_id} {status} (execution {execution_id})")?,
            Event::Resume { from, step, .. } => {
                writeln!(out, "[resume] from {from} after step {step}")?;
            }
            Event::ApprovalRequested {
                approval_id,
                tool_name,
                input,
                ..
            } => writeln!(
                out,
                "[approval] {tool_name} {} waits for approval {approval_id} (POST /api/approvals/{approval_id}/approve or /reject)",
                shorten(input)
            )?,
            Event::ApprovalDecided {
                approval_id,
                decision,
                by,
                ..
            } => writeln!(
                out,
                "[approval] {approval_id} {decision}{}",
                by.as_deref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default()
            )?,
            Event::BudgetReached { .. } | Event::BudgetWarning { .. } => {
                self.streaming = false;
                if matches!(item.event, Event::BudgetReached { .. }) {
                    self.paused_reason = Some(crate::domain::budgets::PAUSED_REASON.to_owned());
                }
                writeln!(out, "\n{}", budget_line(&item.event))?;
            }
            Event::Status { status } if status.is_waiting() => writeln!(
                out,
                "[{status}] waiting for {} …",
                status
                    .waiting_for(self.paused_reason.as_deref())
                    .unwrap_or_default()
            )?,
            Event::Usage { .. } | Event::Status { .. } | Event::Error { .. } => {}
        }
        out.flush()
    }
}

impl Printer {
    /// A child's event, on whole lines (its text is printed when complete, not as deltas).
    fn print_child<W: std::io::Write>(
        out: &mut Indented<'_, W>,
        event: &Event,
        paused_reason: Option<&str>,
    ) -> std::io::Result<()> {
        match event {
            Event::Start {
                agent_id, model, ..
            } => out.line(&format!("==> {agent_id} · {model}")),
            Event::Text { text } => out.line(text),
            Event::ToolCall {
                tool_name, input, ..
            } => out.line(&format!("-> {tool_name} {}", shorten(input))),
            Event::ToolResult {
                tool_name,
                output,
                error,
                duration_ms,
                ..
            } => match error {
                Some(error) => out.line(&format!(
                    "<- {tool_name} failed ({duration_ms} ms): {error}"
                )),
                None => out.line(&format!(
                    "<- {tool_name} ({duration_ms} ms) {}",
                    shorten(output)
                )),
            },
            Event::Retry {
                attempt,
                delay_ms,
                reason,
            } => out.line(&format!("[retry {attempt} in {delay_ms} ms] {reason}")),
            Event::Warning { message } => out.line(&format!("[warning] {message}")),
            Event::Error { message, code } => out.line(&format!("[{code}] {message}")),
            Event::Finish {
                status,
                token_usage,
                ..
            } => out.line(&format!(
                "--- {status} · {} tokens ---",
                token_usage.total_tokens
            )),
            Event::SubagentStart {
                execution_id,
                agent_id,
                ..
            } => out.line(&format!("=> {agent_id} started (execution {execution_id})")),
            Event::SubagentFinish {
                execution_id,
                agent_id,
                status,
                ..
            } => out.line(&format!(
                "<= {agent_id} {status} (execution {execution_id})"
            )),
            Event::Fallback {
                from_model,
                to_model,
                reason,
            } => out.line(&format!("[fallback] {from_model} -> {to_model} ({reason})")),
            Event::Breaker { model, state, .. } => out.line(&format!("[breaker] {model}: {state}")),
            Event::Resume { from, step, .. } => {
                out.line(&format!("[resume] from {from} after step {step}"))
            }
            Event::ApprovalRequested {
                approval_id,
                tool_name,
                ..
            } => out.line(&format!(
                "[approval] {tool_name} waits for approval {approval_id}"
            )),
            Event::ApprovalDecided {
                approval_id,
                decision,
                ..
            } => out.line(&format!("[approval] {approval_id} {decision}")),
            Event::BudgetReached { .. } | Event::BudgetWarning { .. } => {
                out.line(&budget_line(event))
            }
            Event::Status { status } if status.is_waiting() => out.line(&format!(
                "[{status}] waiting for {} …",
                status.waiting_for(paused_reason).unwrap_or_default()
            )),
            Event::TextDelta { .. } | Event::Usage { .. } | Event::Status { .. } => Ok(()),
        }
    }
}

/// Compact JSON, cut at [`MAX_SHOWN`] characters.
fn shorten(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= MAX_SHOWN {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_SHOWN).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::executions::Status;

    fn text(t: &str) -> Arc<SharedItem> {
        SharedItem::new(StreamItem::stored(0, Event::Text { text: t.into() }))
    }

    fn start(child: i32) -> Arc<SharedItem> {
        SharedItem::new(StreamItem::stored(
            0,
            Event::SubagentStart {
                tool_call_id: "call".into(),
                execution_id: child,
                agent_id: "a".into(),
            },
        ))
    }

    fn finish(child: i32) -> Arc<SharedItem> {
        SharedItem::new(StreamItem::stored(
            0,
            Event::SubagentFinish {
                tool_call_id: "call".into(),
                execution_id: child,
                agent_id: "a".into(),
                status: Status::Completed,
            },
        ))
    }

    fn printed(order: &mut TreeOrder, out: &mut Vec<String>) {
        order
            .drain(|_, id, item| {
                out.push(format!("{id}:{}", item.event.kind()));
                Ok::<(), ()>(())
            })
            .ok();
    }

    #[test]
    fn a_parent_goes_on_only_after_its_childs_last_event_and_a_child_after_its_start() {
        let mut order = TreeOrder::new(1);
        let mut out = Vec::new();
        // The child's first event arrives before its parent's start line.
        order.push(1, 2, text("child"));
        printed(&mut order, &mut out);
        assert!(out.is_empty(), "{out:?}");
        order.push(0, 1, start(2));
        order.push(0, 1, finish(2));
        order.push(0, 1, text("parent after"));
        printed(&mut order, &mut out);
        assert_eq!(out, ["1:subagent_start", "2:text"]);
        // The child's last event, then its end: the parent goes on.
        order.push(1, 2, text("child last"));
        order.end(2);
        printed(&mut order, &mut out);
        assert_eq!(
            out,
            [
                "1:subagent_start",
                "2:text",
                "2:text",
                "1:subagent_finish",
                "1:text"
            ]
        );
    }
}
