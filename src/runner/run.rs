//! One claimed execution, from its snapshot to its ending: check the agent, load the tools,
//! route the model, build the conversation, run the loop under the deadline, and finish.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DbErr;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::Core;
use super::agent_loop::{self, LoopCx, LoopError, LoopState, Outcome};
use super::budget::{self, RunBudget};
use super::candidates::Chain;
use super::checkpoint::RunState;
use super::control::{Interrupts, RunControl, Stop};
use super::event::Event;
use super::family::{Family, Inherited};
use super::finish::{self, Ending, Failure};
use super::log::EventLog;
use super::providers::{ChatRequest, Message, ProviderError};
use super::snapshot::AgentConfig;
use super::spans;
use super::tools::data_api::DbDataApi;
use super::tools::{ToolContext, loader};
use crate::db;
use crate::domain::budgets::{PAUSED_REASON, RunScope};
use crate::domain::executions::{AggregateUsage, Status, codes};
use crate::entities::agent_executions;
use crate::telemetry_metrics;

/// Earlier completed runs of a conversation sent as history, at most.
const MAX_HISTORY_RUNS: u64 = 50;
/// Extra time a run gets past its deadline to end cleanly before it is cut off.
const DEADLINE_GRACE: Duration = Duration::from_secs(5);

/// Runs a claimed execution to its end. Database failures end it as `failed`/`internal`
/// when the database allows; the start-up recovery covers the rest.
/// A child (`inherited` from its parent) leaves its finished row there.
pub(crate) async fn run_claimed(
    core: Arc<Core>,
    row: agent_executions::Model,
    control: Arc<RunControl>,
    cap: Option<Instant>,
    inherited: Option<Inherited>,
) {
    let id = row.id;
    // A chain's step that was queued (it was resumed after waiting) has no parent waiting for
    // it in this process: its chain waits in the database, to be woken when it ends.
    let queued_step = inherited.is_none() && super::chain::is_step(&row);
    let result = if row.chain_id.is_some() {
        super::chain::run(&core, &row, &control).await
    } else {
        run(&core, &row, &control, cap, inherited).await
    };
    if let Err(e) = result {
        tracing::error!(run.id = id, error = %e, "run failed on a database error");
        let message = "The run stopped on an internal error (database).";
        if let Err(e) = finish::fail_running(&core, &row, codes::INTERNAL, message).await {
            tracing::error!(run.id = id, error = %e, "could not record the failure");
        }
    }
    if queued_step {
        super::chain::step_stopped(&core, &row).await;
    }
}

async fn run(
    core: &Arc<Core>,
    row: &agent_executions::Model,
    control: &Arc<RunControl>,
    cap: Option<Instant>,
    mut inherited: Option<Inherited>,
) -> Result<(), DbErr> {
    let started = Instant::now();
    let config = AgentConfig::from_snapshot(&row.agent_snapshot, &core.settings.runner);
    // A row that ran before (a resumed one) has an execution time and events already.
    let ran_before = row.execution_time_ms.is_some();
    // A checkpoint means a resumed run (or one continuing another): it goes on from there.
    // Only an attempt stores steps apart from `run_state`: a row that never ran has none.
    let checkpoint = if ran_before {
        RunState::from_stored(db::executions::run_state(&core.db, row).await?.as_ref())
    } else {
        RunState::from_stored(row.run_state.as_ref())
    };
    let mut log = if ran_before {
        EventLog::continuing(core.writer.clone(), core.hub.clone(), row.id).await?
    } else {
        EventLog::fresh(core.writer.clone(), core.hub.clone(), row.id)
    };
    // Time spent by earlier attempts of a resumed run counts too.
    let before = row.execution_time_ms.unwrap_or(0);
    let elapsed =
        || before.saturating_add(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));

    // A child's parent checked its agent just before starting it, and hands over its approval
    // rules. Approval rules are read when the run (or its resumption) starts: a rule changed
    // while a run waits applies to its next calls.
    let (active, approval_rules) = match (&inherited, row.agent_id) {
        (Some(inherited), Some(_)) => (true, inherited.approval_rules.clone()),
        (_, Some(id)) => match db::agents::find_by_id(&core.db, id).await? {
            Some(agent) => (
                agent.is_active,
                agent
                    .approval_rules
                    .as_ref()
                    .map(crate::domain::approvals::stored_agent_rules)
                    .unwrap_or_default(),
            ),
            None => (false, Vec::new()),
        },
        (_, None) => (false, Vec::new()),
    };
    if !active {
        let message = format!("Agent not found or inactive: {}", row.agent_slug);
        let ending = Ending::error(Status::Failed, codes::AGENT_UNAVAILABLE, message);
        spans::ended(core, &ending);
        finish::write(
            core,
            Some(log),
            row.id,
            &[Status::Running],
            ending,
            row.agent_id,
            false,
        )
        .await?;
        return Ok(());
    }

    let loaded = match inherited.as_mut().and_then(|given| given.tools.take()) {
        Some(loading) => loading
            .await
            .map_err(|e| DbErr::Custom(format!("loading the run's tools stopped: {e}")))??,
        None => {
            let stdio = core.settings.runner.mcp_allow_stdio;
            loader::load(&core.db, &core.tools, &config, stdio).await?
        }
    };
    super::experiments::stamp_tools(&mut log, &loaded.tool_versions)?;
    let known = inherited
        .as_ref()
        .map_or(&[][..], |given| given.prices.as_slice());
    let chain = Chain::build(
        &core.db,
        &core.router,
        &config.model,
        &config.fallback_models,
        known,
    )
    .await?;
    let first_provider = chain
        .as_ref()
        .ok()
        .map(|(c, _)| c.candidates[0].provider.name().to_owned());
    let mut opening = vec![
        Event::Start {
            agent_id: config.agent_id.clone(),
            model: config.model.clone(),
            provider: first_provider,
            tools: loaded.tools.names(),
            max_steps: config.max_steps,
            max_retries: config.max_retries,
            timeout_ms: config.timeout_ms,
        },
        Event::Status {
            status: Status::Running,
        },
    ];
    opening.extend(loaded.warnings.iter().map(|message| Event::Warning {
        message: message.clone(),
    }));
    if let Ok((_, warnings)) = &chain {
        opening.extend(warnings.iter().map(|message| Event::Warning {
            message: message.clone(),
        }));
    }
    log.append_all(opening)?;
    let chain = match chain {
        Ok((chain, _)) => chain,
        Err(no_provider) => {
            let mut ending =
                Ending::error(Status::Failed, codes::NO_PROVIDER, no_provider.to_string());
            ending.execution_time_ms = Some(elapsed());
            spans::ended(core, &ending);
            finish::write(
                core,
                Some(log),
                row.id,
                &[Status::Running],
                ending,
                row.agent_id,
                true,
            )
            .await?;
            return Ok(());
        }
    };

    spans::routed(
        core,
        chain.candidates[0].provider.name(),
        &chain.candidates[0].model,
    );
    let (inherited_project, ended) = match inherited {
        Some(given) => (given.project, Some(given.ended)),
        None => (None, None),
    };
    let project = match (inherited_project, row.project_id) {
        (Some(project), _) => Some(project),
        (None, Some(id)) => db::projects::find_by_id(&core.db, id).await?,
        (None, None) => None,
    };
    let messages = match &checkpoint {
        Some(_) => Vec::new(),
        None => {
            // A child always starts a conversation of its own: it has no history to read.
            let mut messages = if row.depth > 0 {
                Vec::new()
            } else {
                history(core, row).await?
            };
            messages.push(Message::User {
                content: row.prompt.clone(),
            });
            messages
        }
    };
    let request = ChatRequest {
        model: chain.candidates[0].id.clone(),
        system: system_prompt(&config, loaded.set_output.is_some()),
        messages,
        tools: loaded.tools.specs(),
        temperature: config.temperature,
        max_tokens: None,
        // One cache key per agent: its runs share the system prompt and the tools.
        cache_key: Some(format!("aladdin-agent-{}", config.agent_id)),
    };
    let tool_ctx = ToolContext {
        execution_id: row.id,
        project: project.clone(),
        data_api: Arc::new(DbDataApi::new(core.writer.clone(), project)),
        sandbox: core.sandbox.clone(),
        db: core.writer.clone(),
        memory_bytes: core.settings.sandbox.memory_mb.saturating_mul(1 << 20),
    };
    // The deadline clock counts only the time the run has actually run.
    let spent = checkpoint.as_ref().map_or(0, |c| c.elapsed_ms);
    let own_deadline =
        started + Duration::from_millis(config.timeout_ms.saturating_sub(spent).max(1));
    // A child shares its parent's deadline (lifecycle rule 10).
    let deadline = cap.map_or(own_deadline, |cap| cap.min(own_deadline));
    let interrupts = Interrupts::new(control, deadline);
    let family = Family::new(core.clone(), row, control.clone(), deadline)
        .with_project(tool_ctx.project.clone())
        .with_prices(chain.known_prices());
    let cx = LoopCx {
        core,
        chain: &chain,
        tools: &loaded.tools,
        tool_chars: super::context::tool_chars(&request.tools),
        set_output: loaded.set_output.as_deref(),
        tool_ctx: &tool_ctx,
        interrupts: &interrupts,
        max_steps: config.max_steps,
        max_retries: config.max_retries,
        family: &family,
        spawnable: &config.spawnable_agents,
        approval_rules: &approval_rules,
        can_wait: row.depth == 0 || super::chain::is_step(row),
        budget: RunBudget {
            scope: RunScope {
                department_id: row.department_id,
                agent_id: row.agent_id,
                project_id: row.project_id,
            },
            over_budget: row.allow_over_budget,
        },
    };
    let mut state = match checkpoint {
        Some(from) => LoopState::resumed(request, from),
        None => LoopState::new(request),
    };
    let (result, why) = hard_stopped(deadline, agent_loop::run(&cx, &mut state, &mut log)).await;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(LoopError::Stop(stop)) => stopped(stop, config.timeout_ms, deadline < own_deadline),
        Err(LoopError::Provider { error, attempts }) => {
            let last = &chain.candidates[state.current];
            provider_failed(&error, attempts, last.provider.name(), &last.model)
        }
        Err(LoopError::CircuitOpen { model, remaining }) => circuit_open(&model, remaining),
        Err(LoopError::Budget(budget)) => {
            // Not an ending: the run waits, holding no slot, from its last checkpoint.
            family.settle(&mut log, None).await?;
            let mut usage = state.meter.summarize(|model| chain.price(model));
            carry_over(&mut usage, row);
            log.append(budget::reached(&budget))?;
            spans::waiting(core, Status::Paused, &usage);
            finish::pause(core, &log, row.id, PAUSED_REASON, usage, elapsed()).await?;
            return Ok(());
        }
        Err(LoopError::Db(e)) => return Err(e),
    };
    family.settle(&mut log, why).await?;
    let mut usage = state.meter.summarize(|model| chain.price(model));
    carry_over(&mut usage, row);
    for (model, spent) in &usage.by_model {
        let candidate = chain.candidates.iter().find(|c| &c.model == model);
        if let (Some(c), Some(cost), Some(source)) = (
            candidate,
            spent.estimated_cost,
            spent.cost_source.as_deref(),
        ) {
            telemetry_metrics::record_run_cost(c.provider.name(), &c.id, cost, source);
        }
    }
    let mut aggregate = AggregateUsage::own(
        usage.input_tokens,
        usage.output_tokens,
        usage.estimated_cost,
    );
    aggregate.add(&family.usage());
    if outcome == Outcome::AwaitingApproval {
        spans::waiting(core, Status::AwaitingApproval, &usage);
        let ms = elapsed();
        finish::suspend(core, &log, row.id, usage, ms, aggregate).await?;
        // A decision taken while the run was still stopping found it running and left the
        // resumption to it.
        super::approvals::resume_if_decided(core, row.id, None).await?;
        return Ok(());
    }
    let mut ending = ending(outcome, &state, usage, elapsed());
    ending.aggregate = Some(aggregate);
    // The answer the loop ended on is settled with the ending.
    ending.settle = state.unsettled.take();
    spans::ended(core, &ending);
    let finished = finish::write_row(
        core,
        Some(log),
        row.id,
        &[Status::Running],
        ending,
        row.agent_id,
        true,
    )
    .await?;
    // A parent takes its child's ending from here instead of reading the row again.
    if let (Some(ended), Some(finished)) = (ended, finished) {
        let _ = ended.set(finished);
    }
    Ok(())
}

/// Adds the usage an earlier attempt of a resumed run recorded to this attempt's (the
/// per-model split stays this attempt's).
fn carry_over(usage: &mut super::event::TokenUsage, row: &agent_executions::Model) {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    usage.input_tokens += n(row.input_tokens);
    usage.output_tokens += n(row.output_tokens);
    usage.cache_read_tokens += n(row.cache_read_tokens);
    usage.cache_write_tokens += n(row.cache_write_tokens);
    usage.total_tokens += n(row.total_tokens);
    usage.estimated_cost = match (usage.estimated_cost, row.estimated_cost) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
    };
    if usage.cost_source.is_none() {
        usage.cost_source.clone_from(&row.cost_source);
    }
}

/// Runs `work` (which stops itself at `deadline`) under an outer limit that only guards
/// against a wait it does not race (a hung database call); returns its result and, if it
/// stopped early, why.
pub(crate) async fn hard_stopped<T>(
    deadline: Instant,
    work: impl std::future::Future<Output = Result<T, LoopError>>,
) -> (Result<T, LoopError>, Option<Stop>) {
    let result = tokio::time::timeout_at(deadline + DEADLINE_GRACE, work)
        .await
        .unwrap_or(Err(LoopError::Stop(Stop::Timeout)));
    let why = match &result {
        Err(LoopError::Stop(stop)) => Some(*stop),
        _ => None,
    };
    (result, why)
}

/// The ending of an outcome; failures keep the partial output.
pub(crate) fn ending(
    outcome: Outcome,
    state: &LoopState,
    usage: super::event::TokenUsage,
    ms: i64,
) -> Ending {
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
            let partial = state.structured.clone().or_else(|| {
                Some(Value::String(state.last_text.clone())).filter(|_| !state.last_text.is_empty())
            });
            let text = Some(state.last_text.clone()).filter(|t| !t.is_empty());
            let failure = Failure {
                code: code.to_owned(),
                message,
                details,
            };
            (status, partial, text, Some(failure))
        }
        // Never ended this way (the caller suspends the run); recorded as internal if it were.
        Outcome::AwaitingApproval => (
            Status::Failed,
            None,
            None,
            Some(Failure {
                code: codes::INTERNAL.to_owned(),
                message: "The run stopped to wait for an approval it cannot wait for.".into(),
                details: None,
            }),
        ),
    };
    Ending {
        status,
        output,
        output_text,
        error,
        usage,
        execution_time_ms: Some(ms),
        aggregate: None,
        settle: None,
    }
}

pub(crate) fn stopped(stop: Stop, timeout_ms: u64, parents_deadline: bool) -> Outcome {
    match stop {
        Stop::Timeout if parents_deadline => Outcome::Failed {
            status: Status::Timeout,
            code: codes::TIMEOUT,
            message: "The run did not finish before the deadline of the run that started it."
                .into(),
            details: Some(json!({"timeoutMs": timeout_ms, "parentDeadline": true})),
        },
        Stop::Timeout => Outcome::Failed {
            status: Status::Timeout,
            code: codes::TIMEOUT,
            message: format!("The run did not finish within its {timeout_ms} ms deadline."),
            details: Some(json!({"timeoutMs": timeout_ms})),
        },
        Stop::Cancelled => {
            Outcome::failed(Status::Cancelled, codes::CANCELLED, "Cancelled by a user.")
        }
        Stop::Shutdown => Outcome::failed(
            Status::Failed,
            codes::INTERRUPTED,
            "The server shut down before the run finished.",
        ),
        Stop::ParentEnded => Outcome::failed(
            Status::Cancelled,
            codes::CANCELLED,
            "Stopped because the run that started it ended first.",
        ),
        Stop::LeaseLost => Outcome::failed(
            Status::Failed,
            codes::INTERRUPTED,
            "This instance lost the run's lease (cut off from the database) and stopped it.",
        ),
    }
}

fn circuit_open(model: &str, remaining: Duration) -> Outcome {
    Outcome::Failed {
        status: Status::Failed,
        code: codes::CIRCUIT_OPEN,
        message: format!(
            "The model {model} is skipped after repeated failures (circuit breaker open for \
             another {} s) and no fallback model is left.",
            remaining.as_secs()
        ),
        details: Some(json!({"model": model, "retryInMs": remaining.as_millis() as u64})),
    }
}

fn provider_failed(error: &ProviderError, attempts: u32, provider: &str, model: &str) -> Outcome {
    let code = match error {
        ProviderError::Http { status: 429, .. } => codes::RATE_LIMITED,
        e if e.is_context_overflow() => codes::CONTEXT_LENGTH,
        _ => codes::PROVIDER_ERROR,
    };
    let status = match error {
        ProviderError::Http { status, .. } => json!(status),
        _ => Value::Null,
    };
    let message = match error {
        ProviderError::Http { message, .. } => message.clone(),
        other => other.to_string(),
    };
    Outcome::Failed {
        status: Status::Failed,
        code,
        message,
        details: Some(json!({
            "provider": provider,
            "model": model,
            "httpStatus": status,
            "kind": error.code(),
            "attempts": attempts,
        })),
    }
}

fn system_prompt(config: &AgentConfig, structured: bool) -> String {
    let mut prompt = config.instructions_prompt.trim().to_owned();
    if structured {
        if !prompt.is_empty() {
            prompt.push_str("\n\n");
        }
        prompt.push_str(
            "When your work is done, call the `set_output` tool once with the final result; its \
             input schema is the required output format. Do not answer with the result as text.",
        );
    }
    prompt
}

/// The earlier completed runs of the conversation as user/assistant turns, oldest first.
async fn history(core: &Core, row: &agent_executions::Model) -> Result<Vec<Message>, DbErr> {
    let earlier = db::executions::completed_in_conversation(
        &core.db,
        &row.conversation_id,
        row.id,
        MAX_HISTORY_RUNS,
    )
    .await?;
    let mut messages = Vec::with_capacity(earlier.len() * 2 + 1);
    for run in earlier {
        let answer = run
            .output_text
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(|| {
                run.output.as_ref().map(|o| match o {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            });
        messages.push(Message::User {
            content: run.prompt,
        });
        messages.push(Message::Assistant {
            text: answer.unwrap_or_default(),
            tool_calls: Vec::new(),
        });
    }
    Ok(messages)
}
