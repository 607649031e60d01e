//! The `where` tree: field conditions joined by `and` / `or`, as Payload writes them, read
//! from the bracket syntax (through [`super::qs`]) or from JSON.

use serde_json::Value;

use super::QueryError;

/// Most field conditions in one `where`.
pub const MAX_CONDITIONS: usize = 100;
/// Most levels of nested `and` / `or`.
pub const MAX_NESTING: usize = 10;

/// A comparison operator of Payload's query language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `equals`
    Equals,
    /// `not_equals` (also true when the value is missing)
    NotEquals,
    /// `in`: one of a list (comma-separated or an array)
    In,
    /// `not_in`
    NotIn,
    /// `like`: every word present, case-insensitive
    Like,
    /// `not_like`: the text is not present, case-insensitive
    NotLike,
    /// `contains`: the text is present, case-insensitive
    Contains,
    /// `greater_than`
    GreaterThan,
    /// `greater_than_equal`
    GreaterThanEqual,
    /// `less_than`
    LessThan,
    /// `less_than_equal`
    LessThanEqual,
    /// `exists`: the value is (true) or is not (false) set
    Exists,
}

impl Operator {
    /// Every operator, for documentation.
    pub const ALL: [Operator; 12] = [
        Operator::Equals,
        Operator::NotEquals,
        Operator::In,
        Operator::NotIn,
        Operator::Like,
        Operator::NotLike,
        Operator::Contains,
        Operator::GreaterThan,
        Operator::GreaterThanEqual,
        Operator::LessThan,
        Operator::LessThanEqual,
        Operator::Exists,
    ];

    /// Payload's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "not_equals",
            Operator::In => "in",
            Operator::NotIn => "not_in",
            Operator::Like => "like",
            Operator::NotLike => "not_like",
            Operator::Contains => "contains",
            Operator::GreaterThan => "greater_than",
            Operator::GreaterThanEqual => "greater_than_equal",
            Operator::LessThan => "less_than",
            Operator::LessThanEqual => "less_than_equal",
            Operator::Exists => "exists",
        }
    }

    /// Parses Payload's name.
    pub fn parse(s: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

/// A parsed `where`.
#[derive(Debug, Clone, PartialEq)]
pub enum Where {
    /// Every part must hold (an empty list holds for every document).
    And(Vec<Where>),
    /// At least one part must hold (an empty list is ignored, as Payload does).
    Or(Vec<Where>),
    /// One field condition; the value is still raw (a string from a query string, any JSON
    /// from a JSON `where`), converted later by the field's type.
    Field {
        /// Field path, e.g. `name`, `department.slug`, `tokenUsage.totalTokens`.
        path: String,
        /// The comparison.
        op: Operator,
        /// The raw value.
        value: Value,
    },
}

impl Where {
    /// True when the tree holds no field condition at all (`{}`, `{"and":[]}`): such a where
    /// selects everything, so bulk operations refuse it.
    pub fn is_empty(&self) -> bool {
        match self {
            Where::And(parts) | Where::Or(parts) => parts.iter().all(Where::is_empty),
            Where::Field { .. } => false,
        }
    }

    /// Number of field conditions.
    pub fn len(&self) -> usize {
        match self {
            Where::And(parts) | Where::Or(parts) => parts.iter().map(Where::len).sum(),
            Where::Field { .. } => 1,
        }
    }
}

/// Reads the `where` of a parsed query string: an object (bracket syntax) or a JSON string.
pub fn from_param(param: &Value) -> Result<Where, QueryError> {
    match param {
        Value::String(s) if s.trim().is_empty() => Ok(Where::And(Vec::new())),
        Value::String(s) => {
            let json: Value = serde_json::from_str(s).map_err(|e| {
                QueryError::Invalid(format!("The where parameter is not valid JSON: {e}."))
            })?;
            parse(&json)
        }
        other => parse(other),
    }
}

/// Parses a where object.
pub fn parse(value: &Value) -> Result<Where, QueryError> {
    let mut count = 0;
    let tree = parse_object(value, 0, &mut count)?;
    if count > MAX_CONDITIONS {
        return Err(QueryError::Invalid(format!(
            "The where clause has more than {MAX_CONDITIONS} conditions."
        )));
    }
    Ok(tree)
}

fn parse_object(value: &Value, nesting: usize, count: &mut usize) -> Result<Where, QueryError> {
    if nesting > MAX_NESTING {
        return Err(QueryError::Invalid(format!(
            "The where clause nests and/or more than {MAX_NESTING} levels deep."
        )));
    }
    let Value::Object(map) = value else {
        return Err(QueryError::Invalid(
            "The where clause must be an object of conditions.".into(),
        ));
    };
    let mut parts = Vec::new();
    for (key, inner) in map {
        match key.as_str() {
            "and" | "or" => {
                let items = match inner {
                    Value::Array(items) => items.as_slice(),
                    _ => {
                        return Err(QueryError::Invalid(format!(
                            "“{key}” must be a list of conditions."
                        )));
                    }
                };
                let children = items
                    .iter()
                    .map(|item| parse_object(item, nesting + 1, count))
                    .collect::<Result<Vec<_>, _>>()?;
                parts.push(if key == "and" {
                    Where::And(children)
                } else {
                    Where::Or(children)
                });
            }
            path => parse_field(path, inner, &mut parts, count, 0)?,
        }
    }
    Ok(if parts.len() == 1 {
        parts.pop().unwrap_or(Where::And(Vec::new()))
    } else {
        Where::And(parts)
    })
}

/// `{"equals": v, "exists": true}` under `path`; a non-operator key with an object value
/// extends the path (`where[tokenUsage][totalTokens][gt]` = `tokenUsage.totalTokens`).
fn parse_field(
    path: &str,
    value: &Value,
    parts: &mut Vec<Where>,
    count: &mut usize,
    depth: usize,
) -> Result<(), QueryError> {
    let Value::Object(ops) = value else {
        return Err(QueryError::Invalid(format!(
            "The condition on “{path}” must be an object such as {{\"equals\": …}}."
        )));
    };
    if ops.is_empty() {
        return Err(QueryError::Invalid(format!(
            "The condition on “{path}” has no operator."
        )));
    }
    for (key, operand) in ops {
        match Operator::parse(key) {
            Some(op) => {
                *count += 1;
                if *count > MAX_CONDITIONS {
                    return Err(QueryError::Invalid(format!(
                        "The where clause has more than {MAX_CONDITIONS} conditions."
                    )));
                }
                parts.push(Where::Field {
                    path: path.to_owned(),
                    op,
                    value: operand.clone(),
                });
            }
            None if operand.is_object() && depth < 8 => {
                parse_field(&format!("{path}.{key}"), operand, parts, count, depth + 1)?;
            }
            None => {
                return Err(QueryError::Invalid(format!(
                    "Invalid operator “{key}” on “{path}”. Use one of: {}.",
                    Operator::ALL.map(Operator::as_str).join(", ")
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(path: &str, op: Operator, value: Value) -> Where {
        Where::Field {
            path: path.into(),
            op,
            value,
        }
    }

    #[test]
    fn a_single_condition_is_a_field() {
        let w = parse(&json!({"name": {"equals": "x"}})).expect("valid");
        assert_eq!(w, field("name", Operator::Equals, json!("x")));
    }

    #[test]
    fn and_or_nest() {
        let w = parse(&json!({"or": [{"a": {"equals": 1}}, {"and": [{"b": {"exists": true}}, {"c": {"like": "x"}}]}]}))
            .expect("valid");
        assert_eq!(
            w,
            Where::Or(vec![
                field("a", Operator::Equals, json!(1)),
                Where::And(vec![
                    field("b", Operator::Exists, json!(true)),
                    field("c", Operator::Like, json!("x")),
                ]),
            ])
        );
    }

    #[test]
    fn several_operators_on_one_field_are_anded_and_nested_keys_extend_the_path() {
        let w = parse(
            &json!({"n": {"greater_than": 1, "less_than": 5}, "tokenUsage": {"totalTokens": {"gt": 1}}}),
        );
        assert!(matches!(w, Err(QueryError::Invalid(m)) if m.contains("gt")));
        let w = parse(&json!({"n": {"greater_than": 1, "less_than": 5}, "tokenUsage": {"totalTokens": {"exists": true}}}))
            .expect("valid");
        assert_eq!(w.len(), 3);
        let Where::And(parts) = w else { panic!("and") };
        assert!(parts.contains(&field(
            "tokenUsage.totalTokens",
            Operator::Exists,
            json!(true)
        )));
    }

    #[test]
    fn json_strings_are_accepted() {
        let w = from_param(&json!("{\"name\":{\"equals\":\"x\"}}")).expect("valid");
        assert_eq!(w, field("name", Operator::Equals, json!("x")));
        assert!(from_param(&json!("{not json")).is_err());
        assert!(from_param(&json!("")).expect("empty").is_empty());
    }

    #[test]
    fn malformed_trees_are_errors_not_panics() {
        for bad in [
            json!([1, 2]),
            json!({"name": "x"}),
            json!({"name": {}}),
            json!({"or": "x"}),
            json!({"or": [1]}),
            json!({"name": {"near": "1,2"}}),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        let mut deep = json!({"a": {"equals": 1}});
        for _ in 0..(MAX_NESTING + 2) {
            deep = json!({"and": [deep]});
        }
        assert!(parse(&deep).is_err());
        let many: Vec<Value> = (0..=MAX_CONDITIONS)
            .map(|i| json!({"a": {"equals": i}}))
            .collect();
        assert!(parse(&json!({"or": many})).is_err());
    }

    #[test]
    fn emptiness_is_detected() {
        assert!(parse(&json!({})).expect("valid").is_empty());
        assert!(
            parse(&json!({"and": [], "or": [{}]}))
                .expect("valid")
                .is_empty()
        );
        assert!(
            !parse(&json!({"or": [{"a": {"exists": false}}]}))
                .expect("valid")
                .is_empty()
        );
    }
}
