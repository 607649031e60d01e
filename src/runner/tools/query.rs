//! Payload-style queries over JSON documents, evaluated in Rust: the `where` object
//! (`equals`, `not_equals`, `in`, `not_in`, `like`, `not_like`, `contains`, `greater_than`,
//! `greater_than_equal`, `less_than`, `less_than_equal`, `exists`, nested `and`/`or`; several
//! fields in one object mean AND; dotted paths reach into nested objects), `sort`
//! (`field`, `-field`, comma-separated) and the paginated envelope.

use std::cmp::Ordering;

use serde_json::{Value, json};

/// Page size when a query names none.
pub const DEFAULT_LIMIT: u64 = 10;
/// Largest page a tool may ask for.
pub const MAX_LIMIT: u64 = 100;

const OPERATORS: &[&str] = &[
    "equals",
    "not_equals",
    "in",
    "not_in",
    "like",
    "not_like",
    "contains",
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "exists",
];

/// Whether `doc` matches the `where` object; an error names what is malformed.
pub fn matches(doc: &Value, r#where: &Value) -> Result<bool, String> {
    let Value::Object(conditions) = r#where else {
        return Err("`where` must be an object".into());
    };
    for (key, spec) in conditions {
        let ok = match key.as_str() {
            "and" => all_of(doc, spec, true)?,
            "or" => all_of(doc, spec, false)?,
            field => field_matches(lookup(doc, field), spec)?,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `and` (every clause) or `or` (any clause) over an array of `where` objects.
fn all_of(doc: &Value, clauses: &Value, every: bool) -> Result<bool, String> {
    let Value::Array(clauses) = clauses else {
        return Err("`and` and `or` take an array of conditions".into());
    };
    for clause in clauses {
        if matches(doc, clause)? != every {
            return Ok(!every);
        }
    }
    Ok(every || clauses.is_empty())
}

/// The value at a dotted path (`stats.score`), `None` when absent.
fn lookup<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(doc, |value, key| match value {
        Value::Object(map) => map.get(key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

fn field_matches(actual: Option<&Value>, spec: &Value) -> Result<bool, String> {
    let Value::Object(ops) = spec else {
        return Ok(equals(actual, spec));
    };
    if let Some(unknown) = ops.keys().find(|k| !OPERATORS.contains(&k.as_str())) {
        return Err(format!(
            "unknown where operator `{unknown}` (supported: {})",
            OPERATORS.join(", ")
        ));
    }
    for (op, expected) in ops {
        if !operator(op, actual, expected)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn operator(op: &str, actual: Option<&Value>, expected: &Value) -> Result<bool, String> {
    let present = actual.filter(|v| !v.is_null());
    Ok(match op {
        "equals" => equals(actual, expected),
        "not_equals" => !equals(actual, expected),
        "in" => list(expected)?.iter().any(|v| equals(actual, v)),
        "not_in" => !list(expected)?.iter().any(|v| equals(actual, v)),
        "like" => present.is_some_and(|a| like(a, expected)),
        "not_like" => !present.is_some_and(|a| like(a, expected)),
        "contains" => present.is_some_and(|a| contains(a, expected)),
        "greater_than" => order(present, expected).is_some_and(Ordering::is_gt),
        "greater_than_equal" => order(present, expected).is_some_and(Ordering::is_ge),
        "less_than" => order(present, expected).is_some_and(Ordering::is_lt),
        "less_than_equal" => order(present, expected).is_some_and(Ordering::is_le),
        "exists" => present.is_some() == truthy(expected),
        other => return Err(format!("unknown where operator `{other}`")),
    })
}

/// `in` takes an array or a comma-separated string.
fn list(expected: &Value) -> Result<Vec<Value>, String> {
    match expected {
        Value::Array(items) => Ok(items.clone()),
        Value::String(s) => Ok(s
            .split(',')
            .map(|p| Value::String(p.trim().to_owned()))
            .collect()),
        other => Ok(vec![other.clone()]),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

/// Equality, lenient across numbers and numeric strings; an array field matches when one of
/// its elements does.
fn equals(actual: Option<&Value>, expected: &Value) -> bool {
    match actual {
        None | Some(Value::Null) => expected.is_null(),
        Some(Value::Array(items)) if !expected.is_array() => {
            items.iter().any(|item| scalar_eq(item, expected))
        }
        Some(value) => scalar_eq(value, expected),
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Number(x), Value::String(s)) | (Value::String(s), Value::Number(x)) => {
            s.trim().parse::<f64>().ok() == x.as_f64()
        }
        (Value::Bool(x), Value::String(s)) | (Value::String(s), Value::Bool(x)) => {
            s.eq_ignore_ascii_case(if *x { "true" } else { "false" })
        }
        _ => a == b,
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_lowercase(),
        other => other.to_string().to_lowercase(),
    }
}

/// Payload's `like`: every word of the expected text occurs, case-insensitively.
fn like(actual: &Value, expected: &Value) -> bool {
    let haystack = text_of(actual);
    text_of(expected)
        .split_whitespace()
        .all(|word| haystack.contains(word))
}

/// `contains`: a case-insensitive substring, or an element of an array field.
fn contains(actual: &Value, expected: &Value) -> bool {
    match actual {
        Value::Array(items) => items.iter().any(|item| {
            scalar_eq(item, expected) || (item.is_string() && contains(item, expected))
        }),
        other => text_of(other).contains(&text_of(expected)),
    }
}

/// Order of two values of comparable kinds (numbers, numeric strings, strings, booleans).
fn order(actual: Option<&Value>, expected: &Value) -> Option<Ordering> {
    let actual = actual?;
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if actual.is_number() || expected.is_number() {
        return number(actual)?.partial_cmp(&number(expected)?);
    }
    match (actual, expected) {
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

/// Sorts by `sort` (`field`, `-field`, or several comma-separated); ties keep their order.
pub fn sort_docs(docs: &mut [Value], sort: &str) {
    let keys: Vec<(&str, bool)> = sort
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| match k.strip_prefix('-') {
            Some(field) => (field, true),
            None => (k, false),
        })
        .collect();
    docs.sort_by(|a, b| {
        keys.iter()
            .map(|(field, desc)| {
                let o = compare(lookup(a, field), lookup(b, field));
                if *desc { o.reverse() } else { o }
            })
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
}

/// Total order for sorting: missing and null first, then booleans, numbers, strings, the rest.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Bool(_)) => 1,
            Some(Value::Number(_)) => 2,
            Some(Value::String(_)) => 3,
            Some(_) => 4,
        }
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// One page of `docs` in Payload's envelope. `limit` defaults to 10 and is capped at 100.
pub fn paginate(docs: Vec<Value>, limit: Option<u64>, page: Option<u64>) -> Value {
    let limit = limit
        .filter(|l| *l > 0)
        .unwrap_or(DEFAULT_LIMIT)
        .min(MAX_LIMIT);
    let page = page.filter(|p| *p > 0).unwrap_or(1);
    let total = docs.len() as u64;
    let total_pages = total.div_ceil(limit).max(1);
    let skip = usize::try_from(limit.saturating_mul(page - 1)).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    let page_docs: Vec<Value> = docs.into_iter().skip(skip).take(take).collect();
    let has_prev = page > 1;
    let has_next = page < total_pages;
    json!({
        "docs": page_docs,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Value {
        json!({"id": 3, "category": "magic", "importance": "critical", "rule": "Every Spell costs a memory",
               "tags": ["a", "b"], "stats": {"score": 7}, "createdAt": "2025-01-02T00:00:00.000Z"})
    }

    fn check(r#where: Value) -> bool {
        matches(&rule(), &r#where).expect("valid where")
    }

    #[test]
    fn field_operators_follow_payload() {
        assert!(check(
            json!({"category": {"equals": "magic"}, "importance": {"equals": "critical"}})
        ));
        assert!(!check(
            json!({"category": {"equals": "magic"}, "importance": {"equals": "minor"}})
        ));
        assert!(check(json!({"category": "magic"})));
        assert!(check(json!({"id": {"equals": "3"}})));
        assert!(check(json!({"importance": {"in": ["major", "critical"]}})));
        assert!(check(json!({"importance": {"not_in": "major,minor"}})));
        assert!(check(json!({"rule": {"like": "spell MEMORY"}})));
        assert!(check(json!({"rule": {"not_like": "dragon"}})));
        assert!(check(json!({"rule": {"contains": "ery spe"}})));
        assert!(check(json!({"tags": {"contains": "b"}})));
        assert!(check(json!({"tags": {"equals": "a"}})));
        assert!(check(
            json!({"stats.score": {"greater_than": 6, "less_than_equal": 7}})
        ));
        assert!(!check(json!({"stats.score": {"greater_than_equal": 8}})));
        assert!(check(json!({"createdAt": {"greater_than": "2025-01-01"}})));
        assert!(check(
            json!({"missing": {"exists": false}, "rule": {"exists": true}})
        ));
        assert!(check(json!({"missing": {"not_equals": "x"}})));
    }

    #[test]
    fn and_or_nest() {
        assert!(check(
            json!({"or": [{"category": {"equals": "x"}}, {"and": [
            {"importance": {"equals": "critical"}}, {"stats.score": {"equals": 7}}]}]})
        ));
        assert!(check(json!({"or": []})), "an empty or constrains nothing");
        assert!(check(json!({"and": []})));
    }

    #[test]
    fn malformed_queries_say_what_is_wrong() {
        let err = matches(&rule(), &json!({"rule": {"near": 1}})).expect_err("unknown operator");
        assert!(err.contains("unknown where operator `near`"), "{err}");
        assert!(matches(&rule(), &json!({"or": {}})).is_err());
        assert!(matches(&rule(), &json!([1])).is_err());
    }

    #[test]
    fn sorting_and_paging_use_the_payload_envelope() {
        let mut docs: Vec<Value> = (1..=25).map(|i| json!({"id": i, "n": i % 3})).collect();
        sort_docs(&mut docs, "-n,id");
        assert_eq!(docs[0], json!({"id": 2, "n": 2}));
        assert_eq!(docs[24], json!({"id": 24, "n": 0}));
        let page = paginate(docs, Some(10), Some(3));
        assert_eq!(page["docs"].as_array().map(Vec::len), Some(5));
        assert_eq!(
            (
                page["totalDocs"].clone(),
                page["totalPages"].clone(),
                page["hasNextPage"].clone()
            ),
            (json!(25), json!(3), json!(false))
        );
        assert_eq!(
            (page["prevPage"].clone(), page["pagingCounter"].clone()),
            (json!(2), json!(21))
        );
        assert_eq!(paginate(Vec::new(), Some(500), None)["limit"], json!(100));
    }
}
