//! The agent configuration a run uses, resolved once when the run is queued and stored on the
//! execution (`agent_snapshot`): later edits of the agent do not change a queued run, and the
//! history shows what each run actually used.

use serde_json::{Value, json};

use crate::config::RunnerSettings;
use crate::domain::agents::{ExecutionSettings, stored_spawnable_agents, stored_tool_names};
use crate::domain::routing::{self, RoutingDecision};
use crate::entities::{agents, departments};

/// Most model calls any agent may make per run.
const MAX_STEPS_LIMIT: u32 = 100;
/// Most retries per request any agent may ask for.
const MAX_RETRIES_LIMIT: u32 = 10;

/// Everything a run needs to know about its agent, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    /// The agent's slug.
    pub agent_id: String,
    /// Display name.
    pub name: String,
    /// Model id: the agent's, else its department's default, else empty (the router then uses
    /// `OPENROUTER_DEFAULT_MODEL`).
    pub model: String,
    /// The system prompt.
    pub instructions_prompt: String,
    /// Tool names the agent asks for (empty: every tool its department may use).
    pub tool_names: Vec<String>,
    /// Model calls per run: agent, else department, else `AGENT_MAX_STEPS`.
    pub max_steps: u32,
    /// Retries per provider request: agent, else `AGENT_MAX_RETRIES`.
    pub max_retries: u32,
    /// Whole-run deadline: agent (seconds), else `AGENT_TIMEOUT`.
    pub timeout_ms: u64,
    /// Sampling temperature, when set.
    pub temperature: Option<f64>,
    /// JSON Schema of the structured output, when the agent has one.
    pub output_schema: Option<Value>,
    /// The agent's department.
    pub department_id: i32,
    /// agentIds it may start with `spawn_agents` (empty: the tool is not offered).
    pub spawnable_agents: Vec<String>,
    /// Models tried in order when the model fails: the agent's, else its department's.
    pub fallback_models: Vec<String>,
    /// The routing rule that chose `model`, if one did.
    pub routing: Option<RoutingDecision>,
}

impl AgentConfig {
    /// Resolves an agent's configuration against its department and the server defaults.
    pub fn resolve(
        agent: &agents::Model,
        department: Option<&departments::Model>,
        defaults: &RunnerSettings,
    ) -> Self {
        let settings = ExecutionSettings::from_stored(&agent.execution_settings);
        let model = Some(agent.model.trim())
            .filter(|m| !m.is_empty())
            .or_else(|| {
                department
                    .map(|d| d.default_model.trim())
                    .filter(|m| !m.is_empty())
            })
            .unwrap_or_default()
            .to_owned();
        let max_steps = agent
            .max_agent_steps
            .or_else(|| department.and_then(|d| d.max_agent_steps))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(defaults.max_steps);
        let max_retries = settings
            .max_retries
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(defaults.max_retries);
        let timeout_ms = settings
            .timeout_secs
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map(|s| s.saturating_mul(1000))
            .unwrap_or_else(|| u64::try_from(defaults.timeout.as_millis()).unwrap_or(u64::MAX));
        Self {
            agent_id: agent.agent_id.clone(),
            name: agent.name.clone(),
            model,
            instructions_prompt: agent.instructions_prompt.clone(),
            tool_names: stored_tool_names(&agent.tool_names),
            max_steps: max_steps.clamp(1, MAX_STEPS_LIMIT),
            max_retries: max_retries.min(MAX_RETRIES_LIMIT),
            timeout_ms: timeout_ms.max(1),
            temperature: settings.temperature,
            output_schema: agent.output_schema.clone().filter(|s| !s.is_null()),
            department_id: agent.department_id,
            spawnable_agents: stored_spawnable_agents(&agent.spawnable_agents),
            fallback_models: Some(routing::stored_models(&agent.fallback_models))
                .filter(|m| !m.is_empty())
                .or_else(|| department.map(|d| routing::stored_models(&d.fallback_models)))
                .unwrap_or_default(),
            routing: None,
        }
    }

    /// Applies the agent's `modelRouting` to a run: the first rule matching `doc` (see
    /// [`routing::routing_document`]) replaces the model.
    pub fn route(&mut self, rules: &[routing::RoutingRule], doc: &Value) {
        if let Some(decision) = routing::pick(rules, doc) {
            self.model.clone_from(&decision.model);
            self.routing = Some(decision);
        }
    }

    /// The stored snapshot.
    pub fn to_snapshot(&self) -> Value {
        json!({
            "agentId": self.agent_id,
            "name": self.name,
            "model": self.model,
            "instructionsPrompt": self.instructions_prompt,
            "toolNames": self.tool_names,
            "maxAgentSteps": self.max_steps,
            "maxRetries": self.max_retries,
            "timeoutMs": self.timeout_ms,
            "temperature": self.temperature,
            "outputSchema": self.output_schema,
            "department": self.department_id,
            "spawnableAgents": self.spawnable_agents,
            "fallbackModels": self.fallback_models,
            "routing": self.routing.as_ref().map(|d| json!({"rule": d.rule, "model": d.model})),
        })
    }

    /// Reads a stored snapshot; missing or malformed values fall back to the server defaults.
    pub fn from_snapshot(v: &Value, defaults: &RunnerSettings) -> Self {
        let text = |key: &str| v[key].as_str().unwrap_or_default().to_owned();
        let number = |key: &str| v[key].as_u64();
        Self {
            agent_id: text("agentId"),
            name: text("name"),
            model: text("model"),
            instructions_prompt: text("instructionsPrompt"),
            tool_names: stored_tool_names(&v["toolNames"]),
            max_steps: number("maxAgentSteps")
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(defaults.max_steps)
                .clamp(1, MAX_STEPS_LIMIT),
            max_retries: number("maxRetries")
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(defaults.max_retries)
                .min(MAX_RETRIES_LIMIT),
            timeout_ms: number("timeoutMs")
                .unwrap_or_else(|| u64::try_from(defaults.timeout.as_millis()).unwrap_or(u64::MAX))
                .max(1),
            temperature: v["temperature"].as_f64(),
            output_schema: Some(v["outputSchema"].clone()).filter(|s| !s.is_null()),
            department_id: v["department"]
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(0),
            spawnable_agents: stored_spawnable_agents(&v["spawnableAgents"]),
            fallback_models: v["fallbackModels"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            routing: v["routing"]["model"].as_str().map(|model| RoutingDecision {
                rule: v["routing"]["rule"]
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0),
                model: model.to_owned(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn agent(settings: Value, steps: Option<i32>, model: &str) -> agents::Model {
        let ts = crate::domain::now();
        agents::Model {
            id: 1,
            agent_id: "a-1".into(),
            name: "A".into(),
            description: String::new(),
            department_id: 3,
            is_department_head: false,
            model: model.into(),
            instructions_prompt: "Be useful.".into(),
            tool_names: json!([{"toolName": "calc"}]),
            max_agent_steps: steps,
            is_active: true,
            execution_settings: settings,
            output_schema: None,
            total_executions: 0,
            successful_executions: 0,
            failed_executions: 0,
            total_execution_time_ms: 0,
            last_executed_at: None,
            spawnable_agents: json!([{"agentId": "b-2"}]),
            fallback_models: json!([{"model": "m/fallback"}]),
            model_routing: json!([]),
            approval_rules: None,
            created_at: ts,
            updated_at: ts,
        }
    }

    fn defaults() -> RunnerSettings {
        Settings::from_lookup(|_| None).expect("defaults").runner
    }

    #[test]
    fn agent_values_win_and_round_trip_through_the_snapshot() {
        let a = agent(
            json!({"maxRetries": 1, "timeout": 7, "temperature": 0.2}),
            Some(4),
            "m/x",
        );
        let config = AgentConfig::resolve(&a, None, &defaults());
        assert_eq!(
            (config.max_steps, config.max_retries, config.timeout_ms),
            (4, 1, 7000)
        );
        assert_eq!(config.tool_names, ["calc"]);
        assert_eq!(config.spawnable_agents, ["b-2"]);
        assert_eq!(
            AgentConfig::from_snapshot(&config.to_snapshot(), &defaults()),
            config
        );
    }

    #[test]
    fn empty_values_fall_back_to_the_server_defaults() {
        let config = AgentConfig::resolve(&agent(json!({}), None, " "), None, &defaults());
        assert_eq!(
            (config.max_steps, config.max_retries, config.timeout_ms),
            (20, 3, 300_000)
        );
        assert_eq!(config.model, "");
        let broken = AgentConfig::from_snapshot(&json!("garbage"), &defaults());
        assert_eq!(broken.max_steps, 20);
    }
}
