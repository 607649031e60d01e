//! Custom tools and the departments they are shared with.

use std::collections::HashMap;

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    TransactionSession, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use crate::domain::custom_tools::ToolInput;
use crate::domain::now;
use crate::entities::{custom_tool_departments as links, custom_tools, departments};
use crate::error::{AppError, AppResult};

/// The tool with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<custom_tools::Model>, DbErr> {
    custom_tools::Entity::find_by_id(id).one(db).await
}

/// The tool with this name.
pub async fn find_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<custom_tools::Model>, DbErr> {
    custom_tools::Entity::find()
        .filter(custom_tools::Column::ToolName.eq(name))
        .one(db)
        .await
}

/// Every tool name, for the agent form's multi-select.
pub async fn list_names(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    Ok(custom_tools::Entity::find()
        .order_by_asc(custom_tools::Column::ToolName)
        .all(db)
        .await?
        .into_iter()
        .map(|t| t.tool_name)
        .collect())
}

/// Department ids of each of `tool_ids`.
pub async fn department_ids(
    db: &impl ConnectionTrait,
    tool_ids: &[i32],
) -> Result<HashMap<i32, Vec<i32>>, DbErr> {
    let mut map: HashMap<i32, Vec<i32>> = HashMap::new();
    if tool_ids.is_empty() {
        return Ok(map);
    }
    for link in links::Entity::find()
        .filter(links::Column::ToolId.is_in(tool_ids.iter().copied()))
        .all(db)
        .await?
    {
        map.entry(link.tool_id)
            .or_default()
            .push(link.department_id);
    }
    Ok(map)
}

/// The tools an agent of `department_id` may use: active, and global or shared with the
/// department; when `names` is not empty, only those names.
pub async fn available_to(
    db: &impl ConnectionTrait,
    department_id: i32,
    names: &[String],
) -> Result<Vec<custom_tools::Model>, DbErr> {
    // One statement: the department's links are a subquery, not a round trip of their own.
    let shared = sea_orm::sea_query::Query::select()
        .column(links::Column::ToolId)
        .from(links::Entity)
        .and_where(Expr::col(links::Column::DepartmentId).eq(department_id))
        .to_owned();
    let mut query = custom_tools::Entity::find()
        .filter(custom_tools::Column::IsActive.eq(true))
        .filter(
            Condition::any()
                .add(custom_tools::Column::IsGlobal.eq(true))
                .add(custom_tools::Column::Id.in_subquery(shared)),
        );
    if !names.is_empty() {
        query = query.filter(custom_tools::Column::ToolName.is_in(names.iter().cloned()));
    }
    query
        .order_by_asc(custom_tools::Column::ToolName)
        .all(db)
        .await
}

fn apply(mut row: custom_tools::ActiveModel, input: &ToolInput) -> custom_tools::ActiveModel {
    row.tool_name = Set(input.tool_name.clone());
    row.display_name = Set(input.display_name.clone());
    row.description = Set(input.description.clone());
    row.input_schema = Set(input.input_schema.clone());
    row.example_inputs = Set(input.example_inputs.clone());
    row.execute_function = Set(input.execute_function.clone());
    row.is_global = Set(input.is_global);
    row.is_active = Set(input.is_active);
    row.timeout_ms = Set(input.timeout_ms);
    row.version = Set(input.version.clone());
    row.approval = Set(Some(input.approval.to_json()));
    row.updated_at = Set(now());
    row
}

async fn replace_links(
    db: &impl ConnectionTrait,
    tool_id: i32,
    department_ids: &[i32],
) -> AppResult<()> {
    let existing = departments::Entity::find()
        .filter(departments::Column::Id.is_in(department_ids.iter().copied()))
        .all(db)
        .await?;
    for (i, id) in department_ids.iter().enumerate() {
        if !existing.iter().any(|d| d.id == *id) {
            return Err(AppError::field(
                format!("departments.{i}"),
                "This department does not exist.",
            ));
        }
    }
    links::Entity::delete_many()
        .filter(links::Column::ToolId.eq(tool_id))
        .exec(db)
        .await?;
    if !department_ids.is_empty() {
        links::Entity::insert_many(department_ids.iter().map(|d| links::ActiveModel {
            tool_id: Set(tool_id),
            department_id: Set(*d),
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// Creates a tool with its department links.
pub async fn create(
    db: &impl TransactionTrait,
    input: ToolInput,
) -> AppResult<custom_tools::Model> {
    let txn = db.begin().await?;
    let row = apply(
        custom_tools::ActiveModel {
            total_calls: Set(0),
            failed_calls: Set(0),
            total_execution_time_ms: Set(0),
            created_at: Set(now()),
            ..Default::default()
        },
        &input,
    )
    .insert(&txn)
    .await
    .map_err(|e| super::unique_violation(e, "toolName"))?;
    replace_links(&txn, row.id, &input.departments).await?;
    txn.commit().await?;
    Ok(row)
}

/// Replaces a tool's fields and department links (metrics are kept).
pub async fn update(
    db: &impl TransactionTrait,
    id: i32,
    input: ToolInput,
) -> AppResult<custom_tools::Model> {
    let txn = db.begin().await?;
    let existing = find_by_id(&txn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let row = apply(existing.into(), &input)
        .update(&txn)
        .await
        .map_err(|e| super::unique_violation(e, "toolName"))?;
    replace_links(&txn, id, &input.departments).await?;
    txn.commit().await?;
    Ok(row)
}

/// Deletes a tool (agents naming it get a warning when they run).
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> AppResult<custom_tools::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    custom_tools::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// Counts one call into the tool's metrics with a single atomic UPDATE.
pub async fn record_call(
    db: &impl ConnectionTrait,
    id: i32,
    failed: bool,
    duration_ms: i64,
) -> Result<(), DbErr> {
    use custom_tools::Column as C;
    custom_tools::Entity::update_many()
        .col_expr(C::TotalCalls, Expr::col(C::TotalCalls).add(1))
        .col_expr(
            C::FailedCalls,
            Expr::col(C::FailedCalls).add(i64::from(failed)),
        )
        .col_expr(
            C::TotalExecutionTimeMs,
            Expr::col(C::TotalExecutionTimeMs).add(Ord::max(duration_ms, 0)),
        )
        .filter(C::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Every tool by name (the agent form's tool choices).
pub async fn list_all(db: &impl ConnectionTrait) -> Result<Vec<custom_tools::Model>, DbErr> {
    custom_tools::Entity::find()
        .order_by_asc(custom_tools::Column::ToolName)
        .order_by_asc(custom_tools::Column::Id)
        .all(db)
        .await
}

/// Sets `isActive` (the list page's inline toggle).
pub async fn set_active(
    db: &impl ConnectionTrait,
    id: i32,
    active: bool,
) -> AppResult<custom_tools::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    let mut row: custom_tools::ActiveModel = existing.into();
    row.is_active = Set(active);
    row.updated_at = Set(now());
    Ok(row.update(db).await?)
}
