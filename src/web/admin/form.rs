//! Forms as the domain sees them: submitted fields become the same JSON document the API
//! accepts (so one set of rules validates both), and stored documents become form values.
//! Field errors come back keyed by document path and are shown next to their field.

use serde_json::{Map, Value};

use crate::error::FieldErrors;

/// How a form field maps to the JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string as typed (numbers and JSON text too: the domain parses them).
    Text,
    /// A checkbox: present means true, absent false.
    Bool,
    /// Repeated values (multi-selects) as an array of strings.
    Many,
}

/// Submitted or stored form values by field name; a name may repeat (multi-selects).
#[derive(Debug, Clone, Default)]
pub struct FormValues(Vec<(String, String)>);

impl FormValues {
    /// Parses a url-encoded body; the CSRF token is not a value of the form.
    pub fn parse(body: &[u8]) -> Self {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        Self(
            pairs
                .into_iter()
                .filter(|(k, _)| k != crate::web::csrf::FIELD)
                .collect(),
        )
    }

    /// Flattens a stored document: nested objects become `parent.child` names, arrays
    /// repeated values (`[{toolName}]` their names), and the `json` fields pretty JSON text.
    pub fn from_doc(doc: &Value, json: &[&str]) -> Self {
        let mut values = Self::default();
        if let Some(object) = doc.as_object() {
            values.flatten("", object, json);
        }
        values
    }

    fn flatten(&mut self, prefix: &str, object: &Map<String, Value>, json: &[&str]) {
        for (key, value) in object {
            let name = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if json.contains(&name.as_str()) {
                let text = match value {
                    Value::Null => String::new(),
                    v => serde_json::to_string_pretty(v).unwrap_or_default(),
                };
                self.push(&name, text);
                continue;
            }
            match value {
                Value::Object(inner) => self.flatten(&name, inner, json),
                Value::Array(items) => {
                    for item in items {
                        let text = match item {
                            Value::Object(o) => {
                                o.values().next().map(scalar_text).unwrap_or_default()
                            }
                            other => scalar_text(other),
                        };
                        self.push(&name, text);
                    }
                }
                other => self.push(&name, scalar_text(other)),
            }
        }
    }

    /// The value of a field ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every (name, value) pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// True when `value` is one of the values of `name` (selected options).
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.0.iter().any(|(k, v)| k == name && v == value)
    }

    /// True when `value` (given as a number) is one of the values of `name`.
    pub fn has_id(&self, name: &str, id: &i32) -> bool {
        self.has(name, &id.to_string())
    }

    /// True for a checked checkbox.
    pub fn checked(&self, name: &str) -> bool {
        matches!(self.get(name), "true" | "on" | "1")
    }

    /// Replaces the values of a field.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.retain(|(k, _)| k != name);
        self.push(name, value);
    }

    /// Adds a value to a field.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_owned(), value.into()));
    }

    /// Builds the JSON document of the fields in `spec` (`a.b` names nest).
    pub fn to_doc(&self, spec: &[(&str, Kind)]) -> Value {
        let mut doc = Map::new();
        for (name, kind) in spec {
            let value = match kind {
                // An empty field is null: no value, as in the API (required ones say so), and
                // one that replaces the stored value when the form updates a document.
                Kind::Text => match self.0.iter().find(|(k, _)| k == name) {
                    Some((_, v)) if !v.trim().is_empty() => Value::String(v.clone()),
                    _ => Value::Null,
                },
                Kind::Bool => Value::Bool(self.checked(name)),
                Kind::Many => Value::Array(
                    self.all(name)
                        .into_iter()
                        .filter(|v| !v.is_empty())
                        .map(|v| Value::String(v.to_owned()))
                        .collect(),
                ),
            };
            insert_path(&mut doc, name, value);
        }
        Value::Object(doc)
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn insert_path(doc: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            doc.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = doc
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                insert_path(child, rest, value);
            }
        }
    }
}

/// Field errors keyed by document path, looked up by form field.
#[derive(Debug, Clone, Default)]
pub struct FormErrors(FieldErrors);

impl FormErrors {
    /// Wraps the errors of a validation failure.
    pub fn new(errors: FieldErrors) -> Self {
        Self(errors)
    }

    /// The error of a field: its own, or the first of its parts (`toolNames.2.toolName`
    /// shows at `toolNames`).
    pub fn get(&self, name: &str) -> Option<&str> {
        if let Some(message) = self.0.get(name) {
            return Some(message);
        }
        let prefix = format!("{name}.");
        self.0
            .iter()
            .find(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.as_str())
    }

    /// The error of exactly this path (not of its parts).
    pub fn exact(&self, path: &str) -> Option<&str> {
        self.0.get(path).map(String::as_str)
    }

    /// True when there are no errors.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Every error, path and message.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_submitted_form_becomes_a_document() {
        let values = FormValues::parse(
            b"name=Ada&toolNames=a&toolNames=b&executionSettings.maxRetries=3&csrf_token=x",
        );
        let doc = values.to_doc(&[
            ("name", Kind::Text),
            ("isActive", Kind::Bool),
            ("toolNames", Kind::Many),
            ("executionSettings.maxRetries", Kind::Text),
            ("missing", Kind::Text),
        ]);
        assert_eq!(
            doc,
            json!({"name": "Ada", "isActive": false, "toolNames": ["a", "b"],
                   "executionSettings": {"maxRetries": "3"}, "missing": null})
        );
    }

    #[test]
    fn a_stored_document_becomes_form_values() {
        let doc = json!({"name": "Ada", "isActive": true, "toolNames": [{"toolName": "a"}],
                         "executionSettings": {"maxRetries": 3, "timeout": null},
                         "outputSchema": {"type": "object"}});
        let values = FormValues::from_doc(&doc, &["outputSchema"]);
        assert_eq!(values.get("name"), "Ada");
        assert!(values.checked("isActive"));
        assert!(values.has("toolNames", "a"));
        assert_eq!(values.get("executionSettings.maxRetries"), "3");
        assert_eq!(values.get("executionSettings.timeout"), "");
        assert!(values.get("outputSchema").contains("\"type\": \"object\""));
    }

    #[test]
    fn errors_of_parts_show_at_their_field() {
        let errors = FormErrors::new(FieldErrors::from([(
            "toolNames.1.toolName".to_owned(),
            "Bad".to_owned(),
        )]));
        assert_eq!(errors.get("toolNames"), Some("Bad"));
        assert_eq!(errors.get("tool"), None);
    }
}
