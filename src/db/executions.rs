//! Agent executions (the run queue and the history) and their append-only events.
//!
//! Status changes are conditional UPDATEs (`… WHERE status = 'pending'`), so a row is claimed,
//! cancelled or finished exactly once even when several workers or instances race for it.

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Order, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Query},
};
use serde_json::Value;

use crate::domain::executions::Status;
use crate::domain::now;
use crate::entities::{agent_executions, execution_checkpoints, execution_events};

use agent_executions::Column as C;

/// The execution with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<agent_executions::Model>, DbErr> {
    agent_executions::Entity::find_by_id(id).one(db).await
}

/// The executions started by any of `parents` (sub-runs, chain steps), by id.
pub async fn children_of(
    db: &impl ConnectionTrait,
    parents: &[i32],
) -> Result<Vec<agent_executions::Model>, DbErr> {
    if parents.is_empty() {
        return Ok(Vec::new());
    }
    agent_executions::Entity::find()
        .filter(C::ParentExecutionId.is_in(parents.iter().copied()))
        .order_by_asc(C::Id)
        .all(db)
        .await
}

/// How many executions each of `parents` started (parents without any are left out).
pub async fn child_counts(
    db: &impl ConnectionTrait,
    parents: &[i32],
) -> Result<std::collections::HashMap<i32, i64>, DbErr> {
    if parents.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(Option<i32>, i64)> = agent_executions::Entity::find()
        .select_only()
        .column(C::ParentExecutionId)
        .column_as(C::Id.count(), "n")
        .filter(C::ParentExecutionId.is_in(parents.iter().copied()))
        .group_by(C::ParentExecutionId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(parent, n)| parent.map(|p| (p, n)))
        .collect())
}

/// Stored events of an execution after `after_seq`, in order.
pub async fn events_after(
    db: &impl ConnectionTrait,
    execution_id: i32,
    after_seq: i64,
) -> Result<Vec<execution_events::Model>, DbErr> {
    execution_events::Entity::find()
        .filter(execution_events::Column::ExecutionId.eq(execution_id))
        .filter(execution_events::Column::Seq.gt(after_seq))
        .order_by_asc(execution_events::Column::Seq)
        .all(db)
        .await
}

/// The last stored event of `kind` of an execution, if any.
pub async fn last_event(
    db: &impl ConnectionTrait,
    execution_id: i32,
    kind: &str,
) -> Result<Option<execution_events::Model>, DbErr> {
    execution_events::Entity::find()
        .filter(execution_events::Column::ExecutionId.eq(execution_id))
        .filter(execution_events::Column::Type.eq(kind))
        .order_by_desc(execution_events::Column::Seq)
        .one(db)
        .await
}

/// An execution to queue.
#[derive(Debug, Clone)]
pub struct NewExecution {
    /// Agent row id (`None` for a chain's execution).
    pub agent_id: Option<i32>,
    /// Agent slug, kept if the agent is deleted (a chain's execution: the chainId).
    pub agent_slug: String,
    /// The agent's department.
    pub department_id: Option<i32>,
    /// The project the tools work on.
    pub project_id: Option<i32>,
    /// Optional episode reference.
    pub episode_id: Option<String>,
    /// Conversation this run continues (or starts).
    pub conversation_id: String,
    /// The execution that started this one, if any.
    pub parent_execution_id: Option<i32>,
    /// The user's prompt.
    pub prompt: String,
    /// Caller metadata.
    pub params: Value,
    /// Retries allowed per provider request.
    pub max_retries: i32,
    /// The agent configuration the run will use.
    pub agent_snapshot: Value,
    /// Who started it.
    pub created_by: Option<i32>,
    /// Nesting level: 0 for a top-level run, parent's + 1 for a child.
    pub depth: i32,
    /// The chain this execution runs (its steps are its children).
    pub chain_id: Option<i32>,
    /// The checkpoint it starts from (`previousExecution`), if any.
    pub run_state: Option<Value>,
    /// The W3C `traceparent` of the span it was queued under (only when traces are on).
    pub trace_parent: Option<String>,
}

/// Inserts a `pending` execution.
pub async fn insert_pending(
    db: &impl ConnectionTrait,
    new: NewExecution,
) -> Result<agent_executions::Model, DbErr> {
    insert_pending_stamped(db, new, Stamp::default()).await
}

/// What a run is stamped with when it is queued: the agent version and the experiment's
/// variant.
#[derive(Debug, Clone, Default)]
pub struct Stamp {
    /// The agent's version.
    pub agent_version: Option<i32>,
    /// The running experiment that chose the variant.
    pub experiment_id: Option<i32>,
    /// The variant's name.
    pub variant: Option<String>,
}

/// Inserts a `pending` execution with its stamp.
pub async fn insert_pending_stamped(
    db: &impl ConnectionTrait,
    new: NewExecution,
    stamp: Stamp,
) -> Result<agent_executions::Model, DbErr> {
    let mut row = new_row(new, now());
    row.agent_version = Set(stamp.agent_version);
    row.experiment_id = Set(stamp.experiment_id);
    row.variant = Set(stamp.variant);
    agent_executions::Entity::insert(row)
        .exec_with_returning(db)
        .await
}

/// Inserts an execution already claimed by `owner` (`running`, leased until `lease_until`):
/// a child run, which runs inside its parent's task and never waits in the queue.
pub async fn insert_claimed(
    db: &impl ConnectionTrait,
    new: NewExecution,
    owner: &str,
    lease_until: DateTime<FixedOffset>,
) -> Result<agent_executions::Model, DbErr> {
    let ts = now();
    let mut row = new_row(new, ts);
    row.status = Set(Status::Running.as_str().to_owned());
    row.lease_owner = Set(Some(owner.to_owned()));
    row.lease_expires_at = Set(Some(lease_until));
    row.started_at = Set(Some(ts));
    agent_executions::Entity::insert(row)
        .exec_with_returning(db)
        .await
}

fn new_row(new: NewExecution, ts: DateTime<FixedOffset>) -> agent_executions::ActiveModel {
    agent_executions::ActiveModel {
        agent_id: Set(new.agent_id),
        agent_slug: Set(new.agent_slug),
        department_id: Set(new.department_id),
        project_id: Set(new.project_id),
        episode_id: Set(new.episode_id),
        conversation_id: Set(new.conversation_id),
        parent_execution_id: Set(new.parent_execution_id),
        prompt: Set(new.prompt),
        params: Set(new.params),
        status: Set(Status::Pending.as_str().to_owned()),
        input_tokens: Set(0),
        output_tokens: Set(0),
        total_tokens: Set(0),
        retry_count: Set(0),
        max_retries: Set(new.max_retries),
        agent_snapshot: Set(new.agent_snapshot),
        created_by: Set(new.created_by),
        cancel_requested: Set(false),
        depth: Set(new.depth),
        chain_id: Set(new.chain_id),
        run_state: Set(new.run_state),
        trace_parent: Set(new.trace_parent),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
}

/// The ids of the unfinished (pending or running) descendants of execution `id`, level by
/// level (children first). Depth is bounded by `AGENT_MAX_DEPTH`, so this is a few queries.
pub async fn unfinished_descendants(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Vec<agent_executions::Model>, DbErr> {
    let mut found = Vec::new();
    let mut level = vec![id];
    // A cycle cannot happen (a parent exists before its children); the bound is a guard.
    for _ in 0..32 {
        if level.is_empty() {
            break;
        }
        let children = agent_executions::Entity::find()
            .filter(C::ParentExecutionId.is_in(level.iter().copied()))
            .order_by_asc(C::Id)
            .all(db)
            .await?;
        level = children.iter().map(|c| c.id).collect();
        found.extend(
            children
                .into_iter()
                .filter(|c| Status::parse(&c.status).is_some_and(|s| !s.is_terminal())),
        );
    }
    Ok(found)
}

/// Claims up to `limit` of the oldest runnable `pending` executions for `owner`, in one
/// statement: sets them `running` with a lease until `lease_until` and returns them. A run
/// waits while an earlier run of its conversation is pending or running, so a conversation's
/// runs execute in order, one at a time.
///
/// On PostgreSQL the candidates are picked with `FOR UPDATE SKIP LOCKED`, so instances sharing
/// the queue never block on, nor double-claim, a row. `only` restricts the claim to those ids
/// (the CLI runs only what it queued itself).
pub async fn claim_pending(
    db: &DatabaseConnection,
    owner: &str,
    lease_until: DateTime<FixedOffset>,
    only: Option<&[i32]>,
    limit: u64,
) -> Result<Vec<agent_executions::Model>, DbErr> {
    let (cand, other) = (Alias::new("cand"), Alias::new("other"));
    let mut blocking = Query::select();
    blocking
        .expr(Expr::val(1))
        .from_as(agent_executions::Entity, other.clone())
        .and_where(
            Expr::col((other.clone(), C::ConversationId)).equals((cand.clone(), C::ConversationId)),
        )
        .and_where(
            Expr::col((other.clone(), C::Status))
                .eq(Status::Running.as_str())
                .or(Expr::col((other.clone(), C::Status))
                    .eq(Status::Pending.as_str())
                    .and(Expr::col((other, C::Id)).lt(Expr::col((cand.clone(), C::Id))))),
        );
    let mut pick = Query::select();
    pick.column((cand.clone(), C::Id))
        .from_as(agent_executions::Entity, cand.clone())
        .and_where(Expr::col((cand.clone(), C::Status)).eq(Status::Pending.as_str()))
        .and_where(Expr::not_exists(blocking))
        // (status, created_at) is indexed: the oldest pending rows come first, without a sort.
        .order_by((cand.clone(), C::CreatedAt), Order::Asc)
        .order_by((cand.clone(), C::Id), Order::Asc)
        .limit(Ord::max(limit, 1));
    if let Some(ids) = only {
        pick.and_where(Expr::col((cand, C::Id)).is_in(ids.iter().copied()));
    }
    let ts = now();
    if super::is_postgres(db) {
        // `UPDATE … WHERE id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` may run its
        // subquery more than once on PostgreSQL and claim more than n rows (rows a dispatcher
        // with n slots would never launch): the ids are picked and locked first, then claimed,
        // in one transaction.
        pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        let txn = db.begin().await?;
        let picked = txn.query_all(&pick).await?;
        let ids: Vec<i32> = picked
            .iter()
            .filter_map(|r| r.try_get::<i32>("", "id").ok())
            .collect();
        if ids.is_empty() {
            txn.commit().await?;
            return Ok(Vec::new());
        }
        let mut rows = agent_executions::Entity::update_many()
            .col_expr(C::Status, Expr::value(Status::Running.as_str()))
            .col_expr(C::LeaseOwner, Expr::value(owner))
            .col_expr(C::LeaseExpiresAt, Expr::value(lease_until))
            .col_expr(C::StartedAt, Expr::value(ts))
            .col_expr(C::UpdatedAt, Expr::value(ts))
            .filter(C::Id.is_in(ids))
            .filter(C::Status.eq(Status::Pending.as_str()))
            .exec_with_returning(&txn)
            .await?;
        txn.commit().await?;
        rows.sort_by_key(|r| r.id);
        return Ok(rows);
    }
    let mut rows = agent_executions::Entity::update_many()
        .col_expr(C::Status, Expr::value(Status::Running.as_str()))
        .col_expr(C::LeaseOwner, Expr::value(owner))
        .col_expr(C::LeaseExpiresAt, Expr::value(lease_until))
        .col_expr(C::StartedAt, Expr::value(ts))
        .col_expr(C::UpdatedAt, Expr::value(ts))
        .filter(Expr::col(C::Id).in_subquery(pick))
        .filter(C::Status.eq(Status::Pending.as_str()))
        .exec_with_returning(db)
        .await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Extends the leases of `owner`'s running executions among `ids` (those it runs); returns
/// the ids renewed (a run of
/// `owner` missing from them has been taken away: recovered by a peer, or ended).
pub async fn renew_leases(
    db: &impl ConnectionTrait,
    owner: &str,
    ids: &[i32],
    until: DateTime<FixedOffset>,
) -> Result<Vec<i32>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = agent_executions::Entity::update_many()
        .col_expr(C::LeaseExpiresAt, Expr::value(until))
        .filter(C::Id.is_in(ids.iter().copied()))
        .filter(C::LeaseOwner.eq(owner))
        .filter(C::Status.eq(Status::Running.as_str()))
        .exec_with_returning(db)
        .await?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}

/// Those of `ids` that are still running under `owner`'s lease.
pub async fn owned_running(
    db: &impl ConnectionTrait,
    owner: &str,
    ids: &[i32],
) -> Result<Vec<i32>, DbErr> {
    agent_executions::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::Id.is_in(ids.iter().copied()))
        .filter(C::LeaseOwner.eq(owner))
        .filter(C::Status.eq(Status::Running.as_str()))
        .into_tuple()
        .all(db)
        .await
}

/// Ids of `owner`'s running executions that someone asked to cancel.
pub async fn cancel_requests(db: &impl ConnectionTrait, owner: &str) -> Result<Vec<i32>, DbErr> {
    agent_executions::Entity::find()
        .select_only()
        .column(C::Id)
        .filter(C::LeaseOwner.eq(owner))
        .filter(C::Status.eq(Status::Running.as_str()))
        .filter(C::CancelRequested.eq(true))
        .into_tuple()
        .all(db)
        .await
}

/// Flags a running execution for cancellation by whichever instance runs it.
pub async fn request_cancel(db: &impl ConnectionTrait, id: i32) -> Result<bool, DbErr> {
    let result = agent_executions::Entity::update_many()
        .col_expr(C::CancelRequested, Expr::value(true))
        .col_expr(C::UpdatedAt, Expr::value(now()))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(Status::Running.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Counts one retry on the execution, atomically.
pub async fn increment_retry_count(db: &impl ConnectionTrait, id: i32) -> Result<(), DbErr> {
    agent_executions::Entity::update_many()
        .col_expr(C::RetryCount, Expr::col(C::RetryCount).add(1))
        .filter(C::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Running executions whose lease expired before `at` (or that never had one): their process
/// is gone. With `at = None`, every running execution.
pub async fn stale_running(
    db: &impl ConnectionTrait,
    at: Option<DateTime<FixedOffset>>,
) -> Result<Vec<agent_executions::Model>, DbErr> {
    let mut query = agent_executions::Entity::find().filter(C::Status.eq(Status::Running.as_str()));
    if let Some(at) = at {
        query = query.filter(C::LeaseExpiresAt.is_null().or(C::LeaseExpiresAt.lt(at)));
    }
    query.order_by_asc(C::Id).limit(1000).all(db).await
}

/// How a checkpoint changes an execution's stored `runState` (`{step, messages, elapsedMs}`).
#[derive(Debug, Clone, PartialEq)]
pub enum StateWrite {
    /// Replaces it with this document.
    Replace {
        /// The whole state.
        doc: Value,
        /// Delete the steps stored so far (the run wrote some since its last replacing
        /// write: they are part of what `doc` replaces).
        drop_steps: bool,
    },
    /// A step: the new step number and run time, and the messages it added to the
    /// conversation. Stored as one row of `execution_checkpoints` — never a rewrite of the
    /// conversation so far — and folded onto `run_state` when the checkpoint is read
    /// ([`run_state`], [`current_states`]).
    Extend {
        /// Model calls made so far.
        step: u32,
        /// Run time spent so far, in milliseconds.
        elapsed_ms: u64,
        /// The messages added since the write before, in order.
        messages: Vec<Value>,
    },
}

impl StateWrite {
    /// This write followed by `later`, as one write.
    fn then(self, later: StateWrite) -> StateWrite {
        match (self, later) {
            (_, later @ StateWrite::Replace { .. }) => later,
            (StateWrite::Replace { doc, drop_steps }, step) => StateWrite::Replace {
                doc: extended(doc, step),
                drop_steps,
            },
            (
                StateWrite::Extend {
                    messages: mut first,
                    ..
                },
                StateWrite::Extend {
                    step,
                    elapsed_ms,
                    messages,
                },
            ) => {
                first.extend(messages);
                StateWrite::Extend {
                    step,
                    elapsed_ms,
                    messages: first,
                }
            }
        }
    }
}

/// `doc` with step `write` applied (a replacing write replaces it).
fn extended(mut doc: Value, write: StateWrite) -> Value {
    let (step, elapsed_ms, messages) = match write {
        StateWrite::Replace { doc, .. } => return doc,
        StateWrite::Extend {
            step,
            elapsed_ms,
            messages,
        } => (step, elapsed_ms, messages),
    };
    if !doc.is_object() {
        doc = Value::Object(serde_json::Map::new());
    }
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("step".into(), step.into());
        obj.insert("elapsedMs".into(), elapsed_ms.into());
        match obj.get_mut("messages").and_then(Value::as_array_mut) {
            Some(list) => list.extend(messages),
            None => {
                obj.insert("messages".into(), Value::Array(messages));
            }
        }
    }
    doc
}

/// The stored step of a row of `execution_checkpoints`.
fn step_of(row: execution_checkpoints::Model) -> StateWrite {
    StateWrite::Extend {
        step: u32::try_from(row.step).unwrap_or_default(),
        elapsed_ms: u64::try_from(row.elapsed_ms).unwrap_or_default(),
        messages: match row.messages {
            Value::Array(items) => items,
            _ => Vec::new(),
        },
    }
}

/// The checkpoint of each of `rows` that has steps stored apart (by id): its `run_state` with
/// those steps folded onto it, in one query for all of them. A row missing from the map has
/// no steps: its checkpoint is its `run_state` as it is.
pub async fn current_states(
    db: &impl ConnectionTrait,
    rows: &[agent_executions::Model],
) -> Result<std::collections::HashMap<i32, Value>, DbErr> {
    let mut states = std::collections::HashMap::new();
    if rows.is_empty() {
        return Ok(states);
    }
    let steps = execution_checkpoints::Entity::find()
        .filter(execution_checkpoints::Column::ExecutionId.is_in(rows.iter().map(|r| r.id)))
        .order_by_asc(execution_checkpoints::Column::ExecutionId)
        .order_by_asc(execution_checkpoints::Column::N)
        .all(db)
        .await?;
    for step in steps {
        let id = step.execution_id;
        let doc = match states.remove(&id) {
            Some(doc) => doc,
            None => rows
                .iter()
                .find(|r| r.id == id)
                .and_then(|r| r.run_state.clone())
                .unwrap_or(Value::Null),
        };
        states.insert(id, extended(doc, step_of(step)));
    }
    Ok(states)
}

/// The checkpoint (`runState`) of execution `row`: its `run_state` with the steps stored
/// since folded onto it.
pub async fn run_state(
    db: &impl ConnectionTrait,
    row: &agent_executions::Model,
) -> Result<Option<Value>, DbErr> {
    let mut states = current_states(db, std::slice::from_ref(row)).await?;
    Ok(states.remove(&row.id).or_else(|| row.run_state.clone()))
}

/// The fenced INSERT of a step into `execution_checkpoints`: nothing is inserted unless
/// `owner` (when given) still holds the running execution's lease.
fn step_insert(
    id: i32,
    step: u32,
    elapsed_ms: u64,
    messages: Vec<Value>,
    owner: Option<&str>,
) -> Result<sea_orm::sea_query::InsertStatement, DbErr> {
    use execution_checkpoints::Column as K;
    // Numbered after the execution's last step (one seek: the key is (execution_id, n)).
    let mut next = Query::select();
    next.expr(Expr::expr(Expr::col(K::N).max()).if_null(0).add(1))
        .from(execution_checkpoints::Entity)
        .and_where(Expr::col(K::ExecutionId).eq(id));
    let mut values = Query::select();
    values.exprs([
        Expr::val(id),
        sea_orm::sea_query::SimpleExpr::SubQuery(
            None,
            Box::new(sea_orm::sea_query::SubQueryStatement::SelectStatement(next)),
        ),
        Expr::val(i64::from(step)),
        Expr::val(i64::try_from(elapsed_ms).unwrap_or(i64::MAX)),
        Expr::val(Value::Array(messages)),
    ]);
    if let Some(owner) = owner {
        values.and_where(Expr::exists(held_by(id, owner)));
    }
    Ok(Query::insert()
        .into_table(execution_checkpoints::Entity)
        .columns([K::ExecutionId, K::N, K::Step, K::ElapsedMs, K::Messages])
        .select_from(values)
        .map_err(|e| DbErr::Custom(e.to_string()))?
        .to_owned())
}

/// Values of an execution row that a run writes as it goes: its checkpoint (`runState`) and
/// the versions of its custom tools (`toolVersions`). `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowUpdate {
    /// The checkpoint.
    pub run_state: Option<StateWrite>,
    /// `[{toolName, version}]`.
    pub tool_versions: Option<Value>,
    /// Fencing: write only while this instance holds the run's lease (and it is running).
    pub owner: Option<String>,
}

impl RowUpdate {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.run_state.is_none() && self.tool_versions.is_none()
    }

    /// Takes the values `later` sets (a later value replaces an earlier one; a later
    /// extension of the checkpoint applies after the earlier write).
    pub fn merge(&mut self, later: RowUpdate) {
        if let Some(state) = later.run_state {
            self.run_state = Some(match self.run_state.take() {
                Some(earlier) => earlier.then(state),
                None => state,
            });
        }
        if later.tool_versions.is_some() {
            self.tool_versions = later.tool_versions;
        }
        if later.owner.is_some() {
            self.owner = later.owner;
        }
    }
}

/// The statements that write `update` to execution `id`, in order: an UPDATE of the row (a
/// replacing checkpoint, tool versions) and an INSERT of a step, each changing exactly one
/// row while the fence (`update.owner`) holds; before them, when a replacing checkpoint
/// drops the steps stored so far, their (fenced) DELETE.
struct RowWrites {
    drop_steps: Option<sea_orm::Statement>,
    writes: Vec<sea_orm::Statement>,
    fenced: bool,
}

impl RowWrites {
    fn of(backend: sea_orm::DbBackend, id: i32, update: RowUpdate) -> Result<Self, DbErr> {
        use sea_orm::QueryTrait;
        let owner = update.owner.as_deref();
        let mut writes = Vec::new();
        let mut drop_steps = None;
        let mut row = agent_executions::Entity::update_many().filter(C::Id.eq(id));
        if let Some(owner) = owner {
            row = row
                .filter(C::LeaseOwner.eq(owner))
                .filter(C::Status.eq(Status::Running.as_str()));
        }
        let mut row_changed = false;
        let mut step = None;
        match update.run_state {
            Some(StateWrite::Replace {
                doc,
                drop_steps: drop,
            }) => {
                row = row.col_expr(C::RunState, Expr::value(doc));
                row_changed = true;
                if drop {
                    let mut delete = Query::delete();
                    delete
                        .from_table(execution_checkpoints::Entity)
                        .and_where(Expr::col(execution_checkpoints::Column::ExecutionId).eq(id));
                    if let Some(owner) = owner {
                        delete.and_where(Expr::exists(held_by(id, owner)));
                    }
                    drop_steps = Some(backend.build(&delete));
                }
            }
            Some(StateWrite::Extend {
                step: n,
                elapsed_ms,
                messages,
            }) => step = Some(step_insert(id, n, elapsed_ms, messages, owner)?),
            None => {}
        }
        if let Some(versions) = update.tool_versions {
            row = row.col_expr(C::ToolVersions, Expr::value(versions));
            row_changed = true;
        }
        if row_changed {
            writes.push(row.build(backend));
        }
        if let Some(step) = step {
            writes.push(backend.build(&step));
        }
        Ok(Self {
            drop_steps,
            writes,
            fenced: owner.is_some(),
        })
    }
}

/// `SELECT 1` of execution `id` while `owner` holds its lease and it runs.
fn held_by(id: i32, owner: &str) -> sea_orm::sea_query::SelectStatement {
    let mut held = Query::select();
    held.expr(Expr::val(1))
        .from(agent_executions::Entity)
        .and_where(Expr::col(C::Id).eq(id))
        .and_where(Expr::col(C::LeaseOwner).eq(owner))
        .and_where(Expr::col(C::Status).eq(Status::Running.as_str()));
    held
}

/// Stores events of execution `id` and then the row update that goes with them (a run's
/// checkpoint): what an execution's event log writes behind the run. On SQLite the
/// statements travel to the database in one round trip (each still commits on its own, as
/// separate writes would); on PostgreSQL they are sent one after the other. Returns
/// `Ok(false)` when the fenced writes found the run no longer held by `update.owner` (the
/// events before them are stored either way, as with separate writes).
pub async fn store_log(
    db: &DatabaseConnection,
    id: i32,
    events: &[NewEvent],
    update: RowUpdate,
) -> Result<bool, DbErr> {
    use sea_orm::QueryTrait;
    let backend = db.get_database_backend();
    if events.is_empty() || backend != sea_orm::DbBackend::Sqlite {
        append_events(db, id, events).await?;
        return update_run_row(db, id, update).await;
    }
    let row = RowWrites::of(backend, id, update)?;
    if row.writes.is_empty() || row.drop_steps.is_some() {
        append_events(db, id, events).await?;
        return write_row(db, row).await;
    }
    let insert = events_insert(id, events).build(backend);
    let mut sql = insert.sql;
    let mut values = insert.values.map(|v| v.0).unwrap_or_default();
    let writes = u64::try_from(row.writes.len()).unwrap_or(u64::MAX);
    for write in row.writes {
        sql.push_str("; ");
        sql.push_str(&write.sql);
        values.extend(write.values.map(|v| v.0).unwrap_or_default());
    }
    let all = sea_orm::Statement::from_sql_and_values(backend, sql, values);
    // SQLite reports the rows all the statements changed: the events, then 1 per write made
    // (the writes share one fence: all of them are made, or none).
    let changed = db.execute_raw(all).await?.rows_affected();
    let inserted = u64::try_from(events.len()).unwrap_or(u64::MAX);
    Ok(!row.fenced || changed >= inserted.saturating_add(writes))
}

/// Writes `update` to execution `id`: an UPDATE by primary key and/or the INSERT of a step
/// (nothing when it is empty). Fenced by `update.owner` when set: `Ok(false)`, and nothing
/// written, when that instance no longer holds the lease of a running row (a cut-off
/// instance never overwrites a peer's progress).
pub async fn update_run_row(
    db: &impl ConnectionTrait,
    id: i32,
    update: RowUpdate,
) -> Result<bool, DbErr> {
    write_row(db, RowWrites::of(db.get_database_backend(), id, update)?).await
}

async fn write_row(db: &impl ConnectionTrait, row: RowWrites) -> Result<bool, DbErr> {
    if let Some(delete) = row.drop_steps {
        db.execute_raw(delete).await?;
    }
    for write in row.writes {
        if db.execute_raw(write).await?.rows_affected() == 0 && row.fenced {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Lets an execution that is still `from` run over its budgets (an admin's resume).
pub async fn allow_over_budget(
    db: &impl ConnectionTrait,
    id: i32,
    from: Status,
) -> Result<(), DbErr> {
    agent_executions::Entity::update_many()
        .col_expr(C::AllowOverBudget, Expr::value(true))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(from.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// Puts a stopped execution that is still `from` back in the queue (`pending`, its error,
/// lease, pause reason and end time cleared; its `runState` replaced by `state` when given,
/// the steps stored apart with it)
/// and appends `events` after its last one, in one transaction. Returns the first seq used,
/// or `None` (and writes nothing) when the row is no longer `from`.
pub async fn reopen(
    db: &DatabaseConnection,
    id: i32,
    from: Status,
    state: Option<Value>,
    events: &[NewEvent],
) -> Result<Option<i64>, DbErr> {
    let ts = now();
    let txn = db.begin().await?;
    let mut update = agent_executions::Entity::update_many()
        .col_expr(C::Status, Expr::value(Status::Pending.as_str()))
        .col_expr(C::ErrorMessage, Expr::value(Option::<String>::None))
        .col_expr(C::ErrorCode, Expr::value(Option::<String>::None))
        .col_expr(C::ErrorDetails, Expr::value(Option::<Value>::None))
        .col_expr(C::PausedReason, Expr::value(Option::<String>::None))
        .col_expr(
            C::CompletedAt,
            Expr::value(Option::<DateTime<FixedOffset>>::None),
        )
        .col_expr(C::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(
            C::LeaseExpiresAt,
            Expr::value(Option::<DateTime<FixedOffset>>::None),
        )
        .col_expr(C::CancelRequested, Expr::value(false))
        .col_expr(C::UpdatedAt, Expr::value(ts))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(from.as_str()));
    let replaced = state.is_some();
    if let Some(state) = state {
        update = update.col_expr(C::RunState, Expr::value(state));
    }
    if update.exec(&txn).await?.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(None);
    }
    if replaced {
        // The whole state was given: the steps stored apart are part of what it replaces.
        execution_checkpoints::Entity::delete_many()
            .filter(execution_checkpoints::Column::ExecutionId.eq(id))
            .exec(&txn)
            .await?;
    }
    let first = max_seq(&txn, id).await? + 1;
    append_numbered(&txn, id, first, events).await?;
    txn.commit().await?;
    Ok(Some(first))
}

/// Appends `events` numbered from `first`.
async fn append_numbered(
    db: &impl ConnectionTrait,
    id: i32,
    first: i64,
    events: &[NewEvent],
) -> Result<(), DbErr> {
    append_events(db, id, &numbered(first, events)).await
}

/// `events` numbered from `first` on.
fn numbered(first: i64, events: &[NewEvent]) -> Vec<NewEvent> {
    events
        .iter()
        .zip(first..)
        .map(|(event, seq)| NewEvent {
            seq,
            ..event.clone()
        })
        .collect()
}

/// The highest event seq of an execution (0 when it has none).
pub async fn max_seq(db: &impl ConnectionTrait, execution_id: i32) -> Result<i64, DbErr> {
    let max: Option<Option<i64>> = execution_events::Entity::find()
        .select_only()
        .expr(Expr::col(execution_events::Column::Seq).max())
        .filter(execution_events::Column::ExecutionId.eq(execution_id))
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// One event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// Position in the execution's log.
    pub seq: i64,
    /// The event type.
    pub kind: &'static str,
    /// The event's fields.
    pub data: Value,
    /// When it happened.
    pub created_at: DateTime<FixedOffset>,
}

/// Appends events to an execution's log.
pub async fn append_events(
    db: &impl ConnectionTrait,
    execution_id: i32,
    events: &[NewEvent],
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    events_insert(execution_id, events)
        .exec_without_returning(db)
        .await
        .map(|_| ())
}

/// The INSERT of events (not empty) of one execution.
fn events_insert(
    execution_id: i32,
    events: &[NewEvent],
) -> sea_orm::InsertMany<execution_events::ActiveModel> {
    let rows = events.iter().map(|e| execution_events::ActiveModel {
        id: NotSet,
        execution_id: Set(execution_id),
        seq: Set(e.seq),
        r#type: Set(e.kind.to_owned()),
        data: Set(e.data.clone()),
        created_at: Set(e.created_at),
    });
    execution_events::Entity::insert_many(rows)
}

/// The result of a run, written in one UPDATE.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    /// Terminal status.
    pub status: Option<Status>,
    /// Output (text as a JSON string, or the structured object).
    pub output: Option<Value>,
    /// Output as text.
    pub output_text: Option<String>,
    /// Run time in milliseconds (None if it never ran).
    pub execution_time_ms: Option<i64>,
    /// Prompt tokens.
    pub input_tokens: i64,
    /// Generated tokens.
    pub output_tokens: i64,
    /// Prompt tokens read from the cache.
    pub cache_read_tokens: i64,
    /// Prompt tokens written to the cache.
    pub cache_write_tokens: i64,
    /// Usage and cost per model (`tokenUsage.byModel`), when a model answered.
    pub usage_by_model: Option<Value>,
    /// Cost in USD.
    pub estimated_cost: Option<f64>,
    /// Where the cost comes from.
    pub cost_source: Option<String>,
    /// Error message.
    pub error_message: Option<String>,
    /// Error code.
    pub error_code: Option<String>,
    /// Error details.
    pub error_details: Option<Value>,
    /// Seq of the first final event; `None` numbers them after the last stored one.
    pub first_seq: Option<i64>,
    /// Count the run into this agent's metrics, in the same transaction.
    pub count_for_agent: Option<i32>,
    /// Usage of the run and all its descendants (`{inputTokens, outputTokens, totalTokens,
    /// estimatedCost}`), when the run ran.
    pub aggregate_usage: Option<Value>,
    /// Why a `paused` run is paused (`budget`).
    pub paused_reason: Option<String>,
    /// Fencing of a running execution: write only if this is still its lease owner.
    pub lease_owner: Option<String>,
    /// Fencing of a recovery: write only if the lease expired before this time.
    pub lease_expired_before: Option<DateTime<FixedOffset>>,
    /// Give back the budget reservations the run still holds (it was ended by someone else
    /// than its loop, which may have died mid-call), in the same transaction.
    pub release_reservations: bool,
    /// The run's checkpoint and tool versions not written yet (its event log's last row
    /// update), written by the same UPDATE.
    pub row: RowUpdate,
    /// The reservation of the run's last model call, to settle in the same transaction (on
    /// SQLite; elsewhere [`Finishing::SettleFirst`]).
    pub settle: Option<super::budgets::Settlement>,
}

/// Whether the ending of a run on `db` settles the reservation of its last model call
/// ([`Finished::settle`]) in its own transaction: on SQLite, in the ending's first round trip.
/// On PostgreSQL a settlement locks the budgets first, and is better made before the ending
/// (the events the ending stores would wait for it).
pub fn ending_settles(db: &impl ConnectionTrait) -> bool {
    !super::is_postgres(db)
}

/// What [`finish`] did.
#[derive(Debug)]
pub enum Finishing {
    /// Written: the seq of the first final event, and the row as written.
    Done(i64, Box<agent_executions::Model>),
    /// Nothing written: the execution is no longer in one of the given statuses, or no
    /// longer this instance's.
    Lost,
    /// Nothing written: settle [`Finished::settle`] first (with its own budget warnings),
    /// then finish without it. Where the settlement cannot travel with the ending, or when
    /// it took a budget past its `warnAt` (its `budget_warning` must precede the final
    /// events).
    SettleFirst,
}

/// Moves an execution from one of `from` to its terminal state (or a waiting one), appends its last events and
/// counts it into its agent's metrics (atomic increments), in one transaction. The events are
/// numbered from `first_seq`, or after the execution's last stored seq; the first seq used and
/// the finished row are returned ([`Finishing::Done`]). Writes nothing when the row is no
/// longer in one of `from` (someone else finished it) or fails the lease fencing of `result`
/// ([`Finishing::Lost`]), or when the caller must settle `result.settle` itself first
/// ([`Finishing::SettleFirst`]).
pub async fn finish(
    db: &DatabaseConnection,
    id: i32,
    from: &[Status],
    result: &Finished,
    events: &[NewEvent],
) -> Result<Finishing, DbErr> {
    let status = result.status.unwrap_or(Status::Failed);
    let writes = FinishWrites::of(id, from, result, status)?;
    if let (false, Some(first), false) = (
        super::is_postgres(db),
        result.first_seq,
        result.release_reservations,
    ) {
        return finish_sqlite(db, id, result, status, writes, first, events).await;
    }
    if result.settle.is_some() {
        return Ok(Finishing::SettleFirst);
    }
    let txn = db.begin().await?;
    if let Some(delete) = writes.drop_steps {
        delete.exec(&txn).await?;
    }
    let updated = writes.update.exec_with_returning(&txn).await?;
    let Some(row) = updated.into_iter().next() else {
        txn.rollback().await?;
        return Ok(Finishing::Lost);
    };
    if let Some(step) = writes.step {
        txn.execute_raw(txn.get_database_backend().build(&step))
            .await?;
    }
    let first = match result.first_seq {
        Some(seq) => seq,
        None => max_seq(&txn, id).await? + 1,
    };
    append_numbered(&txn, id, first, events).await?;
    if result.release_reservations {
        super::budgets::release_run(&txn, id).await?;
    }
    if let Some(agent_id) = result.count_for_agent {
        let succeeded = status == Status::Completed;
        let duration = result.execution_time_ms.unwrap_or(0);
        super::agents::record_execution(&txn, agent_id, succeeded, duration).await?;
    }
    txn.commit().await?;
    Ok(Finishing::Done(first, Box::new(row)))
}

/// [`finish`] on SQLite when the events' numbering is known and no reservation is left to
/// give back (a run ending through its own log): two round trips, the fenced UPDATE (with the
/// settlement of the last call) and then everything else with the COMMIT.
async fn finish_sqlite(
    db: &DatabaseConnection,
    id: i32,
    result: &Finished,
    status: Status,
    writes: FinishWrites,
    first: i64,
    events: &[NewEvent],
) -> Result<Finishing, DbErr> {
    use sea_orm::{FromQueryResult, QueryTrait};
    let backend = sea_orm::DbBackend::Sqlite;
    let mut txn = super::batch::SqliteTransaction::open(db).await?;
    let mut update = writes.update.into_query();
    update.returning_all();
    let mut opening = vec![backend.build(&update)];
    if let Some(settle) = &result.settle {
        opening.extend(settle.sqlite_statements(id));
    }
    let returned = txn.run(opening).await?;
    // The execution's row (when the fence let the UPDATE through), then the settled budgets.
    let (own, settled): (Vec<_>, Vec<_>) = returned
        .iter()
        .partition(|r| r.try_get::<String>("", "agent_slug").is_ok());
    let Some(row) = own.first() else {
        txn.rollback().await?;
        return Ok(Finishing::Lost);
    };
    if let Some(settle) = &result.settle {
        for budget in settled {
            if settle.may_warn(&crate::entities::budgets::Model::from_query_result(
                budget, "",
            )?) {
                txn.rollback().await?;
                return Ok(Finishing::SettleFirst);
            }
        }
    }
    let row = agent_executions::Model::from_query_result(row, "")?;
    let mut rest = Vec::new();
    if let Some(delete) = writes.drop_steps {
        rest.push(delete.build(backend));
    }
    if let Some(step) = writes.step {
        rest.push(backend.build(&step));
    }
    if !events.is_empty() {
        rest.push(events_insert(id, &numbered(first, events)).build(backend));
    }
    if let Some(agent_id) = result.count_for_agent {
        let succeeded = status == Status::Completed;
        let duration = result.execution_time_ms.unwrap_or(0);
        rest.push(super::agents::execution_recorded(agent_id, succeeded, duration).build(backend));
    }
    txn.commit(rest).await?;
    Ok(Finishing::Done(first, Box::new(row)))
}

/// `update` also writing `result`'s run time, token usage and cost.
fn with_usage(
    update: sea_orm::UpdateMany<agent_executions::Entity>,
    result: &Finished,
) -> sea_orm::UpdateMany<agent_executions::Entity> {
    update
        .col_expr(C::ExecutionTimeMs, Expr::value(result.execution_time_ms))
        .col_expr(C::InputTokens, Expr::value(result.input_tokens))
        .col_expr(C::OutputTokens, Expr::value(result.output_tokens))
        .col_expr(C::CacheReadTokens, Expr::value(result.cache_read_tokens))
        .col_expr(C::CacheWriteTokens, Expr::value(result.cache_write_tokens))
        .col_expr(C::UsageByModel, Expr::value(result.usage_by_model.clone()))
        .col_expr(
            C::TotalTokens,
            Expr::value(
                result.input_tokens
                    + result.output_tokens
                    + result.cache_read_tokens
                    + result.cache_write_tokens,
            ),
        )
        .col_expr(C::EstimatedCost, Expr::value(result.estimated_cost))
        .col_expr(C::CostSource, Expr::value(result.cost_source.clone()))
}

/// What [`finish`] writes besides the events: the fenced UPDATE of the row and the
/// checkpoint its log had not stored (a whole state replaces the column, and the steps
/// before it; a step is inserted once the row is known to be this run's).
struct FinishWrites {
    update: sea_orm::UpdateMany<agent_executions::Entity>,
    drop_steps: Option<sea_orm::DeleteMany<execution_checkpoints::Entity>>,
    step: Option<sea_orm::sea_query::InsertStatement>,
}

impl FinishWrites {
    fn of(id: i32, from: &[Status], result: &Finished, status: Status) -> Result<Self, DbErr> {
        let ts = now();
        let mut update = agent_executions::Entity::update_many();
        if let Some(owner) = &result.lease_owner {
            update = update.filter(C::LeaseOwner.eq(owner.as_str()));
        }
        if let Some(before) = result.lease_expired_before {
            update = update.filter(C::LeaseExpiresAt.is_null().or(C::LeaseExpiresAt.lt(before)));
        }
        let (mut step, mut drop_steps) = (None, None);
        match result.row.run_state.clone() {
            Some(StateWrite::Replace {
                doc,
                drop_steps: drop,
            }) => {
                update = update.col_expr(C::RunState, Expr::value(doc));
                if drop {
                    drop_steps = Some(
                        execution_checkpoints::Entity::delete_many()
                            .filter(execution_checkpoints::Column::ExecutionId.eq(id)),
                    );
                }
            }
            Some(StateWrite::Extend {
                step: n,
                elapsed_ms,
                messages,
            }) => step = Some(step_insert(id, n, elapsed_ms, messages, None)?),
            None => {}
        }
        if let Some(versions) = &result.row.tool_versions {
            update = update.col_expr(C::ToolVersions, Expr::value(versions.clone()));
        }
        let update = with_usage(update, result)
            .col_expr(C::Status, Expr::value(status.as_str()))
            .col_expr(C::Output, Expr::value(result.output.clone()))
            .col_expr(C::OutputText, Expr::value(result.output_text.clone()))
            .col_expr(C::ErrorMessage, Expr::value(result.error_message.clone()))
            .col_expr(C::ErrorCode, Expr::value(result.error_code.clone()))
            .col_expr(C::ErrorDetails, Expr::value(result.error_details.clone()))
            .col_expr(
                C::AggregateUsage,
                Expr::value(result.aggregate_usage.clone()),
            )
            // A waiting run has not ended.
            .col_expr(
                C::CompletedAt,
                Expr::value(Some(ts).filter(|_| status.is_terminal())),
            )
            .col_expr(C::PausedReason, Expr::value(result.paused_reason.clone()))
            .col_expr(C::UpdatedAt, Expr::value(ts))
            .col_expr(
                C::LeaseExpiresAt,
                Expr::value(Option::<DateTime<FixedOffset>>::None),
            )
            .filter(C::Id.eq(id))
            .filter(C::Status.is_in(from.iter().map(|s| s.as_str())));
        Ok(Self {
            update,
            drop_steps,
            step,
        })
    }
}

/// Stops a running execution to wait (`awaiting_approval`, `paused`): its usage and run
/// time so far are written, its lease released, and `events` appended (numbered from
/// `first_seq`, else after the last stored one), in one transaction. It has not ended: no end
/// time, no agent metrics. Returns the first seq used, or `None` when it was no longer
/// running.
pub async fn suspend(
    db: &DatabaseConnection,
    id: i32,
    result: &Finished,
    events: &[NewEvent],
) -> Result<Option<i64>, DbErr> {
    let status = result.status.unwrap_or(Status::AwaitingApproval);
    let txn = db.begin().await?;
    let mut update = agent_executions::Entity::update_many();
    if let Some(owner) = &result.lease_owner {
        update = update.filter(C::LeaseOwner.eq(owner.as_str()));
    }
    let updated = with_usage(update, result)
        .col_expr(C::Status, Expr::value(status.as_str()))
        .col_expr(
            C::AggregateUsage,
            Expr::value(result.aggregate_usage.clone()),
        )
        .col_expr(C::UpdatedAt, Expr::value(now()))
        .col_expr(C::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(
            C::LeaseExpiresAt,
            Expr::value(Option::<DateTime<FixedOffset>>::None),
        )
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(Status::Running.as_str()))
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(None);
    }
    let first = match result.first_seq {
        Some(seq) => seq,
        None => max_seq(&txn, id).await? + 1,
    };
    append_numbered(&txn, id, first, events).await?;
    txn.commit().await?;
    Ok(Some(first))
}

/// The completed executions of a conversation before `before_id`, oldest first (the last
/// `limit` of them): the history a new run of the conversation continues from.
pub async fn completed_in_conversation(
    db: &impl ConnectionTrait,
    conversation_id: &str,
    before_id: i32,
    limit: u64,
) -> Result<Vec<agent_executions::Model>, DbErr> {
    let mut rows = agent_executions::Entity::find()
        .filter(C::ConversationId.eq(conversation_id))
        .filter(C::Id.lt(before_id))
        .filter(C::Status.eq(Status::Completed.as_str()))
        .order_by_desc(C::Id)
        .limit(limit)
        .all(db)
        .await?;
    rows.reverse();
    Ok(rows)
}

/// The most recent executions, newest first (of one agent when `agent_id` is given).
pub async fn latest(
    db: &impl ConnectionTrait,
    agent_id: Option<i32>,
    limit: u64,
) -> Result<Vec<agent_executions::Model>, DbErr> {
    use sea_orm::QuerySelect;
    let mut select = agent_executions::Entity::find();
    if let Some(agent) = agent_id {
        select = select.filter(agent_executions::Column::AgentId.eq(agent));
    }
    select
        .order_by_desc(agent_executions::Column::CreatedAt)
        .order_by_desc(agent_executions::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Number of executions in each status.
pub async fn status_counts(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashMap<String, i64>, DbErr> {
    use sea_orm::QuerySelect;
    let rows: Vec<(String, i64)> = agent_executions::Entity::find()
        .select_only()
        .column(agent_executions::Column::Status)
        .column_as(agent_executions::Column::Id.count(), "n")
        .group_by(agent_executions::Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
/// Number of executions in each status (statuses with none are absent).
pub async fn count_by_status(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>, DbErr> {
    agent_executions::Entity::find()
        .select_only()
        .column(agent_executions::Column::Status)
        .column_as(agent_executions::Column::Id.count(), "count")
        .group_by(agent_executions::Column::Status)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn extend(step: u32, items: &[&str]) -> StateWrite {
        StateWrite::Extend {
            step,
            elapsed_ms: 7,
            messages: items.iter().map(|i| json!(i)).collect(),
        }
    }

    #[test]
    fn writes_merge_in_order() {
        let mut row = RowUpdate::default();
        row.merge(RowUpdate {
            run_state: Some(extend(1, &["a"])),
            ..RowUpdate::default()
        });
        row.merge(RowUpdate {
            run_state: Some(extend(2, &["b", "c"])),
            ..RowUpdate::default()
        });
        assert_eq!(row.run_state, Some(extend(2, &["a", "b", "c"])));
        row.merge(RowUpdate {
            run_state: Some(StateWrite::Replace {
                doc: json!({"step": 0, "messages": ["z"]}),
                drop_steps: true,
            }),
            ..RowUpdate::default()
        });
        row.merge(RowUpdate {
            run_state: Some(extend(3, &["y"])),
            ..RowUpdate::default()
        });
        assert_eq!(
            row.run_state,
            Some(StateWrite::Replace {
                doc: json!({"step": 3, "elapsedMs": 7, "messages": ["z", "y"]}),
                drop_steps: true,
            })
        );
    }
}
