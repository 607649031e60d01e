//! The MCP server form and the document it stands for. Header values are write-only: the
//! form shows each stored header's name with an empty value ("set"), an empty value keeps the
//! stored one (the domain's rule), a ticked "remove" drops the header, and no header value,
//! stored or typed, is ever written back into the page.

use serde_json::{Map, Value, json};

use super::FIELDS;
use crate::entities::mcp_servers::Model;
use crate::web::admin::form::FormValues;

/// The form values of a stored server.
pub(super) fn values(row: &Model) -> FormValues {
    let mut values = FormValues::default();
    values.set("name", row.name.clone());
    values.set("transport", row.transport.clone());
    values.set("url", row.url.clone().unwrap_or_default());
    values.set("command", row.command.clone().unwrap_or_default());
    values.set("args", strings(&row.args).join("\n"));
    for name in row.headers.as_object().into_iter().flat_map(Map::keys) {
        values.push("header_name", name.clone());
    }
    values.set("toolAllowList", strings(&row.tool_allow_list).join("\n"));
    values.set("timeoutMs", row.timeout_ms.to_string());
    let approval = &row.approval;
    values.set(
        "approval.mode",
        approval["mode"].as_str().unwrap_or("never"),
    );
    if let Some(when) = approval.get("when").filter(|w| !w.is_null()) {
        values.set(
            "approval.when",
            serde_json::to_string_pretty(when).unwrap_or_default(),
        );
    }
    if let Some(minutes) = approval.get("timeoutMinutes").and_then(Value::as_i64) {
        values.set("approval.timeoutMinutes", minutes.to_string());
    }
    for id in row.department_ids.as_array().into_iter().flatten() {
        values.push("departments", id.to_string());
    }
    values.set("isGlobal", row.is_global.to_string());
    values.set("isActive", row.is_active.to_string());
    values
}

/// The document a submitted form stands for (validated by the collection, as the API's).
pub(super) fn of(values: &FormValues) -> Value {
    let mut doc = values.to_doc(FIELDS);
    doc["args"] = json!(split(values.get("args"), &['\n']));
    doc["toolAllowList"] = json!(split(values.get("toolAllowList"), &['\n', ',']));
    doc["headers"] = Value::Object(headers(values));
    let mut approval = Map::new();
    let mode = values.get("approval.mode").trim();
    approval.insert(
        "mode".into(),
        json!(if mode.is_empty() { "never" } else { mode }),
    );
    let when = values.get("approval.when").trim();
    if !when.is_empty() {
        // Text that is not JSON goes as it is, and the collection says what is wrong with it.
        let parsed = serde_json::from_str(when).unwrap_or_else(|_| json!(when));
        approval.insert("when".into(), parsed);
    }
    let minutes = values.get("approval.timeoutMinutes").trim();
    if !minutes.is_empty() {
        approval.insert("timeoutMinutes".into(), json!(minutes));
    }
    doc["approval"] = Value::Object(approval);
    doc
}

/// The form's header rows: each name with whether a value is stored for it, then one empty
/// row to add a header.
pub(super) fn header_rows(values: &FormValues, stored: &[String]) -> Vec<(String, bool)> {
    let mut rows: Vec<(String, bool)> = values
        .all("header_name")
        .into_iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| {
            let set = stored.iter().any(|s| s.eq_ignore_ascii_case(n.trim()));
            (n.trim().to_owned(), set)
        })
        .collect();
    rows.push((String::new(), false));
    rows
}

/// Header rows (`header_name` and `header_value` come in pairs) minus those ticked for removal.
fn headers(values: &FormValues) -> Map<String, Value> {
    let removed = values.all("header_remove");
    values
        .all("header_name")
        .into_iter()
        .zip(values.all("header_value"))
        .map(|(name, value)| (name.trim(), value.trim()))
        .filter(|(name, _)| !name.is_empty() && !removed.contains(name))
        .map(|(name, value)| (name.to_owned(), json!(value)))
        .collect()
}

fn split(text: &str, separators: &[char]) -> Vec<String> {
    text.split(separators)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> FormValues {
        let mut values = FormValues::default();
        for (k, v) in pairs {
            values.push(k, *v);
        }
        values
    }

    #[test]
    fn header_rows_become_an_object_without_the_removed_ones() {
        let values = form(&[
            ("header_name", "X-Api-Key"),
            ("header_value", ""),
            ("header_name", "X-Old"),
            ("header_value", ""),
            ("header_remove", "X-Old"),
            ("header_name", ""),
            ("header_value", "ignored"),
        ]);
        assert_eq!(of(&values)["headers"], json!({"X-Api-Key": ""}));
    }

    #[test]
    fn lists_and_the_approval_rule_are_read_from_their_inputs() {
        let values = form(&[
            ("args", "server.py\n\n stdio "),
            ("toolAllowList", "add, slow\nsecret"),
            ("approval.mode", "conditional"),
            ("approval.when", "{\"a\": {\"greater_than\": 2}}"),
            ("approval.timeoutMinutes", "30"),
        ]);
        let doc = of(&values);
        assert_eq!(doc["args"], json!(["server.py", "stdio"]));
        assert_eq!(doc["toolAllowList"], json!(["add", "slow", "secret"]));
        assert_eq!(
            doc["approval"],
            json!({"mode": "conditional", "when": {"a": {"greater_than": 2}}, "timeoutMinutes": "30"})
        );
    }
}
