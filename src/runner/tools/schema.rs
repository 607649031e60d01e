//! JSON Schema helpers: compiling validators (never fetching remote `$ref`s: `jsonschema` is
//! built without its resolver features), readable validation errors, and schemas cleaned up
//! for providers.

use serde_json::Value;

/// Most validation problems listed in one message.
const MAX_ERRORS: usize = 10;

/// Compiles `schema`.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| e.to_string())
}

/// Checks `instance`; on failure, one line per problem: `at /scenes/0/type: "x" is not one of …`.
pub fn check(validator: &jsonschema::Validator, instance: &Value) -> Result<(), String> {
    let mut lines = Vec::new();
    let mut more = 0usize;
    for error in validator.iter_errors(instance) {
        if lines.len() < MAX_ERRORS {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() {
                "(root)".to_owned()
            } else {
                path
            };
            lines.push(format!("at {path}: {error}"));
        } else {
            more += 1;
        }
    }
    if lines.is_empty() {
        return Ok(());
    }
    if more > 0 {
        lines.push(format!("… and {more} more"));
    }
    Err(lines.join("\n"))
}

/// A copy of `schema` without the top-level keys some providers refuse (`$schema`, `$id`,
/// `title`), and with `type: object` ensured (tool inputs are objects on every wire format).
pub fn for_provider(schema: &Value) -> Value {
    let mut clean = schema.clone();
    if let Value::Object(map) = &mut clean {
        map.remove("$schema");
        map.remove("$id");
        map.remove("title");
        map.entry("type")
            .or_insert_with(|| Value::String("object".into()));
    } else {
        clean = serde_json::json!({"type": "object"});
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problems_are_listed_with_their_paths() {
        let schema = json!({"type": "object", "required": ["a"],
            "properties": {"a": {"type": "string"}, "b": {"type": "integer", "maximum": 3}}});
        let validator = compile(&schema).expect("compiles");
        assert_eq!(check(&validator, &json!({"a": "x"})), Ok(()));
        let err = check(&validator, &json!({"b": 9})).expect_err("invalid");
        assert!(
            err.contains("at (root): \"a\" is a required property"),
            "{err}"
        );
        assert!(
            err.contains("at /b: 9 is greater than the maximum of 3"),
            "{err}"
        );
    }

    #[test]
    fn provider_schemas_lose_meta_keys() {
        let schema = json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "T", "properties": {}});
        assert_eq!(
            for_provider(&schema),
            json!({"type": "object", "properties": {}})
        );
    }

    #[test]
    fn remote_references_are_never_fetched() {
        let schema = json!({"$ref": "https://example.invalid/schema.json"});
        assert!(compile(&schema).is_err());
    }
}
