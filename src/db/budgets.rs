//! Budgets: their rows, and the reservations the runner makes against them.
//!
//! A reservation adds `amount` to `reserved` on every matching budget **where `spent +
//! reserved + amount <= limit`**, all or nothing, together with the period rollover of those
//! whose period has ended (spent back to 0; reservations in flight stay), and records who
//! holds it. On SQLite the update is one statement (writers are serialized, so the `NOT
//! EXISTS` over the matching rows and the update see the same state); on PostgreSQL the
//! matching rows are locked first and the update is rolled back when one has no room. Either
//! way concurrent runs can never reserve past a limit. A settlement is one UPDATE and one
//! DELETE (on SQLite the settlement of a run's last call travels with the run's ending,
//! `executions::finish`); only a call that takes a budget past its `warnAt` costs more.
//!
//! **Lock order.** A run matches several budgets (global, department, agent, project), and
//! an UPDATE of several rows locks them in the order it finds them, which on PostgreSQL
//! follows where the row versions lie in the table and changes as they are updated: two
//! runs locking the same two budgets in opposite orders would deadlock. So every
//! transaction that changes several budgets (reserve, settle, release) first locks them
//! with one `SELECT … ORDER BY id FOR UPDATE`: one global order, no cycle. SQLite has one
//! writer at a time and needs no locks (and its deferred transactions begin with the write).
//!
//! **Who holds what.** Each reservation is also a `budget_reservations` row per budget
//! (execution, budget, amount), written in the same transaction and deleted by its
//! settlement; `reserved_micros` is their sum. A run whose process died mid-call leaves its
//! rows: the recovery that ends the run gives them back in its own transaction
//! ([`release_run`]).

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use crate::domain::budgets::{self, BudgetInput, PAUSED_REASON, RunScope};
use crate::domain::executions::Status;
use crate::domain::now;
use crate::entities::{
    agent_executions, agents, budget_reservations as holds, budgets as rows, departments, projects,
};
use crate::error::{AppError, AppResult};

use rows::Column as C;

/// The row with this id.
pub async fn find_by_id(db: &impl ConnectionTrait, id: i32) -> Result<Option<rows::Model>, DbErr> {
    rows::Entity::find_by_id(id).one(db).await
}

/// Every budget, oldest first (the admin overview).
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<rows::Model>, DbErr> {
    rows::Entity::find().order_by_asc(C::Id).all(db).await
}

/// Active budgets that apply to a run of `scope`.
fn matching(scope: RunScope) -> Condition {
    let mut any = Condition::any().add(C::Scope.eq("global"));
    if let Some(id) = scope.department_id {
        any = any.add(C::Scope.eq("department").and(C::DepartmentId.eq(id)));
    }
    if let Some(id) = scope.agent_id {
        any = any.add(C::Scope.eq("agent").and(C::AgentId.eq(id)));
    }
    if let Some(id) = scope.project_id {
        any = any.add(C::Scope.eq("project").and(C::ProjectId.eq(id)));
    }
    Condition::all().add(C::IsActive.eq(true)).add(any)
}

/// Active budgets that apply to a run of `scope`, by id.
pub async fn matching_active(
    db: &impl ConnectionTrait,
    scope: RunScope,
) -> Result<Vec<rows::Model>, DbErr> {
    rows::Entity::find()
        .filter(matching(scope))
        .order_by_asc(C::Id)
        .all(db)
        .await
}

/// Starts a new period on the matching budgets whose period has ended at `at`: spent back to
/// 0, the warning re-armed. Reservations in flight stay (their calls are still running).
async fn roll_over(
    db: &impl ConnectionTrait,
    scope: RunScope,
    at: DateTime<FixedOffset>,
) -> Result<(), DbErr> {
    for period in budgets::PERIODS {
        let start = budgets::period_start(period, at);
        rows::Entity::update_many()
            .col_expr(C::SpentMicros, Expr::value(0i64))
            .col_expr(C::PeriodStart, Expr::value(start))
            .col_expr(
                C::WarnedPeriod,
                Expr::value(Option::<DateTime<FixedOffset>>::None),
            )
            .filter(matching(scope))
            .filter(C::Period.eq(period))
            .filter(C::PeriodStart.lt(start))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// What a reservation did.
#[derive(Debug, Clone, PartialEq)]
pub enum Reserved {
    /// Reserved `amount` on each of these budgets (none may match).
    Held {
        /// The budgets holding the reservation.
        ids: Vec<i32>,
        /// Micro-USD reserved on each.
        amount: i64,
    },
    /// This budget had no room: nothing was reserved.
    Refused(rows::Model),
}

/// A budget's period has ended at `at` (its spend starts again from 0).
fn period_ended(at: DateTime<FixedOffset>) -> Condition {
    let mut any = Condition::any();
    for period in budgets::PERIODS {
        let start = budgets::period_start(period, at);
        any = any.add(C::Period.eq(period).and(C::PeriodStart.lt(start)));
    }
    any
}

/// A budget's spend in the period containing `at`: 0 once its stored period has ended.
fn spent_now(at: DateTime<FixedOffset>) -> Expr {
    Expr::case(period_ended(at), 0i64)
        .finally(Expr::col(C::SpentMicros))
        .into()
}

/// The start of a budget's period at `at`.
fn period_start_now(at: DateTime<FixedOffset>) -> Expr {
    let mut case = sea_orm::sea_query::CaseStatement::new();
    for period in budgets::PERIODS {
        let start = budgets::period_start(period, at);
        case = case.case(
            C::Period.eq(period).and(C::PeriodStart.lt(start)),
            Expr::value(start),
        );
    }
    case.finally(Expr::col(C::PeriodStart)).into()
}

/// The rollover written with a reservation: a budget whose period ended at `at` starts a new
/// one (spent back to 0, the warning re-armed); reservations in flight stay (their calls are
/// still running).
fn with_rollover(
    update: sea_orm::UpdateMany<rows::Entity>,
    at: DateTime<FixedOffset>,
) -> sea_orm::UpdateMany<rows::Entity> {
    update
        .col_expr(C::SpentMicros, spent_now(at))
        .col_expr(C::PeriodStart, period_start_now(at))
        .col_expr(
            C::WarnedPeriod,
            Expr::case(period_ended(at), Option::<DateTime<FixedOffset>>::None)
                .finally(Expr::col(C::WarnedPeriod))
                .into(),
        )
}

/// On PostgreSQL, locks the budgets `filter` selects, in id order (see the module's
/// comment). SQLite serializes writers: nothing to lock, nothing read.
async fn lock_in_order(txn: &impl ConnectionTrait, filter: Condition) -> Result<(), DbErr> {
    if super::is_postgres(txn) {
        let _: Vec<i32> = rows::Entity::find()
            .select_only()
            .column(C::Id)
            .filter(filter)
            .order_by_asc(C::Id)
            .lock_exclusive()
            .into_tuple()
            .all(txn)
            .await?;
    }
    Ok(())
}

/// Reserves `amount` micro-USD for execution `execution_id` on every active budget matching
/// `scope`, all or nothing (see the module's comment). `force` (an admin's
/// `allowOverBudget`) reserves without the condition: the run's spend is still counted.
pub async fn reserve(
    db: &DatabaseConnection,
    execution_id: i32,
    scope: RunScope,
    amount: i64,
    force: bool,
) -> Result<Reserved, DbErr> {
    let at = now();
    let held = if super::is_postgres(db) {
        reserve_locked(db, execution_id, scope, amount, force, at).await?
    } else {
        reserve_sqlite(db, execution_id, scope, amount, force, at).await?
    };
    if let Some(ids) = held {
        return Ok(Reserved::Held { ids, amount });
    }
    // Nothing was reserved: no budget matches (the usual case without budgets: one read
    // more), or one has no room.
    if matching_active(db, scope).await?.is_empty() {
        return Ok(Reserved::Held {
            ids: Vec::new(),
            amount,
        });
    }
    roll_over(db, scope, at).await?;
    let now_matching = matching_active(db, scope).await?;
    match now_matching
        .iter()
        .find(|b| b.spent_micros + b.reserved_micros + amount > b.limit_micros)
    {
        Some(b) => Ok(Reserved::Refused(b.clone())),
        // The budgets changed meanwhile (one was raised, a call settled): try again.
        None => Box::pin(reserve(db, execution_id, scope, amount, force)).await,
    }
}

/// The reservation update: the rollover and `amount` more reserved on every budget matching
/// `scope`.
fn reservation(
    scope: RunScope,
    amount: i64,
    at: DateTime<FixedOffset>,
) -> sea_orm::UpdateMany<rows::Entity> {
    with_rollover(rows::Entity::update_many(), at)
        .col_expr(C::ReservedMicros, Expr::col(C::ReservedMicros).add(amount))
        .filter(matching(scope))
}

/// SQLite serializes writers, so one UPDATE is atomic: the rollover and the reservation on
/// every matching budget, provided none of them lacks room (`NOT EXISTS`). Its
/// `budget_reservations` rows are inserted by the next statement, for the same budgets when
/// the UPDATE changed any (`changes()`); both go in one transaction, in one round trip. The
/// budgets reserved on; `None` when no row was updated.
async fn reserve_sqlite(
    db: &DatabaseConnection,
    execution_id: i32,
    scope: RunScope,
    amount: i64,
    force: bool,
    at: DateTime<FixedOffset>,
) -> Result<Option<Vec<i32>>, DbErr> {
    let statements = sqlite_reservation(execution_id, scope, amount, force, at);
    let rows = super::batch::sqlite_transaction(db, statements).await?;
    let mut ids = rows
        .iter()
        .map(|r| r.try_get_by_index::<i32>(0))
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort_unstable();
    Ok((!ids.is_empty()).then_some(ids))
}

/// The two statements of [`reserve_sqlite`], written out: every model call of every run makes
/// them, and composing them with the query builder took longer (about 25 µs) than SQLite
/// takes to run them. They say what [`reservation`] and [`matching`] say, with the room
/// check of the module's comment (the budget tests run them on SQLite).
fn sqlite_reservation(
    execution_id: i32,
    scope: RunScope,
    amount: i64,
    force: bool,
    at: DateTime<FixedOffset>,
) -> Vec<sea_orm::Statement> {
    let starts: Vec<(&str, DateTime<FixedOffset>)> = budgets::PERIODS
        .iter()
        .map(|&period| (period, budgets::period_start(period, at)))
        .collect();
    let mut update = Sql::default();
    update.push(r#"UPDATE "budgets" SET "spent_micros" = CASE WHEN "#);
    update.period_ended("", &starts);
    update.push(r#" THEN 0 ELSE "spent_micros" END, "period_start" = CASE"#);
    for &(period, start) in &starts {
        update.push(&format!(
            r#" WHEN "period" = '{period}' AND "period_start" < "#
        ));
        update.bind(start);
        update.push(" THEN ");
        update.bind(start);
    }
    update.push(r#" ELSE "period_start" END, "warned_period" = CASE WHEN "#);
    update.period_ended("", &starts);
    update.push(r#" THEN NULL ELSE "warned_period" END, "reserved_micros" = "reserved_micros" + "#);
    update.bind(amount);
    update.push(" WHERE ");
    update.matching("", scope);
    if !force {
        update.push(r#" AND NOT EXISTS (SELECT 1 FROM "budgets" AS "b" WHERE "#);
        update.matching(r#""b"."#, scope);
        update.push(" AND CASE WHEN ");
        update.period_ended(r#""b"."#, &starts);
        update.push(r#" THEN 0 ELSE "b"."spent_micros" END + "b"."reserved_micros" + "#);
        update.bind(amount);
        update.push(r#" > "b"."limit_micros")"#);
    }
    update.push(r#" RETURNING "id""#);
    let mut insert = Sql::default();
    insert.push(
        r#"INSERT INTO "budget_reservations" ("execution_id", "budget_id", "amount_micros", "created_at") SELECT "#,
    );
    insert.bind(execution_id);
    insert.push(r#", "id", "#);
    insert.bind(amount);
    insert.push(", ");
    insert.bind(now());
    insert.push(r#" FROM "budgets" WHERE "#);
    insert.matching("", scope);
    insert.push(" AND changes() > 0");
    vec![update.statement(), insert.statement()]
}

/// A SQLite statement being written: its text and its bound values, in order.
#[derive(Default)]
struct Sql {
    text: String,
    values: Vec<sea_orm::Value>,
}

impl Sql {
    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn bind(&mut self, value: impl Into<sea_orm::Value>) {
        self.text.push('?');
        self.values.push(value.into());
    }

    /// [`period_ended`] of the row named by `prefix`, given each period's current `starts`.
    fn period_ended(&mut self, prefix: &str, starts: &[(&str, DateTime<FixedOffset>)]) {
        self.push("(");
        for (n, &(period, start)) in starts.iter().enumerate() {
            if n > 0 {
                self.push(" OR ");
            }
            self.push(&format!(
                r#"({prefix}"period" = '{period}' AND {prefix}"period_start" < "#
            ));
            self.bind(start);
            self.push(")");
        }
        self.push(")");
    }

    /// [`matching`] of the row named by `prefix`.
    fn matching(&mut self, prefix: &str, scope: RunScope) {
        self.push(&format!(r#"{prefix}"is_active" = "#));
        self.bind(true);
        self.push(&format!(r#" AND ({prefix}"scope" = 'global'"#));
        for (name, column, id) in [
            ("department", "department_id", scope.department_id),
            ("agent", "agent_id", scope.agent_id),
            ("project", "project_id", scope.project_id),
        ] {
            if let Some(id) = id {
                self.push(&format!(
                    r#" OR ({prefix}"scope" = '{name}' AND {prefix}"{column}" = "#
                ));
                self.bind(id);
                self.push(")");
            }
        }
        self.push(")");
    }

    fn statement(self) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(DbBackend::Sqlite, self.text, self.values)
    }
}

/// PostgreSQL: the matching budgets locked in id order, then rolled over and reserved on,
/// and the reservation's rows inserted, in one transaction; `None` (rolled back) when none
/// matches or one has no room afterwards.
async fn reserve_locked(
    db: &DatabaseConnection,
    execution_id: i32,
    scope: RunScope,
    amount: i64,
    force: bool,
    at: DateTime<FixedOffset>,
) -> Result<Option<Vec<i32>>, DbErr> {
    let txn = db.begin().await?;
    lock_in_order(&txn, matching(scope)).await?;
    let updated = reservation(scope, amount, at)
        .exec_with_returning(&txn)
        .await?;
    let room = updated
        .iter()
        .all(|b| force || b.spent_micros + b.reserved_micros <= b.limit_micros);
    if updated.is_empty() || !room {
        txn.rollback().await?;
        return Ok(None);
    }
    let mut ids: Vec<i32> = updated.iter().map(|b| b.id).collect();
    ids.sort_unstable();
    let created_at = now();
    holds::Entity::insert_many(ids.iter().map(|&budget_id| holds::ActiveModel {
        execution_id: Set(execution_id),
        budget_id: Set(budget_id),
        amount_micros: Set(amount),
        created_at: Set(created_at),
        ..Default::default()
    }))
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    Ok(Some(ids))
}

/// A model call's reservation, settled at what the call cost: `reserved` micro-USD given
/// back and `actual` spent, on each budget of `ids`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The budgets reserved on.
    pub ids: Vec<i32>,
    /// Micro-USD reserved on each.
    pub reserved: i64,
    /// Micro-USD the call cost.
    pub actual: i64,
}

impl Settlement {
    /// The UPDATE of the budgets and the DELETE of the execution's `budget_reservations`
    /// rows for them.
    fn writes(
        &self,
        execution_id: i32,
    ) -> (
        sea_orm::UpdateMany<rows::Entity>,
        sea_orm::DeleteMany<holds::Entity>,
    ) {
        let update = rows::Entity::update_many()
            .col_expr(
                C::ReservedMicros,
                Expr::col(C::ReservedMicros).sub(self.reserved),
            )
            .col_expr(C::SpentMicros, Expr::col(C::SpentMicros).add(self.actual))
            .filter(C::Id.is_in(self.ids.iter().copied()));
        let release = holds::Entity::delete_many()
            .filter(holds::Column::ExecutionId.eq(execution_id))
            .filter(holds::Column::BudgetId.is_in(self.ids.iter().copied()));
        (update, release)
    }

    /// The settlement as SQLite statements for a caller's transaction: the UPDATE (returning
    /// the budgets as settled) and the DELETE. Nothing when no budget was reserved on.
    pub(crate) fn sqlite_statements(&self, execution_id: i32) -> Vec<sea_orm::Statement> {
        if self.ids.is_empty() {
            return Vec::new();
        }
        let (update, release) = self.writes(execution_id);
        let mut update = update.into_query();
        update.returning_all();
        let backend = DbBackend::Sqlite;
        vec![backend.build(&update), backend.build(&release.into_query())]
    }

    /// Whether settling took budget `b` (as returned by the settlement) past its `warnAt`
    /// with no warning given yet this period: then someone must warn, once.
    pub fn may_warn(&self, b: &rows::Model) -> bool {
        let past = b.spent_micros as f64 >= b.warn_at * b.limit_micros as f64;
        self.actual > 0 && past && b.warned_period != Some(b.period_start)
    }
}

/// Settles execution `execution_id`'s reservation `settlement` and deletes its
/// `budget_reservations` rows. Returns the budgets whose spend crossed their `warnAt` for the
/// first time this period (at most one caller sees each crossing).
pub async fn settle(
    db: &DatabaseConnection,
    execution_id: i32,
    settlement: &Settlement,
) -> Result<Vec<rows::Model>, DbErr> {
    if settlement.ids.is_empty() {
        return Ok(Vec::new());
    }
    let settled = if super::is_postgres(db) {
        let (update, release) = settlement.writes(execution_id);
        let txn = db.begin().await?;
        let ids = settlement.ids.iter().copied();
        lock_in_order(&txn, Condition::all().add(C::Id.is_in(ids))).await?;
        let settled = update.exec_with_returning(&txn).await?;
        release.exec(&txn).await?;
        txn.commit().await?;
        settled
    } else {
        // One transaction in one round trip (SQLite serializes writers: nothing to lock).
        let statements = settlement.sqlite_statements(execution_id);
        super::batch::sqlite_transaction(db, statements)
            .await?
            .iter()
            .map(|r| rows::Model::from_query_result(r, ""))
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut crossed = Vec::new();
    for b in settled {
        if !settlement.may_warn(&b) {
            continue;
        }
        // Several calls may cross together: the conditional UPDATE lets one of them warn.
        let warned = rows::Entity::update_many()
            .col_expr(C::WarnedPeriod, Expr::col(C::PeriodStart))
            .filter(C::Id.eq(b.id))
            .filter(
                Condition::any()
                    .add(C::WarnedPeriod.is_null())
                    .add(Expr::col(C::WarnedPeriod).ne(Expr::col(C::PeriodStart))),
            )
            .exec(db)
            .await?;
        if warned.rows_affected > 0 {
            crossed.push(b);
        }
    }
    Ok(crossed)
}

/// Gives back every reservation execution `execution_id` still holds (its process died
/// mid-call), inside the caller's transaction: the one that takes the run over. Returns the
/// micro-USD given back, summed over its budgets.
pub async fn release_run(txn: &impl ConnectionTrait, execution_id: i32) -> Result<i64, DbErr> {
    let held = holds::Entity::find()
        .filter(holds::Column::ExecutionId.eq(execution_id))
        .order_by_asc(holds::Column::BudgetId)
        .all(txn)
        .await?;
    if held.is_empty() {
        return Ok(0);
    }
    let mut per_budget: Vec<(i32, i64)> = Vec::new();
    for h in &held {
        match per_budget.last_mut() {
            Some((id, sum)) if *id == h.budget_id => *sum += h.amount_micros,
            _ => per_budget.push((h.budget_id, h.amount_micros)),
        }
    }
    lock_in_order(
        txn,
        Condition::all().add(C::Id.is_in(per_budget.iter().map(|(id, _)| *id))),
    )
    .await?;
    for &(id, amount) in &per_budget {
        rows::Entity::update_many()
            .col_expr(C::ReservedMicros, Expr::col(C::ReservedMicros).sub(amount))
            .filter(C::Id.eq(id))
            .exec(txn)
            .await?;
    }
    holds::Entity::delete_many()
        .filter(holds::Column::ExecutionId.eq(execution_id))
        .exec(txn)
        .await?;
    Ok(per_budget.iter().map(|(_, a)| a).sum())
}

/// The reservations execution `execution_id` holds (none between its model calls).
pub async fn held_by(
    db: &impl ConnectionTrait,
    execution_id: i32,
) -> Result<Vec<holds::Model>, DbErr> {
    holds::Entity::find()
        .filter(holds::Column::ExecutionId.eq(execution_id))
        .order_by_asc(holds::Column::BudgetId)
        .all(db)
        .await
}

/// Checks that the budget's relation exists (a field error otherwise).
async fn check_relation(db: &impl ConnectionTrait, input: &BudgetInput) -> AppResult<()> {
    let missing = |field: &str| AppError::field(field, "Must be the id of an existing document.");
    if let Some(id) = input.department_id
        && departments::Entity::find_by_id(id).one(db).await?.is_none()
    {
        return Err(missing("department"));
    }
    if let Some(id) = input.agent_id
        && agents::Entity::find_by_id(id).one(db).await?.is_none()
    {
        return Err(missing("agent"));
    }
    if let Some(id) = input.project_id
        && projects::Entity::find_by_id(id).one(db).await?.is_none()
    {
        return Err(missing("project"));
    }
    Ok(())
}

fn apply(mut row: rows::ActiveModel, input: BudgetInput) -> rows::ActiveModel {
    row.name = Set(input.name);
    row.scope = Set(input.scope);
    row.department_id = Set(input.department_id);
    row.agent_id = Set(input.agent_id);
    row.project_id = Set(input.project_id);
    row.period = Set(input.period);
    row.limit_micros = Set(input.limit_micros);
    row.warn_at = Set(input.warn_at);
    row.is_active = Set(input.is_active);
    row.updated_at = Set(now());
    row
}

/// Creates a budget; its period starts now (the current day or month).
pub async fn create(db: &impl ConnectionTrait, input: BudgetInput) -> AppResult<rows::Model> {
    check_relation(db, &input).await?;
    let start = budgets::period_start(&input.period, now());
    Ok(apply(
        rows::ActiveModel {
            spent_micros: Set(0),
            reserved_micros: Set(0),
            period_start: Set(start),
            warned_period: Set(None),
            created_at: Set(now()),
            ..Default::default()
        },
        input,
    )
    .insert(db)
    .await?)
}

/// Replaces a budget's settings; what it has spent this period stays. A changed period
/// starts over (its spend is the new period's from now on).
pub async fn update(
    db: &impl ConnectionTrait,
    id: i32,
    input: BudgetInput,
) -> AppResult<rows::Model> {
    check_relation(db, &input).await?;
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    let period_changed = existing.period != input.period;
    let mut row: rows::ActiveModel = existing.into();
    if period_changed {
        row.period_start = Set(budgets::period_start(&input.period, now()));
        row.spent_micros = Set(0);
        row.warned_period = Set(None);
    }
    Ok(apply(row, input).update(db).await?)
}

/// Sets `isActive`.
pub async fn set_active(
    db: &impl ConnectionTrait,
    id: i32,
    active: bool,
) -> AppResult<rows::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    let mut row: rows::ActiveModel = existing.into();
    row.is_active = Set(active);
    row.updated_at = Set(now());
    Ok(row.update(db).await?)
}

/// Deletes a budget.
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> AppResult<rows::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    rows::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// Runs paused by a budget within the scope of `budget`.
fn paused_in_scope(budget: &rows::Model) -> Condition {
    use agent_executions::Column as E;
    let base = Condition::all()
        .add(E::Status.eq(Status::Paused.as_str()))
        .add(E::PausedReason.eq(PAUSED_REASON))
        // A chain waits for its paused step, which is what resumes.
        .add(E::ChainId.is_null());
    match budget.scope.as_str() {
        "department" => base.add(E::DepartmentId.eq(budget.department_id)),
        "agent" => base.add(E::AgentId.eq(budget.agent_id)),
        "project" => base.add(E::ProjectId.eq(budget.project_id)),
        _ => base,
    }
}

/// Ids of the runs paused by a budget within the scope of `budget`, oldest first.
pub async fn paused_runs(
    db: &impl ConnectionTrait,
    budget: &rows::Model,
) -> Result<Vec<i32>, DbErr> {
    agent_executions::Entity::find()
        .select_only()
        .column(agent_executions::Column::Id)
        .filter(paused_in_scope(budget))
        .order_by_asc(agent_executions::Column::Id)
        .into_tuple()
        .all(db)
        .await
}

/// Number of runs paused by a budget within the scope of `budget`.
pub async fn paused_count(db: &impl ConnectionTrait, budget: &rows::Model) -> Result<u64, DbErr> {
    agent_executions::Entity::find()
        .filter(paused_in_scope(budget))
        .count(db)
        .await
}
