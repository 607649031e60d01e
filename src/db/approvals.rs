//! Approvals: one row per tool call that waits for a person. A decision is one conditional
//! UPDATE (`… WHERE status = 'pending'`), so a call is decided exactly once whatever the
//! number of instances, clicks or sweepers.

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::Expr,
    sea_query::OnConflict,
};
use serde_json::Value;

use super::executions::{NewEvent, max_seq};
use crate::domain::approvals::ApprovalStatus;
use crate::domain::now;
use crate::entities::approvals;

use approvals::Column as C;

/// A call about to wait.
#[derive(Debug, Clone)]
pub struct NewApproval {
    /// The execution.
    pub execution_id: i32,
    /// The provider's call id.
    pub tool_call_id: String,
    /// The tool.
    pub tool_name: String,
    /// The input as the model sent it.
    pub input: Value,
    /// When it expires, if it does.
    pub expires_at: Option<DateTime<FixedOffset>>,
}

/// The approval of one call.
pub async fn find_for_call(
    db: &impl ConnectionTrait,
    execution_id: i32,
    tool_call_id: &str,
) -> Result<Option<approvals::Model>, DbErr> {
    approvals::Entity::find()
        .filter(C::ExecutionId.eq(execution_id))
        .filter(C::ToolCallId.eq(tool_call_id))
        .one(db)
        .await
}

/// One approval by id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<approvals::Model>, DbErr> {
    approvals::Entity::find_by_id(id).one(db).await
}

/// Inserts a pending approval, or returns the one the call already has (a run resumed
/// after a crash asks once).
pub async fn insert_pending(
    db: &impl ConnectionTrait,
    new: NewApproval,
) -> Result<approvals::Model, DbErr> {
    let ts = now();
    let row = approvals::ActiveModel {
        id: NotSet,
        execution_id: Set(new.execution_id),
        tool_call_id: Set(new.tool_call_id.clone()),
        tool_name: Set(new.tool_name),
        input: Set(new.input),
        status: Set(ApprovalStatus::Pending.as_str().to_owned()),
        decided_by: Set(None),
        decided_at: Set(None),
        comment: Set(None),
        expires_at: Set(new.expires_at),
        created_at: Set(ts),
        updated_at: Set(ts),
    };
    approvals::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([C::ExecutionId, C::ToolCallId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    find_for_call(db, new.execution_id, &new.tool_call_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("the approval just inserted".into()))
}

/// A decision.
#[derive(Debug, Clone)]
pub struct Decision {
    /// `approved`, `rejected` or `expired`.
    pub status: ApprovalStatus,
    /// Who decided (none for an expiry).
    pub by: Option<i32>,
    /// Their comment.
    pub comment: Option<String>,
    /// The edited input of an approval (replaces `input`).
    pub input: Option<Value>,
}

/// Decides a pending approval and appends `event` to its execution's log, in one
/// transaction. Returns the decided row and the event's seq, or `None` (nothing written)
/// when it was no longer pending.
pub async fn decide(
    db: &DatabaseConnection,
    id: i32,
    decision: &Decision,
    event: &NewEvent,
) -> Result<Option<(approvals::Model, i64)>, DbErr> {
    let ts = now();
    let txn = db.begin().await?;
    let mut update = approvals::Entity::update_many()
        .col_expr(C::Status, Expr::value(decision.status.as_str()))
        .col_expr(C::DecidedBy, Expr::value(decision.by))
        .col_expr(C::DecidedAt, Expr::value(ts))
        .col_expr(C::Comment, Expr::value(decision.comment.clone()))
        .col_expr(C::UpdatedAt, Expr::value(ts))
        .filter(C::Id.eq(id))
        .filter(C::Status.eq(ApprovalStatus::Pending.as_str()));
    if let Some(input) = &decision.input {
        update = update.col_expr(C::Input, Expr::value(input.clone()));
    }
    if update.exec(&txn).await?.rows_affected == 0 {
        txn.rollback().await?;
        return Ok(None);
    }
    let Some(row) = find_by_id(&txn, id).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    let seq = max_seq(&txn, row.execution_id).await? + 1;
    super::executions::append_events(
        &txn,
        row.execution_id,
        &[NewEvent {
            seq,
            ..event.clone()
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(Some((row, seq)))
}

/// Pending approvals of an execution, oldest first.
pub async fn pending_of(
    db: &impl ConnectionTrait,
    execution_id: i32,
) -> Result<Vec<approvals::Model>, DbErr> {
    approvals::Entity::find()
        .filter(C::ExecutionId.eq(execution_id))
        .filter(C::Status.eq(ApprovalStatus::Pending.as_str()))
        .order_by_asc(C::Id)
        .all(db)
        .await
}

/// How many approvals are pending (the navigation badge): one indexed count.
pub async fn count_pending(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    approvals::Entity::find()
        .filter(C::Status.eq(ApprovalStatus::Pending.as_str()))
        .count(db)
        .await
}

/// Pending approvals whose `expiresAt` has passed (at most `limit`).
pub async fn overdue(
    db: &impl ConnectionTrait,
    at: DateTime<FixedOffset>,
    limit: u64,
) -> Result<Vec<approvals::Model>, DbErr> {
    approvals::Entity::find()
        .filter(C::Status.eq(ApprovalStatus::Pending.as_str()))
        .filter(C::ExpiresAt.lt(at))
        .order_by_asc(C::ExpiresAt)
        .limit(limit)
        .all(db)
        .await
}

/// Pending approvals, oldest first, with their execution ids (the admin inbox).
pub async fn pending(
    db: &impl ConnectionTrait,
    limit: u64,
) -> Result<Vec<approvals::Model>, DbErr> {
    approvals::Entity::find()
        .filter(C::Status.eq(ApprovalStatus::Pending.as_str()))
        .order_by_asc(C::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The admin inbox: with no status, the pending ones (oldest first) then the decided ones
/// (newest first); else those of `status`. At most `limit` of each kind.
pub async fn inbox(
    db: &impl ConnectionTrait,
    status: Option<ApprovalStatus>,
    limit: u64,
) -> Result<Vec<approvals::Model>, DbErr> {
    let pending_wanted = status.is_none_or(|s| s == ApprovalStatus::Pending);
    let mut rows = if pending_wanted {
        pending(db, limit).await?
    } else {
        Vec::new()
    };
    if status != Some(ApprovalStatus::Pending) {
        let mut decided = approvals::Entity::find()
            .filter(C::Status.ne(ApprovalStatus::Pending.as_str()))
            .order_by_desc(C::Id)
            .limit(limit);
        if let Some(s) = status {
            decided = decided.filter(C::Status.eq(s.as_str()));
        }
        rows.extend(decided.all(db).await?);
    }
    Ok(rows)
}
