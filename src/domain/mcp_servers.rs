//! MCP servers: the validated input of the `mcp-servers` collection.
//!
//! Header values are secrets: the API shows [`MASK`] in their place, and a header sent back
//! with the mask (or an empty value) keeps the stored value, so a read-modify-write never
//! overwrites a secret with its mask.

use serde_json::{Map, Value, json};

use super::fields::Fields;
use crate::error::AppError;

/// What the API shows instead of a header's value.
pub const MASK: &str = "********";

/// `http` or `stdio`.
pub const TRANSPORTS: [&str; 2] = ["http", "stdio"];

/// When a call of the server's tools waits for a person's approval.
pub const APPROVAL_MODES: [&str; 3] = ["never", "always", "conditional"];

/// A validated MCP server.
#[derive(Debug, Clone)]
pub struct McpServerInput {
    /// Slug-like unique name: agents call its tools `name/tool`.
    pub name: String,
    /// `http` (streamable HTTP) or `stdio` (a local command).
    pub transport: String,
    /// The endpoint (http).
    pub url: Option<String>,
    /// The command (stdio).
    pub command: Option<String>,
    /// Its arguments (stdio).
    pub args: Vec<String>,
    /// Header name → value (secret values included).
    pub headers: Map<String, Value>,
    /// Only these tools are offered and callable; empty: all.
    pub tool_allow_list: Vec<String>,
    /// Longest a call may take, in ms.
    pub timeout_ms: i32,
    /// `{mode: never|always|conditional, ...}` (stored; enforced with approvals).
    pub approval: Value,
    /// Departments it is shared with.
    pub department_ids: Vec<i32>,
    /// Shared with every department.
    pub is_global: bool,
    /// Whether it may be used.
    pub is_active: bool,
}

impl McpServerInput {
    /// Parses and validates a document; `stored` is the current header map (masked values
    /// keep it).
    pub fn from_json(doc: &Value, stored: &Map<String, Value>) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let name = f.slug("name");
        let transport = match f.raw("transport") {
            Value::Null => "http".to_owned(),
            _ => f.string("transport", true, 10),
        };
        if !TRANSPORTS.contains(&transport.as_str()) {
            f.error("transport", "Must be http or stdio.");
        }
        let url = Some(f.string("url", false, 2000)).filter(|u| !u.is_empty());
        let command = Some(f.string("command", false, 2000)).filter(|c| !c.is_empty());
        if transport == "http" {
            match &url {
                None => f.error("url", "This field is required for the http transport."),
                Some(u) if !(u.starts_with("http://") || u.starts_with("https://")) => {
                    f.error("url", "Must be an http:// or https:// URL.")
                }
                Some(_) => {}
            }
        }
        if transport == "stdio" && command.is_none() {
            f.error("command", "This field is required for the stdio transport.");
        }
        let args = strings(&mut f, "args");
        let tool_allow_list = strings(&mut f, "toolAllowList");
        let headers = headers(&mut f, stored);
        let timeout_ms = f.int("timeoutMs", 1, 3_600_000).unwrap_or(30_000) as i32;
        let approval = approval(&mut f);
        let department_ids = match f.raw("departments") {
            Value::Null => Vec::new(),
            Value::Array(items) => {
                let ids: Vec<Option<i32>> = items
                    .iter()
                    .map(|v| match v {
                        Value::Object(o) => o.get("id").and_then(super::fields::relation_id),
                        other => super::fields::relation_id(other),
                    })
                    .collect();
                if ids.iter().any(Option::is_none) {
                    f.error("departments", "Must be a list of department ids.");
                }
                ids.into_iter().flatten().collect()
            }
            _ => {
                f.error("departments", "Must be a list of department ids.");
                Vec::new()
            }
        };
        let is_global = f.boolean("isGlobal", false);
        let is_active = f.boolean("isActive", true);
        f.finish()?;
        Ok(Self {
            name,
            transport,
            url,
            command,
            args,
            headers,
            tool_allow_list,
            timeout_ms,
            approval,
            department_ids,
            is_global,
            is_active,
        })
    }
}

/// `{mode: never|always|conditional, when?, timeoutMinutes?}`; `when` (a where object over
/// the tool's input) is required for `conditional`.
fn approval(f: &mut Fields<'_>) -> Value {
    let given = match f.raw("approval") {
        Value::Null => return json!({"mode": "never"}),
        Value::Object(o) => o,
        _ => {
            f.error("approval", "Must be {mode: never|always|conditional}.");
            return Value::Null;
        }
    };
    let mode = given
        .get("mode")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !APPROVAL_MODES.contains(&mode) {
        f.error("approval.mode", "Must be never, always or conditional.");
    }
    let mut out = Map::new();
    out.insert("mode".into(), json!(mode));
    match given.get("when") {
        None | Some(Value::Null) if mode == "conditional" => f.error(
            "approval.when",
            "Required when the mode is conditional: a where object over the tool's input.",
        ),
        None | Some(Value::Null) => {}
        Some(when @ Value::Object(_)) => {
            out.insert("when".into(), when.clone());
        }
        Some(_) => f.error(
            "approval.when",
            "Must be a where object over the tool's input, e.g. {\"path\": {\"like\": \"/etc\"}}.",
        ),
    }
    let minutes = given.get("timeoutMinutes").unwrap_or(&Value::Null);
    if let Some(m) = f.int_opt("approval.timeoutMinutes", minutes, 1, 43_200) {
        out.insert("timeoutMinutes".into(), json!(m));
    }
    Value::Object(out)
}

fn strings(f: &mut Fields<'_>, name: &str) -> Vec<String> {
    match f.raw(name) {
        Value::Null => Vec::new(),
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => {
            f.error(name, "Must be a list of strings.");
            Vec::new()
        }
    }
}

fn headers(f: &mut Fields<'_>, stored: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    match f.raw("headers") {
        Value::Null => {}
        Value::Object(given) => {
            for (name, value) in given {
                let valid_name = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !valid_name {
                    f.error(format!("headers.{name}"), "Not a valid header name.");
                    continue;
                }
                let kept = stored.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
                match value {
                    Value::String(v) if !v.is_empty() && v != MASK => {
                        if v.contains(['\r', '\n']) {
                            f.error(format!("headers.{name}"), "Must be one line.");
                        } else {
                            out.insert(name.clone(), Value::String(v.clone()));
                        }
                    }
                    Value::String(_) | Value::Null => match kept {
                        Some((_, v)) => {
                            out.insert(name.clone(), v.clone());
                        }
                        None => f.error(format!("headers.{name}"), "A value is required."),
                    },
                    _ => f.error(format!("headers.{name}"), "Must be a string."),
                }
            }
        }
        _ => f.error("headers", "Must be an object of header names to values."),
    }
    out
}

/// The headers as the API shows them: names, values masked.
pub fn masked(headers: &Value) -> Value {
    match headers {
        Value::Object(map) => Value::Object(
            map.keys()
                .map(|k| (k.clone(), Value::String(MASK.into())))
                .collect(),
        ),
        _ => json!({}),
    }
}
