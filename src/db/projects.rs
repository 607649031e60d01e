//! Projects.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use crate::domain::now;
use crate::domain::projects::ProjectInput;
use crate::entities::projects;
use crate::error::{AppError, AppResult};

/// The project with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<projects::Model>, DbErr> {
    projects::Entity::find_by_id(id).one(db).await
}

/// The projects with these ids (any order; unknown ids are skipped).
pub async fn find_by_ids(
    db: &impl ConnectionTrait,
    ids: &[i32],
) -> Result<Vec<projects::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    projects::Entity::find()
        .filter(projects::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}

/// The project with this slug.
pub async fn find_by_slug(
    db: &impl ConnectionTrait,
    slug: &str,
) -> Result<Option<projects::Model>, DbErr> {
    projects::Entity::find()
        .filter(projects::Column::Slug.eq(slug))
        .one(db)
        .await
}

/// Every project by name, for pickers (at most `limit`).
pub async fn list_for_picker(db: &impl ConnectionTrait) -> Result<Vec<projects::Model>, DbErr> {
    use sea_orm::QuerySelect;
    projects::Entity::find()
        .order_by_asc(projects::Column::Name)
        .limit(500)
        .all(db)
        .await
}

fn apply(mut row: projects::ActiveModel, input: ProjectInput) -> projects::ActiveModel {
    row.name = Set(input.name);
    row.slug = Set(input.slug);
    row.description = Set(input.description);
    row.genre = Set(input.genre);
    row.status = Set(input.status);
    row.metadata = Set(input.metadata);
    row.updated_at = Set(now());
    row
}

/// Creates a project.
pub async fn create(db: &impl ConnectionTrait, input: ProjectInput) -> AppResult<projects::Model> {
    apply(
        projects::ActiveModel {
            created_at: Set(now()),
            ..Default::default()
        },
        input,
    )
    .insert(db)
    .await
    .map_err(|e| super::unique_violation(e, "slug"))
}

/// Replaces a project's fields.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i32,
    input: ProjectInput,
) -> AppResult<projects::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    apply(existing.into(), input)
        .update(db)
        .await
        .map_err(|e| super::unique_violation(e, "slug"))
}

/// Deletes a project and its tool documents (executions keep their history).
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> AppResult<projects::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    projects::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}
