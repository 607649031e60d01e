//! An in-memory [`DataApi`] with the same scoping contract as the database one: useful for
//! tests and demos. Documents live in a shared [`MemoryStore`]; each [`MemoryDataApi`] sees
//! only its own project's documents.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use serde_json::{Map, Value, json};

use super::{DataApi, DataOp};

/// Collection holding the project documents; readable (own project only), never writable.
pub const PROJECTS: &str = "projects";

/// Documents of every project, by collection. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    collections: HashMap<String, Vec<Map<String, Value>>>,
    next_id: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a project document (must carry a string `id`) to the `projects` collection.
    pub fn add_project(&self, project: Value) {
        if let Value::Object(doc) = project {
            self.lock()
                .collections
                .entry(PROJECTS.into())
                .or_default()
                .push(doc);
        }
    }

    /// All documents of `collection`, of every project (for assertions).
    pub fn all(&self, collection: &str) -> Vec<Value> {
        self.lock()
            .collections
            .get(collection)
            .map(|docs| docs.iter().cloned().map(Value::Object).collect())
            .unwrap_or_default()
    }

    /// A [`DataApi`] scoped to `project_id`.
    pub fn api(&self, project_id: &str) -> MemoryDataApi {
        MemoryDataApi {
            store: self.clone(),
            project_id: project_id.to_owned(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A [`DataApi`] over a [`MemoryStore`], scoped to one project: tool data documents carry a
/// `project` field that is always this project (whatever the script passes), and `projects`
/// shows only this project, read-only.
#[derive(Debug, Clone)]
pub struct MemoryDataApi {
    store: MemoryStore,
    project_id: String,
}

impl DataApi for MemoryDataApi {
    fn call(&self, op: DataOp) -> BoxFuture<'static, Result<Value, String>> {
        let result = self.apply(op);
        Box::pin(async move { result })
    }
}

impl MemoryDataApi {
    fn visible(&self, collection: &str, doc: &Map<String, Value>) -> bool {
        let key = if collection == PROJECTS {
            "id"
        } else {
            "project"
        };
        doc.get(key).and_then(Value::as_str) == Some(self.project_id.as_str())
    }

    /// Performs `op` synchronously.
    pub fn apply(&self, op: DataOp) -> Result<Value, String> {
        let collection = op.collection().to_owned();
        if collection == PROJECTS && op.is_write() {
            return Err(format!(
                "payload.{}: the projects collection is read-only for tools",
                op.method()
            ));
        }
        let mut inner = self.store.lock();
        let inner = &mut *inner;
        let docs = inner.collections.entry(collection.clone()).or_default();
        let mine = |d: &Map<String, Value>| self.visible(&collection, d);
        match op {
            DataOp::Find {
                r#where,
                limit,
                page,
                sort,
                ..
            } => {
                let mut found: Vec<&Map<String, Value>> = docs
                    .iter()
                    .filter(|d| mine(d) && matches(d, r#where.as_ref()))
                    .collect();
                if let Some(sort) = sort {
                    let (field, desc) = match sort.strip_prefix('-') {
                        Some(f) => (f.to_owned(), true),
                        None => (sort, false),
                    };
                    found.sort_by(|a, b| {
                        let o = cmp_json(a.get(&field), b.get(&field));
                        if desc { o.reverse() } else { o }
                    });
                }
                let total = found.len() as u64;
                let limit = limit.filter(|l| *l > 0).unwrap_or(10);
                let page = page.filter(|p| *p > 0).unwrap_or(1);
                let skip = usize::try_from(limit.saturating_mul(page - 1)).unwrap_or(usize::MAX);
                let take = usize::try_from(limit).unwrap_or(usize::MAX);
                let page_docs: Vec<Value> = found
                    .into_iter()
                    .skip(skip)
                    .take(take)
                    .cloned()
                    .map(Value::Object)
                    .collect();
                let pages = total.div_ceil(limit);
                Ok(json!({
                    "docs": page_docs, "totalDocs": total, "limit": limit, "page": page,
                    "totalPages": pages, "hasNextPage": page < pages, "hasPrevPage": page > 1,
                }))
            }
            DataOp::Count { r#where, .. } => {
                let n = docs
                    .iter()
                    .filter(|d| mine(d) && matches(d, r#where.as_ref()))
                    .count();
                Ok(json!({ "totalDocs": n }))
            }
            DataOp::FindById { id, .. } => docs
                .iter()
                .find(|d| mine(d) && same_id(d, &id))
                .map(|d| Value::Object(d.clone()))
                .ok_or_else(|| not_found(&collection, &id)),
            DataOp::Create { data, .. } => {
                let Value::Object(mut doc) = data else {
                    return Err("payload.create: `data` must be an object".into());
                };
                inner.next_id += 1;
                doc.insert("id".into(), Value::String(format!("mem-{}", inner.next_id)));
                doc.insert("project".into(), Value::String(self.project_id.clone()));
                docs.push(doc.clone());
                Ok(Value::Object(doc))
            }
            DataOp::Update { id, data, .. } => {
                let doc = docs
                    .iter_mut()
                    .find(|d| mine(d) && same_id(d, &id))
                    .ok_or_else(|| not_found(&collection, &id))?;
                if let Value::Object(fields) = data {
                    for (k, v) in fields {
                        if k != "id" && k != "project" {
                            doc.insert(k, v);
                        }
                    }
                }
                Ok(Value::Object(doc.clone()))
            }
            DataOp::Delete { id, .. } => {
                let pos = docs
                    .iter()
                    .position(|d| mine(d) && same_id(d, &id))
                    .ok_or_else(|| not_found(&collection, &id))?;
                Ok(Value::Object(docs.remove(pos)))
            }
        }
    }
}

fn not_found(collection: &str, id: &Value) -> String {
    format!("Not Found: no document {id} in {collection}")
}

fn same_id(doc: &Map<String, Value>, id: &Value) -> bool {
    match (doc.get("id"), id) {
        (Some(a), b) if a == b => true,
        (Some(Value::String(a)), Value::Number(b)) => *a == b.to_string(),
        _ => false,
    }
}

/// `where` support: `{ field: { equals: v } }` or `{ field: v }`, all fields ANDed.
fn matches(doc: &Map<String, Value>, r#where: Option<&Value>) -> bool {
    let Some(Value::Object(conds)) = r#where else {
        return true;
    };
    conds.iter().all(|(field, cond)| {
        let expected = match cond {
            Value::Object(ops) if ops.contains_key("equals") => &ops["equals"],
            other => other,
        };
        doc.get(field).unwrap_or(&Value::Null) == expected
    })
}

fn cmp_json(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}
