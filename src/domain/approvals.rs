//! Human in the loop: approval rules (`approval` on custom tools and MCP servers,
//! `approvalRules` on agents) and the statuses of the `approvals` collection. A rule's `when`
//! is a `where` over the tool call's input, evaluated by the API's where-engine in memory
//! (`query::memory`): same operators, same meanings.

use serde_json::{Value, json};

use super::fields::Fields;
use crate::query::fields::FieldMap;
use crate::query::{QueryError, Where, memory, where_clause};

/// Most approval rules on an agent.
pub const MAX_RULES: usize = 50;
/// Longest approval timeout a rule may set (30 days).
pub const MAX_TIMEOUT_MINUTES: i64 = 43_200;

/// What a `when` may name: any path of the tool input (`amount`, `order.total`).
pub static INPUT_FIELDS: FieldMap = FieldMap {
    table: "tool_input",
    fields: &[],
    open_json: Some("input"),
};

/// When a call needs a person's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Never (the default).
    Never,
    /// Every call.
    Always,
    /// Calls whose input matches `when`.
    Conditional,
}

impl Mode {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Never => "never",
            Mode::Always => "always",
            Mode::Conditional => "conditional",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Mode::Never, Mode::Always, Mode::Conditional]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// An approval rule: `{mode, when?, timeoutMinutes?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// When approval is needed.
    pub mode: Mode,
    /// For `conditional`: the where object over the input.
    pub when: Option<Value>,
    /// Pending approvals expire (are rejected) after this many minutes; none: never.
    pub timeout_minutes: Option<i64>,
}

impl Default for Rule {
    fn default() -> Self {
        Self {
            mode: Mode::Never,
            when: None,
            timeout_minutes: None,
        }
    }
}

impl Rule {
    /// Whether a call with `input` needs approval. A `when` that cannot be evaluated (stored
    /// before validation existed) asks for approval: the safe side.
    pub fn applies(&self, input: &Value) -> bool {
        match self.mode {
            Mode::Never => false,
            Mode::Always => true,
            Mode::Conditional => {
                let Some(when) = &self.when else {
                    return true;
                };
                parse_when(when)
                    .and_then(|w| memory::matches(&INPUT_FIELDS, &w, input))
                    .unwrap_or(true)
            }
        }
    }

    /// The stored (and API) shape.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"mode": self.mode.as_str()});
        if let Some(when) = &self.when {
            v["when"] = when.clone();
        }
        if let Some(t) = self.timeout_minutes {
            v["timeoutMinutes"] = json!(t);
        }
        v
    }

    /// Reads a stored rule; anything unreadable is `never`.
    pub fn from_stored(v: &Value) -> Self {
        let Some(mode) = v.get("mode").and_then(Value::as_str).and_then(Mode::parse) else {
            return Self::default();
        };
        Self {
            mode,
            when: v.get("when").filter(|w| !w.is_null()).cloned(),
            timeout_minutes: v.get("timeoutMinutes").and_then(Value::as_i64),
        }
    }
}

/// The parsed `when`, or why it cannot be used.
pub fn parse_when(when: &Value) -> Result<Where, QueryError> {
    if !when.is_object() {
        return Err(QueryError::Invalid(
            "Must be a where object over the tool input, e.g. {\"amount\": {\"greater_than\": 100}}."
                .into(),
        ));
    }
    let parsed = where_clause::parse(when)?;
    memory::check(&INPUT_FIELDS, &parsed)?;
    Ok(parsed)
}

/// Reads a rule at `path` (`approval`, or `approvalRules.N`) from `raw`; errors name
/// `path.mode`, `path.when`, `path.timeoutMinutes`. `with_timeout`: whether the rule may
/// carry `timeoutMinutes`.
fn read_rule(f: &mut Fields<'_>, path: &str, raw: &Value, with_timeout: bool) -> Rule {
    let Value::Object(o) = raw else {
        f.error(path, "Must be {mode: never|always|conditional, when?}.");
        return Rule::default();
    };
    let mode = match o.get("mode").map(|m| (m, m.as_str().and_then(Mode::parse))) {
        None | Some((Value::Null, _)) => Mode::Never,
        Some((_, Some(mode))) => mode,
        Some(_) => {
            f.error(
                format!("{path}.mode"),
                "Must be one of never, always, conditional.",
            );
            Mode::Never
        }
    };
    // The admin form sends `when` as JSON text.
    let when = match o.get("when") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => {
            Some(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())))
        }
        Some(other) => Some(other.clone()),
    };
    if let Some(w) = &when
        && let Err(e) = parse_when(w)
    {
        f.error(format!("{path}.when"), e.to_string());
    }
    if mode == Mode::Conditional && when.is_none() {
        f.error(
            format!("{path}.when"),
            "A conditional rule needs a where object over the tool input.",
        );
    }
    let timeout_minutes = match o.get("timeoutMinutes") {
        Some(v) if with_timeout => {
            f.int_opt(&format!("{path}.timeoutMinutes"), v, 1, MAX_TIMEOUT_MINUTES)
        }
        _ => None,
    };
    Rule {
        mode,
        when,
        timeout_minutes,
    }
}

/// Reads `approval` of a custom tool or an MCP server (absent: `never`).
pub fn approval(f: &mut Fields<'_>) -> Rule {
    let raw = f.raw("approval").clone();
    let raw = match raw {
        Value::Null => return Rule::default(),
        Value::String(s) if s.trim().is_empty() => return Rule::default(),
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        other => other,
    };
    read_rule(f, "approval", &raw, true)
}

/// An agent's rule for one tool (`approvalRules: [{toolName, mode, when?}]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRule {
    /// The tool (built-ins, `spawn_agents` and `server/tool` included).
    pub tool_name: String,
    /// The rule overriding the tool's own.
    pub rule: Rule,
}

/// Reads an agent's `approvalRules`; errors name `approvalRules.N.toolName` and so on.
pub fn agent_rules(f: &mut Fields<'_>) -> Vec<AgentRule> {
    let name = "approvalRules";
    let items = match f.json(name) {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            f.error(name, "Must be a list of {toolName, mode, when?} rules.");
            return Vec::new();
        }
    };
    if items.len() > MAX_RULES {
        f.error(name, format!("At most {MAX_RULES} approval rules."));
        return Vec::new();
    }
    let mut rules: Vec<AgentRule> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{name}.{i}");
        let tool_name = item
            .get("toolName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned();
        if tool_name.is_empty() {
            f.error(format!("{path}.toolName"), "This field is required.");
        } else if rules.iter().any(|r| r.tool_name == tool_name) {
            f.error(
                format!("{path}.toolName"),
                format!("{tool_name} has a rule already."),
            );
        }
        let rule = read_rule(f, &path, item, false);
        if !tool_name.is_empty() {
            rules.push(AgentRule { tool_name, rule });
        }
    }
    rules
}

/// Stored agent rules.
pub fn stored_agent_rules(v: &Value) -> Vec<AgentRule> {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some(AgentRule {
                        tool_name: i.get("toolName")?.as_str()?.to_owned(),
                        rule: Rule::from_stored(i),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Agent rules in their stored (and API) shape.
pub fn agent_rules_json(rules: &[AgentRule]) -> Value {
    Value::Array(
        rules
            .iter()
            .map(|r| {
                let mut v = r.rule.to_json();
                v["toolName"] = json!(r.tool_name);
                v
            })
            .collect(),
    )
}

/// The status of an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    /// Waiting for a person.
    Pending,
    /// The call runs (with the edited input, if any).
    Approved,
    /// The model gets the tool error "rejected by …".
    Rejected,
    /// Nobody decided in time: a rejection.
    Expired,
}

impl ApprovalStatus {
    /// Every status, pending first.
    pub const ALL: [ApprovalStatus; 4] = [
        ApprovalStatus::Pending,
        ApprovalStatus::Approved,
        ApprovalStatus::Rejected,
        ApprovalStatus::Expired,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// The tool error a rejected (or expired) call sends back to the model.
pub fn rejection_message(
    status: ApprovalStatus,
    by: Option<&str>,
    comment: Option<&str>,
) -> String {
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    match status {
        ApprovalStatus::Expired => {
            "The call was not approved in time (approval expired); it was not made.".into()
        }
        _ => format!(
            "rejected by {}: {}",
            by.unwrap_or("a user"),
            comment.unwrap_or("no comment")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_rules_match_the_input_with_the_where_engine() {
        let rule = Rule {
            mode: Mode::Conditional,
            when: Some(json!({"amount": {"greater_than": 100}})),
            timeout_minutes: None,
        };
        assert!(rule.applies(&json!({"amount": 500})));
        assert!(!rule.applies(&json!({"amount": 5})));
        assert!(!rule.applies(&json!({})));
        assert!(!Rule::default().applies(&json!({})));
        let always = Rule {
            mode: Mode::Always,
            ..Rule::default()
        };
        assert!(always.applies(&json!({})));
    }

    #[test]
    fn bad_rules_are_field_errors() {
        let doc = json!({"approval": {"mode": "conditional", "when": "nope"}});
        let mut f = Fields::new(&doc).unwrap();
        approval(&mut f);
        match f.finish() {
            Err(crate::error::AppError::Validation(errors)) => {
                assert!(errors.contains_key("approval.when"), "{errors:?}");
            }
            other => panic!("a field error, not {other:?}"),
        }
        let doc = json!({"approvalRules": [{"toolName": "", "mode": "sometimes"}]});
        let mut f = Fields::new(&doc).unwrap();
        agent_rules(&mut f);
        assert!(f.finish().is_err());
    }

    #[test]
    fn rules_round_trip_through_storage() {
        let rule = Rule {
            mode: Mode::Conditional,
            when: Some(json!({"a": {"equals": 1}})),
            timeout_minutes: Some(5),
        };
        assert_eq!(Rule::from_stored(&rule.to_json()), rule);
        let rules = vec![AgentRule {
            tool_name: "t".into(),
            rule: Rule {
                mode: Mode::Always,
                ..Rule::default()
            },
        }];
        assert_eq!(stored_agent_rules(&agent_rules_json(&rules)), rules);
    }
}
