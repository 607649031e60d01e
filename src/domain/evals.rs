//! Evaluations: datasets of cases with expectations, the checks that judge an output against
//! them, the judge's verdict, and proposals of improved prompts.
//!
//! Decisions: `contains` / `notContains` are case-sensitive substring checks (a regex with
//! `(?i)` covers the other case); `jsonSchema` validates the structured output when the run
//! has one, else the output text parsed as JSON (a Markdown code fence around it is allowed);
//! a case passes when its run completed and every expectation holds; its score is the mean of
//! its checks (1 or 0 each, the judge's own score for `rubric`), 1 for a completed case
//! without expectations, 0 for a run that did not complete.

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::{Fields, check_schema, relation_id};
use crate::error::AppError;

/// `eval-runs` statuses.
pub const RUN_STATUSES: &[&str] = &["pending", "running", "completed", "failed", "cancelled"];
/// `agent-proposals` statuses.
pub const PROPOSAL_STATUSES: &[&str] = &["proposed", "accepted", "rejected"];
/// Most cases in one dataset.
pub const MAX_CASES: usize = 5000;

/// What a case's output must satisfy (each absent expectation is not checked).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Expected {
    /// Text the output must contain (case-sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// Text the output must not contain (case-sensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_contains: Option<String>,
    /// A regular expression (Rust syntax) the output must match somewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// A JSON Schema the structured output (else the output text as JSON) must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub json_schema: Option<Value>,
    /// What a good answer does, judged by the judge agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rubric: Option<String>,
}

impl Expected {
    /// True when nothing is expected.
    pub fn is_empty(&self) -> bool {
        self.contains.is_none()
            && self.not_contains.is_none()
            && self.regex.is_none()
            && self.json_schema.is_none()
            && self.rubric.is_none()
    }
}

/// One case of a dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EvalCase {
    /// The prompt the agent runs on.
    pub prompt: String,
    /// The project its tools work on (row id), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<i32>,
    /// A reference answer (e.g. the output of the execution the case was added from); shown
    /// to the judge, not checked by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The expectations.
    #[serde(default)]
    pub expected: Expected,
}

/// A validated dataset.
#[derive(Debug, Clone)]
pub struct DatasetInput {
    /// Display name.
    pub name: String,
    /// The agent it is meant for (row id), if any.
    pub agent_id: Option<i32>,
    /// The agent that judges rubrics (row id), if any (else `EVAL_JUDGE_AGENT`).
    pub judge_agent_id: Option<i32>,
    /// The cases.
    pub cases: Vec<EvalCase>,
}

impl DatasetInput {
    /// Parses and validates a dataset document; every invalid field with its path
    /// (`cases.2.expected.regex`).
    pub fn from_json(doc: &Value) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let name = f.string("name", true, 200);
        let agent_id = f.relation("agent", false);
        let judge_agent_id = f.relation("judgeAgent", false);
        let cases = match f.json("cases") {
            None => Vec::new(),
            Some(Value::Array(items)) => read_cases(&mut f, &items),
            Some(_) => {
                f.error("cases", "Must be an array of cases.");
                Vec::new()
            }
        };
        f.finish()?;
        Ok(Self {
            name,
            agent_id,
            judge_agent_id,
            cases,
        })
    }
}

fn optional_text(
    f: &mut Fields<'_>,
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Option<String> {
    match obj.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.chars().count() > 100_000 => {
            f.error(path, "Must be at most 100000 characters.");
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            f.error(path, "Must be a string.");
            None
        }
    }
}

fn read_cases(f: &mut Fields<'_>, items: &[Value]) -> Vec<EvalCase> {
    if items.len() > MAX_CASES {
        f.error("cases", format!("At most {MAX_CASES} cases."));
        return Vec::new();
    }
    let mut cases = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("cases.{i}.{field}");
        let Some(obj) = item.as_object() else {
            f.error(format!("cases.{i}"), "Must be an object.");
            continue;
        };
        let prompt = match obj.get("prompt") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => {
                f.error(at("prompt"), "This field is required.");
                String::new()
            }
            Some(_) => {
                f.error(at("prompt"), "Must be a string.");
                String::new()
            }
        };
        let project = match obj.get("project") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(v) => {
                let v = match v {
                    Value::Object(o) => o.get("id").unwrap_or(&Value::Null),
                    other => other,
                };
                relation_id(v).or_else(|| {
                    f.error(at("project"), "Must be the id of an existing project.");
                    None
                })
            }
        };
        let reference = optional_text(f, obj, "reference", &at("reference"));
        let expected = read_expected(f, i, obj.get("expected"));
        cases.push(EvalCase {
            prompt,
            project,
            reference,
            expected,
        });
    }
    cases
}

const EXPECTATIONS: &[&str] = &["contains", "notContains", "regex", "jsonSchema", "rubric"];

fn read_expected(f: &mut Fields<'_>, i: usize, value: Option<&Value>) -> Expected {
    let at = |field: &str| format!("cases.{i}.expected.{field}");
    let empty = Map::new();
    let obj = match value {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => {
            f.error(format!("cases.{i}.expected"), "Must be an object.");
            &empty
        }
    };
    for key in obj.keys() {
        if !EXPECTATIONS.contains(&key.as_str()) {
            f.error(
                at(key),
                format!("Not an expectation ({}).", EXPECTATIONS.join(", ")),
            );
        }
    }
    let contains = optional_text(f, obj, "contains", &at("contains"));
    let not_contains = optional_text(f, obj, "notContains", &at("notContains"));
    let regex = optional_text(f, obj, "regex", &at("regex"));
    if let Some(r) = &regex
        && let Err(e) = Regex::new(r)
    {
        let first = e.to_string();
        let line = first.lines().last().unwrap_or("invalid").trim().to_owned();
        f.error(
            at("regex"),
            format!("Not a valid regular expression: {line}"),
        );
    }
    let json_schema = match obj.get("jsonSchema") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(v) => {
            let schema = match v {
                Value::String(s) => match serde_json::from_str::<Value>(s) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        f.error(at("jsonSchema"), format!("Invalid JSON: {e}."));
                        None
                    }
                },
                other => Some(other.clone()),
            };
            if let Some(s) = &schema
                && let Err(message) = check_schema(s)
            {
                f.error(at("jsonSchema"), message);
            }
            schema
        }
    };
    let rubric = optional_text(f, obj, "rubric", &at("rubric"))
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    Expected {
        contains,
        not_contains,
        regex,
        json_schema,
        rubric,
    }
}

/// The stored cases (never fails: malformed entries are skipped).
pub fn stored_cases(v: &Value) -> Vec<EvalCase> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| serde_json::from_value(item.clone()).ok())
        .collect()
}

/// The JSON stored for `cases`.
pub fn cases_json(cases: &[EvalCase]) -> Value {
    serde_json::to_value(cases).unwrap_or_else(|_| json!([]))
}

/// The result of one deterministic check.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Which expectation.
    pub name: &'static str,
    /// Whether it held.
    pub passed: bool,
    /// Why not (empty when it held).
    pub reason: String,
}

fn check(name: &'static str, passed: bool, reason: impl FnOnce() -> String) -> Check {
    Check {
        name,
        passed,
        reason: if passed { String::new() } else { reason() },
    }
}

/// The JSON an output stands for: the structured output, else the text parsed as JSON
/// (inside a Markdown code fence or not).
pub fn output_json(output: Option<&Value>, text: &str) -> Option<Value> {
    // A run without an output schema stores its text as a JSON string: that is not
    // structured output.
    if let Some(v) = output.filter(|v| !v.is_null() && !v.is_string()) {
        return Some(v.clone());
    }
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(t);
    serde_json::from_str(t.trim()).ok()
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

/// The deterministic checks of a case (every expectation but `rubric`) on an output.
pub fn check_output(expected: &Expected, output: Option<&Value>, text: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    if let Some(c) = &expected.contains {
        checks.push(check("contains", text.contains(c.as_str()), || {
            format!("output does not contain \"{}\"", short(c))
        }));
    }
    if let Some(c) = &expected.not_contains {
        checks.push(check("notContains", !text.contains(c.as_str()), || {
            format!("output contains \"{}\"", short(c))
        }));
    }
    if let Some(r) = &expected.regex {
        let matched = Regex::new(r).map(|re| re.is_match(text));
        checks.push(check(
            "regex",
            matches!(matched, Ok(true)),
            || match matched {
                Err(_) => "the regular expression does not compile".into(),
                _ => format!("output does not match /{}/", short(r)),
            },
        ));
    }
    if let Some(schema) = &expected.json_schema {
        let verdict = match (output_json(output, text), jsonschema::validator_for(schema)) {
            (None, _) => Err("output is not JSON".to_owned()),
            (_, Err(e)) => Err(format!("the schema does not compile: {e}")),
            (Some(v), Ok(validator)) => match validator.iter_errors(&v).next() {
                None => Ok(()),
                Some(e) => Err(format!(
                    "output does not match the schema at `{}`: {e}",
                    e.instance_path()
                )),
            },
        };
        let passed = verdict.is_ok();
        checks.push(check("jsonSchema", passed, || {
            verdict.err().unwrap_or_default()
        }));
    }
    checks
}

/// The judge's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Did the output meet the rubric?
    pub pass: bool,
    /// 0..1.
    pub score: f64,
    /// Why.
    pub reason: String,
}

fn as_pass(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|x| x >= 0.5),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "pass" | "passed" | "yes" => Some(true),
            "false" | "fail" | "failed" | "no" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn as_score(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('%').parse::<f64>().ok(),
        _ => None,
    }?;
    // A score out of 10 or 100 is read as such.
    let x = if x > 1.0 && x <= 10.0 {
        x / 10.0
    } else if x > 10.0 {
        x / 100.0
    } else {
        x
    };
    x.is_finite().then(|| x.clamp(0.0, 1.0))
}

fn verdict_of(obj: &Map<String, Value>) -> Option<Verdict> {
    let pass = obj
        .get("pass")
        .or_else(|| obj.get("passed"))
        .or_else(|| obj.get("verdict"))
        .and_then(as_pass);
    let score = obj.get("score").and_then(as_score);
    let (pass, score) = match (pass, score) {
        (Some(p), Some(s)) => (p, s),
        (Some(p), None) => (p, if p { 1.0 } else { 0.0 }),
        (None, Some(s)) => (s >= 0.5, s),
        (None, None) => return None,
    };
    let reason = obj
        .get("reason")
        .or_else(|| obj.get("rationale"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned();
    Some(Verdict {
        pass,
        score,
        reason,
    })
}

/// Reads a judge's verdict robustly: its structured output, or the first JSON object in its
/// text (inside prose or a code fence), with `pass` as a boolean or a word, `score` 0..1 (or
/// out of 10 or 100). None when no verdict can be read.
pub fn parse_verdict(output: Option<&Value>, text: &str) -> Option<Verdict> {
    if let Some(Value::Object(o)) = output
        && let Some(v) = verdict_of(o)
    {
        return Some(v);
    }
    for (start, _) in text.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        if let Some(Ok(Value::Object(o))) = stream.next()
            && let Some(v) = verdict_of(&o)
        {
            return Some(v);
        }
    }
    let lower = text.to_ascii_lowercase();
    let first = lower.split_whitespace().next().unwrap_or_default();
    let word = first.trim_matches(|c: char| !c.is_ascii_alphabetic());
    as_pass(&Value::String(word.to_owned())).map(|pass| Verdict {
        pass,
        score: if pass { 1.0 } else { 0.0 },
        reason: text.trim().chars().take(500).collect(),
    })
}

/// The prompt sent to the judge agent.
pub fn judge_prompt(case: &EvalCase, rubric: &str, output: &str) -> String {
    let reference = case
        .reference
        .as_deref()
        .map(|r| format!("\n\n## Reference answer\n{r}"))
        .unwrap_or_default();
    format!(
        "Judge the output of an AI agent against a rubric.\n\n## Rubric\n{rubric}\n\n\
         ## Prompt given to the agent\n{}{reference}\n\n## Output of the agent\n{output}\n\n\
         Answer with one JSON object and nothing else: \
         {{\"pass\": true or false, \"score\": a number from 0 to 1, \"reason\": \"one sentence\"}}",
        case.prompt
    )
}

/// A case's verdict from its checks: passed when every check held; the score is their mean.
pub fn combine(checks: &[(bool, f64, String)]) -> (bool, f64, String) {
    if checks.is_empty() {
        return (true, 1.0, "completed (no expectations)".into());
    }
    let passed = checks.iter().all(|(p, _, _)| *p);
    let score = checks.iter().map(|(_, s, _)| s).sum::<f64>() / checks.len() as f64;
    let reasons: Vec<&str> = checks
        .iter()
        .filter(|(p, _, r)| !*p && !r.is_empty())
        .map(|(_, _, r)| r.as_str())
        .collect();
    let reason = if passed {
        checks
            .iter()
            .map(|(_, _, r)| r.as_str())
            .find(|r| !r.is_empty())
            .unwrap_or("all expectations met")
            .to_owned()
    } else {
        reasons.join("; ")
    };
    (passed, (score * 10_000.0).round() / 10_000.0, reason)
}

/// The body of `POST /api/eval-datasets/{id}/run`: `{agentId, version?, variant?,
/// overrides?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// The agent's slug (or row id as a string or number).
    pub agent: String,
    /// A version of the agent to run instead of the current one.
    pub version: Option<i32>,
    /// The name of a variant of one of the agent's experiments.
    pub variant: Option<String>,
    /// Overrides applied on top (`model`, `instructionsPrompt`, `temperature`).
    pub overrides: Option<super::experiments::Overrides>,
}

impl RunRequest {
    /// Parses the body.
    pub fn from_json(doc: &Value, default_agent: Option<String>) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let agent = match f.raw("agentId") {
            Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Null | Value::String(_) => match default_agent {
                Some(a) => a,
                None => {
                    f.error(
                        "agentId",
                        "This field is required (the dataset names no agent).",
                    );
                    String::new()
                }
            },
            _ => {
                f.error("agentId", "Must be an agentId.");
                String::new()
            }
        };
        let version = match f.raw("version") {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            v => f
                .int_opt("version", v, 1, i64::from(i32::MAX))
                .map(|n| n as i32),
        };
        let variant = match f.raw("variant") {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(s.trim().to_owned()),
            _ => {
                f.error("variant", "Must be a variant's name.");
                None
            }
        };
        let overrides = match f.raw("overrides") {
            Value::Null => None,
            v @ Value::Object(_) => {
                match serde_json::from_value::<super::experiments::Overrides>(v.clone()) {
                    Ok(o) => Some(o),
                    Err(e) => {
                        f.error("overrides", format!("Invalid overrides: {e}."));
                        None
                    }
                }
            }
            _ => {
                f.error("overrides", "Must be an object.");
                None
            }
        };
        if version.is_some() && variant.is_some() {
            f.error("variant", "Give a version or a variant, not both.");
        }
        f.finish()?;
        Ok(Self {
            agent,
            version,
            variant,
            overrides,
        })
    }
}

/// What the optimizer answers: `{proposedPrompt, rationale}` (structured output or JSON in
/// its text); a plain answer is taken as the prompt itself.
pub fn parse_proposal(output: Option<&Value>, text: &str) -> Option<(String, String)> {
    let from = |o: &Map<String, Value>| {
        let prompt = o
            .get("proposedPrompt")
            .or_else(|| o.get("prompt"))
            .or_else(|| o.get("instructionsPrompt"))
            .and_then(Value::as_str)?
            .trim()
            .to_owned();
        (!prompt.is_empty()).then(|| {
            let rationale = o
                .get("rationale")
                .or_else(|| o.get("reason"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim()
                .to_owned();
            (prompt, rationale)
        })
    };
    if let Some(Value::Object(o)) = output
        && let Some(p) = from(o)
    {
        return Some(p);
    }
    for (start, _) in text.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Value>();
        if let Some(Ok(Value::Object(o))) = stream.next()
            && let Some(p) = from(&o)
        {
            return Some(p);
        }
    }
    let t = text.trim();
    (!t.is_empty()).then(|| (t.to_owned(), String::new()))
}

/// A unified line diff from `before` to `after` (empty when equal).
pub fn unified_diff(before: &str, after: &str) -> String {
    if before == after {
        return String::new();
    }
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header("current", "proposed")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_every_path() {
        let doc = json!({
            "name": "d",
            "cases": [
                {"prompt": "ok", "expected": {"contains": "x"}},
                {"prompt": "", "expected": {"regex": "(", "jsonSchema": {"type": 5}}},
                {"prompt": "p", "expected": {"regex": "a[", "bogus": 1}},
                "nope"
            ]
        });
        let Err(AppError::Validation(errors)) = DatasetInput::from_json(&doc) else {
            panic!("expected errors");
        };
        for path in [
            "cases.1.prompt",
            "cases.1.expected.regex",
            "cases.1.expected.jsonSchema",
            "cases.2.expected.regex",
            "cases.2.expected.bogus",
            "cases.3",
        ] {
            assert!(errors.contains_key(path), "{path}: {errors:?}");
        }
        assert!(!errors.contains_key("cases.0.prompt"));
    }

    #[test]
    fn checks_pass_and_fail() {
        let e = Expected {
            contains: Some("Paris".into()),
            not_contains: Some("London".into()),
            regex: Some(r"^\w+ is".into()),
            json_schema: None,
            rubric: None,
        };
        assert!(
            check_output(&e, None, "Paris is the capital")
                .iter()
                .all(|c| c.passed)
        );
        let bad = check_output(&e, None, "paris, not London");
        assert_eq!(bad.iter().filter(|c| !c.passed).count(), 3, "{bad:?}");
        let schema = Expected {
            json_schema: Some(json!({"type": "object", "required": ["n"]})),
            ..Expected::default()
        };
        assert!(check_output(&schema, None, "```json\n{\"n\": 1}\n```")[0].passed);
        assert!(!check_output(&schema, None, "{\"m\": 1}")[0].passed);
        assert!(check_output(&schema, Some(&json!({"n": 2})), "whatever")[0].passed);
    }

    #[test]
    fn verdicts_are_read_robustly() {
        let v = parse_verdict(
            None,
            "Sure! {\"pass\": true, \"score\": 0.8, \"reason\": \"good\"} done",
        )
        .unwrap();
        assert_eq!((v.pass, v.score, v.reason.as_str()), (true, 0.8, "good"));
        let v = parse_verdict(None, "```json\n{\"pass\": \"no\", \"score\": \"3\"}\n```").unwrap();
        assert!(!v.pass);
        assert!((v.score - 0.3).abs() < 1e-9);
        let v = parse_verdict(None, "{\"score\": 90}").unwrap();
        assert!(v.pass && (v.score - 0.9).abs() < 1e-9);
        assert!(parse_verdict(None, "FAIL: it rambles").is_some_and(|v| !v.pass));
        assert!(parse_verdict(None, "I cannot say").is_none());
        assert!(parse_verdict(Some(&json!({"pass": false})), "").is_some_and(|v| v.score == 0.0));
    }

    #[test]
    fn proposals_are_read_from_json_or_text() {
        let (p, r) = parse_proposal(
            None,
            "x {\"proposedPrompt\": \"Be brief.\", \"rationale\": \"too long\"}",
        )
        .unwrap();
        assert_eq!((p.as_str(), r.as_str()), ("Be brief.", "too long"));
        assert_eq!(
            parse_proposal(None, "Just be brief.").unwrap().0,
            "Just be brief."
        );
        assert!(parse_proposal(None, "  ").is_none());
    }
}
