//! The tool-calling loop (lifecycle rule 4): at most `max_steps` model calls; each tool call is
//! validated against its input schema (problems go back to the model as the tool result), run,
//! and answered; no tool calls means done. Structured output arrives through `set_output`.

use std::time::Instant;

use opentelemetry::context::FutureExt as _;
use sea_orm::DbErr;
use serde_json::{Value, json};

use super::Core;
use super::approvals::{self, Gate};
use super::candidates::Chain;
use super::checkpoint::RunState;
use super::control::{Interrupts, Stop};
use super::event::Event;
use super::family::Family;
use super::log::EventLog;
use super::pricing::Meter;
use super::providers::{ChatRequest, ChatResponse, Message, ProviderError, StopReason, ToolCall};
use super::retry;
use super::spans;
use super::swarm;
use super::tools::builtin::SetOutput;
use super::tools::{SET_OUTPUT, SPAWN_AGENTS, ToolContext, ToolOutcome, ToolSet};
use crate::db::executions::StateWrite;
use crate::db::{self, budgets::Settlement};
use crate::domain::executions::{Status, codes};
use crate::telemetry_metrics;

/// Longest raw argument text quoted back to the model.
const MAX_QUOTED_ARGS: usize = 500;

/// What the loop needs, borrowed from the run.
pub(crate) struct LoopCx<'a> {
    /// The runner.
    pub core: &'a Core,
    /// The models the run may use, in order.
    pub chain: &'a Chain,
    /// The run's tools.
    pub tools: &'a ToolSet,
    /// Characters of their definitions as sent (`context::tool_chars`), for the estimates
    /// made before each model call.
    pub tool_chars: usize,
    /// The structured output tool, when the agent has an outputSchema.
    pub set_output: Option<&'a SetOutput>,
    /// Passed to every tool call.
    pub tool_ctx: &'a ToolContext,
    /// Deadline and cancellation.
    pub interrupts: &'a Interrupts<'a>,
    /// Most model calls.
    pub max_steps: u32,
    /// Retries per request.
    pub max_retries: u32,
    /// The run's children (`spawn_agents`).
    pub family: &'a Family,
    /// agentIds the agent may spawn.
    pub spawnable: &'a [String],
    /// The agent's per-tool approval rules (`approvalRules`), overriding the tools' own.
    pub approval_rules: &'a [crate::domain::approvals::AgentRule],
    /// Whether the run may stop to wait for an approval (a `spawn_agents` child cannot: its
    /// parent holds its slot and waits for it; a chain's step can: its chain waits with it).
    pub can_wait: bool,
    /// Which budgets hold the run (lifecycle rule 6c).
    pub budget: super::budget::RunBudget,
}

/// What the loop has done so far; kept by the caller, so a stopped run keeps its partial work.
pub(crate) struct LoopState {
    /// The next request: system prompt, messages so far, tools.
    pub request: ChatRequest,
    /// Usage of each successful model call.
    pub meter: Meter,
    /// The latest assistant text (the partial output of a run that stops).
    pub last_text: String,
    /// The output handed over through `set_output`.
    pub structured: Option<Value>,
    /// The model of the chain in use (fallbacks move it forward, never back).
    pub current: usize,
    /// Model calls made so far, those of earlier attempts of a resumed run included.
    pub step: u32,
    /// Run time spent before this attempt started (a resumed run's earlier attempts).
    pub elapsed_before: u64,
    /// When this attempt started.
    pub started: Instant,
    /// The checkpoint (its number in the event log) that holds the latest tool result.
    answered: u64,
    /// How many of `request.messages` the checkpoints queued so far hold, while those are
    /// the conversation's first messages (a checkpoint then sends only the messages after
    /// them); `None` when the next checkpoint must write the whole state (none queued yet,
    /// or the conversation was trimmed since).
    checkpointed: Option<usize>,
    warned_no_usage: bool,
    /// The reservation of the answer the loop ended on, left for the run's ending to settle.
    pub unsettled: Option<Settlement>,
}

impl LoopState {
    /// A loop about to send `request`.
    pub(crate) fn new(request: ChatRequest) -> Self {
        Self {
            request,
            meter: Meter::default(),
            last_text: String::new(),
            structured: None,
            current: 0,
            step: 0,
            elapsed_before: 0,
            started: Instant::now(),
            answered: 0,
            checkpointed: None,
            warned_no_usage: false,
            unsettled: None,
        }
    }

    /// A loop continuing from a checkpoint: the request's messages are the checkpoint's.
    pub(crate) fn resumed(mut request: ChatRequest, from: RunState) -> Self {
        request.messages = from.messages;
        Self {
            step: from.step,
            elapsed_before: from.elapsed_ms,
            ..Self::new(request)
        }
    }

    /// The checkpoint of this point of the run, as written: the whole state (serialized from
    /// the conversation in place, without copying it first), or — when an earlier checkpoint
    /// holds the start of the conversation — what was added since. Each step thus writes
    /// only its own messages, not the whole conversation again.
    fn run_state_write(&mut self) -> StateWrite {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let elapsed = self.elapsed_before.saturating_add(now);
        let messages = &self.request.messages;
        let write = match self.checkpointed {
            Some(held) if held <= messages.len() => {
                RunState::extension_of(self.step, &messages[held..], elapsed)
            }
            _ => StateWrite::Replace {
                doc: RunState::json_of(self.step, messages, elapsed),
                drop_steps: false,
            },
        };
        self.checkpointed = Some(messages.len());
        write
    }

    /// The conversation was changed other than by appending to it: the next checkpoint
    /// writes the whole state.
    pub(crate) fn rewritten(&mut self) {
        self.checkpointed = None;
    }
}

/// Queues the run's checkpoint (`runState`) after a model call or a tool result; the event
/// log writes it behind, after the events before it. Returns its number.
///
/// Durability points (lifecycle rule 8a): a tool call starts only once the checkpoint holding
/// the previous tool result is stored ([`answered_stored`]); the finishing transaction stores
/// the last one; a model call waits for none. So a resumed run can repeat only the tool call
/// that was in flight at a crash or whose result was still being stored.
fn checkpoint(cx: &LoopCx<'_>, st: &mut LoopState, log: &mut EventLog) -> Result<u64, DbErr> {
    if !cx.core.checkpoints_on() {
        st.rewritten();
        return Ok(0);
    }
    log.checkpoint(st.run_state_write(), &cx.core.instance_id)
}

/// Waits until the checkpoint holding the latest tool result is stored (usually long done:
/// it was queued before the model call that came since).
async fn answered_stored(st: &LoopState, log: &mut EventLog) -> Result<(), DbErr> {
    log.stored(st.answered).await
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Finished with an output.
    Completed {
        /// The output: the final text as a JSON string, or the structured object.
        output: Value,
        /// The output as text.
        output_text: String,
    },
    /// Ended without a valid output.
    Failed {
        /// `failed`, `timeout` or `cancelled`.
        status: Status,
        /// Error code.
        code: &'static str,
        /// What happened.
        message: String,
        /// Specifics (provider status, limits, validation errors …).
        details: Option<Value>,
    },
    /// Stopped before tool calls that wait for a person (`awaiting_approval`); the
    /// checkpoint holds the turn, the calls not needing approval answered.
    AwaitingApproval,
}

impl Outcome {
    /// A failure without details.
    pub(crate) fn failed(status: Status, code: &'static str, message: impl Into<String>) -> Self {
        Self::Failed {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
}

/// Why the loop stopped early.
#[derive(Debug)]
pub(crate) enum LoopError {
    /// Deadline, cancellation or shutdown.
    Stop(Stop),
    /// The provider failed for good.
    Provider {
        /// The last error.
        error: ProviderError,
        /// Requests sent, retries included.
        attempts: u32,
    },
    /// The last model of the chain is skipped by its open circuit breaker.
    CircuitOpen {
        /// The model.
        model: String,
        /// Until its breaker lets a probe through.
        remaining: std::time::Duration,
    },
    /// The next model call does not fit this budget (the run pauses).
    Budget(Box<crate::entities::budgets::Model>),
    /// The database failed.
    Db(DbErr),
}

impl From<Stop> for LoopError {
    fn from(stop: Stop) -> Self {
        Self::Stop(stop)
    }
}

impl From<DbErr> for LoopError {
    fn from(e: DbErr) -> Self {
        Self::Db(e)
    }
}

/// Runs the loop until the model answers without tool calls, hands over its output, or the
/// step limit is reached.
pub(crate) async fn run(
    cx: &LoopCx<'_>,
    st: &mut LoopState,
    log: &mut EventLog,
) -> Result<Outcome, LoopError> {
    // A resumed run first makes the calls its last checkpoint left unanswered.
    let unanswered = RunState::unanswered_calls(&st.request.messages);
    if !unanswered.is_empty()
        && let Some(waiting) = answer_calls(cx, st, log, &unanswered, false).await?
    {
        return Ok(waiting);
    }
    if let Some(output) = &st.structured {
        return Ok(structured(output.clone()));
    }
    while st.step < cx.max_steps {
        let (mut response, settlement) = retry::call_model(cx, st, log).await?;
        if response.tool_calls.is_empty() && db::executions::ending_settles(&cx.core.writer) {
            // The run ends with this answer: its reservation is settled by the ending's write
            // (one write fewer; a `budget_warning` it causes still precedes the final events).
            st.unsettled = Some(settlement);
        } else {
            super::budget::settle(cx, &settlement, log).await?;
        }
        // Tools are called by their wire names (`server__tool` for `server/tool`).
        for call in &mut response.tool_calls {
            let name = cx.tools.resolve_wire(&call.name).to_owned();
            call.name = name;
        }
        st.step += 1;
        let model = cx.chain.candidates[st.current].model.clone();
        record_usage(st, log, st.step, &model, &response)?;
        if !response.text.is_empty() {
            st.last_text.clone_from(&response.text);
            log.append(Event::Text {
                text: response.text.clone(),
            })?;
        }
        st.request.messages.push(Message::Assistant {
            text: response.text.clone(),
            tool_calls: response.tool_calls.clone(),
        });
        checkpoint(cx, st, log)?;
        if response.tool_calls.is_empty() {
            if response.stop_reason == StopReason::MaxTokens {
                log.append(Event::Warning {
                    message: "The model's answer was cut off at its output token limit.".into(),
                })?;
            }
            return Ok(final_answer(cx, response.text));
        }
        if let Some(waiting) = answer_calls(cx, st, log, &response.tool_calls, true).await? {
            return Ok(waiting);
        }
        if let Some(output) = &st.structured {
            return Ok(structured(output.clone()));
        }
    }
    Ok(Outcome::Failed {
        status: Status::Failed,
        code: codes::MAX_STEPS,
        message: format!(
            "The agent reached its limit of {} model calls without finishing.",
            cx.max_steps
        ),
        details: Some(json!({"maxSteps": cx.max_steps})),
    })
}

fn record_usage(
    st: &mut LoopState,
    log: &mut EventLog,
    step: u32,
    model: &str,
    response: &ChatResponse,
) -> Result<(), DbErr> {
    st.meter.record(model, response.usage);
    match response.usage {
        Some(usage) => log.append(Event::Usage {
            step,
            model: Some(model.to_owned()),
            input_tokens: usage.input_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            output_tokens: usage.output_tokens,
            total_tokens: usage.input_tokens
                + usage.cache_read_tokens
                + usage.cache_write_tokens
                + usage.output_tokens,
            cost: usage.cost,
        }),
        None if !st.warned_no_usage => {
            st.warned_no_usage = true;
            log.append(Event::Warning {
                message:
                    "The provider reported no token usage; token counts and cost are incomplete."
                        .into(),
            })
        }
        None => Ok(()),
    }
}

/// The run's result when the model answers without calling a tool.
fn final_answer(cx: &LoopCx<'_>, text: String) -> Outcome {
    let Some(set_output) = cx.set_output else {
        return Outcome::Completed {
            output: Value::String(text.clone()),
            output_text: text,
        };
    };
    // A model that answers with the JSON itself instead of calling set_output is accepted
    // when that JSON is valid.
    let candidate = serde_json::from_str::<Value>(strip_fences(&text)).ok();
    let checked = candidate.map(|value| {
        let input = set_output.as_input(value.clone());
        cx.tools.validate(SET_OUTPUT, &input).map(|()| value)
    });
    match checked {
        Some(Ok(value)) => structured(value),
        Some(Err(problems)) => Outcome::Failed {
            status: Status::Failed,
            code: codes::INVALID_OUTPUT,
            message: "The agent's final answer does not match its output schema.".into(),
            details: Some(json!({"validationErrors": problems})),
        },
        None => Outcome::failed(
            Status::Failed,
            codes::INVALID_OUTPUT,
            "The agent finished without calling set_output, which its output schema requires.",
        ),
    }
}

fn structured(output: Value) -> Outcome {
    let output_text = serde_json::to_string_pretty(&output).unwrap_or_default();
    Outcome::Completed {
        output,
        output_text,
    }
}

/// The text inside a Markdown code fence, if the answer is one.
fn strip_fences(text: &str) -> &str {
    let trimmed = text.trim();
    trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map_or(trimmed, str::trim)
}

/// Answers the tool calls of one assistant turn. Calls that need a person's approval wait;
/// the others are made first (a run stops only once, after doing all it can). `fresh`: the
/// calls were just made by the model (none of them can have an approval yet). Returns
/// [`Outcome::AwaitingApproval`] when some call waits.
async fn answer_calls(
    cx: &LoopCx<'_>,
    st: &mut LoopState,
    log: &mut EventLog,
    calls: &[ToolCall],
    fresh: bool,
) -> Result<Option<Outcome>, LoopError> {
    let mut requested = Vec::new();
    let mut waiting = false;
    for call in calls {
        let valid = cx.tools.get(&call.name).is_some() && check_input(cx.tools, call).is_ok();
        let gate = if fresh && !approvals::may_need_approval(cx, call, valid) {
            Gate::Run(call.input.clone())
        } else {
            approvals::gate(cx, call, valid).await?
        };
        match gate {
            Gate::Run(input) if input == call.input => call_tool(cx, st, log, call).await?,
            Gate::Run(input) => {
                let edited = ToolCall {
                    input,
                    ..call.clone()
                };
                call_tool(cx, st, log, &edited).await?;
            }
            Gate::Refuse(message) => refuse(st, log, call, message)?,
            Gate::Wait(new) => {
                waiting = true;
                requested.extend(new);
                continue;
            }
        }
        st.answered = checkpoint(cx, st, log)?;
    }
    if !waiting {
        return Ok(None);
    }
    for row in &requested {
        log.append(approvals::requested_event(row))?;
        approvals::notify(cx.core, row);
    }
    // Stored by the suspension, which flushes the log before the status changes.
    checkpoint(cx, st, log)?;
    Ok(Some(Outcome::AwaitingApproval))
}

/// Answers a call that is not made (rejected, expired) with a tool error.
fn refuse(
    st: &mut LoopState,
    log: &mut EventLog,
    call: &ToolCall,
    message: String,
) -> Result<(), DbErr> {
    log.append(Event::ToolCall {
        tool_call_id: call.id.clone(),
        tool_name: call.name.clone(),
        input: call.input.clone(),
    })?;
    log.append(Event::ToolResult {
        tool_call_id: call.id.clone(),
        tool_name: call.name.clone(),
        output: Value::Null,
        error: Some(message.clone()),
        duration_ms: 0,
        console: None,
    })?;
    st.request.messages.push(Message::ToolResult {
        tool_call_id: call.id.clone(),
        tool_name: call.name.clone(),
        content: message,
        is_error: true,
    });
    Ok(())
}

/// Validates, runs and answers one tool call.
async fn call_tool(
    cx: &LoopCx<'_>,
    st: &mut LoopState,
    log: &mut EventLog,
    call: &ToolCall,
) -> Result<(), LoopError> {
    answered_stored(st, log).await?;
    log.append(Event::ToolCall {
        tool_call_id: call.id.clone(),
        tool_name: call.name.clone(),
        input: call.input.clone(),
    })?;
    let started = Instant::now();
    let span = spans::execute_tool(cx.core, &call.name, &call.id, &call.input);
    let (outcome, failure) = match cx.tools.get(&call.name) {
        None => (
            ToolOutcome::error(format!(
                "Unknown tool `{}`. Available tools: {}.",
                call.name,
                cx.tools.names().join(", ")
            )),
            "unknown_tool",
        ),
        Some(tool) => match check_input(cx.tools, call) {
            Err(problems) => (ToolOutcome::error(problems), "invalid_input"),
            Ok(()) => {
                let work = async {
                    if call.name == SPAWN_AGENTS {
                        swarm::spawn_agents(cx, log, call).await
                    } else {
                        let called = tool.call(call.input.clone(), cx.tool_ctx);
                        Ok(cx.interrupts.race(called).await?)
                    }
                };
                let done = match &span {
                    Some(tool_cx) => work.with_context(tool_cx.clone()).await,
                    None => work.await,
                };
                match done {
                    Ok(outcome) => (outcome, "tool_error"),
                    Err(LoopError::Stop(stop)) => {
                        spans::tool_stopped(span, stop);
                        return Err(LoopError::Stop(stop));
                    }
                    Err(other) => {
                        let internal = Err("internal error".to_owned());
                        spans::tool_done(cx.core, span, &internal, "internal");
                        return Err(other);
                    }
                }
            }
        },
    };
    spans::tool_done(cx.core, span, &outcome.result, failure);
    let elapsed = started.elapsed();
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    // Only tools of the run are counted: a name the model made up must not become a series.
    if cx.tools.get(&call.name).is_some() {
        telemetry_metrics::record_tool_call(&call.name, outcome.result.is_ok(), elapsed);
    }
    let (output, error) = match outcome.result {
        Ok(value) => (value, None),
        Err(message) => (Value::Null, Some(message)),
    };
    if call.name == SET_OUTPUT && error.is_none() {
        st.structured = Some(output.clone());
    }
    let content = match &error {
        Some(message) => message.clone(),
        None => serde_json::to_string(&output).unwrap_or_default(),
    };
    log.append(Event::ToolResult {
        tool_call_id: call.id.clone(),
        tool_name: call.name.clone(),
        output,
        error: error.clone(),
        duration_ms,
        console: outcome.console,
    })?;
    st.request.messages.push(Message::ToolResult {
        tool_call_id: call.id.clone(),
        tool_name: call.name.clone(),
        content,
        is_error: error.is_some(),
    });
    Ok(())
}

/// The problems with a call's input, worded for the model.
fn check_input(tools: &ToolSet, call: &ToolCall) -> Result<(), String> {
    if let Value::String(raw) = &call.input
        && serde_json::from_str::<Value>(raw).is_err()
    {
        let quoted: String = raw.chars().take(MAX_QUOTED_ARGS).collect();
        return Err(format!(
            "The arguments of {} are not valid JSON: {quoted}. Send a JSON object matching its input schema.",
            call.name
        ));
    }
    tools.validate(&call.name, &call.input).map_err(|problems| {
        format!(
            "Invalid input for {}:\n{problems}\nFix the input and call the tool again.",
            call.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_fences_are_stripped() {
        assert_eq!(strip_fences("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_fences(" {\"a\":1} "), "{\"a\":1}");
        assert_eq!(strip_fences("```\n[1]\n```"), "[1]");
    }
}
