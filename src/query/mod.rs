//! Payload's query language, hand-written: the query string of a list request (`where`,
//! `sort`, `limit`, `page`, `depth`, `pagination`) parsed into typed parameters, and the
//! `where` tree turned into a sea-query [`Condition`] for one collection's [`FieldMap`].
//!
//! Nothing here can make the database fail: unknown paths, bad operators and values that do
//! not fit the field's type are [`QueryError`]s (HTTP 400) before any SQL runs.

pub mod fields;
pub mod memory;
pub mod qs;
pub mod sql;
pub mod where_clause;

use sea_orm::DbBackend;
use sea_orm::sea_query::{Condition, Expr, Order};
use serde_json::{Map, Value};

pub use fields::{Field, FieldMap, Kind, Scalar};
pub use sql::Dialect;
pub use where_clause::{Operator, Where};

/// Page size when `limit` is absent (Payload's default).
pub const DEFAULT_LIMIT: u64 = 10;
/// Largest page size; `limit=0` also means this.
pub const MAX_LIMIT: u64 = 1000;
/// Relation depth when `depth` is absent (Payload's REST default).
pub const DEFAULT_DEPTH: u8 = 2;
/// Deepest population served.
pub const MAX_DEPTH: u8 = 10;
/// Highest page number accepted (larger ones are answered as this page: empty).
pub const MAX_PAGE: u64 = 1_000_000;

/// A query that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Paths that name nothing queryable (Payload's `QueryError`).
    #[error("{}", paths_message(.0))]
    Paths(Vec<String>),
    /// Anything else: a malformed query string, operator or value.
    #[error("{0}")]
    Invalid(String),
}

fn paths_message(paths: &[String]) -> String {
    if paths.len() == 1 {
        format!("The following path cannot be queried: {}", paths[0])
    } else {
        format!(
            "The following paths cannot be queried: {}",
            paths.join(", ")
        )
    }
}

impl From<qs::QsError> for QueryError {
    fn from(e: qs::QsError) -> Self {
        QueryError::Invalid(e.0)
    }
}

/// The parameters of a list (or count, or bulk) request.
#[derive(Debug, Clone)]
pub struct ListParams {
    /// The filter, when a `where` was given.
    pub where_: Option<Where>,
    /// Sort keys as given (`-name` is descending).
    pub sort: Vec<String>,
    /// Page size, 1..=[`MAX_LIMIT`].
    pub limit: u64,
    /// 1-based page.
    pub page: u64,
    /// Relation depth, 0..=[`MAX_DEPTH`].
    pub depth: u8,
    /// False: no count, one page of up to `limit` documents.
    pub pagination: bool,
    /// Every parameter, parsed (for endpoint-specific ones such as `project`).
    pub raw: Map<String, Value>,
}

/// One ORDER BY key.
#[derive(Debug, Clone)]
pub struct SortKey {
    /// The expression.
    pub expr: Expr,
    /// Direction.
    pub order: Order,
    /// False when the expression is never NULL (ids, timestamps): the key then needs no
    /// NULL placement, so an index can serve the order.
    pub nullable: bool,
}

impl ListParams {
    /// Parses a raw query string (`HttpRequest::query_string`).
    pub fn parse(query_string: &str) -> Result<Self, QueryError> {
        let raw = qs::parse(query_string)?;
        let where_ = raw.get("where").map(where_clause::from_param).transpose()?;
        let limit = match number(raw.get("limit")) {
            Some(0) => MAX_LIMIT,
            Some(n) => n.min(MAX_LIMIT),
            None => DEFAULT_LIMIT,
        };
        let page = number(raw.get("page"))
            .filter(|p| *p >= 1)
            .unwrap_or(1)
            .min(MAX_PAGE);
        let depth = number(raw.get("depth"))
            .map(|d| d.min(u64::from(MAX_DEPTH)) as u8)
            .unwrap_or(DEFAULT_DEPTH);
        let pagination = !matches!(raw.get("pagination"), Some(Value::String(s)) if s.eq_ignore_ascii_case("false") || s == "0");
        let sort = match raw.get("sort") {
            Some(Value::String(s)) => split_sort(s),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .flat_map(split_sort)
                .collect(),
            _ => Vec::new(),
        };
        Ok(Self {
            where_,
            sort,
            limit,
            page,
            depth,
            pagination,
            raw,
        })
    }

    /// A string parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.raw.get(name).and_then(Value::as_str)
    }

    /// The filter on `map`, None when nothing is filtered.
    pub fn filter(
        &self,
        map: &FieldMap,
        backend: DbBackend,
    ) -> Result<Option<Condition>, QueryError> {
        match &self.where_ {
            Some(w) => sql::condition(map, w, backend.into()),
            None => Ok(None),
        }
    }

    /// ORDER BY keys on `map`: the requested ones Payload-style (unknown paths are skipped, as
    /// Payload does), `-createdAt` by default, then `id` so that pages never overlap.
    pub fn order(&self, map: &FieldMap, backend: DbBackend) -> Vec<SortKey> {
        order(map, &self.sort, backend)
    }
}

/// ORDER BY keys for sort items (see [`ListParams::order`]).
pub fn order(map: &FieldMap, sort: &[String], backend: DbBackend) -> Vec<SortKey> {
    let dialect: Dialect = backend.into();
    let mut keys = Vec::new();
    let mut last = Order::Desc;
    let default = ["-createdAt".to_owned()];
    let items = if sort.is_empty() { &default[..] } else { sort };
    for item in items {
        let (path, order) = match item.strip_prefix('-') {
            Some(p) => (p, Order::Desc),
            None => (item.strip_prefix('+').unwrap_or(item), Order::Asc),
        };
        if path == "id" {
            continue;
        }
        if let Some(exprs) = sql::sort_expr(map, path, dialect) {
            let nullable = !never_null(map, path);
            for e in exprs {
                keys.push(SortKey {
                    expr: Expr::cust(e),
                    order: order.clone(),
                    nullable,
                });
            }
            last = order;
        }
    }
    let id_order = match items
        .iter()
        .find(|i| i.trim_start_matches(['-', '+']) == "id")
    {
        Some(i) if i.starts_with('-') => Order::Desc,
        Some(_) => Order::Asc,
        None => last,
    };
    keys.push(SortKey {
        expr: Expr::cust(format!("\"{}\".\"id\"", map.table)),
        order: id_order,
        nullable: false,
    });
    keys
}

/// Is `path` a column that is never NULL? Every table's `created_at` and `updated_at` are
/// NOT NULL (the migrations' `table_auto`).
fn never_null(map: &FieldMap, path: &str) -> bool {
    matches!(
        map.field(path).map(|f| &f.kind),
        Some(fields::Kind::Column {
            column: "created_at" | "updated_at",
            ..
        })
    )
}

fn split_sort(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty() && p.len() <= 200)
        .take(10)
        .map(str::to_owned)
        .collect()
}

/// A non-negative integer parameter; anything else is ignored, as Payload ignores it.
fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_payload() {
        let p = ListParams::parse("").expect("ok");
        assert_eq!((p.limit, p.page, p.depth, p.pagination), (10, 1, 2, true));
        assert!(p.where_.is_none());
    }

    #[test]
    fn numbers_are_clamped_and_junk_ignored() {
        let p = ListParams::parse("limit=5000&page=0&depth=99&pagination=false").expect("ok");
        assert_eq!(
            (p.limit, p.page, p.depth, p.pagination),
            (MAX_LIMIT, 1, MAX_DEPTH, false)
        );
        let p = ListParams::parse("limit=-3&page=abc&depth=x").expect("ok");
        assert_eq!((p.limit, p.page, p.depth), (10, 1, 2));
        let p = ListParams::parse("limit=0&page=99999999999999999999").expect("ok");
        assert_eq!((p.limit, p.page), (MAX_LIMIT, 1));
    }

    #[test]
    fn sort_is_comma_separated_or_repeated() {
        assert_eq!(
            ListParams::parse("sort=-name,priority").expect("ok").sort,
            ["-name", "priority"]
        );
        assert_eq!(
            ListParams::parse("sort[0]=a&sort[1]=-b").expect("ok").sort,
            ["a", "-b"]
        );
        assert_eq!(
            ListParams::parse("sort=a&sort=b").expect("ok").sort,
            ["a", "b"]
        );
    }

    #[test]
    fn only_keys_that_may_be_null_get_a_null_placement() {
        let nullable = |sort: &[&str]| {
            let sort: Vec<String> = sort.iter().map(|s| (*s).to_owned()).collect();
            order(
                &crate::collections::agents::FIELDS,
                &sort,
                DbBackend::Sqlite,
            )
            .iter()
            .map(|k| k.nullable)
            .collect::<Vec<_>>()
        };
        // The default, -createdAt then id: an index on (created_at, id) serves it.
        assert_eq!(nullable(&[]), [false, false]);
        assert_eq!(nullable(&["updatedAt"]), [false, false]);
        assert_eq!(nullable(&["lastExecutedAt", "-name"]), [true, true, false]);
    }

    #[test]
    fn where_comes_from_brackets_or_json() {
        let a = ListParams::parse("where[name][equals]=x")
            .expect("ok")
            .where_;
        let b = ListParams::parse("where=%7B%22name%22%3A%7B%22equals%22%3A%22x%22%7D%7D")
            .expect("ok")
            .where_;
        assert_eq!(a, b);
        assert!(a.is_some());
        assert!(ListParams::parse("where=nope").is_err());
    }

    #[test]
    fn path_errors_say_which_paths() {
        assert_eq!(
            QueryError::Paths(vec!["a".into()]).to_string(),
            "The following path cannot be queried: a"
        );
        assert_eq!(
            QueryError::Paths(vec!["a".into(), "b".into()]).to_string(),
            "The following paths cannot be queried: a, b"
        );
    }
}
