//! The database-backed `payload` API of custom tools, scoped to the execution's project.
//!
//! - `projects`: read-only, and only the run's own project exists (another id is "not found").
//! - any other slug-like name that is not reserved (`world-rules`, …): tool data documents
//!   of (collection, project), shaped as [`tool_documents::to_doc`] shapes them for the JSON
//!   API too.
//! - built-in collections (users, agents, …) are refused.
//!
//! `where`, `sort`, `limit` and `page` go through the same SQL where-engine as the JSON API
//! ([`crate::query`] over a field map, then [`db::listing`]): one meaning per operator, the
//! scope (collection, project) applied in SQL, and exact counts and pages at any size.

use futures_util::future::BoxFuture;
use sea_orm::sea_query::Condition;
use sea_orm::{DatabaseConnection, DbBackend, DbErr};
use serde_json::{Value, json};

use crate::collections::projects::ProjectResponse;
use crate::db::{self, listing::PageRequest, tool_documents};
use crate::entities::{projects as project_rows, tool_documents as doc_rows};
use crate::query::{self, FieldMap, SortKey};
use crate::sandbox::{DataApi, DataOp};

/// The project collection tools may read.
pub const PROJECTS: &str = "projects";

/// Page size of `payload.find` when the tool names none.
pub const DEFAULT_LIMIT: u64 = 10;

/// Largest page `payload.find` returns (a tool pages through more with `page`).
pub const MAX_LIMIT: u64 = 100;

/// Most sort keys in one `sort`.
const MAX_SORT_KEYS: usize = 10;

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
        let method = op.method();
        let result = if collection == PROJECTS {
            self.projects(op).await
        } else if let Some(problem) = tool_documents::collection_error(&collection) {
            Err(Failure::Message(format!("payload.{method}: {problem}")))
        } else if let Some(project) = &self.project {
            self.tool_data(project.id, &collection, op).await
        } else {
            Err(Failure::Message(format!(
                "payload.{method}: this run has no project, and tool data is stored per project"
            )))
        };
        result.map_err(|e| match e {
            Failure::Message(m) => m,
            Failure::Db(err) => {
                tracing::error!(error = %err, collection, "tool data query failed");
                format!("payload.{method}: internal error while accessing {collection}")
            }
        })
    }

    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    async fn projects(&self, op: DataOp) -> Result<Value, Failure> {
        let map = &crate::collections::projects::FIELDS;
        let own = self.project.as_ref().map(|p| p.id);
        match op {
            DataOp::Find {
                r#where,
                limit,
                page,
                sort,
                ..
            } => {
                let q = ToolQuery::new(
                    map,
                    "find",
                    r#where.as_ref(),
                    sort.as_deref(),
                    limit,
                    page,
                    self.backend(),
                )?;
                let Some(own) = own else {
                    return Ok(envelope(Vec::new(), 0, q.limit, q.page));
                };
                let found =
                    db::listing::find_page(&self.db, tool_documents::own_project(own), q.request())
                        .await?;
                let docs = found.items.iter().map(project_doc).collect();
                Ok(envelope(docs, found.total, found.limit, found.page))
            }
            DataOp::Count { r#where, .. } => {
                let filter = filter_of(map, "count", r#where.as_ref(), self.backend())?;
                let total = match own {
                    Some(own) => {
                        db::listing::count(&self.db, tool_documents::own_project(own), filter)
                            .await?
                    }
                    None => 0,
                };
                Ok(json!({"totalDocs": total}))
            }
            DataOp::FindById { id, .. } => self
                .project
                .iter()
                .find(|p| parse_id(&id) == Some(i64::from(p.id)))
                .map(project_doc)
                .ok_or_else(|| Failure::Message(not_found(PROJECTS, &id))),
            other => Err(Failure::Message(format!(
                "payload.{}: the projects collection is read-only for tools",
                other.method()
            ))),
        }
    }

    async fn tool_data(
        &self,
        project: i32,
        collection: &str,
        op: DataOp,
    ) -> Result<Value, Failure> {
        let db = &self.db;
        let map = &tool_documents::FIELDS;
        match op {
            DataOp::Find {
                r#where,
                limit,
                page,
                sort,
                ..
            } => {
                let q = ToolQuery::new(
                    map,
                    "find",
                    r#where.as_ref(),
                    sort.as_deref(),
                    limit,
                    page,
                    self.backend(),
                )?;
                let found = db::listing::find_page(
                    db,
                    tool_documents::scoped(project, collection),
                    q.request(),
                )
                .await?;
                let docs = found.items.iter().map(tool_documents::to_doc).collect();
                Ok(envelope(docs, found.total, found.limit, found.page))
            }
            DataOp::Count { r#where, .. } => {
                let filter = filter_of(map, "count", r#where.as_ref(), self.backend())?;
                let total =
                    db::listing::count(db, tool_documents::scoped(project, collection), filter)
                        .await?;
                Ok(json!({"totalDocs": total}))
            }
            DataOp::FindById { id, .. } => Ok(tool_documents::to_doc(
                &self.existing(project, collection, &id).await?,
            )),
            DataOp::Create { data, .. } => {
                let data = tool_documents::new_data(&data)
                    .map_err(|e| Failure::Message(format!("payload.create: {e}")))?;
                let row = tool_documents::create(db, project, collection, data).await?;
                Ok(tool_documents::to_doc(&row))
            }
            DataOp::Update { id, data, .. } => {
                let row = self.existing(project, collection, &id).await?;
                let data = tool_documents::patched_data(&row.data, &data)
                    .map_err(|e| Failure::Message(format!("payload.update: {e}")))?;
                Ok(tool_documents::to_doc(
                    &tool_documents::replace_data(db, row, data).await?,
                ))
            }
            DataOp::Delete { id, .. } => {
                let row = self.existing(project, collection, &id).await?;
                tool_documents::delete(db, row.id).await?;
                Ok(tool_documents::to_doc(&row))
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

/// A tool's `find` arguments, checked and turned into SQL by the where-engine.
struct ToolQuery {
    filter: Option<Condition>,
    order: Vec<SortKey>,
    limit: u64,
    page: u64,
}

impl ToolQuery {
    fn new(
        map: &FieldMap,
        method: &str,
        r#where: Option<&Value>,
        sort: Option<&str>,
        limit: Option<u64>,
        page: Option<u64>,
        backend: DbBackend,
    ) -> Result<Self, Failure> {
        let filter = filter_of(map, method, r#where, backend)?;
        let sort: Vec<String> = sort
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .take(MAX_SORT_KEYS)
            .map(str::to_owned)
            .collect();
        Ok(Self {
            filter,
            order: query::order(map, &sort, backend),
            limit: limit
                .filter(|l| *l > 0)
                .unwrap_or(DEFAULT_LIMIT)
                .min(MAX_LIMIT),
            page: page.filter(|p| *p > 0).unwrap_or(1).min(query::MAX_PAGE),
        })
    }

    fn request(&self) -> PageRequest<'_> {
        PageRequest {
            filter: self.filter.clone(),
            order: &self.order,
            limit: self.limit,
            page: self.page,
            count: true,
        }
    }
}

/// The SQL filter of a tool's `where`; a malformed one is a message for the tool.
fn filter_of(
    map: &FieldMap,
    method: &str,
    r#where: Option<&Value>,
    backend: DbBackend,
) -> Result<Option<Condition>, Failure> {
    let Some(r#where) = r#where else {
        return Ok(None);
    };
    query::where_clause::parse(r#where)
        .and_then(|tree| query::sql::condition(map, &tree, backend.into()))
        .map_err(|e| Failure::Message(format!("payload.{method}: invalid where: {e}")))
}

/// Payload's paginated envelope, counted as the JSON API counts it.
fn envelope(docs: Vec<Value>, total: u64, limit: u64, page: u64) -> Value {
    let total_pages = total.div_ceil(limit.max(1));
    let has_prev = page > 1;
    let has_next = total_pages > page;
    json!({
        "docs": docs,
        "totalDocs": total,
        "limit": limit,
        "totalPages": total_pages,
        "page": page,
        "pagingCounter": (page - 1).saturating_mul(limit) + 1,
        "hasPrevPage": has_prev,
        "hasNextPage": has_next,
        "prevPage": if has_prev { json!(page - 1) } else { Value::Null },
        "nextPage": if has_next { json!(page + 1) } else { Value::Null },
    })
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

/// A project as tools see it: its API document.
fn project_doc(p: &project_rows::Model) -> Value {
    serde_json::to_value(ProjectResponse::from(p)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_counts_like_the_json_api() {
        let page = envelope(vec![json!(1)], 25, 10, 3);
        assert_eq!(
            (
                page["totalPages"].clone(),
                page["hasNextPage"].clone(),
                page["prevPage"].clone(),
                page["pagingCounter"].clone()
            ),
            (json!(3), json!(false), json!(2), json!(21))
        );
        let empty = envelope(Vec::new(), 0, 10, 1);
        assert_eq!(
            (empty["totalPages"].clone(), empty["nextPage"].clone()),
            (json!(0), Value::Null)
        );
    }

    #[test]
    fn limits_default_and_cap_and_bad_wheres_are_messages() {
        let q = ToolQuery::new(
            &tool_documents::FIELDS,
            "find",
            None,
            Some(" -rank , ,title"),
            Some(5000),
            Some(0),
            DbBackend::Sqlite,
        )
        .unwrap_or_else(|_| panic!("valid"));
        assert_eq!((q.limit, q.page), (MAX_LIMIT, 1));
        // -rank and title each sort by number then text; then id.
        assert_eq!(q.order.len(), 5);
        let Err(Failure::Message(m)) = filter_of(
            &tool_documents::FIELDS,
            "count",
            Some(&json!({"rule": {"near": 1}})),
            DbBackend::Postgres,
        ) else {
            panic!("an operator error")
        };
        assert!(
            m.starts_with("payload.count: invalid where: Invalid operator “near”"),
            "{m}"
        );
    }
}
