//! Model choice: `fallbackModels` (`[{model}]`, on agents and departments) and
//! `modelRouting` (`[{when, model}]`, on agents). A rule's `when` is a `where` over the
//! routing document `{promptLength, department, metadata.*}`, evaluated by the API's
//! where-engine in memory (`query::memory`): same operators, same meanings.

use serde_json::{Value, json};

use super::fields::Fields;
use crate::query::fields::{Field, FieldMap, Kind, Scalar};
use crate::query::{QueryError, Where, memory, where_clause};

/// Most models in a fallback chain.
pub const MAX_FALLBACKS: usize = 5;
/// Most routing rules on an agent.
pub const MAX_RULES: usize = 20;

/// What a routing rule's `when` may name: the prompt's length in characters, the agent's
/// department slug, and the run's metadata (any path below `metadata`).
pub static ROUTING_FIELDS: FieldMap = FieldMap {
    table: "model_routing",
    fields: &[
        Field {
            name: "promptLength",
            kind: Kind::Column {
                column: "prompt_length",
                ty: Scalar::Int,
            },
        },
        Field {
            name: "department",
            kind: Kind::Column {
                column: "department",
                ty: Scalar::Text,
            },
        },
        Field {
            name: "metadata",
            kind: Kind::Json { column: "metadata" },
        },
    ],
    open_json: None,
};

/// The document a routing rule is evaluated against.
pub fn routing_document(prompt: &str, department: &str, metadata: &Value) -> Value {
    json!({
        "promptLength": prompt.chars().count(),
        "department": department,
        "metadata": metadata,
    })
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingRule {
    /// The condition, as stored.
    pub when: Value,
    /// The model it picks.
    pub model: String,
}

/// Which rule picked the model of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingDecision {
    /// 0-based index of the rule.
    pub rule: usize,
    /// The model it picked.
    pub model: String,
}

/// The first rule whose `when` matches `doc`. Rules that cannot be evaluated (stored before
/// a validation existed) are skipped.
pub fn pick(rules: &[RoutingRule], doc: &Value) -> Option<RoutingDecision> {
    rules.iter().enumerate().find_map(|(i, rule)| {
        let matched = where_clause::parse(&rule.when)
            .and_then(|w| memory::matches(&ROUTING_FIELDS, &w, doc))
            .unwrap_or(false);
        matched.then(|| RoutingDecision {
            rule: i,
            model: rule.model.clone(),
        })
    })
}

/// The parsed `when` of a rule, or the reason it cannot be used.
pub fn parse_when(when: &Value) -> Result<Where, QueryError> {
    if !when.is_object() {
        return Err(QueryError::Invalid(
            "Must be a where object, e.g. {\"promptLength\": {\"greater_than\": 2000}}.".into(),
        ));
    }
    let parsed = where_clause::parse(when)?;
    memory::check(&ROUTING_FIELDS, &parsed)?;
    Ok(parsed)
}

/// Reads `fallbackModels` (`[{model}]`; plain strings are accepted too).
pub fn fallback_models(f: &mut Fields<'_>, name: &str) -> Vec<String> {
    let items = match f.json(name) {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            f.error(name, "Must be a list of {model} entries.");
            return Vec::new();
        }
    };
    if items.len() > MAX_FALLBACKS {
        f.error(name, format!("At most {MAX_FALLBACKS} fallback models."));
        return Vec::new();
    }
    let mut models: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{name}.{i}.model");
        match model_of(item) {
            Err(message) => f.error(path, message),
            Ok(model) if models.contains(&model) => {
                f.error(path, format!("The model {model} is listed twice."));
            }
            Ok(model) => models.push(model),
        }
    }
    models
}

/// Reads `modelRouting` (`[{when, model}]`); errors name `modelRouting.N.when` or
/// `modelRouting.N.model`.
pub fn model_routing(f: &mut Fields<'_>) -> Vec<RoutingRule> {
    let name = "modelRouting";
    let items = match f.json(name) {
        None => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            f.error(name, "Must be a list of {when, model} rules.");
            return Vec::new();
        }
    };
    if items.len() > MAX_RULES {
        f.error(name, format!("At most {MAX_RULES} routing rules."));
        return Vec::new();
    }
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let model = model_of(item);
        if let Err(message) = &model {
            f.error(format!("{name}.{i}.model"), message.clone());
        }
        let when = match &item["when"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
            other => other.clone(),
        };
        if let Err(e) = parse_when(&when) {
            f.error(format!("{name}.{i}.when"), e.to_string());
        }
        if let Ok(model) = model {
            rules.push(RoutingRule { when, model });
        }
    }
    rules
}

fn model_of(item: &Value) -> Result<String, String> {
    let model = match item {
        Value::String(s) => s.trim(),
        Value::Object(o) => o.get("model").and_then(Value::as_str).unwrap_or("").trim(),
        _ => "",
    };
    if model.is_empty() {
        Err("This field is required.".into())
    } else if model.chars().count() > 200 {
        Err("Must be at most 200 characters.".into())
    } else {
        Ok(model.to_owned())
    }
}

/// Stored fallback models (`[{model}]`) as a list.
pub fn stored_models(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|items| items.iter().filter_map(|i| model_of(i).ok()).collect())
        .unwrap_or_default()
}

/// Fallback models in their stored (and API) shape.
pub fn models_json(models: &[String]) -> Value {
    Value::Array(models.iter().map(|m| json!({ "model": m })).collect())
}

/// Stored routing rules.
pub fn stored_rules(v: &Value) -> Vec<RoutingRule> {
    v.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    Some(RoutingRule {
                        when: i.get("when")?.clone(),
                        model: model_of(i).ok()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Routing rules in their stored (and API) shape.
pub fn rules_json(rules: &[RoutingRule]) -> Value {
    Value::Array(
        rules
            .iter()
            .map(|r| json!({"when": r.when, "model": r.model}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<RoutingRule> {
        vec![
            RoutingRule {
                when: json!({"promptLength": {"greater_than": 100}}),
                model: "big".into(),
            },
            RoutingRule {
                when: json!({"metadata.tier": {"equals": "free"}, "department": {"equals": "story"}}),
                model: "cheap".into(),
            },
        ]
    }

    #[test]
    fn the_first_matching_rule_picks_the_model() {
        let long = "x".repeat(101);
        let tier = json!({"tier": "free"});
        let pick_for = |prompt: &str, dept: &str, meta: &Value| {
            pick(&rules(), &routing_document(prompt, dept, meta)).map(|d| (d.rule, d.model))
        };
        assert_eq!(pick_for(&long, "story", &tier), Some((0, "big".into())));
        assert_eq!(pick_for("hi", "story", &tier), Some((1, "cheap".into())));
        assert_eq!(pick_for("hi", "video", &tier), None);
        assert_eq!(pick_for("hi", "story", &json!({})), None);
    }

    #[test]
    fn bad_rules_are_field_errors_with_their_index() {
        let doc = json!({"modelRouting": [
            {"when": {"promptLength": {"greater_than": 1}}, "model": "ok"},
            {"when": {"promptLength": {"bigger": 1}}, "model": "m"},
            {"when": {"tokens": {"equals": 1}}, "model": "m"},
            {"when": {"promptLength": {"like": "x"}}, "model": ""},
        ]});
        let mut f = Fields::new(&doc).expect("object");
        let parsed = model_routing(&mut f);
        let Err(crate::error::AppError::Validation(errors)) = f.finish() else {
            panic!("expected errors")
        };
        assert_eq!(parsed.len(), 3);
        assert!(
            errors["modelRouting.1.when"].contains("bigger"),
            "{errors:?}"
        );
        assert!(
            errors["modelRouting.2.when"].contains("tokens"),
            "{errors:?}"
        );
        assert!(errors.contains_key("modelRouting.3.when"));
        assert!(errors.contains_key("modelRouting.3.model"));
        assert!(!errors.contains_key("modelRouting.0.when"));
    }
}
