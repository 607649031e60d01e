//! Documents written by custom tools (tool data): free-form JSON in collections that are not
//! built in (e.g. `world-rules`), each document belonging to one project.
//!
//! Every reader — the tools' `payload` API, `/api/tool-data/{collection}`, `/api/{collection}`
//! and the admin's browser — filters, sorts and pages with Payload's `where` through the SQL
//! where-engine ([`crate::query`]) over [`FIELDS`] (or [`BROWSE`]) and [`super::listing`]: one
//! meaning per operator, exact totals at any size. Every writer goes through [`new_data`] /
//! [`patched_data`], and every reader shows a document as [`to_doc`].

use sea_orm::sea_query::Condition;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Select,
};
use serde_json::{Map, Value, json};

use crate::domain::{iso, now};
use crate::entities::{projects, tool_documents};
use crate::query::{Field, FieldMap, Kind, Scalar};

/// Largest document data, as JSON.
pub const MAX_DATA_BYTES: usize = 256 * 1024;

/// Longest collection name.
pub const MAX_COLLECTION_LEN: usize = 64;

/// Keys of a document that the server owns; a document's data never holds them (a write that
/// names them has them dropped).
pub const ENVELOPE: [&str; 5] = ["id", "collection", "project", "createdAt", "updatedAt"];

/// Names that are never tool data collections: the application's own collections and routes
/// (today's and those planned), and Payload's internal ones. Tools are refused them, and
/// `/api/{name}` never treats them as tool data.
pub const RESERVED_COLLECTIONS: &[&str] = &[
    "users",
    "agents",
    "departments",
    "custom-tools",
    "projects",
    "agent-executions",
    "execution-events",
    "models",
    "tool-data",
    "tool-documents",
    "sessions",
    "api-tokens",
    "app-settings",
    "agent-chains",
    "approvals",
    "budgets",
    "agent-versions",
    "custom-tool-versions",
    "experiments",
    "eval-datasets",
    "eval-runs",
    "agent-proposals",
    "mcp-servers",
    "mcp",
    "docs",
    "openapi",
    "graphql",
    "access",
    "payload-preferences",
    "payload-migrations",
    "payload-locked-documents",
    "payload-jobs",
];

const fn col(name: &'static str, column: &'static str, ty: Scalar) -> Field {
    Field {
        name,
        kind: Kind::Column { column, ty },
    }
}

const ID: Field = col("id", "id", Scalar::Int);
const COLLECTION: Field = col("collection", "collection", Scalar::Text);
const PROJECT: Field = col("project", "project_id", Scalar::Int);
const CREATED_AT: Field = col("createdAt", "created_at", Scalar::Date);
const UPDATED_AT: Field = col("updatedAt", "updated_at", Scalar::Date);

/// What a `where` or `sort` on tool data may name: the keys of [`to_doc`]'s envelope, and any
/// other path inside the document's data (`era`, `stats.score`).
pub static FIELDS: FieldMap = FieldMap {
    table: "tool_documents",
    fields: &[ID, COLLECTION, PROJECT, CREATED_AT, UPDATED_AT],
    open_json: Some("data"),
};

/// The admin's view of the whole table: the envelope, and `data`, the document's data as one
/// JSON value (so that `data` with `like` searches a whole document).
pub static BROWSE: FieldMap = FieldMap {
    table: "tool_documents",
    fields: &[
        ID,
        COLLECTION,
        PROJECT,
        Field {
            name: "data",
            kind: Kind::Json { column: "data" },
        },
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// Is `name` usable as a tool data collection? Slug-like (`^[a-z][a-z0-9-]*$`, at most
/// [`MAX_COLLECTION_LEN`] characters) and not reserved.
pub fn collection_error(name: &str) -> Option<String> {
    if name.len() > MAX_COLLECTION_LEN || !crate::domain::fields::is_slug(name) {
        return Some(format!(
            "“{name}” is not a tool data collection name: lowercase letters, digits and dashes, starting with a letter, at most {MAX_COLLECTION_LEN} characters."
        ));
    }
    if RESERVED_COLLECTIONS.contains(&name) {
        return Some(format!("“{name}” is a built-in collection, not tool data."));
    }
    None
}

/// A stored document as every reader shows it: its data, then `id`, `collection`, `project`
/// (the project's id), `createdAt` and `updatedAt`. Data that is not an object (only ever
/// written around the application) appears under `value`.
pub fn to_doc(row: &tool_documents::Model) -> Value {
    let mut doc = match &row.data {
        Value::Object(map) => map.clone(),
        other => Map::from_iter([("value".to_owned(), other.clone())]),
    };
    doc.insert("id".into(), json!(row.id));
    doc.insert("collection".into(), json!(row.collection));
    doc.insert("project".into(), json!(row.project_id));
    doc.insert("createdAt".into(), json!(iso(&row.created_at)));
    doc.insert("updatedAt".into(), json!(iso(&row.updated_at)));
    Value::Object(doc)
}

/// Why data cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataError {
    /// The data is not a JSON object.
    NotAnObject,
    /// The data's JSON is this many bytes, more than [`MAX_DATA_BYTES`].
    TooLarge(usize),
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataError::NotAnObject => f.write_str("the document data must be a JSON object"),
            DataError::TooLarge(size) => write!(
                f,
                "the document is {size} bytes of JSON; the limit is {MAX_DATA_BYTES} bytes"
            ),
        }
    }
}

/// The data of a new document: `data` without the envelope's keys, at most
/// [`MAX_DATA_BYTES`].
pub fn new_data(data: &Value) -> Result<Value, DataError> {
    sized(Map::new(), data)
}

/// `current` data with the top-level keys of `patch` replaced (envelope keys ignored), at
/// most [`MAX_DATA_BYTES`].
pub fn patched_data(current: &Value, patch: &Value) -> Result<Value, DataError> {
    let base = match current {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    sized(base, patch)
}

fn sized(mut base: Map<String, Value>, patch: &Value) -> Result<Value, DataError> {
    let Value::Object(patch) = patch else {
        return Err(DataError::NotAnObject);
    };
    for (key, value) in patch {
        if !ENVELOPE.contains(&key.as_str()) {
            base.insert(key.clone(), value.clone());
        }
    }
    let data = Value::Object(base);
    let size = serde_json::to_vec(&data).map_or(usize::MAX, |v| v.len());
    if size > MAX_DATA_BYTES {
        return Err(DataError::TooLarge(size));
    }
    Ok(data)
}

/// Every document of one collection, of every project, as a query to narrow further (a
/// `where` on `project` narrows it to some).
pub fn in_collection(collection: &str) -> Select<tool_documents::Entity> {
    tool_documents::Entity::find().filter(tool_documents::Column::Collection.eq(collection))
}

/// Every document of one collection in one project, as a query to narrow further (the
/// tools' `payload.find` and `/api/tool-data/…` add their `where`, sort and pages).
pub fn scoped(project_id: i32, collection: &str) -> Select<tool_documents::Entity> {
    in_collection(collection).filter(tool_documents::Column::ProjectId.eq(project_id))
}

/// Every document, of every collection and project (the admin's browser narrows it).
pub fn everything() -> Select<tool_documents::Entity> {
    tool_documents::Entity::find()
}

/// The `projects` collection as a tool sees it: only the project of its run.
pub fn own_project(project_id: i32) -> Select<projects::Entity> {
    projects::Entity::find().filter(projects::Column::Id.eq(project_id))
}

/// The document `id` if it belongs to `project_id` and `collection`.
pub async fn find_in_project(
    db: &impl ConnectionTrait,
    project_id: i32,
    collection: &str,
    id: i32,
) -> Result<Option<tool_documents::Model>, DbErr> {
    scoped(project_id, collection)
        .filter(tool_documents::Column::Id.eq(id))
        .one(db)
        .await
}

/// The document `id` if it belongs to `collection` (any project).
pub async fn find_in_collection(
    db: &impl ConnectionTrait,
    collection: &str,
    id: i32,
) -> Result<Option<tool_documents::Model>, DbErr> {
    in_collection(collection)
        .filter(tool_documents::Column::Id.eq(id))
        .one(db)
        .await
}

/// Creates a document (its data already checked by [`new_data`]).
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

/// Replaces a document's data (already checked by [`patched_data`]).
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

/// Ids of every document matching `filter` (a condition over [`BROWSE`]), for the admin's
/// "delete all matching".
pub async fn matching_ids(
    db: &impl ConnectionTrait,
    filter: Option<Condition>,
) -> Result<Vec<i32>, DbErr> {
    let mut select = everything();
    if let Some(condition) = filter {
        select = select.filter(condition);
    }
    select
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_are_slugs_that_are_not_reserved() {
        assert_eq!(collection_error("world-rules"), None);
        assert_eq!(collection_error("notes2"), None);
        for bad in [
            "users",
            "tool-data",
            "docs",
            "World",
            "a_b",
            "",
            "1x",
            "openapi.json",
        ] {
            assert!(collection_error(bad).is_some(), "{bad}");
        }
        assert!(collection_error(&"a".repeat(MAX_COLLECTION_LEN + 1)).is_some());
    }

    #[test]
    fn data_loses_envelope_keys_patches_merge_and_size_is_capped() {
        let data = new_data(&json!({"id": 9, "project": 2, "collection": "x", "rule": "r"}));
        assert_eq!(data, Ok(json!({"rule": "r"})));
        let patched = patched_data(&json!({"a": 1, "b": 2}), &json!({"b": 3, "createdAt": 0}));
        assert_eq!(patched, Ok(json!({"a": 1, "b": 3})));
        assert_eq!(new_data(&json!([1])), Err(DataError::NotAnObject));
        let big = json!({"text": "x".repeat(MAX_DATA_BYTES)});
        let err = new_data(&big).expect_err("too big");
        assert!(
            err.to_string().contains("the limit is 262144 bytes"),
            "{err}"
        );
    }
}
