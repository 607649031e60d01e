//! Custom tools: JSON Schema input, JavaScript body, departments, limits and metrics.

use serde_json::{Value, json};

use super::agents::is_tool_name;
use super::fields::{Fields, relation_id};
use crate::entities::custom_tools::Model;
use crate::error::AppError;

/// Longest wall-clock limit a tool may ask for.
pub const MAX_TIMEOUT_MS: i64 = 60_000;

/// A validated custom tool.
#[derive(Debug, Clone)]
pub struct ToolInput {
    /// Unique name the model calls it by.
    pub tool_name: String,
    /// Human name.
    pub display_name: String,
    /// What the model is told the tool does.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: Value,
    /// Example inputs (each valid against the schema).
    pub example_inputs: Value,
    /// JavaScript source of an (async) function.
    pub execute_function: String,
    /// Departments the tool is shared with.
    pub departments: Vec<i32>,
    /// Available to every department.
    pub is_global: bool,
    /// Inactive tools are never loaded.
    pub is_active: bool,
    /// Wall-clock limit per call, 100–60000 ms.
    pub timeout_ms: i32,
    /// Free-form version label.
    pub version: String,
    /// When a call needs a person's approval (`approval`).
    pub approval: super::approvals::Rule,
}

impl ToolInput {
    /// Parses and validates a tool document, compiling its code.
    pub fn from_json(doc: &Value) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let tool_name = f.string("toolName", true, 64);
        if !tool_name.is_empty() && !is_tool_name(&tool_name) {
            f.error(
                "toolName",
                "Must start with a letter and contain only letters, digits, '_' and '-'.",
            );
        }
        let display_name = f.string("displayName", false, 200);
        let description = f.string("description", true, 10_000);
        let input_schema = f
            .json_schema("inputSchema")
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        let example_inputs = example_inputs(&mut f, &input_schema);
        let execute_function = f.string("executeFunction", true, 200_000);
        if !execute_function.is_empty()
            && let Err(e) = crate::sandbox::check_syntax(&execute_function)
        {
            f.error("executeFunction", e.to_string());
        }
        let departments = departments(&mut f);
        let approval = super::approvals::approval(&mut f);
        let input = Self {
            tool_name,
            display_name,
            description,
            input_schema,
            example_inputs,
            execute_function,
            departments,
            is_global: f.boolean("isGlobal", false),
            is_active: f.boolean("isActive", true),
            timeout_ms: f.int("timeoutMs", 100, MAX_TIMEOUT_MS).unwrap_or(5000) as i32,
            version: {
                let v = f.string("version", false, 50);
                if v.is_empty() { "1.0.0".into() } else { v }
            },
            approval,
        };
        f.finish()?;
        Ok(input)
    }
}

fn example_inputs(f: &mut Fields<'_>, schema: &Value) -> Value {
    let examples = match f.json("exampleInputs") {
        None => return json!([]),
        Some(Value::Array(items)) => items,
        Some(_) => {
            f.error("exampleInputs", "Must be a list of example input objects.");
            return json!([]);
        }
    };
    if let Ok(validator) = jsonschema::validator_for(schema) {
        for (i, example) in examples.iter().enumerate() {
            if let Some(error) = validator.iter_errors(example).next() {
                f.error(
                    format!("exampleInputs.{i}"),
                    format!("Does not match the input schema: {error}"),
                );
            }
        }
    }
    Value::Array(examples)
}

fn departments(f: &mut Fields<'_>) -> Vec<i32> {
    let raw = match f.raw("departments") {
        Value::Null => return Vec::new(),
        Value::Array(items) => items.clone(),
        single => vec![single.clone()],
    };
    let mut ids = Vec::new();
    for (i, item) in raw.iter().enumerate() {
        let item = match item {
            Value::Object(o) => o.get("id").unwrap_or(&Value::Null),
            other => other,
        };
        match relation_id(item) {
            Some(id) if !ids.contains(&id) => ids.push(id),
            Some(_) => {}
            None => f.error(
                format!("departments.{i}"),
                "Must be the id of an existing department.",
            ),
        }
    }
    ids
}

/// Derived tool metrics, from the stored totals.
pub fn performance_metrics(m: &Model) -> Value {
    let average = if m.total_calls > 0 {
        m.total_execution_time_ms / m.total_calls
    } else {
        0
    };
    json!({
        "totalCalls": m.total_calls,
        "failedCalls": m.failed_calls,
        "averageExecutionTime": average,
    })
}
