//! Runs with children: the executions a run starts (`spawn_agents` children, a chain's
//! steps) and what it owes them.
//!
//! A child is inserted already claimed by this instance (`running`, with a lease the
//! heartbeat renews) and runs on a task of its own with the same per-run machinery as a
//! queued run, but without a `RUNNER_CONCURRENCY` slot: its ancestor holds one and is waiting
//! for it, so taking another could deadlock. Its stop handle is a child of its parent's
//! (cancelling or shutting down the parent stops it), and its deadline is the earlier of its
//! own and its parent's. A parent settles its children before it ends: those still going are
//! stopped and awaited, so no child outlives its parent, and their usage is added to the
//! parent's `aggregateUsage`.
//!
//! What the parent already holds is handed to the child instead of being read again (its
//! agent and department, checked by the parent; the project), its tools are read while its
//! row is being inserted, and the child hands its finished row back the same way
//! ([`Inherited`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::{BoxFuture, Shared};
use sea_orm::DbErr;
use serde_json::json;
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use super::Core;
use super::candidates::KnownPrice;
use super::control::{RunControl, Stop};
use super::event::Event;
use super::log::EventLog;
use super::queue;
use super::snapshot::AgentConfig;
use super::tools::loader::{self, Loaded};
use crate::db;
use crate::domain::executions::{AggregateUsage, Status};
use crate::entities::{agent_executions, agents, departments, projects};

/// Longest a parent waits for a stopped child to record its ending.
const SETTLE_PATIENCE: Duration = Duration::from_secs(15);

/// What a child run takes from its parent instead of reading it again.
pub(crate) struct Inherited {
    /// The parent's project row (a child works on its parent's project); `None`: read it.
    pub project: Option<projects::Model>,
    /// The child's agent's approval rules (`approvalRules`), read by the parent with the agent.
    pub approval_rules: Vec<crate::domain::approvals::AgentRule>,
    /// The price rows the parent looked up (a child on the same models reads none).
    pub prices: Vec<KnownPrice>,
    /// Where the child leaves its finished row for the parent.
    pub ended: Arc<OnceLock<agent_executions::Model>>,
    /// Its tools, loaded while its row was being inserted; `None`: load them.
    pub tools: Option<AbortOnDropHandle<Result<Loaded, DbErr>>>,
}

/// A started child.
#[derive(Clone)]
pub(crate) struct Child {
    /// Its execution id.
    pub id: i32,
    /// Its agent's agentId.
    pub agent_id: String,
    /// The tool call (or chain step, `step-N`) that started it.
    pub tool_call_id: String,
    control: Arc<RunControl>,
    done: Shared<BoxFuture<'static, ()>>,
    ended: Arc<OnceLock<agent_executions::Model>>,
}

#[derive(Default)]
struct Ledger {
    live: HashMap<i32, Child>,
    usage: AggregateUsage,
}

/// The children of one run.
pub(crate) struct Family {
    core: Arc<Core>,
    parent_id: i32,
    depth: i32,
    /// The parent is a chain: its children are steps, which may wait (`chain::is_step`).
    chain: bool,
    project_id: Option<i32>,
    created_by: Option<i32>,
    control: Arc<RunControl>,
    deadline: Instant,
    project: Option<projects::Model>,
    prices: Vec<KnownPrice>,
    ledger: Mutex<Ledger>,
}

impl Family {
    /// The (future) children of `parent`, which runs under `control` until `deadline`.
    pub(crate) fn new(
        core: Arc<Core>,
        parent: &agent_executions::Model,
        control: Arc<RunControl>,
        deadline: Instant,
    ) -> Self {
        Self {
            core,
            parent_id: parent.id,
            depth: parent.depth,
            chain: parent.chain_id.is_some(),
            project_id: parent.project_id,
            created_by: parent.created_by,
            control,
            deadline,
            project: None,
            prices: Vec::new(),
            ledger: Mutex::default(),
        }
    }

    /// Hands the parent's project row (already read) to its children.
    pub(crate) fn with_project(mut self, project: Option<projects::Model>) -> Self {
        self.project = project.filter(|p| Some(p.id) == self.project_id);
        self
    }

    /// Hands the parent's price rows to its children.
    pub(crate) fn with_prices(mut self, prices: Vec<KnownPrice>) -> Self {
        self.prices = prices;
        self
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The parent's depth (0 for a top-level run).
    pub(crate) fn depth(&self) -> i32 {
        self.depth
    }

    /// Usage of every child accounted for so far, their own descendants included.
    pub(crate) fn usage(&self) -> AggregateUsage {
        self.ledger().usage
    }

    /// Starts a run of `agent` (checked active by the caller, with its `department`) on
    /// `prompt` as a child: same project and user as the parent, a new conversation, one
    /// level deeper.
    pub(crate) async fn start(
        &self,
        agent: &agents::Model,
        department: Option<&departments::Model>,
        prompt: String,
        tool_call_id: &str,
    ) -> Result<Child, DbErr> {
        let core = &self.core;
        let config = AgentConfig::resolve(agent, department, &core.settings.runner);
        // Its tools are read (from the read pool) while its row is inserted (through the
        // writer): the child would otherwise read them only once it has started.
        let tools = AbortOnDropHandle::new(tokio::spawn({
            let (core, config) = (core.clone(), config.clone());
            async move {
                let stdio = core.settings.runner.mcp_allow_stdio;
                loader::load(&core.db, &core.tools, &config, stdio).await
            }
        }));
        let new = db::executions::NewExecution {
            agent_id: Some(agent.id),
            agent_slug: agent.agent_id.clone(),
            department_id: Some(agent.department_id),
            project_id: self.project_id,
            episode_id: None,
            conversation_id: uuid::Uuid::now_v7().to_string(),
            parent_execution_id: Some(self.parent_id),
            prompt,
            params: if self.chain {
                json!({"toolCallId": tool_call_id, "chainStep": true})
            } else {
                json!({"toolCallId": tool_call_id})
            },
            max_retries: i32::try_from(config.max_retries).unwrap_or(0),
            agent_snapshot: config.to_snapshot(),
            created_by: self.created_by,
            depth: self.depth + 1,
            chain_id: None,
            run_state: None,
            // Its span's parent is the spawning call's, in this process.
            trace_parent: None,
        };
        let row = db::executions::insert_claimed(
            &core.writer,
            new,
            &core.instance_id,
            queue::lease_until(core),
        )
        .await?;
        let control = Arc::new(RunControl::child_of(&self.control));
        let ended = Arc::new(OnceLock::new());
        let inherited = Inherited {
            project: self.project.clone(),
            approval_rules: agent
                .approval_rules
                .as_ref()
                .map(crate::domain::approvals::stored_agent_rules)
                .unwrap_or_default(),
            prices: self.prices.clone(),
            ended: ended.clone(),
            tools: Some(tools),
        };
        let id = row.id;
        let handle = queue::supervise(
            core,
            row,
            control.clone(),
            Some(self.deadline),
            None,
            Some(inherited),
        );
        let child = Child {
            id,
            agent_id: agent.agent_id.clone(),
            tool_call_id: tool_call_id.to_owned(),
            control,
            done: async move {
                let _ = handle.await;
            }
            .boxed()
            .shared(),
            ended,
        };
        self.ledger().live.insert(child.id, child.clone());
        Ok(child)
    }

    /// Waits for `child` to end and returns its row (its usage is accounted for once).
    pub(crate) async fn join(&self, child: &Child) -> Result<agent_executions::Model, DbErr> {
        child.done.clone().await;
        let row = self
            .ended_row(child)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(format!("execution {}", child.id)))?;
        self.account(&row);
        Ok(row)
    }

    /// The row of a child that ended: the one it finished, or else (it did not finish the
    /// row itself: it failed before its loop, or someone else ended it) the stored one.
    async fn ended_row(&self, child: &Child) -> Result<Option<agent_executions::Model>, DbErr> {
        match child.ended.get() {
            Some(row) => Ok(Some(row.clone())),
            None => db::executions::find_by_id(&self.core.db, child.id).await,
        }
    }

    fn account(&self, row: &agent_executions::Model) {
        let mut ledger = self.ledger();
        if ledger.live.remove(&row.id).is_some() {
            ledger.usage.add(&usage_of(row));
        }
    }

    /// Accounts for a child an earlier attempt of the parent started, which has ended since
    /// (a chain's step that waited).
    pub(crate) fn adopt(&self, row: &agent_executions::Model) {
        self.ledger().usage.add(&usage_of(row));
    }

    /// Stops the children still going (the parent is ending; `why` it stopped early, if it
    /// did: a child past the shared deadline times out with its parent), waits for them to
    /// record their ending, accounts for them and appends their `subagent_finish` to the
    /// parent's log.
    pub(crate) async fn settle(&self, log: &mut EventLog, why: Option<Stop>) -> Result<(), DbErr> {
        let live: Vec<Child> = self.ledger().live.values().cloned().collect();
        for child in &live {
            child.control.abort(why.unwrap_or(Stop::ParentEnded));
        }
        for child in live {
            if tokio::time::timeout(SETTLE_PATIENCE, child.done.clone())
                .await
                .is_err()
            {
                tracing::error!(
                    run.id = self.parent_id,
                    child = child.id,
                    "a child run did not end after its parent"
                );
                continue;
            }
            let Some(row) = self.ended_row(&child).await? else {
                continue;
            };
            self.account(&row);
            log.append(finish_event(&child, &row))?;
        }
        Ok(())
    }
}

/// The usage of an ended child, its own descendants included.
fn usage_of(row: &agent_executions::Model) -> AggregateUsage {
    AggregateUsage::from_stored(row.aggregate_usage.as_ref()).unwrap_or_else(|| {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        AggregateUsage::own(
            n(row.input_tokens),
            n(row.output_tokens),
            row.estimated_cost,
        )
    })
}

/// The `subagent_finish` event of a child that ended as `row`.
pub(crate) fn finish_event(child: &Child, row: &agent_executions::Model) -> Event {
    Event::SubagentFinish {
        tool_call_id: child.tool_call_id.clone(),
        execution_id: child.id,
        agent_id: child.agent_id.clone(),
        status: Status::parse(&row.status).unwrap_or(Status::Failed),
    }
}

/// The `subagent_start` event of a child.
pub(crate) fn start_event(child: &Child) -> Event {
    Event::SubagentStart {
        tool_call_id: child.tool_call_id.clone(),
        execution_id: child.id,
        agent_id: child.agent_id.clone(),
    }
}

impl Drop for Family {
    /// A parent that ends without settling (a database failure) still stops its children.
    fn drop(&mut self) {
        for child in self.ledger().live.values() {
            child.control.abort(Stop::ParentEnded);
        }
    }
}
