//! Agents: identity, department, model, prompt, tools, limits and metrics.

use serde_json::{Value, json};

use super::fields::Fields;
use super::routing::{self, RoutingRule};
use crate::entities::agents::Model;
use crate::error::AppError;

/// Per-agent execution settings; `None` means "use the server default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionSettings {
    /// Retries per provider request, 0–10.
    pub max_retries: Option<i32>,
    /// Whole-run deadline in seconds.
    pub timeout_secs: Option<i64>,
    /// Sampling temperature, 0–2.
    pub temperature: Option<f64>,
}

impl ExecutionSettings {
    /// Reads the stored JSON (never fails: unknown or malformed values are ignored).
    pub fn from_stored(v: &Value) -> Self {
        Self {
            max_retries: v["maxRetries"].as_i64().map(|n| n as i32),
            timeout_secs: v["timeout"].as_i64(),
            temperature: v["temperature"].as_f64(),
        }
    }

    /// The stored JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "maxRetries": self.max_retries,
            "timeout": self.timeout_secs,
            "temperature": self.temperature,
        })
    }
}

/// A validated agent.
#[derive(Debug, Clone)]
pub struct AgentInput {
    /// Unique slug, e.g. `story-head-001`.
    pub agent_id: String,
    /// Display name.
    pub name: String,
    /// What the agent is for.
    pub description: String,
    /// Department id (required).
    pub department_id: i32,
    /// At most one head per department.
    pub is_department_head: bool,
    /// Model id; empty means the department's or the server's default.
    pub model: String,
    /// System prompt.
    pub instructions_prompt: String,
    /// Names of the tools the agent may call (empty: every tool available to its department).
    pub tool_names: Vec<String>,
    /// Model calls per run, 1–100.
    pub max_agent_steps: Option<i32>,
    /// Inactive agents cannot run.
    pub is_active: bool,
    /// Retries, timeout, temperature.
    pub execution_settings: ExecutionSettings,
    /// JSON Schema of the structured output, if any.
    pub output_schema: Option<Value>,
    /// agentIds of the agents it may start with `spawn_agents` (their existence is checked
    /// against the database when the agent is written).
    pub spawnable_agents: Vec<String>,
    /// Models tried in order when the model fails (empty: the department's).
    pub fallback_models: Vec<String>,
    /// Rules choosing the model per run; the first match wins.
    pub model_routing: Vec<RoutingRule>,
    /// Per-tool approval rules overriding the tools' own (`approvalRules`).
    pub approval_rules: Vec<super::approvals::AgentRule>,
}

impl AgentInput {
    /// Parses and validates an agent document.
    pub fn from_json(doc: &Value) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let agent_id = f.slug("agentId");
        let name = f.string("name", true, 200);
        let description = f.string("description", false, 5000);
        let department_id = f.relation("department", true).unwrap_or(0);
        let is_department_head = f.boolean("isDepartmentHead", false);
        let model = f.string("model", false, 200);
        let instructions_prompt = f.string("instructionsPrompt", false, 100_000);
        let tool_names = tool_names(&mut f);
        let max_agent_steps = f.int("maxAgentSteps", 1, 100).map(|n| n as i32);
        let is_active = f.boolean("isActive", true);
        let execution_settings = execution_settings(&mut f);
        let output_schema = f.json_schema("outputSchema");
        let spawnable_agents = spawnable_agents(&mut f);
        let fallback_models = routing::fallback_models(&mut f, "fallbackModels");
        let model_routing = routing::model_routing(&mut f);
        let approval_rules = super::approvals::agent_rules(&mut f);
        f.finish()?;
        Ok(Self {
            agent_id,
            name,
            description,
            department_id,
            is_department_head,
            model,
            instructions_prompt,
            tool_names,
            max_agent_steps,
            is_active,
            execution_settings,
            output_schema,
            spawnable_agents,
            fallback_models,
            model_routing,
            approval_rules,
        })
    }
}

/// A tool name as agents reference it.
pub fn is_tool_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && s.len() <= 64
}

fn tool_names(f: &mut Fields<'_>) -> Vec<String> {
    named_list(f, "toolNames", "toolName", "tool", |name| {
        (!is_tool_name(name)).then(|| {
            "Must start with a letter and contain only letters, digits, '_' and '-'.".to_owned()
        })
    })
}

fn spawnable_agents(f: &mut Fields<'_>) -> Vec<String> {
    named_list(f, "spawnableAgents", "agentId", "agent", |id| {
        (!super::fields::is_slug(id)).then(|| format!("No agent has the agentId {id}."))
    })
}

/// A list of `[{<key>: name}]` (or bare names): each name required, checked by `invalid`
/// (which says what is wrong with it) and listed once; errors at `<field>.N.<key>`.
fn named_list(
    f: &mut Fields<'_>,
    field: &str,
    key: &str,
    what: &str,
    invalid: impl Fn(&str) -> Option<String>,
) -> Vec<String> {
    let raw = match f.json(field) {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            f.error(field, format!("Must be a list of {{{key}}} entries."));
            return Vec::new();
        }
    };
    let mut names: Vec<String> = Vec::new();
    for (i, item) in raw.iter().enumerate() {
        let name = match item {
            Value::String(s) => s.trim(),
            Value::Object(o) => o.get(key).and_then(Value::as_str).unwrap_or("").trim(),
            _ => "",
        };
        let path = format!("{field}.{i}.{key}");
        if name.is_empty() {
            f.error(path, "This field is required.");
        } else if let Some(problem) = invalid(name) {
            f.error(path, problem);
        } else if names.iter().any(|n| n == name) {
            f.error(path, format!("The {what} {name} is listed twice."));
        } else {
            names.push(name.to_owned());
        }
    }
    names
}

/// Stored spawnable agents (`[{agentId}]`) as a list of agentIds.
pub fn stored_spawnable_agents(v: &Value) -> Vec<String> {
    stored_names(v, "agentId")
}

/// Spawnable agents in their stored (and API) shape.
pub fn spawnable_agents_json(ids: &[String]) -> Value {
    names_json(ids, "agentId")
}

/// The names of a stored `[{<key>: name}]` list (bare strings accepted).
fn stored_names(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i[key].as_str().or_else(|| i.as_str()))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Names in their stored `[{<key>: name}]` shape.
fn names_json(names: &[String], key: &str) -> Value {
    Value::Array(names.iter().map(|n| json!({ key: n })).collect())
}

fn execution_settings(f: &mut Fields<'_>) -> ExecutionSettings {
    let raw = match f.json("executionSettings") {
        None => return ExecutionSettings::default(),
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            f.error("executionSettings", "Must be an object.");
            return ExecutionSettings::default();
        }
    };
    ExecutionSettings {
        max_retries: f
            .int_opt("executionSettings.maxRetries", &raw["maxRetries"], 0, 10)
            .map(|n| n as i32),
        timeout_secs: f.int_opt("executionSettings.timeout", &raw["timeout"], 1, 86_400),
        temperature: f.number_opt(
            "executionSettings.temperature",
            &raw["temperature"],
            0.0,
            2.0,
        ),
    }
}

/// Stored tool names (`[{toolName}]`) as a list.
pub fn stored_tool_names(v: &Value) -> Vec<String> {
    stored_names(v, "toolName")
}

/// Tool names in their stored (and API) shape.
pub fn tool_names_json(names: &[String]) -> Value {
    names_json(names, "toolName")
}

/// Derived performance metrics, from the stored totals.
pub fn performance_metrics(m: &Model) -> Value {
    let total = m.total_executions.max(0);
    let average = if total > 0 {
        m.total_execution_time_ms / total
    } else {
        0
    };
    let rate = if total > 0 {
        (m.successful_executions as f64 * 10_000.0 / total as f64).round() / 100.0
    } else {
        0.0
    };
    json!({
        "totalExecutions": total,
        "successfulExecutions": m.successful_executions,
        "failedExecutions": m.failed_executions,
        "averageExecutionTime": average,
        "successRate": rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({"agentId": "story-head-001", "name": "Story Head", "department": 1})
    }

    #[test]
    fn a_minimal_agent_is_valid() {
        let a = AgentInput::from_json(&valid()).expect("valid");
        assert!(a.is_active);
        assert!(a.tool_names.is_empty());
    }

    #[test]
    fn tool_name_errors_carry_their_path() {
        let mut doc = valid();
        doc["toolNames"] = json!([{"toolName": "ok"}, {"toolName": ""}, {"toolName": "bad name"}]);
        let Err(AppError::Validation(errors)) = AgentInput::from_json(&doc) else {
            panic!("expected errors")
        };
        assert!(errors.contains_key("toolNames.1.toolName"));
        assert!(errors.contains_key("toolNames.2.toolName"));
    }

    #[test]
    fn spawnable_agents_are_agent_ids_listed_once() {
        let mut doc = valid();
        doc["spawnableAgents"] = json!([{"agentId": "a-1"}, "b-2", {"agentId": "a-1"}, {}]);
        let Err(AppError::Validation(errors)) = AgentInput::from_json(&doc) else {
            panic!("expected errors")
        };
        assert!(errors.contains_key("spawnableAgents.2.agentId"));
        assert!(errors.contains_key("spawnableAgents.3.agentId"));
        doc["spawnableAgents"] = json!([{"agentId": "a-1"}, "b-2"]);
        let input = AgentInput::from_json(&doc).expect("valid");
        assert_eq!(input.spawnable_agents, ["a-1", "b-2"]);
        assert_eq!(
            stored_spawnable_agents(&spawnable_agents_json(&input.spawnable_agents)),
            input.spawnable_agents
        );
    }

    #[test]
    fn ranges_are_enforced() {
        let mut doc = valid();
        doc["maxAgentSteps"] = json!(101);
        doc["executionSettings"] = json!({"maxRetries": 11, "temperature": 2.5});
        let Err(AppError::Validation(errors)) = AgentInput::from_json(&doc) else {
            panic!("expected errors")
        };
        assert!(errors.contains_key("maxAgentSteps"));
        assert!(errors.contains_key("executionSettings.maxRetries"));
        assert!(errors.contains_key("executionSettings.temperature"));
    }
}
