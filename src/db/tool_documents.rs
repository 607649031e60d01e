//! Documents written by custom tools, always addressed through their project.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Select,
};
use serde_json::Value;

use crate::domain::now;
use crate::entities::tool_documents;

/// Most documents of one collection a tool query considers.
pub const MAX_SCAN: u64 = 10_000;

/// The document `id` if it belongs to `project_id` and `collection`.
pub async fn find_in_project(
    db: &impl ConnectionTrait,
    project_id: i32,
    collection: &str,
    id: i32,
) -> Result<Option<tool_documents::Model>, DbErr> {
    tool_documents::Entity::find_by_id(id)
        .filter(tool_documents::Column::ProjectId.eq(project_id))
        .filter(tool_documents::Column::Collection.eq(collection))
        .one(db)
        .await
}

/// Every document of one collection in one project, as a query to narrow further (the
/// JSON API adds its `where`, sort and pagination).
pub fn scoped(project_id: i32, collection: &str) -> Select<tool_documents::Entity> {
    tool_documents::Entity::find()
        .filter(tool_documents::Column::ProjectId.eq(project_id))
        .filter(tool_documents::Column::Collection.eq(collection))
}

/// The documents of a collection in a project, oldest first (at most [`MAX_SCAN`]).
pub async fn all_in_collection(
    db: &impl ConnectionTrait,
    project_id: i32,
    collection: &str,
) -> Result<Vec<tool_documents::Model>, DbErr> {
    tool_documents::Entity::find()
        .filter(tool_documents::Column::ProjectId.eq(project_id))
        .filter(tool_documents::Column::Collection.eq(collection))
        .order_by_asc(tool_documents::Column::Id)
        .limit(MAX_SCAN)
        .all(db)
        .await
}

/// Creates a document.
pub async fn create(
    db: &impl ConnectionTrait,
    project_id: i32,
    collection: &str,
    data: Value,
) -> Result<tool_documents::Model, DbErr> {
    let ts = now();
    tool_documents::ActiveModel {
        collection: Set(collection.to_owned()),
        project_id: Set(project_id),
        data: Set(data),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Replaces a document's data.
pub async fn replace_data(
    db: &impl ConnectionTrait,
    doc: tool_documents::Model,
    data: Value,
) -> Result<tool_documents::Model, DbErr> {
    let mut row: tool_documents::ActiveModel = doc.into();
    row.data = Set(data);
    row.updated_at = Set(now());
    row.update(db).await
}

/// Deletes a document.
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> Result<(), DbErr> {
    tool_documents::Entity::delete_by_id(id)
        .exec(db)
        .await
        .map(|_| ())
}

#[derive(Debug, FromQueryResult)]
struct CollectionRow {
    collection: String,
}

/// The collection names in use, for the admin's tool-data browser.
pub async fn collection_names(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    Ok(tool_documents::Entity::find()
        .select_only()
        .column(tool_documents::Column::Collection)
        .distinct()
        .order_by_asc(tool_documents::Column::Collection)
        .into_model::<CollectionRow>()
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.collection)
        .collect())
}

/// What the admin's tool-data browser is filtered by.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    /// Text anywhere in the document's JSON.
    pub q: String,
    /// Only this collection.
    pub collection: Option<String>,
    /// Only this project.
    pub project_id: Option<i32>,
}

fn filtered(filter: &DocumentFilter) -> sea_orm::Select<tool_documents::Entity> {
    let mut select = tool_documents::Entity::find();
    if !filter.q.is_empty() {
        select = select.filter(super::list::json_contains(
            tool_documents::Column::Data,
            &filter.q,
        ));
    }
    if let Some(collection) = &filter.collection {
        select = select.filter(tool_documents::Column::Collection.eq(collection.as_str()));
    }
    if let Some(project) = filter.project_id {
        select = select.filter(tool_documents::Column::ProjectId.eq(project));
    }
    select
}

/// One page of tool documents for the admin. Sort keys: `updated` (default), `created`,
/// `collection`, `id`.
pub async fn search(
    db: &impl ConnectionTrait,
    filter: &DocumentFilter,
    sort: &super::list::Sort,
    limit: u64,
    page: u64,
) -> Result<super::Page<tool_documents::Model>, DbErr> {
    use tool_documents::Column as C;
    let column = match sort.key.as_str() {
        "created" => C::CreatedAt,
        "collection" => C::Collection,
        "id" => C::Id,
        _ => C::UpdatedAt,
    };
    let select = super::list::order_by(filtered(filter), column, sort, C::Id);
    super::paginate(db, select, limit, page).await
}

/// Ids of every document matching the filter (for "delete all matching").
pub async fn matching_ids(
    db: &impl ConnectionTrait,
    filter: &DocumentFilter,
) -> Result<Vec<i32>, DbErr> {
    filtered(filter)
        .select_only()
        .column(tool_documents::Column::Id)
        .into_tuple()
        .all(db)
        .await
}

/// The document with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<tool_documents::Model>, DbErr> {
    tool_documents::Entity::find_by_id(id).one(db).await
}
