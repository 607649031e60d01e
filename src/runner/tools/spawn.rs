//! `spawn_agents`: offered to agents with `spawnableAgents`. The runner itself carries out
//! its calls (`runner::swarm`): children are executions, not sandboxed code.

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use super::{Tool, ToolContext, ToolOutcome};

/// Name of the tool that starts child agents.
pub const SPAWN_AGENTS: &str = "spawn_agents";

/// `spawn_agents {agents: [{agentId, prompt}]}`: runs the agents in parallel and returns their
/// results in the order asked.
pub struct SpawnAgents {
    schema: Value,
    description: String,
}

impl SpawnAgents {
    /// The tool as offered to an agent that may spawn `allowed` (agentIds).
    pub fn new(allowed: &[String]) -> Self {
        Self {
            schema: json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["agents"],
                "properties": {
                    "agents": {
                        "type": "array",
                        "minItems": 1,
                        "description": "The agents to run, side by side, each with its own prompt.",
                        "items": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["agentId", "prompt"],
                            "properties": {
                                "agentId": {
                                    "type": "string",
                                    "minLength": 1,
                                    "description": "Which agent to run (one of those listed in this tool's description)."
                                },
                                "prompt": {
                                    "type": "string",
                                    "minLength": 1,
                                    "description": "The task for that agent: everything it needs to know."
                                }
                            }
                        }
                    }
                }
            }),
            description: format!(
                "Runs other agents in parallel, each on its own prompt, and returns their results \
                 in the order asked: {{results: [{{agentId, executionId, status, outputText, output, \
                 error}}]}}. A failed agent is an entry with its status and error. Agents you may \
                 run: {}.",
                allowed.join(", ")
            ),
        }
    }
}

impl Tool for SpawnAgents {
    fn name(&self) -> &str {
        SPAWN_AGENTS
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn input_schema(&self) -> &Value {
        &self.schema
    }

    /// Never reached: the loop hands `spawn_agents` calls to the runner.
    fn call<'a>(&'a self, _input: Value, _ctx: &'a ToolContext) -> BoxFuture<'a, ToolOutcome> {
        Box::pin(async { ToolOutcome::error("spawn_agents is carried out by the runner.") })
    }
}
