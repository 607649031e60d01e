//! Departments.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder,
};

use crate::domain::departments::DepartmentInput;
use crate::domain::now;
use crate::entities::{agents, departments};
use crate::error::{AppError, AppResult};

/// The department with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<departments::Model>, DbErr> {
    departments::Entity::find_by_id(id).one(db).await
}

/// The department with this slug.
pub async fn find_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> Result<Option<departments::Model>, DbErr> {
    departments::Entity::find()
        .filter(departments::Column::Slug.eq(slug))
        .one(db)
        .await
}

/// The departments with these ids (any order; unknown ids are skipped).
pub async fn find_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i32],
) -> Result<Vec<departments::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    departments::Entity::find()
        .filter(departments::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

/// Every department, by priority then name (for selects and pickers; departments are few).
pub async fn list_all(db: &impl ConnectionTrait) -> Result<Vec<departments::Model>, DbErr> {
    departments::Entity::find()
        .order_by_asc(departments::Column::Priority)
        .order_by_asc(departments::Column::Name)
        .all(db)
        .await
}

fn apply(mut row: departments::ActiveModel, input: DepartmentInput) -> departments::ActiveModel {
    row.slug = Set(input.slug);
    row.name = Set(input.name);
    row.description = Set(input.description);
    row.icon = Set(input.icon);
    row.color = Set(input.color);
    row.priority = Set(input.priority);
    row.is_active = Set(input.is_active);
    row.core_department = Set(input.core_department);
    row.default_model = Set(input.default_model);
    row.max_agent_steps = Set(input.max_agent_steps);
    row.fallback_models = Set(crate::domain::routing::models_json(&input.fallback_models));
    row.updated_at = Set(now());
    row
}

/// Creates a department.
pub async fn create(
    db: &impl ConnectionTrait,
    input: DepartmentInput,
) -> AppResult<departments::Model> {
    let row = apply(
        departments::ActiveModel {
            created_at: Set(now()),
            ..Default::default()
        },
        input,
    );
    row.insert(db)
        .await
        .map_err(|e| super::unique_violation(e, "slug"))
}

/// Replaces a department's fields.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i32,
    input: DepartmentInput,
) -> AppResult<departments::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    apply(existing.into(), input)
        .update(db)
        .await
        .map_err(|e| super::unique_violation(e, "slug"))
}

/// Number of agents in a department.
pub async fn count_agents(db: &impl ConnectionTrait, id: i32) -> Result<u64, DbErr> {
    agents::Entity::find()
        .filter(agents::Column::DepartmentId.eq(id))
        .count(db)
        .await
}

/// Deletes a department, unless it is a core department or agents still belong to it.
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> AppResult<departments::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    if existing.core_department {
        return Err(AppError::Conflict(format!(
            "The department “{}” is a core department and cannot be deleted.",
            existing.name
        )));
    }
    let agents = count_agents(db, id).await?;
    if agents > 0 {
        return Err(AppError::Conflict(format!(
            "The department “{}” cannot be deleted: {agents} agent{} still belong{} to it. Move or delete them first.",
            existing.name,
            if agents == 1 { "" } else { "s" },
            if agents == 1 { "s" } else { "" },
        )));
    }
    departments::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// Number of agents of each department.
pub async fn agent_counts(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashMap<i32, i64>, DbErr> {
    use sea_orm::QuerySelect;
    let rows: Vec<(i32, i64)> = agents::Entity::find()
        .select_only()
        .column(agents::Column::DepartmentId)
        .column_as(agents::Column::Id.count(), "n")
        .group_by(agents::Column::DepartmentId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Sets `isActive` (the list page's inline toggle).
pub async fn set_active(
    db: &impl ConnectionTrait,
    id: i32,
    active: bool,
) -> AppResult<departments::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    let mut row: departments::ActiveModel = existing.into();
    row.is_active = Set(active);
    row.updated_at = Set(now());
    Ok(row.update(db).await?)
}
