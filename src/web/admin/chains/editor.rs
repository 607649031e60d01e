//! The step editor of the chain form. Steps travel as plain form fields named by their
//! document paths (`steps.0.agentId`, `steps.1.parallel.0.prompt`, and `steps.N.kind`:
//! `single` or `parallel`), so a field error of the API (`steps.1.parallel.0.prompt`) lands
//! on its input. Add / remove / reorder are submit buttons named `_op` that post the whole
//! form to the editor route: without JavaScript it answers the whole form page with the
//! change made (nothing saved, nothing typed lost); with htmx only the steps are swapped.

use serde_json::{Value, json};

use crate::web::admin::form::{FormErrors, FormValues};

/// One step as the form edits it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepForm {
    /// Runs a parallel group rather than one agent.
    pub parallel: bool,
    /// The agent of a single-agent step.
    pub agent_id: String,
    /// Its prompt template.
    pub prompt: String,
    /// The members of a parallel step: (agentId, prompt).
    pub members: Vec<(String, String)>,
}

impl StepForm {
    fn single() -> Self {
        Self::default()
    }

    fn group() -> Self {
        Self {
            parallel: true,
            members: vec![Default::default(), Default::default()],
            ..Self::default()
        }
    }
}

/// The index after `prefix` in `name` and the rest of the name (`steps.3.prompt` → 3,
/// `prompt`).
fn index_after<'a>(name: &'a str, prefix: &str) -> Option<(usize, &'a str)> {
    let rest = name.strip_prefix(prefix)?;
    let (n, tail) = rest.split_once('.').unwrap_or((rest, ""));
    Some((n.parse().ok()?, tail))
}

/// The steps of submitted (or stored) form values, in index order.
pub fn read(values: &FormValues) -> Vec<StepForm> {
    let mut steps: std::collections::BTreeMap<usize, StepForm> = Default::default();
    let mut members: std::collections::BTreeMap<(usize, usize), (String, String)> =
        Default::default();
    for (name, value) in values.pairs() {
        let Some((n, field)) = index_after(name, "steps.") else {
            continue;
        };
        let step = steps.entry(n).or_default();
        match field {
            "kind" => step.parallel = value == "parallel",
            "agentId" => step.agent_id = value.to_owned(),
            "prompt" => step.prompt = value.to_owned(),
            _ => {
                if let Some((m, part)) = index_after(field, "parallel.") {
                    let member = members.entry((n, m)).or_default();
                    match part {
                        "agentId" => member.0 = value.to_owned(),
                        "prompt" => member.1 = value.to_owned(),
                        _ => {}
                    }
                }
            }
        }
    }
    for ((n, _), member) in members {
        if let Some(step) = steps.get_mut(&n)
            && step.parallel
        {
            step.members.push(member);
        }
    }
    steps.into_values().collect()
}

/// Replaces the step fields of `values` with `steps`, renumbered from 0.
pub fn write(values: &mut FormValues, steps: &[StepForm]) {
    let kept: Vec<(String, String)> = values
        .pairs()
        .filter(|(name, _)| !name.starts_with("steps") && *name != "_op")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut fresh = FormValues::default();
    for (k, v) in kept {
        fresh.push(&k, v);
    }
    for (n, step) in steps.iter().enumerate() {
        if step.parallel {
            fresh.push(&format!("steps.{n}.kind"), "parallel");
            for (m, (agent, prompt)) in step.members.iter().enumerate() {
                fresh.push(&format!("steps.{n}.parallel.{m}.agentId"), agent.clone());
                fresh.push(&format!("steps.{n}.parallel.{m}.prompt"), prompt.clone());
            }
        } else {
            fresh.push(&format!("steps.{n}.kind"), "single");
            fresh.push(&format!("steps.{n}.agentId"), step.agent_id.clone());
            fresh.push(&format!("steps.{n}.prompt"), step.prompt.clone());
        }
    }
    *values = fresh;
}

/// The steps of a stored chain document as form values.
pub fn from_doc(values: &mut FormValues, doc: &Value) {
    let steps: Vec<StepForm> = doc["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|step| match step["parallel"].as_array() {
            Some(group) => StepForm {
                parallel: true,
                members: group
                    .iter()
                    .map(|m| (text(&m["agentId"]), text(&m["prompt"])))
                    .collect(),
                ..StepForm::default()
            },
            None => StepForm {
                agent_id: text(&step["agentId"]),
                prompt: text(&step["prompt"]),
                ..StepForm::default()
            },
        })
        .collect();
    write(values, &steps);
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// The `steps` of the document the form submits (what the API would be sent).
pub fn to_json(steps: &[StepForm]) -> Value {
    Value::Array(
        steps
            .iter()
            .map(|step| {
                if step.parallel {
                    json!({"parallel": step.members.iter()
                        .map(|(agent, prompt)| json!({"agentId": agent, "prompt": prompt}))
                        .collect::<Vec<_>>()})
                } else {
                    json!({"agentId": step.agent_id, "prompt": step.prompt})
                }
            })
            .collect(),
    )
}

/// Applies an editor operation (`add-step`, `add-group`, `remove:N`, `up:N`, `down:N`,
/// `group:N`, `single:N`, `add-member:N`, `remove-member:N:M`). Unknown or out-of-range
/// operations change nothing.
pub fn apply(steps: &mut Vec<StepForm>, op: &str) {
    let mut parts = op.split(':');
    let name = parts.next().unwrap_or_default();
    let n: Option<usize> = parts.next().and_then(|p| p.parse().ok());
    let m: Option<usize> = parts.next().and_then(|p| p.parse().ok());
    let len = steps.len();
    match (name, n) {
        ("add-step", _) => steps.push(StepForm::single()),
        ("add-group", _) => steps.push(StepForm::group()),
        ("remove", Some(n)) if n < len => {
            steps.remove(n);
        }
        ("up", Some(n)) if n > 0 && n < len => steps.swap(n - 1, n),
        ("down", Some(n)) if n + 1 < len => steps.swap(n, n + 1),
        ("group", Some(n)) if n < len && !steps[n].parallel => {
            let step = &mut steps[n];
            step.parallel = true;
            step.members = vec![
                (
                    std::mem::take(&mut step.agent_id),
                    std::mem::take(&mut step.prompt),
                ),
                Default::default(),
            ];
        }
        ("single", Some(n)) if n < len && steps[n].parallel => {
            let step = &mut steps[n];
            let (agent, prompt) = step.members.drain(..).next().unwrap_or_default();
            *step = StepForm {
                agent_id: agent,
                prompt,
                ..StepForm::single()
            };
        }
        ("add-member", Some(n)) if n < len && steps[n].parallel => {
            steps[n].members.push(Default::default());
        }
        ("remove-member", Some(n)) if n < len => {
            let members = &mut steps[n].members;
            if let Some(m) = m.filter(|m| *m < members.len() && members.len() > 1) {
                members.remove(m);
            }
        }
        _ => {}
    }
}

/// An agent picker's option.
pub struct AgentOption {
    /// agentId.
    pub id: String,
    /// "agentId · name".
    pub label: String,
}

/// One step as the editor shows it, with its errors.
pub struct StepView {
    /// 0-based index (the field paths).
    pub index: usize,
    /// The step.
    pub step: StepForm,
    /// The error of the step itself (`steps.N`).
    pub error: Option<String>,
    /// Errors of its agent and prompt (single step).
    pub agent_error: Option<String>,
    /// The prompt's error.
    pub prompt_error: Option<String>,
    /// Errors of each member: (agent, prompt, member itself).
    pub member_errors: Vec<(Option<String>, Option<String>, Option<String>)>,
}

impl StepView {
    /// 1-based step number (what `{{steps.N}}` names).
    pub fn number(&self) -> usize {
        self.index + 1
    }
}

/// The step editor (`#chain-steps`): the steps, the agents to pick from, where its buttons
/// post.
#[derive(askama::Template)]
#[template(path = "admin/chains/_steps.html")]
pub struct StepsEditor {
    /// The steps.
    pub steps: Vec<StepView>,
    /// Active agents.
    pub agents: Vec<AgentOption>,
    /// The editor route.
    pub action: String,
    /// The error of `steps` itself (no steps, too many).
    pub error: Option<String>,
    /// Whether the viewer may change the chain.
    pub can_edit: bool,
}

impl askama::filters::HtmlSafe for StepsEditor {}

impl StepsEditor {
    /// The editor of these form values and errors.
    pub fn new(
        values: &FormValues,
        errors: &FormErrors,
        agents: Vec<AgentOption>,
        action: String,
        can_edit: bool,
    ) -> Self {
        let owned = |s: Option<&str>| s.map(str::to_owned);
        let steps = read(values)
            .into_iter()
            .enumerate()
            .map(|(index, step)| {
                let path = format!("steps.{index}");
                let member_errors = (0..step.members.len())
                    .map(|m| {
                        let member = format!("{path}.parallel.{m}");
                        (
                            owned(errors.exact(&format!("{member}.agentId"))),
                            owned(errors.exact(&format!("{member}.prompt"))),
                            owned(errors.exact(&member)),
                        )
                    })
                    .collect();
                StepView {
                    index,
                    error: owned(errors.exact(&path))
                        .or_else(|| owned(errors.exact(&format!("{path}.parallel")))),
                    agent_error: owned(errors.exact(&format!("{path}.agentId"))),
                    prompt_error: owned(errors.exact(&format!("{path}.prompt"))),
                    member_errors,
                    step,
                }
            })
            .collect();
        Self {
            steps,
            agents,
            action,
            error: owned(errors.exact("steps")),
            can_edit,
        }
    }

    /// Whether `id` is missing from the pickers (unknown or inactive): it is shown anyway,
    /// so that what was chosen is not lost.
    fn unlisted(&self, id: &str) -> bool {
        !id.is_empty() && !self.agents.iter().any(|a| a.id == id)
    }

    /// The last index.
    fn last(&self) -> usize {
        self.steps.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(ops: &[&str]) -> Vec<StepForm> {
        let mut steps = Vec::new();
        for op in ops {
            apply(&mut steps, op);
        }
        steps
    }

    #[test]
    fn operations_add_move_and_remove_steps_and_members() {
        let mut s = steps(&["add-step", "add-group", "add-step"]);
        s[0].agent_id = "a".into();
        s[2].agent_id = "c".into();
        apply(&mut s, "up:2");
        assert_eq!(s[1].agent_id, "c");
        apply(&mut s, "down:1");
        assert!(s[1].parallel && s[2].agent_id == "c");
        apply(&mut s, "up:0");
        apply(&mut s, "down:2");
        apply(&mut s, "remove:9");
        assert_eq!(s.len(), 3, "out of range changes nothing");
        apply(&mut s, "add-member:1");
        assert_eq!(s[1].members.len(), 3);
        apply(&mut s, "remove-member:1:0");
        apply(&mut s, "remove-member:1:0");
        apply(&mut s, "remove-member:1:0");
        assert_eq!(s[1].members.len(), 1, "the last member stays");
        apply(&mut s, "group:0");
        assert_eq!(s[0].members[0].0, "a");
        apply(&mut s, "single:0");
        assert_eq!((s[0].parallel, s[0].agent_id.as_str()), (false, "a"));
        apply(&mut s, "remove:0");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn steps_survive_a_round_trip_through_form_values() {
        let doc = json!({"name": "x", "steps": [
            {"agentId": "a", "prompt": "{{input}}"},
            {"parallel": [{"agentId": "b", "prompt": "p1"}, {"agentId": "c", "prompt": "p2"}]},
        ]});
        let mut values = FormValues::default();
        values.push("name", "x");
        from_doc(&mut values, &doc);
        assert_eq!(values.get("steps.1.parallel.1.prompt"), "p2");
        let read_back = read(&values);
        assert_eq!(to_json(&read_back), doc["steps"]);
        assert_eq!(values.get("name"), "x");
    }

    #[test]
    fn posted_fields_are_read_by_index() {
        let values = FormValues::parse(
            b"steps.1.kind=single&steps.1.agentId=z&steps.0.kind=parallel&steps.0.parallel.1.agentId=b&steps.0.parallel.0.agentId=a&steps.10.kind=single",
        );
        let s = read(&values);
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0].members,
            vec![("a".into(), String::new()), ("b".into(), String::new())]
        );
        assert_eq!(s[1].agent_id, "z");
    }
}
