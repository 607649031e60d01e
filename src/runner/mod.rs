//! The agent runner: one core used by the admin pages, the JSON API, the CLI and the tests.
//! It knows nothing of HTTP servers.
//!
//! - [`Runner::execute`] checks the agent and queues an execution row (with a snapshot of the
//!   agent configuration); a worker claims it and runs the tool-calling loop.
//! - [`Runner::subscribe`] is the one event stream every adapter uses (stored events, then
//!   live ones, ending after the terminal event); [`Runner::wait`] awaits the end.
//! - [`Runner::execute_chain`] checks a chain and queues one execution for it, whose
//!   children are its steps.
//! - [`Runner::cancel`] stops a pending or running execution and its descendants.
//!
//! `ARCHITECTURE.md`, "The run lifecycle": every numbered rule is implemented here.

mod agent_loop;
pub mod approvals;
mod breaker;
mod budget;
mod candidates;
mod chain;
pub mod checkpoint;
mod context;
mod control;
mod error;
pub mod evals;
pub mod event;
pub mod experiments;
mod family;
mod finish;
pub mod hub;
mod lease;
mod log;
mod notify;
pub mod pricing;
pub mod providers;
mod queue;
pub mod retry;
mod run;
pub mod snapshot;
mod spans;
mod state;
mod stream;
mod swarm;
pub mod tools;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::config::Settings;
use crate::db;
use crate::domain::executions::Status;
use crate::entities::agent_executions;
use crate::sandbox::Sandbox;

pub use error::RunError;
pub use event::{Event, SharedItem, StreamItem, TokenUsage};
pub use hub::Hub;
pub use state::ProviderTime;
pub use stream::EventStream;

use control::Stop;
use snapshot::AgentConfig;
use state::Core;

/// Who and what an execution is for, besides its agent and prompt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunContext {
    /// The project its tools work on (validated to exist).
    pub project_id: Option<i32>,
    /// Continue this conversation (runs sharing it see each other's prompts and outputs);
    /// a new conversation id is generated when absent.
    pub conversation_id: Option<String>,
    /// Optional episode reference.
    pub episode_id: Option<String>,
    /// The execution that started this one.
    pub parent_execution_id: Option<i32>,
    /// The span the run's `invoke_agent` span belongs under (the HTTP request that queued
    /// it, itself under the caller's `traceparent`); used only when traces are on.
    pub trace_parent: Option<opentelemetry::trace::SpanContext>,
    /// Caller metadata, stored as the execution's `params`.
    pub metadata: Value,
    /// The user who started it.
    pub created_by: Option<i32>,
    /// Start from this execution's whole conversation (its `runState`, tool calls
    /// included) instead of an empty one (`previousExecution`).
    pub previous_execution: Option<i32>,
    /// Run this configuration of the agent rather than its current one (evaluations): an
    /// older version and/or overrides; no running experiment applies to the run.
    pub pinned: Option<Pinned>,
}

/// A configuration an evaluation runs: a version of the agent (None: its current one) with
/// overrides on top (a variant's, or a proposal's prompt).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pinned {
    /// The agent version to run.
    pub version: Option<i32>,
    /// What changes on top of it.
    pub overrides: crate::domain::experiments::Overrides,
}

impl RunContext {
    /// The conversation to continue, or a new conversation id.
    fn conversation(&self) -> String {
        self.conversation_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned)
    }

    /// The stored `params`: the metadata, `{}` when there is none.
    fn params(&self) -> Value {
        if self.metadata.is_null() {
            Value::Object(Default::default())
        } else {
            self.metadata.clone()
        }
    }
}

/// The first `runState` of a run continuing execution `previous`: its whole conversation
/// (tool calls included), then the new prompt.
async fn continued_from(core: &Core, previous: i32, prompt: &str) -> Result<Value, RunError> {
    let row = db::executions::find_by_id(&core.db, previous)
        .await?
        .ok_or_else(|| RunError::PreviousExecution(format!("Execution not found: {previous}")))?;
    let stored = db::executions::run_state(&core.db, &row).await?;
    let Some(mut state) = checkpoint::RunState::from_stored(stored.as_ref()) else {
        return Err(RunError::PreviousExecution(format!(
            "Execution {previous} has no run state to continue from."
        )));
    };
    if !checkpoint::RunState::unanswered_calls(&state.messages).is_empty() {
        return Err(RunError::PreviousExecution(format!(
            "Execution {previous} stopped in the middle of tool calls; resume it instead."
        )));
    }
    state.messages.push(providers::Message::User {
        content: prompt.to_owned(),
    });
    state.step = 0;
    state.elapsed_ms = 0;
    Ok(state.to_json())
}

/// How the runner queues and supervises executions.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Executions run at once by this process (`RUNNER_CONCURRENCY`).
    pub concurrency: usize,
    /// How often the queue is polled for rows queued by other processes.
    pub poll_interval: Duration,
    /// How often leases are renewed and cancellation requests checked.
    pub heartbeat_interval: Duration,
    /// How long a lease lasts without renewal.
    pub lease_ttl: Duration,
    /// How long shutdown waits for runs before interrupting them (`RUNNER_DRAIN_TIMEOUT_MS`).
    pub shutdown_grace: Duration,
    /// Continue interrupted runs from their checkpoint (`RUNNER_RESUME_INTERRUPTED`).
    pub resume_interrupted: bool,
    /// Only run executions queued by this runner (the CLI), never the shared queue.
    pub only_own_runs: bool,
    /// Delays between retries of a provider request.
    pub backoff: retry::Backoff,
}

impl RunnerOptions {
    /// The server's options: concurrency, lease TTL (renewed every third of it), drain
    /// timeout and resumption from the settings; 1 s poll.
    pub fn from_settings(settings: &Settings) -> Self {
        let runner = &settings.runner;
        Self {
            concurrency: runner.concurrency,
            poll_interval: Duration::from_secs(1),
            heartbeat_interval: runner.lease_ttl / 3,
            lease_ttl: runner.lease_ttl,
            shutdown_grace: runner.drain_timeout,
            resume_interrupted: runner.resume_interrupted,
            only_own_runs: false,
            backoff: retry::Backoff::default(),
        }
    }

    /// The CLI's options: one run at a time, only its own.
    pub fn for_cli(settings: &Settings) -> Self {
        Self {
            concurrency: 1,
            only_own_runs: true,
            ..Self::from_settings(settings)
        }
    }
}

/// The agent runner. Cheap to share (`Arc<Runner>` in the application state).
pub struct Runner {
    core: Arc<Core>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("instance_id", &self.core.instance_id)
            .field("providers", &self.core.router.configured())
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Builds a runner on `db` (provider clients, sandbox pool). Call [`Runner::start`] to
    /// begin claiming executions. Needs a rustls crypto provider installed (see `main`).
    pub async fn new(
        db: DatabaseConnection,
        settings: Arc<Settings>,
        options: RunnerOptions,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            core: Arc::new(Core::new(db, settings, options).await?),
        })
    }

    /// Ends as `failed`/`interrupted` the executions a dead process left `running`; call once
    /// before [`Runner::start`]. Returns how many.
    pub async fn recover_interrupted(&self) -> Result<usize, sea_orm::DbErr> {
        lease::recover(&self.core, true).await
    }

    /// Starts the dispatcher and the heartbeat on the current tokio runtime.
    pub fn start(&self) {
        let handles = queue::spawn(&self.core);
        self.core.keep_tasks(handles);
    }

    /// Stops claiming, gives running executions the grace period (`RUNNER_DRAIN_TIMEOUT_MS`),
    /// then ends the rest as `failed`/`interrupted` (handed back to the queue when
    /// `RUNNER_RESUME_INTERRUPTED` is set) and stops the background tasks.
    pub async fn shutdown(&self) {
        self.core.shutdown().await;
    }

    /// Queues a run of agent `agent_id` (lifecycle rule 1: a missing or inactive agent is an
    /// error and creates no row) and returns the `pending` execution.
    pub async fn execute(
        &self,
        agent_id: &str,
        prompt: &str,
        ctx: RunContext,
    ) -> Result<agent_executions::Model, RunError> {
        let core = &self.core;
        if core.stop.is_cancelled() {
            return Err(RunError::ShuttingDown);
        }
        let mut agent = db::agents::find_by_agent_id(&core.db, agent_id)
            .await?
            .filter(|a| a.is_active)
            .ok_or_else(|| RunError::AgentNotFound(agent_id.to_owned()))?;
        if let Some(project_id) = ctx.project_id
            && db::projects::find_by_id(&core.db, project_id)
                .await?
                .is_none()
        {
            return Err(RunError::ProjectNotFound(project_id));
        }
        if let Some(version) = ctx.pinned.as_ref().and_then(|p| p.version) {
            let old = db::versions::agent_version(&core.db, agent.id, version)
                .await?
                .ok_or(RunError::VersionNotFound(version))?;
            agent = db::agents::as_of(agent, &old.snapshot)
                .ok_or(RunError::VersionNotFound(version))?;
        }
        // The agent's version and running experiment are read beside its department, so the
        // stamps add no round trip to queueing.
        let (department, found) = tokio::try_join!(
            db::departments::find_by_id(&core.db, agent.department_id),
            db::experiments::run_stamp(&core.db, agent.id),
        )?;
        let mut config = AgentConfig::resolve(&agent, department.as_ref(), &core.settings.runner);
        let rules = crate::domain::routing::stored_rules(&agent.model_routing);
        if !rules.is_empty() {
            let slug = department.as_ref().map_or("", |d| d.slug.as_str());
            let doc = crate::domain::routing::routing_document(prompt, slug, &ctx.metadata);
            config.route(&rules, &doc);
        }
        let run_state = match ctx.previous_execution {
            Some(previous) => Some(continued_from(core, previous, prompt).await?),
            None => None,
        };
        let (conversation_id, params) = (ctx.conversation(), ctx.params());
        let trace_parent = core.traces.traceparent(ctx.trace_parent.as_ref());
        let new = db::executions::NewExecution {
            run_state,
            trace_parent,
            agent_id: Some(agent.id),
            agent_slug: agent.agent_id.clone(),
            department_id: Some(agent.department_id),
            project_id: ctx.project_id,
            episode_id: ctx.episode_id,
            conversation_id,
            parent_execution_id: ctx.parent_execution_id,
            prompt: prompt.to_owned(),
            params,
            max_retries: i32::try_from(config.max_retries).unwrap_or(0),
            agent_snapshot: config.to_snapshot(),
            created_by: ctx.created_by,
            depth: 0,
            chain_id: None,
        };
        let (new, stamp) = match &ctx.pinned {
            None => experiments::apply(found, new),
            Some(pin) => experiments::pin(found, new, pin),
        };
        let row = db::executions::insert_pending_stamped(&core.writer, new, stamp).await?;
        core.queued(row.id);
        Ok(row)
    }

    /// Queues a run of chain `chain_id` (its chainId) and returns its `pending`
    /// execution: `chain` set, no agent, `agentSlug` the chainId. An unknown or inactive
    /// chain is [`RunError::ChainNotFound`]; a chain with no steps, a broken template, or an
    /// agent that is missing or inactive is [`RunError::ChainUnavailable`]; neither creates a
    /// row. Its steps run as its children when a worker claims it.
    pub async fn execute_chain(
        &self,
        chain_id: &str,
        prompt: &str,
        ctx: RunContext,
    ) -> Result<agent_executions::Model, RunError> {
        let core = &self.core;
        if core.stop.is_cancelled() {
            return Err(RunError::ShuttingDown);
        }
        if ctx.previous_execution.is_some() {
            return Err(RunError::PreviousExecution(
                "A chain's run cannot continue another execution.".into(),
            ));
        }
        let not_found = || RunError::ChainNotFound(chain_id.to_owned());
        let chain = db::agent_chains::find_by_chain_id(&core.db, chain_id)
            .await?
            .filter(|c| c.is_active)
            .ok_or_else(not_found)?;
        let unavailable = |reason: String| RunError::ChainUnavailable {
            chain: chain.chain_id.clone(),
            reason,
        };
        let steps: Vec<crate::domain::chains::ChainStep> =
            serde_json::from_value(chain.steps.clone())
                .map_err(|_| unavailable("its steps cannot be read".into()))?;
        if steps.is_empty() {
            return Err(unavailable("it has no steps".into()));
        }
        let mut timeout_ms: u64 = 0;
        for (i, step) in steps.iter().enumerate() {
            let n = i + 1;
            let mut slowest = 0;
            for (agent_id, template) in step.runs() {
                crate::domain::chains::parse(template, n)
                    .map_err(|why| unavailable(format!("step {n}: {why}")))?;
                let agent = db::agents::find_by_agent_id(&core.db, agent_id)
                    .await?
                    .filter(|a| a.is_active)
                    .ok_or_else(|| {
                        unavailable(format!(
                            "step {n}: agent {agent_id} is inactive or does not exist"
                        ))
                    })?;
                let department = db::departments::find_by_id(&core.db, agent.department_id).await?;
                let config =
                    AgentConfig::resolve(&agent, department.as_ref(), &core.settings.runner);
                slowest = slowest.max(config.timeout_ms);
            }
            timeout_ms = timeout_ms.saturating_add(slowest);
        }
        if let Some(project_id) = ctx.project_id
            && db::projects::find_by_id(&core.db, project_id)
                .await?
                .is_none()
        {
            return Err(RunError::ProjectNotFound(project_id));
        }
        let plan = chain::Plan {
            chain_id: chain.chain_id.clone(),
            name: chain.name.clone(),
            steps,
            timeout_ms,
        };
        let (conversation_id, params) = (ctx.conversation(), ctx.params());
        let new = db::executions::NewExecution {
            agent_id: None,
            agent_slug: chain.chain_id.clone(),
            department_id: None,
            project_id: ctx.project_id,
            episode_id: ctx.episode_id,
            conversation_id,
            parent_execution_id: ctx.parent_execution_id,
            prompt: prompt.to_owned(),
            params,
            max_retries: 0,
            agent_snapshot: plan.to_snapshot(),
            created_by: ctx.created_by,
            depth: 0,
            chain_id: Some(chain.id),
            run_state: None,
            trace_parent: core.traces.traceparent(ctx.trace_parent.as_ref()),
        };
        let row = db::executions::insert_pending(&core.writer, new).await?;
        core.queued(row.id);
        Ok(row)
    }

    /// Continues a stopped execution (`interrupted`, `timeout`, `paused`, or
    /// `awaiting_approval` once decided) from its last checkpoint, on the same row: event
    /// `resume`, status back to `pending`, queued again. A timed-out run gets its whole
    /// deadline again; completed tool calls are never repeated. `by` names who resumed it.
    pub async fn resume(
        &self,
        id: i32,
        by: Option<String>,
    ) -> Result<agent_executions::Model, RunError> {
        self.resume_with(id, by, false).await
    }

    /// [`Runner::resume`]; with `allow_over_budget` (an admin's decision) the run ignores its
    /// budgets from now on (its spend is still counted), a flag stored on the row so that it
    /// survives restarts.
    pub async fn resume_with(
        &self,
        id: i32,
        by: Option<String>,
        allow_over_budget: bool,
    ) -> Result<agent_executions::Model, RunError> {
        reopen(&self.core, id, by, false, allow_over_budget).await
    }

    /// Decides approval `id` (exactly once: a second decision is
    /// [`approvals::DecideError::AlreadyDecided`]), appends `approval_decided`, and resumes
    /// its run once none of its approvals is pending.
    pub async fn decide_approval(
        &self,
        id: i32,
        request: approvals::DecisionRequest,
    ) -> Result<crate::entities::approvals::Model, approvals::DecideError> {
        approvals::decide(&self.core, id, request).await
    }

    /// Expires the overdue approvals now (the runner also does it on every heartbeat).
    pub async fn expire_overdue_approvals(&self) -> Result<usize, sea_orm::DbErr> {
        approvals::sweep(&self.core).await
    }

    /// Waits until execution `id` has ended and returns it.
    pub async fn wait(&self, id: i32) -> Result<agent_executions::Model, RunError> {
        self.core.wait(id).await
    }

    /// Cancels execution `id` and its descendants: a pending or waiting one at once; a running
    /// one here through its stop handle, which stops its children's too (the result is
    /// returned once it has ended, within 10 s); a running one on another instance by flagging
    /// `cancel_requested` and signalling it (`runner::notify`), which that instance applies at
    /// once (its heartbeat otherwise) — on its unfinished descendants as well. An execution
    /// that already ended is [`RunError::AlreadyFinished`].
    pub async fn cancel(&self, id: i32) -> Result<agent_executions::Model, RunError> {
        let core = &self.core;
        let row = core.find(id).await?;
        let status = Status::parse(&row.status).unwrap_or(Status::Failed);
        if status.is_terminal() {
            return Err(RunError::AlreadyFinished(status));
        }
        if status == Status::Pending && finish::cancel_pending(core, &row).await? {
            return core.find(id).await;
        }
        if status.is_waiting() && finish::cancel_waiting(core, &row, status).await? {
            // A chain waiting with its step: the step is cancelled with it.
            cancel_descendants(core, id).await?;
            // A chain's step that waited: its chain goes on (and fails on it).
            chain::step_stopped(core, &row).await;
            return core.find(id).await;
        }
        db::executions::request_cancel(&core.writer, id).await?;
        core.changed(id);
        cancel_descendants(core, id).await?;
        if let Some(control) = core.control(id) {
            control.abort(Stop::Cancelled);
            if let Ok(ended) = tokio::time::timeout(Duration::from_secs(10), core.wait(id)).await {
                return ended;
            }
        }
        core.find(id).await
    }

    /// The event stream of execution `id` after `after_seq` (0 for everything): stored events
    /// from the database, then live ones including `text_delta` chunks, without gaps or
    /// duplicates; it ends after the terminal `status` event (at once, after the history, for
    /// a finished execution).
    pub async fn subscribe(&self, id: i32, after_seq: i64) -> Result<EventStream, RunError> {
        stream::open(self.core.clone(), id, after_seq).await
    }

    /// Whether execution `id` is running in this process.
    pub fn is_running_here(&self, id: i32) -> bool {
        self.core.is_running_here(id)
    }

    /// Executions running in this process right now.
    pub fn running_count(&self) -> usize {
        self.core.running_count()
    }

    /// The live broadcast hub (a cross-instance listener may publish into it).
    pub fn hub(&self) -> &Arc<Hub> {
        &self.core.hub
    }

    /// The process-wide sandbox pool (the admin's "Try it" panel runs tools on it too).
    pub fn sandbox(&self) -> &Sandbox {
        &self.core.sandbox
    }

    /// Names of the configured providers.
    pub fn providers(&self) -> Vec<&'static str> {
        self.core.router.configured()
    }

    /// Turns the runs' checkpoints (`runState`, lifecycle rule 8a) off or back on. For the
    /// runner bench only, which measures what checkpoints cost: a run without checkpoints
    /// cannot be resumed.
    #[doc(hidden)]
    pub fn set_checkpoints(&self, on: bool) {
        self.core.set_checkpoints(on);
    }

    /// Time spent inside provider requests since start (for metrics and benchmarks).
    pub fn provider_time(&self) -> ProviderTime {
        self.core.stats.snapshot()
    }

    /// The application's traces (the HTTP server's spans use its tracer; shutdown flushes
    /// it).
    pub fn traces(&self) -> &crate::traces::Traces {
        &self.core.traces
    }

    /// This process's id in leases (`lease_owner`).
    pub fn instance_id(&self) -> &str {
        &self.core.instance_id
    }
}

/// Puts a stopped execution back in the queue on the same row from its last checkpoint
/// (see [`Runner::resume`]); `from_approval`: a run `awaiting_approval` whose approvals are
/// all decided may continue too.
pub(crate) async fn reopen(
    core: &Core,
    id: i32,
    by: Option<String>,
    from_approval: bool,
    allow_over_budget: bool,
) -> Result<agent_executions::Model, RunError> {
    if core.stop.is_cancelled() {
        return Err(RunError::ShuttingDown);
    }
    let row = core.find(id).await?;
    let status = Status::parse(&row.status).unwrap_or(Status::Failed);
    if row.chain_id.is_some() {
        return Err(RunError::NotResumable(
            "a chain's execution is not resumed; resume the step that stopped".into(),
        ));
    }
    let decided = from_approval && status == Status::AwaitingApproval;
    if !decided && !crate::domain::executions::resumable(status, row.error_code.as_deref()) {
        return Err(RunError::NotResumable(format!(
            "it is {status}{}; only interrupted, timed-out, paused and decided \
                 awaiting-approval runs continue",
            row.error_code
                .as_deref()
                .filter(|_| status == Status::Failed)
                .map(|c| format!(" ({c})"))
                .unwrap_or_default()
        )));
    }
    let stored = db::executions::run_state(&core.db, &row).await?;
    let mut state = checkpoint::RunState::from_stored(stored.as_ref());
    if status == Status::Timeout
        && let Some(state) = state.as_mut()
    {
        state.elapsed_ms = 0;
    }
    let event = Event::Resume {
        from: status,
        step: state.as_ref().map_or(0, |s| s.step),
        by,
    };
    let items: Vec<StreamItem> = [
        event,
        Event::Status {
            status: Status::Pending,
        },
    ]
    .into_iter()
    .map(|e| StreamItem::stored(0, e))
    .collect();
    let rows: Vec<_> = items.iter().map(log::to_row).collect();
    let state = state.as_ref().map(checkpoint::RunState::to_json);
    // Set before the row is queued again, so that the worker claiming it sees it.
    if allow_over_budget {
        db::executions::allow_over_budget(&core.writer, id, status).await?;
    }
    let Some(first) = db::executions::reopen(&core.writer, id, status, state, &rows).await? else {
        let now = core.find(id).await?;
        return Err(RunError::NotResumable(format!(
            "it changed meanwhile (now {})",
            now.status
        )));
    };
    finish::publish_numbered(core, id, items, first);
    core.queued(id);
    core.find(id).await
}

/// Cancels the unfinished descendants of execution `id`: pending and waiting ones at once,
/// running ones by flagging and signalling them (their runs stop themselves).
async fn cancel_descendants(core: &Arc<Core>, id: i32) -> Result<(), RunError> {
    for child in db::executions::unfinished_descendants(&core.db, id).await? {
        match Status::parse(&child.status) {
            Some(Status::Pending) => {
                finish::cancel_pending(core, &child).await?;
            }
            Some(waiting) if waiting.is_waiting() => {
                finish::cancel_waiting(core, &child, waiting).await?;
            }
            _ => {
                db::executions::request_cancel(&core.writer, child.id).await?;
                core.changed(child.id);
            }
        }
    }
    Ok(())
}
