//! Turning a [`Where`] into SQL for one collection, on SQLite or PostgreSQL.
//!
//! The whole filter becomes one custom expression with bound values: user input only ever
//! travels as bind parameters, and the only text written into the SQL comes from the
//! static field maps or from JSON path segments restricted to `[A-Za-z0-9_-]`. Every value
//! is converted to its field's type first, so that no comparison can fail inside the
//! database (a failed cast would surface as a 500).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use sea_orm::DbBackend;
use sea_orm::sea_query::{Condition, Expr, Value as SqlValue};
use serde_json::Value;

use super::QueryError;
use super::fields::{FieldMap, Resolved, Scalar, Source};
use super::where_clause::{Operator, Where};

/// Longest text value accepted in a condition.
pub const MAX_VALUE_LEN: usize = 10_000;
/// Longest text searched by `like` / `contains`.
pub const MAX_PATTERN_LEN: usize = 1_000;
/// Most values in an `in` / `not_in` list.
pub const MAX_LIST: usize = 500;
/// Most words in a `like` search.
pub const MAX_WORDS: usize = 20;

/// The SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite (json_extract, `?` placeholders).
    Sqlite,
    /// PostgreSQL (jsonb operators, `$n` placeholders).
    Postgres,
}

impl From<DbBackend> for Dialect {
    fn from(backend: DbBackend) -> Self {
        if backend == DbBackend::Postgres {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }
}

/// Builds the filter of `where_` on `map`; None when it constrains nothing.
pub fn condition(
    map: &FieldMap,
    where_: &Where,
    dialect: Dialect,
) -> Result<Option<Condition>, QueryError> {
    if where_.is_empty() {
        return Ok(None);
    }
    let (sql, values) = render(map, where_, dialect)?;
    Ok(Some(
        Condition::all().add(Expr::cust_with_values(sql, values)),
    ))
}

/// The SQL text and values of a filter (exposed for tests).
pub fn render(
    map: &FieldMap,
    where_: &Where,
    dialect: Dialect,
) -> Result<(String, Vec<SqlValue>), QueryError> {
    let mut w = Writer {
        dialect,
        sql: String::new(),
        values: Vec::new(),
        bad_paths: Vec::new(),
    };
    w.tree(map, where_)?;
    if !w.bad_paths.is_empty() {
        return Err(QueryError::Paths(w.bad_paths));
    }
    Ok((w.sql, w.values))
}

/// The SQL of a sort key (no bound values), None for paths that cannot be sorted on.
pub fn sort_expr(map: &FieldMap, path: &str, dialect: Dialect) -> Option<Vec<String>> {
    let mut w = Writer {
        dialect,
        sql: String::new(),
        values: Vec::new(),
        bad_paths: Vec::new(),
    };
    match map.resolve(path)? {
        Resolved::Scalar(source, ty) => Some(vec![w.scalar(map, &source, ty)]),
        Resolved::DynamicJson { column, path } => Some(vec![
            w.json_num(map.table, column, &path),
            w.json_text(map.table, column, &path),
        ]),
        _ => None,
    }
}

struct Writer {
    dialect: Dialect,
    sql: String,
    values: Vec<SqlValue>,
    bad_paths: Vec<String>,
}

/// A query value converted to a field's type.
#[derive(Debug, Clone)]
pub(super) enum Typed {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    Date(DateTime<FixedOffset>),
}

impl Typed {
    fn into_sql(self) -> SqlValue {
        match self {
            Typed::Null => SqlValue::String(None),
            Typed::Int(n) => n.into(),
            Typed::Float(f) => f.into(),
            Typed::Text(s) => s.into(),
            Typed::Bool(b) => b.into(),
            Typed::Date(d) => d.into(),
        }
    }
}

impl Writer {
    fn push(&mut self, s: &str) {
        self.sql.push_str(s);
    }

    fn bind(&mut self, value: SqlValue) {
        self.values.push(value);
        match self.dialect {
            Dialect::Sqlite => self.sql.push('?'),
            Dialect::Postgres => {
                self.sql.push('$');
                self.sql.push_str(&self.values.len().to_string());
            }
        }
    }

    /// A numeric bind for comparison with a JSON number (NUMERIC on PostgreSQL, where a
    /// JSON number may not fit a double).
    fn bind_json_number(&mut self, f: f64) {
        match self.dialect {
            Dialect::Sqlite => self.bind(f.into()),
            Dialect::Postgres => {
                self.push("CAST(");
                self.bind(f.into());
                self.push(" AS NUMERIC)");
            }
        }
    }

    fn tree(&mut self, map: &FieldMap, w: &Where) -> Result<(), QueryError> {
        match w {
            Where::And(parts) | Where::Or(parts) => {
                let parts: Vec<&Where> = parts.iter().filter(|p| !p.is_empty()).collect();
                if parts.is_empty() {
                    self.push("1=1");
                    return Ok(());
                }
                let joiner = if matches!(w, Where::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.push("(");
                for (i, part) in parts.into_iter().enumerate() {
                    if i > 0 {
                        self.push(joiner);
                    }
                    self.tree(map, part)?;
                }
                self.push(")");
                Ok(())
            }
            Where::Field { path, op, value } => self.field(map, path, *op, value),
        }
    }

    fn field(
        &mut self,
        map: &FieldMap,
        path: &str,
        op: Operator,
        value: &Value,
    ) -> Result<(), QueryError> {
        let Some(resolved) = map.resolve(path) else {
            if !self.bad_paths.iter().any(|p| p == path) {
                self.bad_paths.push(path.to_owned());
            }
            self.push("1=1");
            return Ok(());
        };
        match resolved {
            Resolved::Scalar(source, ty) => {
                let expr = self.scalar(map, &source, ty);
                let json_number =
                    matches!(source, Source::Json(..)) && matches!(ty, Scalar::Int | Scalar::Float);
                self.compare(path, &expr, ty, op, value, json_number)
            }
            Resolved::DynamicJson {
                column,
                path: segments,
            } => self.dynamic_json(map.table, column, &segments, path, op, value),
            Resolved::RelationSub {
                column,
                target,
                rest,
            } => {
                self.push(&format!(
                    "{}.{} IN (SELECT {}.\"id\" FROM {} WHERE ",
                    q(map.table),
                    q(column),
                    q(target.table),
                    q(target.table)
                ));
                self.field(target, &rest, op, value)?;
                self.push(")");
                Ok(())
            }
            Resolved::Many {
                link_table,
                owner_column,
                target_column,
                sub,
            } => self.many(
                map,
                path,
                link_table,
                owner_column,
                target_column,
                sub,
                op,
                value,
            ),
            Resolved::ArrayKey { column, key } => {
                self.array_key(map.table, column, key, path, op, value)
            }
        }
    }

    /// The SQL of a scalar source.
    fn scalar(&mut self, map: &FieldMap, source: &Source, ty: Scalar) -> String {
        match source {
            Source::Column(c) => format!("{}.{}", q(map.table), q(c)),
            Source::Derived(sql) => sql.replace("{t}", &q(map.table)),
            Source::Json(column, path) => match ty {
                Scalar::Int | Scalar::Float => self.json_num(map.table, column, path),
                Scalar::Bool => self.json_bool(map.table, column, path),
                Scalar::Text | Scalar::Date => self.json_text(map.table, column, path),
            },
        }
    }

    fn json_ref(&self, table: &str, column: &str, path: &[String]) -> (String, String) {
        let col = format!("{}.{}", q(table), q(column));
        match self.dialect {
            Dialect::Sqlite => {
                let mut p = String::from("$");
                for s in path {
                    if s.bytes().all(|b| b.is_ascii_digit()) {
                        p.push_str(&format!("[{s}]"));
                    } else {
                        p.push_str(&format!(".\"{s}\""));
                    }
                }
                (col, format!("'{p}'"))
            }
            Dialect::Postgres => (col, format!("'{{{}}}'", path.join(","))),
        }
    }

    fn json_text(&self, table: &str, column: &str, path: &[String]) -> String {
        let (c, p) = self.json_ref(table, column, path);
        match self.dialect {
            Dialect::Sqlite => format!(
                "(CASE json_type({c}, {p}) WHEN 'text' THEN json_extract({c}, {p}) WHEN 'integer' THEN CAST(json_extract({c}, {p}) AS TEXT) WHEN 'real' THEN CAST(json_extract({c}, {p}) AS TEXT) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END)"
            ),
            Dialect::Postgres => format!(
                "(CASE WHEN jsonb_typeof({c} #> {p}) IN ('string', 'number', 'boolean') THEN {c} #>> {p} END)"
            ),
        }
    }

    /// The text that `like` / `contains` search at a free-form JSON path: a scalar's text, or
    /// the JSON text of an object or array, so that a search reaches inside nested values
    /// (a whole document, when the path is the column itself).
    fn json_search_text(&self, table: &str, column: &str, path: &[String]) -> String {
        let (c, p) = self.json_ref(table, column, path);
        match self.dialect {
            Dialect::Sqlite => format!(
                "(CASE json_type({c}, {p}) WHEN 'text' THEN json_extract({c}, {p}) WHEN 'integer' THEN CAST(json_extract({c}, {p}) AS TEXT) WHEN 'real' THEN CAST(json_extract({c}, {p}) AS TEXT) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' WHEN 'object' THEN json_extract({c}, {p}) WHEN 'array' THEN json_extract({c}, {p}) END)"
            ),
            Dialect::Postgres => format!(
                "(CASE WHEN jsonb_typeof({c} #> {p}) IN ('string', 'number', 'boolean', 'object', 'array') THEN {c} #>> {p} END)"
            ),
        }
    }

    fn json_num(&self, table: &str, column: &str, path: &[String]) -> String {
        let (c, p) = self.json_ref(table, column, path);
        match self.dialect {
            Dialect::Sqlite => format!(
                "(CASE WHEN json_type({c}, {p}) IN ('integer', 'real') THEN json_extract({c}, {p}) END)"
            ),
            Dialect::Postgres => format!(
                "(CASE WHEN jsonb_typeof({c} #> {p}) = 'number' THEN CAST({c} #>> {p} AS NUMERIC) END)"
            ),
        }
    }

    fn json_bool(&self, table: &str, column: &str, path: &[String]) -> String {
        let (c, p) = self.json_ref(table, column, path);
        match self.dialect {
            Dialect::Sqlite => {
                format!("(CASE json_type({c}, {p}) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)")
            }
            Dialect::Postgres => format!(
                "(CASE WHEN jsonb_typeof({c} #> {p}) = 'boolean' THEN CAST({c} #>> {p} AS BOOLEAN) END)"
            ),
        }
    }

    fn json_exists(&self, table: &str, column: &str, path: &[String]) -> String {
        let (c, p) = self.json_ref(table, column, path);
        match self.dialect {
            Dialect::Sqlite => format!("COALESCE(json_type({c}, {p}), 'null') <> 'null'"),
            Dialect::Postgres => format!("COALESCE(jsonb_typeof({c} #> {p}), 'null') <> 'null'"),
        }
    }

    /// A typed comparison on a scalar expression.
    fn compare(
        &mut self,
        path: &str,
        expr: &str,
        ty: Scalar,
        op: Operator,
        value: &Value,
        json_number: bool,
    ) -> Result<(), QueryError> {
        let bind_typed = |w: &mut Writer, v: Typed| match v {
            Typed::Float(f) if json_number => w.bind_json_number(f),
            Typed::Int(n) if json_number => w.bind_json_number(n as f64),
            other => w.bind(other.into_sql()),
        };
        match op {
            Operator::Exists => {
                let exists = to_bool(path, op, value)?;
                self.push(&format!(
                    "{expr} {}",
                    if exists { "IS NOT NULL" } else { "IS NULL" }
                ));
            }
            Operator::Equals | Operator::NotEquals => {
                let typed = convert(path, op, ty, value)?;
                let negate = op == Operator::NotEquals;
                match typed {
                    Typed::Null => self.push(&format!(
                        "{expr} {}",
                        if negate { "IS NOT NULL" } else { "IS NULL" }
                    )),
                    v if negate => {
                        self.push(&format!("({expr} IS NULL OR {expr} <> "));
                        bind_typed(self, v);
                        self.push(")");
                    }
                    v => {
                        self.push(&format!("{expr} = "));
                        bind_typed(self, v);
                    }
                }
            }
            Operator::In | Operator::NotIn => {
                let items = list(path, op, value)?
                    .iter()
                    .map(|v| convert(path, op, ty, v))
                    .collect::<Result<Vec<_>, _>>()?;
                let items: Vec<Typed> = items
                    .into_iter()
                    .filter(|t| !matches!(t, Typed::Null))
                    .collect();
                let negate = op == Operator::NotIn;
                if items.is_empty() {
                    self.push(if negate { "1=1" } else { "1=0" });
                    return Ok(());
                }
                if negate {
                    self.push(&format!("({expr} IS NULL OR {expr} NOT IN ("));
                } else {
                    self.push(&format!("{expr} IN ("));
                }
                for (i, v) in items.into_iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    bind_typed(self, v);
                }
                self.push(if negate { "))" } else { ")" });
            }
            Operator::GreaterThan
            | Operator::GreaterThanEqual
            | Operator::LessThan
            | Operator::LessThanEqual => {
                if ty == Scalar::Bool {
                    return Err(unsupported(path, op));
                }
                let v = convert(path, op, ty, value)?;
                if matches!(v, Typed::Null) {
                    return Err(QueryError::Invalid(format!(
                        "“{}” on “{path}” needs a value.",
                        op.as_str()
                    )));
                }
                self.push(&format!("{expr} {} ", comparison(op)));
                bind_typed(self, v);
            }
            Operator::Like | Operator::Contains | Operator::NotLike => {
                if ty != Scalar::Text {
                    return Err(unsupported(path, op));
                }
                self.text_search(expr, path, op, value)?;
            }
        }
        Ok(())
    }

    /// `like` (every word), `contains` (the text) and `not_like` (not the text), all
    /// case-insensitive.
    fn text_search(
        &mut self,
        expr: &str,
        path: &str,
        op: Operator,
        value: &Value,
    ) -> Result<(), QueryError> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(QueryError::Invalid(format!(
                    "“{}” on “{path}” needs a text value.",
                    op.as_str()
                )));
            }
        };
        check_text(&text, MAX_PATTERN_LEN)?;
        let words: Vec<&str> = match op {
            Operator::Like => text.split_whitespace().collect(),
            _ => vec![text.as_str()],
        };
        if words.len() > MAX_WORDS {
            return Err(QueryError::Invalid(format!(
                "“like” accepts at most {MAX_WORDS} words."
            )));
        }
        let words: Vec<&str> = words.into_iter().filter(|w| !w.is_empty()).collect();
        if words.is_empty() {
            self.push("1=1");
            return Ok(());
        }
        self.push("(");
        for (i, word) in words.into_iter().enumerate() {
            if i > 0 {
                self.push(" AND ");
            }
            let pattern = format!("%{}%", escape_like(word));
            if op == Operator::NotLike {
                self.push(&format!("({expr} IS NULL OR LOWER({expr}) NOT LIKE LOWER("));
                self.bind(pattern.into());
                self.push(") ESCAPE '\\')");
            } else {
                self.push(&format!("LOWER({expr}) LIKE LOWER("));
                self.bind(pattern.into());
                self.push(") ESCAPE '\\'");
            }
        }
        self.push(")");
        Ok(())
    }

    /// A path inside a free-form JSON column: the value's own type decides the comparison.
    fn dynamic_json(
        &mut self,
        table: &str,
        column: &str,
        segments: &[String],
        path: &str,
        op: Operator,
        value: &Value,
    ) -> Result<(), QueryError> {
        let text = self.json_text(table, column, segments);
        let num = self.json_num(table, column, segments);
        match op {
            Operator::Exists => {
                let exists = to_bool(path, op, value)?;
                let e = self.json_exists(table, column, segments);
                self.push(&if exists { e } else { format!("NOT ({e})") });
            }
            Operator::Equals | Operator::NotEquals | Operator::In | Operator::NotIn => {
                let items: Vec<Value> = match op {
                    Operator::In | Operator::NotIn => list(path, op, value)?,
                    _ => vec![value.clone()],
                };
                let negate = matches!(op, Operator::NotEquals | Operator::NotIn);
                if items.is_empty() {
                    self.push(if negate { "1=1" } else { "1=0" });
                    return Ok(());
                }
                self.push(if negate {
                    "NOT COALESCE(("
                } else {
                    "COALESCE(("
                });
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(" OR ");
                    }
                    if item.is_null() {
                        let e = self.json_exists(table, column, segments);
                        self.push(&format!("NOT ({e})"));
                        continue;
                    }
                    let (t, n) = loose(path, item)?;
                    self.push(&format!("{text} = "));
                    self.bind(t.into());
                    if let Some(n) = n {
                        self.push(&format!(" OR {num} = "));
                        self.bind_json_number(n);
                    }
                }
                self.push("), FALSE)");
            }
            Operator::GreaterThan
            | Operator::GreaterThanEqual
            | Operator::LessThan
            | Operator::LessThanEqual => {
                let (t, n) = loose(path, value)?;
                match n {
                    Some(n) => {
                        self.push(&format!("{num} {} ", comparison(op)));
                        self.bind_json_number(n);
                    }
                    None => {
                        self.push(&format!("{text} {} ", comparison(op)));
                        self.bind(t.into());
                    }
                }
            }
            Operator::Like | Operator::Contains | Operator::NotLike => {
                let searched = self.json_search_text(table, column, segments);
                self.text_search(&searched, path, op, value)?;
            }
        }
        Ok(())
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the parts of one resolved relation"
    )]
    fn many(
        &mut self,
        map: &FieldMap,
        path: &str,
        link: &str,
        owner: &str,
        target_col: &str,
        sub: Option<(&'static FieldMap, String)>,
        op: Operator,
        value: &Value,
    ) -> Result<(), QueryError> {
        let id = format!("{}.\"id\"", q(map.table));
        let link_select = format!("SELECT {}.{} FROM {}", q(link), q(owner), q(link));
        if let Some((target, rest)) = sub {
            self.push(&format!(
                "{id} IN ({link_select} WHERE {}.{} IN (SELECT {}.\"id\" FROM {} WHERE ",
                q(link),
                q(target_col),
                q(target.table),
                q(target.table)
            ));
            self.field(target, &rest, op, value)?;
            self.push("))");
            return Ok(());
        }
        let target = format!("{}.{}", q(link), q(target_col));
        match op {
            Operator::Exists => {
                let exists = to_bool(path, op, value)?;
                self.push(&format!(
                    "{id} {}IN ({link_select})",
                    if exists { "" } else { "NOT " }
                ));
            }
            Operator::Equals | Operator::Contains | Operator::NotEquals => {
                let v = convert(path, op, Scalar::Int, value)?;
                let negate = op == Operator::NotEquals;
                if matches!(v, Typed::Null) {
                    self.push(&format!(
                        "{id} {}IN ({link_select})",
                        if negate { "" } else { "NOT " }
                    ));
                    return Ok(());
                }
                self.push(&format!(
                    "{id} {}IN ({link_select} WHERE {target} = ",
                    if negate { "NOT " } else { "" }
                ));
                self.bind(v.into_sql());
                self.push(")");
            }
            Operator::In | Operator::NotIn => {
                let items = list(path, op, value)?
                    .iter()
                    .map(|v| convert(path, op, Scalar::Int, v))
                    .collect::<Result<Vec<_>, _>>()?;
                let items: Vec<Typed> = items
                    .into_iter()
                    .filter(|t| !matches!(t, Typed::Null))
                    .collect();
                let negate = op == Operator::NotIn;
                if items.is_empty() {
                    self.push(if negate { "1=1" } else { "1=0" });
                    return Ok(());
                }
                self.push(&format!(
                    "{id} {}IN ({link_select} WHERE {target} IN (",
                    if negate { "NOT " } else { "" }
                ));
                for (i, v) in items.into_iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.bind(v.into_sql());
                }
                self.push("))");
            }
            _ => return Err(unsupported(path, op)),
        }
        Ok(())
    }

    /// A key of the objects in a JSON array: true when any element matches.
    fn array_key(
        &mut self,
        table: &str,
        column: &str,
        key: &str,
        path: &str,
        op: Operator,
        value: &Value,
    ) -> Result<(), QueryError> {
        let col = format!("{}.{}", q(table), q(column));
        let (from, elem) = match self.dialect {
            Dialect::Sqlite => (
                format!(
                    "json_each(CASE WHEN json_type({col}) = 'array' THEN {col} ELSE '[]' END) AS je"
                ),
                format!("json_extract(je.value, '$.\"{key}\"')"),
            ),
            Dialect::Postgres => (
                format!(
                    "jsonb_array_elements(CASE WHEN jsonb_typeof({col}) = 'array' THEN {col} ELSE '[]'::jsonb END) AS je(value)"
                ),
                format!("(je.value ->> '{key}')"),
            ),
        };
        let (negate, inner_op) = match op {
            Operator::NotEquals => (true, Operator::Equals),
            Operator::NotIn => (true, Operator::In),
            Operator::NotLike => (true, Operator::Contains),
            Operator::Exists if !to_bool(path, op, value)? => (true, Operator::Exists),
            Operator::GreaterThan
            | Operator::GreaterThanEqual
            | Operator::LessThan
            | Operator::LessThanEqual => {
                return Err(unsupported(path, op));
            }
            other => (false, other),
        };
        self.push(&format!(
            "{}EXISTS (SELECT 1 FROM {from} WHERE ",
            if negate { "NOT " } else { "" }
        ));
        let inner_value = if inner_op == Operator::Exists {
            Value::Bool(true)
        } else {
            value.clone()
        };
        self.compare(path, &elem, Scalar::Text, inner_op, &inner_value, false)?;
        self.push(")");
        Ok(())
    }
}

/// A quoted identifier (names come from the static field maps only).
fn q(name: &str) -> String {
    format!("\"{name}\"")
}

fn comparison(op: Operator) -> &'static str {
    match op {
        Operator::GreaterThan => ">",
        Operator::GreaterThanEqual => ">=",
        Operator::LessThan => "<",
        _ => "<=",
    }
}

pub(super) fn unsupported(path: &str, op: Operator) -> QueryError {
    QueryError::Invalid(format!(
        "The operator “{}” cannot be used on “{path}”.",
        op.as_str()
    ))
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(super) fn check_text(s: &str, max: usize) -> Result<(), QueryError> {
    if s.contains('\0') {
        return Err(QueryError::Invalid(
            "Query values must not contain NUL characters.".into(),
        ));
    }
    if s.chars().count() > max {
        return Err(QueryError::Invalid(format!(
            "Query values are limited to {max} characters."
        )));
    }
    Ok(())
}

/// The items of an `in` / `not_in` value: an array, or a comma-separated string.
pub(super) fn list(path: &str, op: Operator, value: &Value) -> Result<Vec<Value>, QueryError> {
    let items: Vec<Value> = match value {
        Value::Array(items) => items.clone(),
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(s) => s
            .split(',')
            .map(|p| Value::String(p.trim().to_owned()))
            .collect(),
        Value::Null => Vec::new(),
        Value::Object(_) => {
            return Err(QueryError::Invalid(format!(
                "“{}” on “{path}” needs a list of values.",
                op.as_str()
            )));
        }
        scalar => vec![scalar.clone()],
    };
    if items.len() > MAX_LIST {
        return Err(QueryError::Invalid(format!(
            "“{}” accepts at most {MAX_LIST} values.",
            op.as_str()
        )));
    }
    Ok(items)
}

/// `exists` takes true/false.
pub(super) fn to_bool(path: &str, op: Operator, value: &Value) -> Result<bool, QueryError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") || s == "0" => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        _ => Err(QueryError::Invalid(format!(
            "“{}” on “{path}” takes true or false.",
            op.as_str()
        ))),
    }
}

/// A value for a free-form JSON path: its text form, and its number when it is one.
pub(super) fn loose(path: &str, value: &Value) -> Result<(String, Option<f64>), QueryError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => {
            return Err(QueryError::Invalid(format!(
                "The value for “{path}” must be a string, number or boolean."
            )));
        }
    };
    check_text(&text, MAX_VALUE_LEN)?;
    let number = text
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite() && looks_numeric(text.trim()));
    Ok((text, number))
}

/// Rust accepts "inf", "NaN" and "1e5"; only plain decimal numbers count here.
fn looks_numeric(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && s.bytes().filter(|b| *b == b'.').count() <= 1
        && s.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// Converts a raw value to a field's type.
pub(super) fn convert(
    path: &str,
    op: Operator,
    ty: Scalar,
    value: &Value,
) -> Result<Typed, QueryError> {
    let bad = |expected: &str| {
        QueryError::Invalid(format!(
            "Invalid value for “{path}” ({}): expected {expected}.",
            op.as_str()
        ))
    };
    if value.is_null() {
        return Ok(Typed::Null);
    }
    match ty {
        Scalar::Text => match value {
            Value::String(s) => {
                check_text(s, MAX_VALUE_LEN)?;
                Ok(Typed::Text(s.clone()))
            }
            Value::Number(n) => Ok(Typed::Text(n.to_string())),
            Value::Bool(b) => Ok(Typed::Text(b.to_string())),
            _ => Err(bad("text")),
        },
        Scalar::Int | Scalar::Float => {
            let number = match value {
                Value::Number(n) => n
                    .as_i64()
                    .map(Typed::Int)
                    .or_else(|| n.as_f64().map(Typed::Float)),
                Value::String(s) if s.trim() == "null" => Some(Typed::Null),
                Value::String(s) => {
                    let s = s.trim();
                    if !looks_numeric(s) {
                        None
                    } else if let Ok(n) = s.parse::<i64>() {
                        Some(Typed::Int(n))
                    } else {
                        s.parse::<f64>().ok().map(Typed::Float)
                    }
                }
                _ => None,
            };
            match number {
                Some(Typed::Float(f)) if !f.is_finite() => Err(bad("a number")),
                Some(Typed::Int(n)) if ty == Scalar::Float => Ok(Typed::Float(n as f64)),
                Some(n) => Ok(n),
                None => Err(bad("a number")),
            }
        }
        Scalar::Bool => match value {
            Value::Bool(b) => Ok(Typed::Bool(*b)),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(Typed::Bool(true)),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(Typed::Bool(false)),
            Value::String(s) if s == "null" => Ok(Typed::Null),
            _ => Err(bad("true or false")),
        },
        Scalar::Date => match value {
            Value::String(s) if s == "null" || s.is_empty() => Ok(Typed::Null),
            Value::String(s) => parse_date(s.trim())
                .map(Typed::Date)
                .ok_or_else(|| bad("a date (RFC 3339, YYYY-MM-DD or milliseconds)")),
            Value::Number(n) => n
                .as_i64()
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                .filter(|d| (1..=9999).contains(&chrono::Datelike::year(d)))
                .map(|d| Typed::Date(d.fixed_offset()))
                .ok_or_else(|| bad("a date")),
            _ => Err(bad("a date")),
        },
    }
}

/// RFC 3339, a bare date, a date-time without zone (UTC), or epoch milliseconds; years
/// 1–9999 (PostgreSQL refuses some others).
pub(super) fn parse_date(s: &str) -> Option<DateTime<FixedOffset>> {
    let utc = if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        d.with_timezone(&Utc)
    } else if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0)?.and_utc()
    } else if let Ok(d) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        d.and_utc()
    } else if let Ok(d) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f") {
        d.and_utc()
    } else if looks_numeric(s) && !s.contains('.') {
        Utc.timestamp_millis_opt(s.parse().ok()?).single()?
    } else {
        return None;
    };
    (1..=9999)
        .contains(&chrono::Datelike::year(&utc))
        .then(|| utc.fixed_offset())
}

#[cfg(test)]
mod tests {
    use super::super::fields::{Field, Kind};
    use super::super::where_clause::parse;
    use super::*;
    use serde_json::json;

    static DEPARTMENTS: FieldMap = FieldMap {
        table: "departments",
        fields: &[Field {
            name: "slug",
            kind: Kind::Column {
                column: "slug",
                ty: Scalar::Text,
            },
        }],
        open_json: None,
    };

    static AGENTS: FieldMap = FieldMap {
        table: "agents",
        fields: &[
            Field {
                name: "id",
                kind: Kind::Column {
                    column: "id",
                    ty: Scalar::Int,
                },
            },
            Field {
                name: "name",
                kind: Kind::Column {
                    column: "name",
                    ty: Scalar::Text,
                },
            },
            Field {
                name: "isActive",
                kind: Kind::Column {
                    column: "is_active",
                    ty: Scalar::Bool,
                },
            },
            Field {
                name: "createdAt",
                kind: Kind::Column {
                    column: "created_at",
                    ty: Scalar::Date,
                },
            },
            Field {
                name: "department",
                kind: Kind::Relation {
                    column: "department_id",
                    target: &DEPARTMENTS,
                },
            },
            Field {
                name: "executionSettings.temperature",
                kind: Kind::JsonValue {
                    column: "execution_settings",
                    path: &["temperature"],
                    ty: Scalar::Float,
                },
            },
            Field {
                name: "toolNames",
                kind: Kind::JsonArray {
                    column: "tool_names",
                    key: "toolName",
                },
            },
            Field {
                name: "departments",
                kind: Kind::RelationMany {
                    link_table: "links",
                    owner_column: "tool_id",
                    target_column: "department_id",
                    target: &DEPARTMENTS,
                },
            },
        ],
        open_json: None,
    };

    static DATA: FieldMap = FieldMap {
        table: "tool_documents",
        fields: &[Field {
            name: "id",
            kind: Kind::Column {
                column: "id",
                ty: Scalar::Int,
            },
        }],
        open_json: Some("data"),
    };

    fn sql(where_: Value, dialect: Dialect) -> Result<(String, Vec<SqlValue>), QueryError> {
        render(&AGENTS, &parse(&where_)?, dialect)
    }

    #[test]
    fn equality_binds_a_typed_value() {
        let (s, v) = sql(json!({"name": {"equals": "Ann"}}), Dialect::Sqlite).expect("ok");
        assert_eq!(s, r#""agents"."name" = ?"#);
        assert_eq!(v, vec![SqlValue::from("Ann")]);
        let (s, v) = sql(json!({"id": {"equals": "7"}}), Dialect::Postgres).expect("ok");
        assert_eq!(s, r#""agents"."id" = $1"#);
        assert_eq!(v, vec![SqlValue::from(7i64)]);
        let (_, v) = sql(json!({"isActive": {"equals": "true"}}), Dialect::Sqlite).expect("ok");
        assert_eq!(v, vec![SqlValue::from(true)]);
    }

    #[test]
    fn nested_and_or_numbers_placeholders_in_order() {
        let (s, v) = sql(
            json!({"or": [{"name": {"equals": "a"}}, {"and": [{"id": {"greater_than": 1}}, {"id": {"less_than_equal": 9}}]}]}),
            Dialect::Postgres,
        )
        .expect("ok");
        assert_eq!(
            s,
            r#"("agents"."name" = $1 OR ("agents"."id" > $2 AND "agents"."id" <= $3))"#
        );
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn not_equals_and_not_in_keep_missing_values() {
        let (s, _) = sql(json!({"name": {"not_equals": "a"}}), Dialect::Sqlite).expect("ok");
        assert_eq!(s, r#"("agents"."name" IS NULL OR "agents"."name" <> ?)"#);
        let (s, v) = sql(json!({"id": {"not_in": "1,2"}}), Dialect::Sqlite).expect("ok");
        assert_eq!(
            s,
            r#"("agents"."id" IS NULL OR "agents"."id" NOT IN (?, ?))"#
        );
        assert_eq!(v, vec![SqlValue::from(1i64), SqlValue::from(2i64)]);
        let (s, _) = sql(json!({"id": {"in": []}}), Dialect::Sqlite).expect("ok");
        assert_eq!(s, "1=0");
    }

    #[test]
    fn like_needs_every_word_and_escapes_wildcards() {
        let (s, v) = sql(json!({"name": {"like": "story  50%"}}), Dialect::Sqlite).expect("ok");
        assert_eq!(
            s,
            r#"(LOWER("agents"."name") LIKE LOWER(?) ESCAPE '\' AND LOWER("agents"."name") LIKE LOWER(?) ESCAPE '\')"#
        );
        assert_eq!(
            v,
            vec![SqlValue::from("%story%"), SqlValue::from("%50\\%%")]
        );
    }

    #[test]
    fn relations_become_subqueries() {
        let (s, v) = sql(
            json!({"department.slug": {"equals": "story"}}),
            Dialect::Postgres,
        )
        .expect("ok");
        assert_eq!(
            s,
            r#""agents"."department_id" IN (SELECT "departments"."id" FROM "departments" WHERE "departments"."slug" = $1)"#
        );
        assert_eq!(v, vec![SqlValue::from("story")]);
        let (s, _) = sql(json!({"departments": {"in": [1, 2]}}), Dialect::Sqlite).expect("ok");
        assert_eq!(
            s,
            r#""agents"."id" IN (SELECT "links"."tool_id" FROM "links" WHERE "links"."department_id" IN (?, ?))"#
        );
    }

    #[test]
    fn json_paths_are_literal_and_values_bound() {
        let (s, _) = sql(
            json!({"executionSettings.temperature": {"greater_than": "0.5"}}),
            Dialect::Postgres,
        )
        .expect("ok");
        assert!(
            s.contains(
                r#"jsonb_typeof("agents"."execution_settings" #> '{temperature}') = 'number'"#
            ),
            "{s}"
        );
        assert!(s.ends_with("> CAST($1 AS NUMERIC)"), "{s}");
        let (s, v) = render(
            &DATA,
            &parse(&json!({"world.era": {"equals": "5"}})).expect("ok"),
            Dialect::Sqlite,
        )
        .expect("ok");
        assert!(s.contains(r#"'$."world"."era"'"#), "{s}");
        assert_eq!(v, vec![SqlValue::from("5"), SqlValue::from(5.0f64)]);
        let (s, _) = sql(
            json!({"toolNames.toolName": {"equals": "x"}}),
            Dialect::Postgres,
        )
        .expect("ok");
        assert!(
            s.starts_with("EXISTS (SELECT 1 FROM jsonb_array_elements("),
            "{s}"
        );
    }

    #[test]
    fn text_search_on_json_reaches_inside_objects_and_arrays() {
        let (s, v) = render(
            &DATA,
            &parse(&json!({"tags": {"contains": "ice"}})).expect("ok"),
            Dialect::Sqlite,
        )
        .expect("ok");
        assert!(
            s.contains(r#"WHEN 'array' THEN json_extract("tool_documents"."data", '$."tags"')"#),
            "{s}"
        );
        assert_eq!(v, vec![SqlValue::from("%ice%")]);
        let (s, _) = render(
            &DATA,
            &parse(&json!({"stats": {"like": "level"}})).expect("ok"),
            Dialect::Postgres,
        )
        .expect("ok");
        assert!(
            s.contains(r#"IN ('string', 'number', 'boolean', 'object', 'array') THEN "tool_documents"."data" #>> '{stats}'"#),
            "{s}"
        );
        // Equality still compares scalars only.
        let (s, _) = render(
            &DATA,
            &parse(&json!({"tags": {"equals": "ice"}})).expect("ok"),
            Dialect::Sqlite,
        )
        .expect("ok");
        assert!(!s.contains("'array'"), "{s}");
    }

    #[test]
    fn dates_accept_several_forms() {
        for v in [
            "2026-01-02",
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.123+02:00",
            "1767225600000",
        ] {
            assert!(
                sql(json!({"createdAt": {"greater_than": v}}), Dialect::Sqlite).is_ok(),
                "{v}"
            );
        }
        for v in ["yesterday", "99999-01-01", "0000-01-01", "2026-13-01"] {
            assert!(
                sql(json!({"createdAt": {"greater_than": v}}), Dialect::Sqlite).is_err(),
                "{v}"
            );
        }
    }

    #[test]
    fn bad_values_and_operators_are_query_errors() {
        for w in [
            json!({"id": {"equals": "abc"}}),
            json!({"id": {"equals": "NaN"}}),
            json!({"id": {"equals": "inf"}}),
            json!({"isActive": {"equals": "yes"}}),
            json!({"isActive": {"greater_than": true}}),
            json!({"id": {"like": "1"}}),
            json!({"name": {"exists": "maybe"}}),
            json!({"name": {"equals": "a\u{0}b"}}),
            json!({"name": {"in": {"a": 1}}}),
            json!({"departments": {"like": "x"}}),
            json!({"toolNames": {"greater_than": "x"}}),
        ] {
            assert!(
                matches!(
                    sql(w.clone(), Dialect::Postgres),
                    Err(QueryError::Invalid(_))
                ),
                "{w}"
            );
        }
    }

    #[test]
    fn unknown_paths_are_all_reported() {
        let err = sql(
            json!({"password": {"equals": "x"}, "or": [{"nope": {"exists": true}}]}),
            Dialect::Sqlite,
        );
        assert!(matches!(err, Err(QueryError::Paths(p)) if p == ["nope", "password"]));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<f64>().prop_map(|f| json!(f)),
                "[a-zA-Z0-9 ,.%_'\\\"-]{0,8}".prop_map(Value::String),
                prop::sample::select(vec![
                    "name",
                    "id",
                    "isActive",
                    "createdAt",
                    "department.slug",
                    "toolNames",
                    "executionSettings.temperature",
                    "departments",
                    "equals",
                    "in",
                    "like",
                    "exists",
                    "or",
                    "and",
                    "greater_than"
                ])
                .prop_map(|s| Value::String(s.to_owned())),
            ];
            leaf.prop_recursive(5, 40, 5, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(
                        prop::sample::select(vec![
                            "name",
                            "id",
                            "isActive",
                            "createdAt",
                            "department.slug",
                            "department",
                            "toolNames.toolName",
                            "executionSettings.temperature",
                            "departments",
                            "and",
                            "or",
                            "equals",
                            "not_equals",
                            "in",
                            "not_in",
                            "like",
                            "not_like",
                            "contains",
                            "greater_than",
                            "less_than_equal",
                            "exists",
                            "world.era",
                            "x"
                        ])
                        .prop_map(str::to_owned),
                        inner,
                        0..4,
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn placeholders(sql: &str, dialect: Dialect) -> usize {
            match dialect {
                Dialect::Sqlite => sql.matches('?').count(),
                Dialect::Postgres => sql
                    .split('$')
                    .skip(1)
                    .filter_map(|rest| {
                        rest.split(|c: char| !c.is_ascii_digit())
                            .next()?
                            .parse::<usize>()
                            .ok()
                    })
                    .max()
                    .unwrap_or(0),
            }
        }

        proptest! {
            /// Any JSON either is refused with a query error or renders SQL whose
            /// placeholders match its values exactly (a mismatch would panic in sea-query).
            #[test]
            fn any_where_renders_consistent_sql_or_a_query_error(value in json()) {
                let Ok(tree) = parse(&value) else { return Ok(()) };
                for map in [&AGENTS, &DATA] {
                    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                        if let Ok((sql, values)) = render(map, &tree, dialect) {
                            prop_assert_eq!(placeholders(&sql, dialect), values.len(), "{}", sql);
                            prop_assert!(!sql.contains('\0'));
                        }
                    }
                }
            }

            /// Arbitrary query strings never panic the parser.
            #[test]
            fn any_query_string_parses_or_errors(raw in ".{0,200}") {
                let _ = crate::query::ListParams::parse(&raw);
            }
        }
    }
}
