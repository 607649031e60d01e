//! Agent chains: the steps of a chain and the prompt templates they use.
//!
//! A step runs one agent, or the agents of `parallel` side by side. Prompts are templates:
//! `{{input}}` is the chain's prompt, `{{previous}}` the previous step's output text (for a
//! parallel step, the children's outputs joined under their agentIds) and `{{steps.N}}` the
//! output of step N (1-based, an earlier step). Spaces inside the braces are allowed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::Fields;
use crate::error::AppError;

/// One step of a chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainStep {
    /// The agent this step runs (empty when the step is a parallel group).
    #[serde(default)]
    pub agent_id: String,
    /// The prompt template of that agent.
    #[serde(default)]
    pub prompt: String,
    /// Agents run side by side instead of `agent_id`; empty for a single-agent step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parallel: Vec<ParallelRun>,
}

/// One agent of a parallel step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParallelRun {
    /// The agent.
    pub agent_id: String,
    /// Its prompt template.
    pub prompt: String,
}

impl ChainStep {
    /// The (agentId, prompt template) pairs this step runs, in order.
    pub fn runs(&self) -> Vec<(&str, &str)> {
        if self.parallel.is_empty() {
            vec![(self.agent_id.as_str(), self.prompt.as_str())]
        } else {
            self.parallel
                .iter()
                .map(|p| (p.agent_id.as_str(), p.prompt.as_str()))
                .collect()
        }
    }
}

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Literal text.
    Text(&'a str),
    /// `{{input}}`.
    Input,
    /// `{{previous}}`.
    Previous,
    /// `{{steps.N}}`, 1-based.
    Step(usize),
}

/// Parses `template`, written for step `step` (1-based). Errors are worded for an editor.
pub fn parse(template: &str, step: usize) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            pieces.push(Piece::Text(&rest[..open]));
        }
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err("A `{{` is never closed with `}}`.".into());
        };
        let name = after[..close].trim();
        pieces.push(placeholder(name, step)?);
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest));
    }
    Ok(pieces)
}

fn placeholder(name: &str, step: usize) -> Result<Piece<'static>, String> {
    match name {
        "input" => Ok(Piece::Input),
        "previous" if step <= 1 => {
            Err("`{{previous}}` cannot be used in the first step: nothing ran before it.".into())
        }
        "previous" => Ok(Piece::Previous),
        _ => {
            let Some(n) = name.strip_prefix("steps.") else {
                return Err(format!(
                    "Unknown placeholder `{{{{{name}}}}}`; use {{{{input}}}}, {{{{previous}}}} or {{{{steps.N}}}}."
                ));
            };
            match n.parse::<usize>() {
                Ok(n) if n >= 1 && n < step => Ok(Piece::Step(n)),
                Ok(n) => Err(format!(
                    "`{{{{steps.{n}}}}}` must name an earlier step (1 to {}).",
                    step.saturating_sub(1)
                )),
                Err(_) => Err(format!(
                    "`{{{{{name}}}}}`: N in {{{{steps.N}}}} must be a step number."
                )),
            }
        }
    }
}

/// What a template is filled with.
#[derive(Debug, Clone, Copy)]
pub struct Vars<'a> {
    /// The chain's prompt.
    pub input: &'a str,
    /// The output texts of the steps run so far, step 1 first.
    pub steps: &'a [String],
}

/// Fills a parsed template.
pub fn render(pieces: &[Piece<'_>], vars: Vars<'_>) -> String {
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Input => out.push_str(vars.input),
            Piece::Previous => out.push_str(vars.steps.last().map_or("", String::as_str)),
            Piece::Step(n) => out.push_str(vars.steps.get(n - 1).map_or("", String::as_str)),
        }
    }
    out
}

/// The output text of a parallel step: each child's output under its agentId.
pub fn join_outputs<'a>(outputs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    outputs
        .into_iter()
        .map(|(agent_id, text)| format!("## {agent_id}\n\n{text}"))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Steps a chain may have, at most.
pub const MAX_STEPS: usize = 50;
/// Agents a parallel step may run, at most.
pub const MAX_PARALLEL: usize = 20;
/// Characters a prompt template may have, at most.
pub const MAX_PROMPT: usize = 100_000;

/// What is known of an agent a chain names: whether it exists, and whether it is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    /// It exists and may run.
    Active,
    /// It exists but is inactive.
    Inactive,
}

/// A validated chain.
#[derive(Debug, Clone)]
pub struct ChainInput {
    /// Unique slug, `^[a-z][a-z0-9-]*$`.
    pub chain_id: String,
    /// Display name.
    pub name: String,
    /// What the chain is for.
    pub description: String,
    /// Inactive chains cannot run.
    pub is_active: bool,
    /// The steps, in order (at least one).
    pub steps: Vec<ChainStep>,
}

impl ChainInput {
    /// The agentIds a chain document names, read leniently (for looking them up before
    /// [`ChainInput::from_json`] checks them).
    pub fn named_agents(doc: &Value) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for step in doc["steps"].as_array().into_iter().flatten() {
            let members = step["parallel"].as_array().into_iter().flatten();
            for agent in std::iter::once(&step["agentId"]).chain(members.map(|m| &m["agentId"])) {
                if let Some(id) = agent.as_str().map(str::trim).filter(|s| !s.is_empty()) {
                    ids.push(id.to_owned());
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Parses and validates a chain document. `agents` holds the state of every agent the
    /// document names that exists (see [`ChainInput::named_agents`]); an agentId missing
    /// from it is unknown. Errors carry Payload's paths: `steps.0.agentId`,
    /// `steps.1.parallel.0.prompt` (0-based, while a template's `{{steps.N}}` is 1-based).
    pub fn from_json(doc: &Value, agents: &HashMap<String, AgentState>) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let chain_id = f.slug("chainId");
        let name = f.string("name", true, 200);
        let description = f.string("description", false, 5000);
        let is_active = f.boolean("isActive", true);
        let steps = steps(&mut f, agents);
        f.finish()?;
        Ok(Self {
            chain_id,
            name,
            description,
            is_active,
            steps,
        })
    }
}

/// The stored (and API) form of steps: a single-agent step is `{agentId, prompt}`, a
/// parallel one `{parallel: [{agentId, prompt}]}`.
pub fn steps_json(steps: &[ChainStep]) -> Value {
    Value::Array(
        steps
            .iter()
            .map(|step| {
                if step.parallel.is_empty() {
                    json!({"agentId": step.agent_id, "prompt": step.prompt})
                } else {
                    json!({"parallel": step.parallel.iter()
                        .map(|p| json!({"agentId": p.agent_id, "prompt": p.prompt}))
                        .collect::<Vec<_>>()})
                }
            })
            .collect(),
    )
}

/// Reads stored steps (never fails: what cannot be read is left out).
pub fn stored_steps(value: &Value) -> Vec<ChainStep> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|step| serde_json::from_value::<ChainStep>(step.clone()).ok())
        .collect()
}

fn steps(f: &mut Fields<'_>, agents: &HashMap<String, AgentState>) -> Vec<ChainStep> {
    let raw = match f.json("steps") {
        None => {
            f.error("steps", "A chain needs at least one step.");
            return Vec::new();
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            f.error("steps", "Must be a list of steps.");
            return Vec::new();
        }
    };
    if raw.is_empty() {
        f.error("steps", "A chain needs at least one step.");
    } else if raw.len() > MAX_STEPS {
        f.error("steps", format!("At most {MAX_STEPS} steps."));
    }
    let empty = Map::new();
    raw.iter()
        .enumerate()
        .map(|(i, item)| {
            let path = format!("steps.{i}");
            let Some(step) = item.as_object() else {
                f.error(
                    path,
                    "Must be a step: {agentId, prompt} or {parallel: [...]}.",
                );
                return ChainStep::default();
            };
            step_at(f, &path, i + 1, step, agents, &empty)
        })
        .collect()
}

fn step_at(
    f: &mut Fields<'_>,
    path: &str,
    number: usize,
    step: &Map<String, Value>,
    agents: &HashMap<String, AgentState>,
    empty: &Map<String, Value>,
) -> ChainStep {
    let agent = step.get("agentId").unwrap_or(&Value::Null);
    // An empty agentId names no agent; as the only key of its kind it still makes a
    // single-agent step (a form's blank picker), whose agentId is then required.
    let blank = agent.as_str().is_some_and(|s| s.trim().is_empty());
    let has_agent = !(agent.is_null() || blank);
    let group = match step.get("parallel").unwrap_or(&Value::Null) {
        Value::Null => None,
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) => Some(items),
        _ => {
            f.error(
                format!("{path}.parallel"),
                "Must be a list of {agentId, prompt}.",
            );
            return ChainStep::default();
        }
    };
    match (has_agent || blank && group.is_none(), group) {
        (false, None) => {
            f.error(
                path,
                "A step runs one agent (agentId) or a parallel group (parallel); this one has neither.",
            );
            ChainStep::default()
        }
        (true, Some(_)) => {
            f.error(
                path,
                "A step runs one agent (agentId) or a parallel group (parallel), not both.",
            );
            ChainStep::default()
        }
        (true, None) => {
            let (agent_id, prompt) = run_at(f, path, number, step, agents);
            ChainStep {
                agent_id,
                prompt,
                parallel: Vec::new(),
            }
        }
        (false, Some(items)) => {
            if items.len() > MAX_PARALLEL {
                f.error(
                    format!("{path}.parallel"),
                    format!("At most {MAX_PARALLEL} agents side by side."),
                );
            }
            let parallel = items
                .iter()
                .enumerate()
                .map(|(m, item)| {
                    let path = format!("{path}.parallel.{m}");
                    let member = item.as_object().unwrap_or_else(|| {
                        f.error(&path, "Must be {agentId, prompt}.");
                        empty
                    });
                    let (agent_id, prompt) = run_at(f, &path, number, member, agents);
                    ParallelRun { agent_id, prompt }
                })
                .collect();
            ChainStep {
                agent_id: String::new(),
                prompt: String::new(),
                parallel,
            }
        }
    }
}

/// A required, non-blank string at `path` (kept as written); "" after recording the error.
fn required_text(f: &mut Fields<'_>, path: &str, value: Option<&Value>) -> String {
    match value.unwrap_or(&Value::Null) {
        Value::String(s) if !s.trim().is_empty() => s.clone(),
        Value::Null | Value::String(_) => {
            f.error(path, "This field is required.");
            String::new()
        }
        _ => {
            f.error(path, "Must be a string.");
            String::new()
        }
    }
}

/// The agentId and prompt template at `path`, checked.
fn run_at(
    f: &mut Fields<'_>,
    path: &str,
    number: usize,
    run: &Map<String, Value>,
    agents: &HashMap<String, AgentState>,
) -> (String, String) {
    let agent_path = format!("{path}.agentId");
    let agent_id = required_text(f, &agent_path, run.get("agentId"))
        .trim()
        .to_owned();
    if !agent_id.is_empty() {
        match agents.get(&agent_id) {
            Some(AgentState::Active) => {}
            Some(AgentState::Inactive) => f.error(
                &agent_path,
                format!("The agent `{agent_id}` is inactive: it cannot run in a chain."),
            ),
            None => f.error(&agent_path, format!("No agent `{agent_id}` exists.")),
        }
    }
    let prompt_path = format!("{path}.prompt");
    let prompt = required_text(f, &prompt_path, run.get("prompt"));
    if prompt.chars().count() > MAX_PROMPT {
        f.error(
            &prompt_path,
            format!("Must be at most {MAX_PROMPT} characters."),
        );
    } else if let Err(message) = parse(&prompt, number) {
        f.error(&prompt_path, message);
    }
    (agent_id, prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(template: &str, step: usize, steps: &[&str]) -> Result<String, String> {
        let steps: Vec<String> = steps.iter().map(|s| (*s).to_owned()).collect();
        let pieces = parse(template, step)?;
        Ok(render(
            &pieces,
            Vars {
                input: "IN",
                steps: &steps,
            },
        ))
    }

    #[test]
    fn every_placeholder_is_filled() {
        assert_eq!(fill("a {{input}} b", 1, &[]).as_deref(), Ok("a IN b"));
        assert_eq!(
            fill("{{ previous }}|{{steps.1}}|{{input}}", 3, &["one", "two"]).as_deref(),
            Ok("two|one|IN")
        );
        assert_eq!(fill("no braces", 2, &["x"]).as_deref(), Ok("no braces"));
    }

    #[test]
    fn bad_templates_say_why() {
        assert!(
            fill("{{previous}}", 1, &[])
                .unwrap_err()
                .contains("first step")
        );
        assert!(
            fill("{{steps.2}}", 2, &["x"])
                .unwrap_err()
                .contains("earlier step")
        );
        assert!(
            fill("{{steps.0}}", 2, &["x"])
                .unwrap_err()
                .contains("earlier step")
        );
        assert!(
            fill("{{steps.x}}", 2, &["x"])
                .unwrap_err()
                .contains("step number")
        );
        assert!(
            fill("{{output}}", 2, &["x"])
                .unwrap_err()
                .contains("Unknown placeholder `{{output}}`")
        );
        assert!(
            fill("{{input", 1, &[])
                .unwrap_err()
                .contains("never closed")
        );
    }

    #[test]
    fn parallel_outputs_are_joined_under_their_agents() {
        assert_eq!(
            join_outputs([("a", "1"), ("b", "2")]),
            "## a\n\n1\n\n## b\n\n2"
        );
    }

    #[test]
    fn a_parallel_step_runs_its_group() {
        let step: ChainStep = serde_json::from_value(serde_json::json!({
            "parallel": [{"agentId": "a", "prompt": "p"}, {"agentId": "b", "prompt": "q"}]
        }))
        .unwrap();
        assert_eq!(step.runs(), vec![("a", "p"), ("b", "q")]);
    }

    fn agents() -> HashMap<String, AgentState> {
        HashMap::from([
            ("a".to_owned(), AgentState::Active),
            ("b".to_owned(), AgentState::Active),
            ("off".to_owned(), AgentState::Inactive),
        ])
    }

    fn errors(doc: serde_json::Value) -> crate::error::FieldErrors {
        match ChainInput::from_json(&doc, &agents()) {
            Err(AppError::Validation(errors)) => errors,
            other => panic!("expected validation errors, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_chain_keeps_its_steps() {
        let doc = json!({"chainId": "c", "name": "C", "steps": [
            {"agentId": "a", "prompt": "{{input}}"},
            {"parallel": [{"agentId": "a", "prompt": "{{previous}}"}, {"agentId": "b", "prompt": "{{steps.1}}"}]},
        ]});
        let input = ChainInput::from_json(&doc, &agents()).expect("valid");
        assert_eq!(input.steps.len(), 2);
        assert_eq!(
            input.steps[1].runs(),
            vec![("a", "{{previous}}"), ("b", "{{steps.1}}")]
        );
        assert_eq!(steps_json(&input.steps), doc["steps"]);
        assert_eq!(stored_steps(&steps_json(&input.steps)), input.steps);
        assert_eq!(ChainInput::named_agents(&doc), vec!["a", "b"]);
    }

    #[test]
    fn every_step_error_has_its_path() {
        let e = errors(json!({"chainId": "c", "name": "C", "steps": []}));
        assert!(e["steps"].contains("at least one step"));
        let e = errors(json!({"chainId": "c", "name": "C", "steps": [
            {"prompt": "x"},
            {"agentId": "a", "prompt": "x", "parallel": [{"agentId": "b", "prompt": "y"}]},
            {"agentId": "nobody", "prompt": "{{input}}"},
            {"agentId": "off", "prompt": "{{steps.9}}"},
            {"parallel": [{"agentId": "a", "prompt": "ok"}, {"agentId": "ghost", "prompt": "{{oops}}"}]},
        ]}));
        assert!(e["steps.0"].contains("neither"), "{e:?}");
        assert!(e["steps.1"].contains("not both"), "{e:?}");
        assert!(e["steps.2.agentId"].contains("No agent `nobody`"), "{e:?}");
        assert!(e["steps.3.agentId"].contains("inactive"), "{e:?}");
        assert!(
            e["steps.3.prompt"].contains("earlier step (1 to 3)"),
            "{e:?}"
        );
        assert!(e["steps.4.parallel.1.agentId"].contains("ghost"), "{e:?}");
        assert!(
            e["steps.4.parallel.1.prompt"].contains("Unknown placeholder"),
            "{e:?}"
        );
        assert_eq!(e.len(), 7, "{e:?}");
    }
}
