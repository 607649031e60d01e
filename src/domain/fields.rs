//! Reading a JSON document field by field, collecting every error with its path, so that a
//! form or an API request learns about all its invalid fields at once.

use serde_json::{Map, Value};

use crate::error::{AppError, FieldErrors};

/// A JSON object being parsed into a validated input.
pub struct Fields<'a> {
    doc: &'a Map<String, Value>,
    errors: FieldErrors,
}

impl<'a> Fields<'a> {
    /// Starts reading `doc`, which must be a JSON object.
    pub fn new(doc: &'a Value) -> Result<Self, AppError> {
        match doc.as_object() {
            Some(doc) => Ok(Self {
                doc,
                errors: FieldErrors::new(),
            }),
            None => Err(AppError::BadRequest(
                "The body must be a JSON object.".into(),
            )),
        }
    }

    /// The raw value of a field (null when absent).
    pub fn raw(&self, name: &str) -> &'a Value {
        self.doc.get(name).unwrap_or(&Value::Null)
    }

    /// Records an error on `path` (the first error on a path wins).
    pub fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors
            .entry(path.into())
            .or_insert_with(|| message.into());
    }

    /// A string field; `required` refuses absent and blank values. Only strings are strings:
    /// a number, boolean, array or object is a type error on the field's path (forms post
    /// strings, so this is strict for API clients only in practice).
    pub fn string(&mut self, name: &str, required: bool, max_len: usize) -> String {
        match self.raw(name) {
            Value::Null if required => {
                self.error(name, "This field is required.");
                String::new()
            }
            Value::Null => String::new(),
            Value::String(s) => {
                let s = s.trim().to_owned();
                if required && s.is_empty() {
                    self.error(name, "This field is required.");
                } else if s.chars().count() > max_len {
                    self.error(name, format!("Must be at most {max_len} characters."));
                }
                s
            }
            _ => {
                self.error(name, "Must be a string.");
                String::new()
            }
        }
    }

    /// A string that must match a slug pattern `^[a-z][a-z0-9-]*$` (letters, digits, dashes).
    pub fn slug(&mut self, name: &str) -> String {
        let value = self.string(name, true, 100);
        if !value.is_empty() && !is_slug(&value) {
            self.error(
                name,
                "Must start with a lowercase letter and contain only lowercase letters, digits and dashes.",
            );
        }
        value
    }

    /// A boolean field (also accepts "true"/"false"/"on" strings from forms).
    pub fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.raw(name) {
            Value::Null => default,
            Value::Bool(b) => *b,
            Value::String(s) => match s.as_str() {
                "true" | "on" | "1" => true,
                "false" | "off" | "0" | "" => false,
                _ => {
                    self.error(name, "Must be true or false.");
                    default
                }
            },
            _ => {
                self.error(name, "Must be true or false.");
                default
            }
        }
    }

    /// An optional integer in `min..=max` (numbers, or numeric strings from forms).
    pub fn int_opt(&mut self, path: &str, value: &Value, min: i64, max: i64) -> Option<i64> {
        let parsed = match value {
            Value::Null => return None,
            Value::String(s) if s.trim().is_empty() => return None,
            Value::String(s) => s.trim().parse::<i64>().ok(),
            Value::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            }),
            _ => None,
        };
        match parsed {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(_) => {
                self.error(path, format!("Must be between {min} and {max}."));
                None
            }
            None => {
                self.error(path, "Must be a whole number.");
                None
            }
        }
    }

    /// An optional integer field of the document.
    pub fn int(&mut self, name: &str, min: i64, max: i64) -> Option<i64> {
        self.int_opt(name, self.raw(name), min, max)
    }

    /// An optional number in `min..=max`.
    pub fn number_opt(&mut self, path: &str, value: &Value, min: f64, max: f64) -> Option<f64> {
        let parsed = match value {
            Value::Null => return None,
            Value::String(s) if s.trim().is_empty() => return None,
            Value::String(s) => s.trim().parse::<f64>().ok(),
            Value::Number(n) => n.as_f64(),
            _ => None,
        };
        match parsed {
            Some(n) if n.is_finite() && n >= min && n <= max => Some(n),
            Some(_) => {
                self.error(path, format!("Must be between {min} and {max}."));
                None
            }
            None => {
                self.error(path, "Must be a number.");
                None
            }
        }
    }

    /// An optional JSON value; strings from forms are parsed as JSON.
    pub fn json(&mut self, name: &str) -> Option<Value> {
        match self.raw(name) {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => match serde_json::from_str::<Value>(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.error(name, format!("Invalid JSON: {e}."));
                    None
                }
            },
            other => Some(other.clone()),
        }
    }

    /// An optional JSON Schema (must be an object or boolean schema that compiles).
    pub fn json_schema(&mut self, name: &str) -> Option<Value> {
        let schema = self.json(name)?;
        if let Err(message) = check_schema(&schema) {
            self.error(name, message);
        }
        Some(schema)
    }

    /// An optional related id (a number, a numeric string, or a populated `{id}` object).
    pub fn relation(&mut self, name: &str, required: bool) -> Option<i32> {
        let value = match self.raw(name) {
            Value::Object(o) => o.get("id").unwrap_or(&Value::Null),
            other => other,
        };
        if value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()) {
            if required {
                self.error(name, "This field is required.");
            }
            return None;
        }
        relation_id(value).or_else(|| {
            self.error(name, "Must be the id of an existing document.");
            None
        })
    }

    /// Finishes: the errors, if any.
    pub fn finish(self) -> Result<(), AppError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(self.errors))
        }
    }
}

/// An id given as a number or a numeric string.
pub fn relation_id(value: &Value) -> Option<i32> {
    match value {
        Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Value::String(s) => s.trim().parse::<i32>().ok(),
        _ => None,
    }
    .filter(|id| *id > 0)
}

/// True for `^[a-z][a-z0-9-]*$`.
pub fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Checks that `schema` is a usable JSON Schema (no remote references are ever fetched).
pub fn check_schema(schema: &Value) -> Result<(), String> {
    if !(schema.is_object() || schema.is_boolean()) {
        return Err("Must be a JSON Schema (an object).".into());
    }
    jsonschema::meta::validate(schema).map_err(|e| format!("Not a valid JSON Schema: {e}"))?;
    jsonschema::validator_for(schema)
        .map(|_| ())
        .map_err(|e| format!("Not a valid JSON Schema: {e}"))
}

/// Merges a partial update into a document: top-level keys of `patch` replace those of `base`.
pub fn merge(base: Value, patch: &Value) -> Value {
    match (base, patch.as_object()) {
        (Value::Object(mut base), Some(patch)) => {
            for (k, v) in patch {
                base.insert(k.clone(), v.clone());
            }
            Value::Object(base)
        }
        (base, _) => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slugs_follow_the_pattern() {
        assert!(is_slug("story-head-001"));
        assert!(!is_slug("Story"));
        assert!(!is_slug("1story"));
        assert!(!is_slug(""));
        assert!(!is_slug("a b"));
    }

    #[test]
    fn every_invalid_field_is_reported() {
        let doc = json!({"name": "", "priority": "x", "count": 500});
        let mut f = Fields::new(&doc).expect("object");
        f.string("name", true, 10);
        f.int("priority", 0, 10);
        f.int("count", 0, 100);
        let Err(AppError::Validation(errors)) = f.finish() else {
            panic!("expected validation errors")
        };
        assert_eq!(errors.len(), 3);
    }

    #[test]
    fn strings_are_strict() {
        let doc = json!({"a": 42, "b": true, "c": ["x"], "d": {"x": 1}, "e": " ok "});
        let mut f = Fields::new(&doc).expect("object");
        for name in ["a", "b", "c", "d"] {
            assert_eq!(f.string(name, false, 10), "");
        }
        assert_eq!(f.string("e", true, 10), "ok");
        let Err(AppError::Validation(errors)) = f.finish() else {
            panic!("expected validation errors")
        };
        assert_eq!(errors.len(), 4);
        assert!(errors.values().all(|m| m == "Must be a string."));
    }

    #[test]
    fn schemas_are_checked() {
        assert!(check_schema(&json!({"type": "object"})).is_ok());
        assert!(check_schema(&json!({"type": "nonsense"})).is_err());
        assert!(check_schema(&json!(3)).is_err());
    }
}
