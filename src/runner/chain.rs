//! A chain's execution: its steps run one after the other as its children (depth 1), each
//! prompt rendered from its template (`{{input}}`, `{{previous}}`, `{{steps.N}}`); a parallel
//! step runs its agents side by side. The chain's output is its last step's; the first step
//! that does not complete fails the chain with `step_failed` and that step's error.
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
    let mut log = EventLog::fresh(core.writer.clone(), core.hub.clone(), row.id);
    log.append(Event::Status {
        status: Status::Running,
    })?;
    let deadline = started + Duration::from_millis(plan.timeout_ms.max(1));
    let interrupts = Interrupts::new(control, deadline);
    let family = Family::new(core.clone(), row, control.clone(), deadline);
    let (result, why) = hard_stopped(
        deadline,
        steps(core, row, &plan, &family, &interrupts, &mut log),
    )
    .await;
    let outcome = match result {
        Ok(outcome) => outcome,
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
        execution_time_ms: Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)),
        aggregate: Some(family.usage()),
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

/// Runs the steps in order; the outcome of the chain.
async fn steps(
    core: &Core,
    row: &agent_executions::Model,
    plan: &Plan,
    family: &Family,
    interrupts: &Interrupts<'_>,
    log: &mut EventLog,
) -> Result<Outcome, LoopError> {
    if plan.steps.is_empty() {
        return Ok(Outcome::failed(
            Status::Failed,
            codes::STEP_FAILED,
            format!("The chain {} has no steps.", plan.chain_id),
        ));
    }
    let mut outputs: Vec<String> = Vec::with_capacity(plan.steps.len());
    let mut last = (Value::Null, String::new());
    for (i, step) in plan.steps.iter().enumerate() {
        let n = i + 1;
        let tool_call_id = format!("step-{n}");
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
                Err(why) => return Ok(step_refused(n, agent_id, &why)),
            };
            let found = db::agents::find_with_departments(&core.db, &[agent_id]).await?;
            match found.into_iter().next() {
                Some((agent, department)) if agent.is_active => {
                    runs.push((agent, department, prompt));
                }
                _ => {
                    return Ok(step_refused(
                        n,
                        agent_id,
                        "the agent is inactive or no longer exists",
                    ));
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
        let rows = interrupts.race(join_all(family, log, &children)).await??;
        if let Some(bad) = rows.iter().find(|r| r.status != Status::Completed.as_str()) {
            return Ok(step_failed(n, bad));
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
    Ok(Outcome::Completed {
        output: last.0,
        output_text: last.1,
    })
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
