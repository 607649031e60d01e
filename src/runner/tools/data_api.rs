//! The database-backed `payload` API of custom tools, scoped to the execution's project.
//!
//! - `projects`: read-only, and only the run's own project exists (another id is "not found").
//! - any other slug-like name that is not a built-in collection (`world-rules`, …): tool data
//!   documents of (collection, project), shaped `{id, collection, project, ...data, createdAt,
//!   updatedAt}`, queried with Payload's `where`/`sort`/`limit`/`page` evaluated in Rust.
//! - built-in collections (users, agents, …) are refused.

use futures_util::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::{Map, Value, json};

use super::query;
use crate::collections::projects::ProjectResponse;
use crate::db::tool_documents;
use crate::domain::iso;
use crate::entities::{projects as project_rows, tool_documents as doc_rows};
use crate::sandbox::{DataApi, DataOp};

/// Largest document a tool may store, as JSON.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// The project collection tools may read.
pub const PROJECTS: &str = "projects";

/// Collections of the application itself: never reachable from tools.
pub const BUILT_IN: &[&str] = &[
    "users",
    "agents",
    "custom-tools",
    "agent-executions",
    "execution-events",
    "models",
    "departments",
    "tool-documents",
    "sessions",
    "api-tokens",
    "app-settings",
    "payload-preferences",
    "payload-migrations",
];

/// Keys a document's data may not set: the envelope owns them.
const RESERVED: &[&str] = &["id", "collection", "project", "createdAt", "updatedAt"];

/// The `payload` API for one execution.
#[derive(Clone)]
pub struct DbDataApi {
    db: DatabaseConnection,
    project: Option<project_rows::Model>,
}

impl DbDataApi {
    /// The API of a run on `project` (no project: tool data is unavailable).
    pub fn new(db: DatabaseConnection, project: Option<project_rows::Model>) -> Self {
        Self { db, project }
    }

    /// Performs one operation (the admin's "Try it" panel calls this too, through the sandbox).
    pub async fn apply(&self, op: DataOp) -> Result<Value, String> {
        let collection = op.collection().to_owned();
        if collection == PROJECTS {
            return self.projects(op);
        }
        check_collection(&collection)?;
        let Some(project) = &self.project else {
            return Err(format!(
                "payload.{}: this run has no project, and tool data is stored per project",
                op.method()
            ));
        };
        let method = op.method();
        self.tool_data(project.id, &collection, op)
            .await
            .map_err(|e| match e {
                Failure::Message(m) => m,
                Failure::Db(err) => {
                    tracing::error!(error = %err, collection, "tool data query failed");
                    format!("payload.{method}: internal error while accessing {collection}")
                }
            })
    }

    fn projects(&self, op: DataOp) -> Result<Value, String> {
        let own: Vec<Value> = self
            .project
            .iter()
            .filter_map(|p| serde_json::to_value(ProjectResponse::from(p)).ok())
            .collect();
        match op {
            DataOp::Find {
                r#where,
                limit,
                page,
                sort,
                ..
            } => {
                let mut docs = filtered(own, r#where.as_ref())?;
                if let Some(sort) = sort {
                    query::sort_docs(&mut docs, &sort);
                }
                Ok(query::paginate(docs, limit, page))
            }
            DataOp::Count { r#where, .. } => {
                Ok(json!({"totalDocs": filtered(own, r#where.as_ref())?.len()}))
            }
            DataOp::FindById { id, .. } => own
                .into_iter()
                .find(|doc| parse_id(&id) == Some(doc["id"].as_i64().unwrap_or(-1)))
                .ok_or_else(|| not_found(PROJECTS, &id)),
            other => Err(format!(
                "payload.{}: the projects collection is read-only for tools",
                other.method()
            )),
        }
    }

    async fn tool_data(
        &self,
        project: i32,
        collection: &str,
        op: DataOp,
    ) -> Result<Value, Failure> {
        let db = &self.db;
        match op {
            DataOp::Find {
                r#where,
                limit,
                page,
                sort,
                ..
            } => {
                let rows = tool_documents::all_in_collection(db, project, collection).await?;
                let mut docs = filtered(rows.iter().map(shape).collect(), r#where.as_ref())?;
                if let Some(sort) = sort {
                    query::sort_docs(&mut docs, &sort);
                }
                Ok(query::paginate(docs, limit, page))
            }
            DataOp::Count { r#where, .. } => {
                let rows = tool_documents::all_in_collection(db, project, collection).await?;
                let docs = filtered(rows.iter().map(shape).collect(), r#where.as_ref())?;
                Ok(json!({"totalDocs": docs.len()}))
            }
            DataOp::FindById { id, .. } => {
                Ok(shape(&self.existing(project, collection, &id).await?))
            }
            DataOp::Create { data, .. } => {
                let data = sized(Value::Object(clean_data(data, "create")?), "create")?;
                let row = tool_documents::create(db, project, collection, data).await?;
                Ok(shape(&row))
            }
            DataOp::Update { id, data, .. } => {
                let patch = clean_data(data, "update")?;
                let row = self.existing(project, collection, &id).await?;
                let mut merged = match row.data.clone() {
                    Value::Object(map) => map,
                    _ => Map::new(),
                };
                merged.extend(patch);
                let data = sized(Value::Object(merged), "update")?;
                Ok(shape(&tool_documents::replace_data(db, row, data).await?))
            }
            DataOp::Delete { id, .. } => {
                let row = self.existing(project, collection, &id).await?;
                tool_documents::delete(db, row.id).await?;
                Ok(shape(&row))
            }
        }
    }

    async fn existing(
        &self,
        project: i32,
        collection: &str,
        id: &Value,
    ) -> Result<doc_rows::Model, Failure> {
        let row = match parse_id(id).and_then(|n| i32::try_from(n).ok()) {
            Some(n) => tool_documents::find_in_project(&self.db, project, collection, n).await?,
            None => None,
        };
        row.ok_or_else(|| Failure::Message(not_found(collection, id)))
    }
}

impl DataApi for DbDataApi {
    fn call(&self, op: DataOp) -> BoxFuture<'static, Result<Value, String>> {
        let api = self.clone();
        Box::pin(async move { api.apply(op).await })
    }
}

enum Failure {
    Message(String),
    Db(DbErr),
}

impl From<DbErr> for Failure {
    fn from(e: DbErr) -> Self {
        Failure::Db(e)
    }
}

impl From<String> for Failure {
    fn from(m: String) -> Self {
        Failure::Message(m)
    }
}

/// Tool data collections: slug-like names that are not built in.
fn check_collection(name: &str) -> Result<(), String> {
    let slug_like = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !slug_like {
        return Err(format!(
            "`{name}` is not a valid collection name (lowercase letters, digits, '-' and '_')"
        ));
    }
    if BUILT_IN.contains(&name) || BUILT_IN.contains(&name.replace('_', "-").as_str()) {
        return Err(format!("the {name} collection is not accessible to tools"));
    }
    Ok(())
}

fn filtered(docs: Vec<Value>, r#where: Option<&Value>) -> Result<Vec<Value>, String> {
    let Some(r#where) = r#where else {
        return Ok(docs);
    };
    let mut kept = Vec::with_capacity(docs.len());
    for doc in docs {
        if query::matches(&doc, r#where).map_err(|e| format!("invalid where: {e}"))? {
            kept.push(doc);
        }
    }
    Ok(kept)
}

/// The data a tool stores: an object, without the envelope's keys.
fn clean_data(data: Value, method: &str) -> Result<Map<String, Value>, String> {
    let Value::Object(mut map) = data else {
        return Err(format!("payload.{method}: `data` must be an object"));
    };
    for key in RESERVED {
        map.remove(*key);
    }
    Ok(map)
}

/// `data` if its JSON is at most [`MAX_DOCUMENT_BYTES`].
fn sized(data: Value, method: &str) -> Result<Value, String> {
    let size = serde_json::to_vec(&data).map_or(usize::MAX, |v| v.len());
    if size > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "payload.{method}: the document is {size} bytes of JSON; the limit is {MAX_DOCUMENT_BYTES} bytes"
        ));
    }
    Ok(data)
}

/// A stored document as tools see it.
pub fn shape(row: &doc_rows::Model) -> Value {
    let mut doc = match &row.data {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    doc.insert("id".into(), json!(row.id));
    doc.insert("collection".into(), json!(row.collection));
    doc.insert("project".into(), json!(row.project_id));
    doc.insert("createdAt".into(), json!(iso(&row.created_at)));
    doc.insert("updatedAt".into(), json!(iso(&row.updated_at)));
    Value::Object(doc)
}

fn parse_id(id: &Value) -> Option<i64> {
    match id {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn not_found(collection: &str, id: &Value) -> String {
    format!("Not Found: no document {id} in {collection}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slug_like_tool_collections_are_allowed() {
        assert!(check_collection("world-rules").is_ok());
        assert!(check_collection("users").is_err());
        assert!(check_collection("custom_tools").is_err());
        assert!(check_collection("World Rules").is_err());
        assert!(check_collection("").is_err());
    }

    #[test]
    fn data_loses_envelope_keys_and_is_capped() {
        let data = clean_data(json!({"id": 9, "project": 2, "rule": "x"}), "create").expect("ok");
        assert_eq!(Value::Object(data), json!({"rule": "x"}));
        let big = json!({"text": "x".repeat(MAX_DOCUMENT_BYTES)});
        let err = sized(big, "create").expect_err("too big");
        assert!(err.contains("the limit is 262144 bytes"), "{err}");
        assert!(clean_data(json!([1]), "create").is_err());
    }
}
