//! The where-engine over a JSON document in memory: the same parsed [`Where`], the same
//! field map, the same value conversions and operator meanings as the SQL engine
//! ([`super::sql`]), for decisions taken before anything is stored (model routing rules).
//!
//! The document is keyed by API paths (`promptLength`, `metadata.tier`). Scalar fields
//! compare typed values; free-form JSON paths compare loosely (text form, or number when
//! both are numbers), as the SQL engine does. Every condition is evaluated, with no short
//! circuit, so a bad value is an error whatever the document holds — as it is in SQL,
//! where the whole filter is rendered before it runs.

use std::cmp::Ordering;

use serde_json::Value;

use super::QueryError;
use super::fields::{FieldMap, Resolved, Scalar};
use super::sql::{
    MAX_PATTERN_LEN, MAX_WORDS, Typed, check_text, convert, list, loose, parse_date, to_bool,
    unsupported,
};
use super::where_clause::{Operator, Where};

/// Whether `doc` matches `where_` on `map`. Paths that name nothing are reported together,
/// as [`QueryError::Paths`]; relations cannot be followed in memory (an error).
pub fn matches(map: &FieldMap, where_: &Where, doc: &Value) -> Result<bool, QueryError> {
    let mut bad_paths = Vec::new();
    let result = tree(map, where_, doc, &mut bad_paths)?;
    if !bad_paths.is_empty() {
        return Err(QueryError::Paths(bad_paths));
    }
    Ok(result)
}

/// Checks that `where_` can be evaluated on `map` (paths, operators, values).
pub fn check(map: &FieldMap, where_: &Where) -> Result<(), QueryError> {
    matches(map, where_, &Value::Null).map(|_| ())
}

fn tree(map: &FieldMap, w: &Where, doc: &Value, bad: &mut Vec<String>) -> Result<bool, QueryError> {
    match w {
        Where::And(parts) => {
            let results = parts
                .iter()
                .map(|p| tree(map, p, doc, bad))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(results.into_iter().all(|r| r))
        }
        // An empty `or` is ignored, as in SQL.
        Where::Or(parts) if parts.iter().all(Where::is_empty) => Ok(true),
        Where::Or(parts) => {
            let results = parts
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| tree(map, p, doc, bad))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(results.into_iter().any(|r| r))
        }
        Where::Field { path, op, value } => {
            let Some(resolved) = map.resolve(path) else {
                if !bad.iter().any(|p| p == path) {
                    bad.push(path.clone());
                }
                return Ok(true);
            };
            let found = lookup(doc, path);
            match resolved {
                Resolved::Scalar(_, ty) => scalar(path, ty, *op, value, found),
                Resolved::DynamicJson { .. } => dynamic(path, *op, value, found),
                _ => Err(QueryError::Invalid(format!(
                    "“{path}” cannot be used in this condition."
                ))),
            }
        }
    }
}

/// The value at a dotted path; JSON null counts as missing.
fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = doc;
    for segment in path.split('.') {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current).filter(|v| !v.is_null())
}

/// A document value read as the field's type (None: missing, or not of that type).
fn typed(ty: Scalar, v: &Value) -> Option<Typed> {
    match (ty, v) {
        (Scalar::Text, Value::String(s)) => Some(Typed::Text(s.clone())),
        (Scalar::Text, Value::Number(n)) => Some(Typed::Text(n.to_string())),
        (Scalar::Text, Value::Bool(b)) => Some(Typed::Text(b.to_string())),
        (Scalar::Int | Scalar::Float, Value::Number(n)) => n.as_f64().map(Typed::Float),
        (Scalar::Bool, Value::Bool(b)) => Some(Typed::Bool(*b)),
        (Scalar::Date, Value::String(s)) => parse_date(s).map(Typed::Date),
        _ => None,
    }
}

fn order(a: &Typed, b: &Typed) -> Option<Ordering> {
    match (a, b) {
        (Typed::Text(a), Typed::Text(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Typed::Bool(a), Typed::Bool(b)) => Some(a.cmp(b)),
        (Typed::Date(a), Typed::Date(b)) => Some(a.cmp(b)),
        (a, b) => number(a)?.partial_cmp(&number(b)?),
    }
}

fn number(t: &Typed) -> Option<f64> {
    match t {
        Typed::Int(n) => Some(*n as f64),
        Typed::Float(f) => Some(*f),
        _ => None,
    }
}

fn scalar(
    path: &str,
    ty: Scalar,
    op: Operator,
    value: &Value,
    found: Option<&Value>,
) -> Result<bool, QueryError> {
    let doc = found.and_then(|v| typed(ty, v));
    let equal = |v: &Typed| doc.as_ref().and_then(|d| order(d, v)) == Some(Ordering::Equal);
    match op {
        Operator::Exists => Ok(to_bool(path, op, value)? == doc.is_some()),
        Operator::Equals | Operator::NotEquals => {
            let negate = op == Operator::NotEquals;
            Ok(match convert(path, op, ty, value)? {
                Typed::Null => doc.is_some() == negate,
                v => equal(&v) != negate,
            })
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
            let hit = items.iter().any(equal);
            Ok(if op == Operator::NotIn { !hit } else { hit })
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
            Ok(doc
                .as_ref()
                .and_then(|d| order(d, &v))
                .is_some_and(|o| compares(op, o)))
        }
        Operator::Like | Operator::Contains | Operator::NotLike => {
            if ty != Scalar::Text {
                return Err(unsupported(path, op));
            }
            let text = match &doc {
                Some(Typed::Text(s)) => Some(s.as_str()),
                _ => None,
            };
            text_search(path, op, value, text)
        }
    }
}

fn compares(op: Operator, o: Ordering) -> bool {
    match op {
        Operator::GreaterThan => o == Ordering::Greater,
        Operator::GreaterThanEqual => o != Ordering::Less,
        Operator::LessThan => o == Ordering::Less,
        _ => o != Ordering::Greater,
    }
}

/// `like` (every word), `contains` (the text), `not_like` (not the text; true when
/// missing), all case-insensitive.
fn text_search(
    path: &str,
    op: Operator,
    value: &Value,
    text: Option<&str>,
) -> Result<bool, QueryError> {
    let needle = match value {
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
    check_text(&needle, MAX_PATTERN_LEN)?;
    let words: Vec<String> = match op {
        Operator::Like => needle.split_whitespace().map(str::to_lowercase).collect(),
        _ => vec![needle.to_lowercase()],
    };
    if words.len() > MAX_WORDS {
        return Err(QueryError::Invalid(format!(
            "“like” accepts at most {MAX_WORDS} words."
        )));
    }
    let words: Vec<String> = words.into_iter().filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return Ok(true);
    }
    let haystack = text.map(str::to_lowercase);
    Ok(match (op, haystack) {
        (Operator::NotLike, None) => true,
        (Operator::NotLike, Some(h)) => words.iter().all(|w| !h.contains(w.as_str())),
        (_, None) => false,
        (_, Some(h)) => words.iter().all(|w| h.contains(w.as_str())),
    })
}

/// The text form of a JSON scalar (strings, numbers, booleans).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn dynamic(
    path: &str,
    op: Operator,
    value: &Value,
    found: Option<&Value>,
) -> Result<bool, QueryError> {
    let text = found.and_then(scalar_text);
    let num = found.and_then(Value::as_f64);
    match op {
        Operator::Exists => Ok(to_bool(path, op, value)? == found.is_some()),
        Operator::Equals | Operator::NotEquals | Operator::In | Operator::NotIn => {
            let items: Vec<Value> = match op {
                Operator::In | Operator::NotIn => list(path, op, value)?,
                _ => vec![value.clone()],
            };
            let mut hit = false;
            for item in &items {
                if item.is_null() {
                    hit |= found.is_none();
                    continue;
                }
                let (t, n) = loose(path, item)?;
                hit |= text.as_deref() == Some(t.as_str()) || n.is_some_and(|n| num == Some(n));
            }
            let negate = matches!(op, Operator::NotEquals | Operator::NotIn);
            Ok(hit != negate)
        }
        Operator::GreaterThan
        | Operator::GreaterThanEqual
        | Operator::LessThan
        | Operator::LessThanEqual => {
            let (t, n) = loose(path, value)?;
            let o = match n {
                Some(n) => num.and_then(|d| d.partial_cmp(&n)),
                None => text.map(|d| d.as_bytes().cmp(t.as_bytes())),
            };
            Ok(o.is_some_and(|o| compares(op, o)))
        }
        Operator::Like | Operator::Contains | Operator::NotLike => {
            let searched = found.map(|v| scalar_text(v).unwrap_or_else(|| v.to_string()));
            text_search(path, op, value, searched.as_deref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::fields::{Field, Kind};
    use crate::query::where_clause::parse;
    use serde_json::json;

    static MAP: FieldMap = FieldMap {
        table: "t",
        fields: &[
            Field {
                name: "n",
                kind: Kind::Column {
                    column: "n",
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
                name: "meta",
                kind: Kind::Json { column: "meta" },
            },
        ],
        open_json: None,
    };

    fn eval(w: Value, doc: Value) -> Result<bool, QueryError> {
        matches(&MAP, &parse(&w)?, &doc)
    }

    #[test]
    fn scalar_operators_mean_what_they_mean_in_sql() {
        let doc = json!({"n": 5, "name": "Story Head", "meta": {"tier": "gold", "n": 3}});
        let yes = [
            json!({"n": {"equals": 5}}),
            json!({"n": {"greater_than": "4"}}),
            json!({"n": {"in": "1,5"}}),
            json!({"n": {"not_equals": 4}}),
            json!({"name": {"like": "head story"}}),
            json!({"name": {"contains": "ry he"}}),
            json!({"name": {"not_like": "editor"}}),
            json!({"meta.tier": {"equals": "gold"}}),
            json!({"meta.n": {"less_than_equal": 3}}),
            json!({"meta.missing": {"exists": false}}),
            json!({"meta.missing": {"not_equals": "x"}}),
            json!({"or": [{"n": {"equals": 1}}, {"meta.tier": {"in": ["gold", "silver"]}}]}),
        ];
        for w in yes {
            assert_eq!(eval(w.clone(), doc.clone()), Ok(true), "{w}");
        }
        let no = [
            json!({"n": {"less_than": 5}}),
            json!({"name": {"like": "head editor"}}),
            json!({"meta.tier": {"equals": "silver"}}),
            json!({"meta.missing": {"equals": "x"}}),
            json!({"and": [{"n": {"equals": 5}}, {"meta.n": {"greater_than": 3}}]}),
        ];
        for w in no {
            assert_eq!(eval(w.clone(), doc.clone()), Ok(false), "{w}");
        }
    }

    #[test]
    fn bad_paths_and_values_are_errors_whatever_the_document() {
        assert_eq!(
            eval(
                json!({"nope": {"equals": 1}, "or": [{"n": {"equals": 5}}]}),
                json!({"n": 5})
            ),
            Err(QueryError::Paths(vec!["nope".into()]))
        );
        assert!(eval(json!({"n": {"greater_than": "many"}}), json!({})).is_err());
        assert!(eval(json!({"n": {"like": "x"}}), json!({})).is_err());
        assert!(check(&MAP, &parse(&json!({"n": {"equals": 1}})).expect("parses")).is_ok());
    }
}
