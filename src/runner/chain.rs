//! A chain's execution: its steps run one after the other as its children (depth 1), each
//! prompt rendered from its template (`{{input}}`, `{{previous}}`, `{{steps.N}}`); a parallel
//! step runs its agents side by side. The chain's output is its last step's; the first step
//! that ends without completing fails the chain with `step_failed` and that step's error.
//!
//! **A step that waits** (paused by a budget, awaiting an approval) makes the chain wait too:
//! it becomes `paused` (with the step's `pausedReason`) or `awaiting_approval`, releases its
//! slot and lease, and its task ends. A step may wait because its chain does: unlike other
//! sub-runs, nobody holds a slot waiting for it ([`is_step`]). The step is what resumes (a
//! raised limit, an approval, an admin's resume); it runs as a queued run, and when it ends,
//! [`wake`] puts the chain back in the queue on the same row. The chain's next attempt finds
//! its steps' executions, takes the outputs of those that completed and goes on with the
//! next step. A chain that stops to wait checks its step once more afterwards, so a step
//! ending meanwhile still wakes it.
//!
//! The chain execution holds one queue slot; its steps run inside its task without one (see
//! `runner::family`). Its deadline is the sum of its steps' timeouts (a parallel step counts
//! its slowest agent), so each step keeps its own timeout.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DbErr;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::Core;
use super::agent_loop::{LoopError, Outcome};
use super::control::{Interrupts, RunControl};
use super::event::StreamItem;
use super::event::{Event, TokenUsage};
use super::family::{self, Family};
use super::finish::{self, Ending, Failure};
use super::log::EventLog;
use super::run::{hard_stopped, stopped};
use super::swarm::join_all;
use crate::db;
use crate::domain::chains::{self, ChainStep, Vars};
use crate::domain::executions::{Status, codes};
use crate::entities::agent_executions;

/// What a chain execution runs, as stored in its `agent_snapshot` when it is queued.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// The chain's chainId.
    pub chain_id: String,
    /// Its name.
    pub name: String,
    /// The steps, as they were when the run was queued.
    pub steps: Vec<ChainStep>,
    /// The chain's deadline.
    pub timeout_ms: u64,
}

impl Plan {
    /// The stored snapshot.
    pub(crate) fn to_snapshot(&self) -> Value {
        json!({
            "chainId": self.chain_id,
            "name": self.name,
            "steps": self.steps,
            "timeoutMs": self.timeout_ms,
        })
    }

    fn from_snapshot(v: &Value, default_timeout: Duration) -> Self {
        Self {
            chain_id: v["chainId"].as_str().unwrap_or_default().to_owned(),
            name: v["name"].as_str().unwrap_or_default().to_owned(),
            steps: serde_json::from_value(v["steps"].clone()).unwrap_or_default(),
            timeout_ms: v["timeoutMs"]
                .as_u64()
                .unwrap_or_else(|| u64::try_from(default_timeout.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// Runs a claimed chain execution to its end.
pub(crate) async fn run(
    core: &Arc<Core>,
    row: &agent_executions::Model,
    control: &Arc<RunControl>,
) -> Result<(), DbErr> {
    let started = Instant::now();
    let plan = Plan::from_snapshot(&row.agent_snapshot, core.settings.runner.timeout);
    // A chain that waited for a step runs again on its row: its events go on, its run time
    // adds up and its deadline counts only the time it has run.
    let before = row.execution_time_ms.unwrap_or(0);
    let (mut log, earlier) = if row.execution_time_ms.is_some() {
        let log = EventLog::continuing(core.writer.clone(), core.hub.clone(), row.id).await?;
        (log, db::executions::children_of(&core.db, &[row.id]).await?)
    } else {
        let log = EventLog::fresh(core.writer.clone(), core.hub.clone(), row.id);
        (log, Vec::new())
    };
    let elapsed =
        || before.saturating_add(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));
    log.append(Event::Status {
        status: Status::Running,
    })?;
    let left = plan
        .timeout_ms
        .saturating_sub(u64::try_from(before).unwrap_or(0));
    let deadline = started + Duration::from_millis(left.max(1));
    let interrupts = Interrupts::new(control, deadline);
    let family = Family::new(core.clone(), row, control.clone(), deadline);
    let (result, why) = hard_stopped(
        deadline,
        steps(core, row, &plan, &family, &interrupts, &mut log, &earlier),
    )
    .await;
    let outcome = match result {
        Ok(Progress::Ended(outcome)) => outcome,
        Ok(Progress::Waits { status, reason }) => {
            // Not an ending: the chain waits for its step, holding no slot.
            family.settle(&mut log, None).await?;
            let ms = elapsed();
            let usage = TokenUsage::default();
            let stopped = match reason {
                Some(reason) => finish::pause(core, &log, row.id, &reason, usage, ms).await?,
                None => {
                    debug_assert_eq!(status, Status::AwaitingApproval);
                    finish::suspend(core, &log, row.id, usage, ms, family.usage()).await?
                }
            };
            if stopped {
                // A step that ended while the chain was stopping found it running.
                wake(core, row.id).await?;
            }
            return Ok(());
        }
        Err(LoopError::Stop(stop)) => stopped(stop, plan.timeout_ms, false),
        Err(LoopError::Provider { error, .. }) => {
            Outcome::failed(Status::Failed, codes::INTERNAL, error.to_string())
        }
        Err(LoopError::CircuitOpen { model, .. }) => Outcome::failed(
            Status::Failed,
            codes::INTERNAL,
            format!("The model {model} is skipped by its open circuit breaker."),
        ),
        Err(LoopError::Budget(b)) => Outcome::failed(
            Status::Failed,
            codes::INTERNAL,
            format!("The budget {} has no room left.", b.name),
        ),
        Err(LoopError::Db(e)) => return Err(e),
    };
    family.settle(&mut log, why).await?;
    let (status, output, output_text, error) = match outcome {
        Outcome::Completed {
            output,
            output_text,
        } => (Status::Completed, Some(output), Some(output_text), None),
        Outcome::Failed {
            status,
            code,
            message,
            details,
        } => {
            let failure = Failure {
                code: code.to_owned(),
                message,
                details,
            };
            (status, None, None, Some(failure))
        }
        // A chain has no tool calls of its own.
        Outcome::AwaitingApproval => (
            Status::Failed,
            None,
            None,
            Some(Failure {
                code: codes::INTERNAL.to_owned(),
                message: "A chain cannot wait for an approval.".into(),
                details: None,
            }),
        ),
    };
    let ending = Ending {
        status,
        output,
        output_text,
        error,
        usage: TokenUsage::default(),
        execution_time_ms: Some(elapsed()),
        aggregate: Some(family.usage()),
        settle: None,
    };
    super::spans::ended(core, &ending);
    finish::write(
        core,
        Some(log),
        row.id,
        &[Status::Running],
        ending,
        None,
        false,
    )
    .await?;
    Ok(())
}

/// How far the steps got.
enum Progress {
    /// The chain ends so.
    Ended(Outcome),
    /// A step waits: the chain waits as `status` (`paused` for `reason`, or
    /// `awaiting_approval` with no reason).
    Waits {
        status: Status,
        reason: Option<String>,
    },
}

/// The parameter that marks a chain's step (set by `Family::start` when the parent is a
/// chain).
const STEP_PARAM: &str = "chainStep";

/// Whether `row` is a chain's step: it may wait (paused, awaiting approval), since its chain
/// waits with it and holds no slot meanwhile.
pub(crate) fn is_step(row: &agent_executions::Model) -> bool {
    row.params.get(STEP_PARAM).and_then(Value::as_bool) == Some(true)
}

/// The step number (1-based) of a chain's step.
fn step_of(row: &agent_executions::Model) -> Option<usize> {
    if !is_step(row) {
        return None;
    }
    row.params["toolCallId"]
        .as_str()?
        .strip_prefix("step-")?
        .parse()
        .ok()
}

/// Whether a step's execution has not ended (it waits, or it was resumed and runs).
fn unfinished(row: &agent_executions::Model) -> bool {
    Status::parse(&row.status).is_some_and(|s| !s.is_terminal())
}

/// What the chain does while one of a step's executions has not ended: it waits as the step
/// does (awaiting an approval before a pause).
fn waiting_for(rows: &[agent_executions::Model]) -> Option<Progress> {
    let open: Vec<&agent_executions::Model> = rows.iter().filter(|r| unfinished(r)).collect();
    if open.is_empty() {
        return None;
    }
    if open
        .iter()
        .any(|r| r.status == Status::AwaitingApproval.as_str())
    {
        return Some(Progress::Waits {
            status: Status::AwaitingApproval,
            reason: None,
        });
    }
    // A step resumed and running again (it ends soon, and wakes the chain) is waited for as
    // the pause it came from.
    let reason = open
        .iter()
        .find_map(|r| r.paused_reason.clone())
        .unwrap_or_else(|| crate::domain::budgets::PAUSED_REASON.to_owned());
    Some(Progress::Waits {
        status: Status::Paused,
        reason: Some(reason),
    })
}

/// Runs the steps in order (after those an earlier attempt finished: `earlier` are the
/// chain's step executions so far); the outcome of the chain.
async fn steps(
    core: &Core,
    row: &agent_executions::Model,
    plan: &Plan,
    family: &Family,
    interrupts: &Interrupts<'_>,
    log: &mut EventLog,
    earlier: &[agent_executions::Model],
) -> Result<Progress, LoopError> {
    if plan.steps.is_empty() {
        return Ok(Progress::Ended(Outcome::failed(
            Status::Failed,
            codes::STEP_FAILED,
            format!("The chain {} has no steps.", plan.chain_id),
        )));
    }
    let waited = earlier.iter().filter_map(step_of).max();
    let mut outputs: Vec<String> = Vec::with_capacity(plan.steps.len());
    let mut last = (Value::Null, String::new());
    for (i, step) in plan.steps.iter().enumerate() {
        let n = i + 1;
        let tool_call_id = format!("step-{n}");
        let done: Vec<agent_executions::Model> = earlier
            .iter()
            .filter(|r| step_of(r) == Some(n))
            .cloned()
            .collect();
        let rows = if done.is_empty() {
            let mut runs = Vec::new();
            for (agent_id, template) in step.runs() {
                let prompt = match chains::parse(template, n) {
                    Ok(pieces) => chains::render(
                        &pieces,
                        Vars {
                            input: &row.prompt,
                            steps: &outputs,
                        },
                    ),
                    Err(why) => return Ok(Progress::Ended(step_refused(n, agent_id, &why))),
                };
                let found = db::agents::find_with_departments(&core.db, &[agent_id]).await?;
                match found.into_iter().next() {
                    Some((agent, department)) if agent.is_active => {
                        runs.push((agent, department, prompt));
                    }
                    _ => {
                        return Ok(Progress::Ended(step_refused(
                            n,
                            agent_id,
                            "the agent is inactive or no longer exists",
                        )));
                    }
                }
            }
            let mut children = Vec::with_capacity(runs.len());
            for (agent, department, prompt) in runs {
                let child = family
                    .start(&agent, department.as_ref(), prompt, &tool_call_id)
                    .await?;
                log.append(family::start_event(&child))?;
                children.push(child);
            }
            interrupts.race(join_all(family, log, &children)).await??
        } else {
            // An earlier attempt ran this step: its executions are taken as they are now.
            if let Some(wait) = waiting_for(&done) {
                return Ok(wait);
            }
            for r in &done {
                family.adopt(r);
                // The step the chain waited for ended since: its parent hears of it now.
                if Some(n) == waited {
                    log.append(Event::SubagentFinish {
                        tool_call_id: tool_call_id.clone(),
                        execution_id: r.id,
                        agent_id: r.agent_slug.clone(),
                        status: Status::parse(&r.status).unwrap_or(Status::Failed),
                    })?;
                }
            }
            done
        };
        if let Some(wait) = waiting_for(&rows) {
            return Ok(wait);
        }
        if let Some(bad) = rows.iter().find(|r| r.status != Status::Completed.as_str()) {
            return Ok(Progress::Ended(step_failed(n, bad)));
        }
        let text = if step.parallel.is_empty() {
            rows.first()
                .and_then(|r| r.output_text.clone())
                .unwrap_or_default()
        } else {
            chains::join_outputs(rows.iter().map(|r| {
                (
                    r.agent_slug.as_str(),
                    r.output_text.as_deref().unwrap_or(""),
                )
            }))
        };
        last = match (step.parallel.is_empty(), rows.first()) {
            (true, Some(r)) => (
                r.output.clone().unwrap_or(Value::String(text.clone())),
                text.clone(),
            ),
            _ => (Value::String(text.clone()), text.clone()),
        };
        outputs.push(text);
    }
    Ok(Progress::Ended(Outcome::Completed {
        output: last.0,
        output_text: last.1,
    }))
}

/// A chain's step `row` (a queued run: its parent was not waiting for it in-process) has
/// stopped: when it has ended and its chain waits for it, the chain goes back in the queue.
pub(crate) async fn step_stopped(core: &Core, row: &agent_executions::Model) {
    let Some(chain_id) = row.parent_execution_id.filter(|_| is_step(row)) else {
        return;
    };
    if let Err(e) = wake(core, chain_id).await {
        tracing::error!(run.id = chain_id, error = %e, "could not wake a chain whose step ended");
    }
}

/// Puts chain execution `id` back in the queue (events `resume` and `status: pending`) when
/// it waits and every execution of the step it waits for has ended; otherwise nothing.
pub(crate) async fn wake(core: &Core, id: i32) -> Result<(), DbErr> {
    let Some(chain) = db::executions::find_by_id(&core.db, id).await? else {
        return Ok(());
    };
    let Some(from) = Status::parse(&chain.status).filter(|s| s.is_waiting()) else {
        return Ok(());
    };
    if chain.chain_id.is_none() {
        return Ok(());
    }
    let children = db::executions::children_of(&core.db, &[id]).await?;
    let waited = children.iter().filter_map(step_of).max();
    if children
        .iter()
        .any(|c| step_of(c) == waited && unfinished(c))
    {
        return Ok(());
    }
    let items: Vec<StreamItem> = [
        Event::Resume {
            from,
            step: waited.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
            by: Some("step".into()),
        },
        Event::Status {
            status: Status::Pending,
        },
    ]
    .into_iter()
    .map(|e| StreamItem::stored(0, e))
    .collect();
    let rows: Vec<_> = items.iter().map(super::log::to_row).collect();
    if let Some(first) = db::executions::reopen(&core.writer, id, from, None, &rows).await? {
        finish::publish_numbered(core, id, items, first);
        core.queued(id);
    }
    Ok(())
}

/// A step that did not complete: the chain fails with its error message.
fn step_failed(n: usize, child: &agent_executions::Model) -> Outcome {
    let message = child
        .error_message
        .clone()
        .unwrap_or_else(|| format!("Step {n} ended as {}.", child.status));
    Outcome::Failed {
        status: Status::Failed,
        code: codes::STEP_FAILED,
        message,
        details: Some(json!({
            "step": n,
            "executionId": child.id,
            "agentId": child.agent_slug,
            "status": child.status,
            "code": child.error_code,
        })),
    }
}

/// A step that could not start (its agent was deactivated, or its template broke since the
/// chain was queued).
fn step_refused(n: usize, agent_id: &str, why: &str) -> Outcome {
    Outcome::Failed {
        status: Status::Failed,
        code: codes::STEP_FAILED,
        message: format!("Step {n} ({agent_id}) could not start: {why}."),
        details: Some(json!({"step": n, "agentId": agent_id})),
    }
}
