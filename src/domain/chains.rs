//! Agent chains: the steps of a chain and the prompt templates they use.
//!
//! A step runs one agent, or the agents of `parallel` side by side. Prompts are templates:
//! `{{input}}` is the chain's prompt, `{{previous}}` the previous step's output text (for a
//! parallel step, the children's outputs joined under their agentIds) and `{{steps.N}}` the
//! output of step N (1-based, an earlier step). Spaces inside the braces are allowed.

use serde::{Deserialize, Serialize};

/// One step of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}
