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

/// What the admin's project list is filtered by.
#[derive(Debug, Clone, Default)]
pub struct ProjectFilter {
    /// Text in the name, slug, genre or description.
    pub q: String,
    /// Only this status.
    pub status: Option<String>,
}

fn filtered(filter: &ProjectFilter) -> sea_orm::Select<projects::Entity> {
    use super::list::contains;
    let mut select = projects::Entity::find();
    if !filter.q.is_empty() {
        select = select.filter(
            sea_orm::Condition::any()
                .add(contains(projects::Column::Name, &filter.q))
                .add(contains(projects::Column::Slug, &filter.q))
                .add(contains(projects::Column::Genre, &filter.q))
                .add(contains(projects::Column::Description, &filter.q)),
        );
    }
    if let Some(status) = &filter.status {
        select = select.filter(projects::Column::Status.eq(status.as_str()));
    }
    select
}

/// One page of projects for the admin list. Sort keys: `name` (default), `slug`, `genre`,
/// `status`, `updated`.
pub async fn search(
    db: &impl ConnectionTrait,
    filter: &ProjectFilter,
    sort: &super::list::Sort,
    limit: u64,
    page: u64,
) -> Result<super::Page<projects::Model>, DbErr> {
    use projects::Column as C;
    let column = match sort.key.as_str() {
        "slug" => C::Slug,
        "genre" => C::Genre,
        "status" => C::Status,
        "updated" => C::UpdatedAt,
        _ => C::Name,
    };
    let select = super::list::order_by(filtered(filter), column, sort, C::Id);
    super::paginate(db, select, limit, page).await
}

/// Ids of every project matching the filter (for "delete all matching").
pub async fn matching_ids(
    db: &impl ConnectionTrait,
    filter: &ProjectFilter,
) -> Result<Vec<i32>, DbErr> {
    use sea_orm::QuerySelect;
    filtered(filter)
        .select_only()
        .column(projects::Column::Id)
        .into_tuple()
        .all(db)
        .await
}
