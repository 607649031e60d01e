//! Experiments: weighted variants of an agent's configuration, the variant a run gets, and the
//! statistics of their results. Feedback on executions (a rating per user).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::Fields;
use crate::error::AppError;

/// `status` values.
pub const STATUSES: &[&str] = &["draft", "running", "stopped"];
/// `stickyBy` values.
pub const STICKY_BY: &[&str] = &["conversation", "none"];
/// The agent fields a variant may override.
pub const OVERRIDABLE: &[&str] = &["model", "instructionsPrompt", "temperature"];

/// What a variant changes in the agent's configuration (absent: the agent's own value).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Overrides {
    /// Model id (not empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions_prompt: Option<String>,
    /// Sampling temperature, 0–2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
}

/// One arm of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Variant {
    /// Unique within the experiment, e.g. `control`.
    pub name: String,
    /// Relative share of the runs (> 0).
    pub weight: f64,
    /// The configuration it changes.
    #[serde(default)]
    pub overrides: Overrides,
}

/// A validated experiment.
#[derive(Debug, Clone)]
pub struct ExperimentInput {
    /// Display name.
    pub name: String,
    /// The agent's row id.
    pub agent_id: i32,
    /// `draft`, `running` or `stopped`.
    pub status: String,
    /// At least two, unique names, weights > 0.
    pub variants: Vec<Variant>,
    /// `conversation` or `none`.
    pub sticky_by: String,
}

impl ExperimentInput {
    /// Parses and validates an experiment document (every invalid field with its path).
    pub fn from_json(doc: &Value) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let name = f.string("name", true, 200);
        let agent_id = f.relation("agent", true).unwrap_or(0);
        let mut status = f.string("status", false, 20);
        if status.is_empty() {
            status = "draft".into();
        } else if !STATUSES.contains(&status.as_str()) {
            f.error("status", format!("Must be one of {}.", STATUSES.join(", ")));
        }
        let mut sticky_by = f.string("stickyBy", false, 20);
        if sticky_by.is_empty() {
            sticky_by = "conversation".into();
        } else if !STICKY_BY.contains(&sticky_by.as_str()) {
            f.error(
                "stickyBy",
                format!("Must be one of {}.", STICKY_BY.join(", ")),
            );
        }
        let variants = match f.json("variants") {
            None => {
                f.error("variants", "At least two variants are required.");
                Vec::new()
            }
            Some(Value::Array(items)) => read_variants(&mut f, &items),
            Some(_) => {
                f.error("variants", "Must be an array of variants.");
                Vec::new()
            }
        };
        f.finish()?;
        Ok(Self {
            name,
            agent_id,
            status,
            variants,
            sticky_by,
        })
    }
}

fn read_variants(f: &mut Fields<'_>, items: &[Value]) -> Vec<Variant> {
    if items.len() < 2 {
        f.error("variants", "At least two variants are required.");
    }
    if items.len() > 20 {
        f.error("variants", "At most 20 variants.");
    }
    let mut variants = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |field: &str| format!("variants.{i}.{field}");
        let Some(obj) = item.as_object() else {
            f.error(format!("variants.{i}"), "Must be an object.");
            continue;
        };
        let name = match obj.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() && s.trim().chars().count() <= 100 => {
                s.trim().to_owned()
            }
            Some(Value::String(s)) if !s.trim().is_empty() => {
                f.error(at("name"), "Must be at most 100 characters.");
                String::new()
            }
            _ => {
                f.error(at("name"), "This field is required.");
                String::new()
            }
        };
        if !name.is_empty() && variants.iter().any(|v: &Variant| v.name == name) {
            f.error(at("name"), "Variant names must be unique.");
        }
        let weight = match obj.get("weight") {
            None | Some(Value::Null) => {
                f.error(at("weight"), "This field is required.");
                0.0
            }
            Some(w) => match f.number_opt(&at("weight"), w, 0.0, 1_000_000.0) {
                Some(w) if w > 0.0 => w,
                Some(_) => {
                    f.error(at("weight"), "Must be greater than 0.");
                    0.0
                }
                None => 0.0,
            },
        };
        let overrides = read_overrides(f, i, obj.get("overrides"));
        variants.push(Variant {
            name,
            weight,
            overrides,
        });
    }
    variants
}

fn read_overrides(f: &mut Fields<'_>, i: usize, value: Option<&Value>) -> Overrides {
    let at = |field: &str| format!("variants.{i}.overrides.{field}");
    let empty = Map::new();
    let obj = match value {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => {
            f.error(format!("variants.{i}.overrides"), "Must be an object.");
            &empty
        }
    };
    for key in obj.keys() {
        if !OVERRIDABLE.contains(&key.as_str()) {
            f.error(
                at(key),
                format!(
                    "Not a field a variant may override ({}).",
                    OVERRIDABLE.join(", ")
                ),
            );
        }
    }
    let model = match obj.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() && s.trim().len() <= 200 => {
            Some(s.trim().to_owned())
        }
        Some(Value::String(_)) => {
            f.error(at("model"), "Must be a model id (1–200 characters).");
            None
        }
        Some(_) => {
            f.error(at("model"), "Must be a string.");
            None
        }
    };
    let instructions_prompt = match obj.get("instructionsPrompt") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 200_000 => Some(s.clone()),
        Some(Value::String(_)) => {
            f.error(
                at("instructionsPrompt"),
                "Must be at most 200000 characters.",
            );
            None
        }
        Some(_) => {
            f.error(at("instructionsPrompt"), "Must be a string.");
            None
        }
    };
    let temperature = obj
        .get("temperature")
        .and_then(|t| f.number_opt(&at("temperature"), t, 0.0, 2.0));
    Overrides {
        model,
        instructions_prompt,
        temperature,
    }
}

/// The stored variants (never fails: malformed entries are skipped).
pub fn stored_variants(v: &Value) -> Vec<Variant> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| serde_json::from_value(item.clone()).ok())
        .collect()
}

/// The JSON stored for `variants`.
pub fn variants_json(variants: &[Variant]) -> Value {
    serde_json::to_value(variants).unwrap_or_else(|_| json!([]))
}

/// FNV-1a, 64 bits: stable across Rust releases and machines (the standard library's hasher
/// is not), so a conversation keeps its variant after an upgrade.
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A point in [0, 1) for a conversation of an experiment: the same conversation always gets
/// the same point (no lookup needed to stay sticky), different experiments shuffle anew.
pub fn sticky_point(experiment_id: i32, conversation_id: &str) -> f64 {
    let mut h = fnv1a(&[&experiment_id.to_le_bytes(), conversation_id.as_bytes()]);
    // Finalizer (splitmix64) so that similar conversation ids spread evenly.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The variant at `point` ∈ [0, 1) of the weights' cumulative distribution.
pub fn pick(variants: &[Variant], point: f64) -> Option<&Variant> {
    let total: f64 = variants.iter().map(|v| v.weight.max(0.0)).sum();
    if total <= 0.0 {
        return variants.first();
    }
    let target = point.clamp(0.0, 1.0) * total;
    let mut acc = 0.0;
    for v in variants {
        acc += v.weight.max(0.0);
        if target < acc {
            return Some(v);
        }
    }
    variants.last()
}

/// The variant a new run gets: by conversation when the experiment is sticky, else at random.
pub fn choose<'a>(
    experiment_id: i32,
    sticky_by: &str,
    variants: &'a [Variant],
    conversation_id: &str,
) -> Option<&'a Variant> {
    let point = if sticky_by == "none" {
        rand::random::<f64>()
    } else {
        sticky_point(experiment_id, conversation_id)
    };
    pick(variants, point)
}

/// Applies a variant's overrides to a stored agent snapshot (`model`, `instructionsPrompt`,
/// `temperature`, the keys `runner::snapshot` reads).
pub fn apply_to_snapshot(snapshot: &mut Value, overrides: &Overrides) {
    if let Some(m) = &overrides.model {
        snapshot["model"] = Value::String(m.clone());
    }
    if let Some(p) = &overrides.instructions_prompt {
        snapshot["instructionsPrompt"] = Value::String(p.clone());
    }
    if let Some(t) = overrides.temperature {
        snapshot["temperature"] = json!(t);
    }
}

/// The 95% Wilson score interval of `successes` out of `n` (`[0, 0]` when `n` is 0).
pub fn wilson(successes: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 0.0);
    }
    const Z: f64 = 1.959_963_984_540_054;
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z * ((p * (1.0 - p) / n) + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// A validated feedback body: `{rating: 1|-1, comment?}`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackInput {
    /// 1 (thumbs up) or -1 (thumbs down).
    pub rating: i16,
    /// Why (optional, at most 5000 characters).
    pub comment: String,
}

impl FeedbackInput {
    /// Parses `{rating, comment?}`.
    pub fn from_json(doc: &Value) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let rating = match f.raw("rating") {
            Value::Number(n) if n.as_i64() == Some(1) => 1,
            Value::Number(n) if n.as_i64() == Some(-1) => -1,
            Value::String(s) if s.trim() == "1" || s.trim() == "up" => 1,
            Value::String(s) if s.trim() == "-1" || s.trim() == "down" => -1,
            Value::Null => {
                f.error("rating", "This field is required.");
                0
            }
            _ => {
                f.error("rating", "Must be 1 (up) or -1 (down).");
                0
            }
        };
        let comment = f.string("comment", false, 5000);
        f.finish()?;
        Ok(Self { rating, comment })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(name: &str, weight: f64) -> Variant {
        Variant {
            name: name.into(),
            weight,
            overrides: Overrides::default(),
        }
    }

    #[test]
    fn wilson_matches_the_textbook() {
        // 8 of 10: the known interval [0.4902, 0.9433].
        let (lo, hi) = wilson(8, 10);
        assert!((lo - 0.4902).abs() < 1e-4, "{lo}");
        assert!((hi - 0.9433).abs() < 1e-4, "{hi}");
        assert_eq!(wilson(0, 0), (0.0, 0.0));
        let (lo, hi) = wilson(0, 5);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.4 && hi < 0.5, "{hi}");
    }

    #[test]
    fn pick_follows_the_weights() {
        let vs = [v("a", 70.0), v("b", 30.0)];
        assert_eq!(pick(&vs, 0.0).map(|v| v.name.as_str()), Some("a"));
        assert_eq!(pick(&vs, 0.69).map(|v| v.name.as_str()), Some("a"));
        assert_eq!(pick(&vs, 0.7).map(|v| v.name.as_str()), Some("b"));
        assert_eq!(pick(&vs, 0.999).map(|v| v.name.as_str()), Some("b"));
    }

    #[test]
    fn sticky_points_are_stable_and_spread() {
        assert_eq!(sticky_point(1, "c-1"), sticky_point(1, "c-1"));
        assert_ne!(sticky_point(1, "c-1"), sticky_point(2, "c-1"));
        let below = (0..10_000)
            .filter(|i| sticky_point(7, &format!("conv-{i}")) < 0.3)
            .count();
        assert!((2_800..3_200).contains(&below), "{below}");
    }

    #[test]
    fn validation_names_every_path() {
        let doc = json!({
            "name": "t", "agent": 1,
            "variants": [
                {"name": "a", "weight": 0, "overrides": {"temperature": 3, "topP": 1}},
                {"name": "a", "weight": 1, "overrides": {"model": ""}}
            ]
        });
        let Err(AppError::Validation(errors)) = ExperimentInput::from_json(&doc) else {
            panic!("expected validation errors");
        };
        for path in [
            "variants.0.weight",
            "variants.0.overrides.temperature",
            "variants.0.overrides.topP",
            "variants.1.name",
            "variants.1.overrides.model",
        ] {
            assert!(errors.contains_key(path), "{path}: {errors:?}");
        }
        let one = json!({"name": "t", "agent": 1, "variants": [{"name": "a", "weight": 1}]});
        assert!(ExperimentInput::from_json(&one).is_err());
    }
}
