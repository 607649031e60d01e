//! Budgets: the validated input of the `budgets` collection, their periods and their money.
//!
//! Money is kept in integer micro-USD (`1 USD = 1_000_000`): a model's price per million
//! tokens in USD is exactly its price per token in micro-USD, and the reservation's
//! conditional UPDATE (`spent + reserved + amount <= limit`) then compares exact integers on
//! both database engines, where floating-point sums could drift past a limit.

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Utc};
use serde_json::Value;

use super::fields::Fields;
use crate::error::AppError;

/// `global`, `department`, `agent` or `project`.
pub const SCOPES: [&str; 4] = ["global", "department", "agent", "project"];

/// `day` or `month` (UTC).
pub const PERIODS: [&str; 2] = ["day", "month"];

/// The `pausedReason` of a run paused by a budget.
pub const PAUSED_REASON: &str = "budget";

/// Largest limit accepted, in USD (keeps micro-USD sums far from `i64::MAX`).
pub const MAX_LIMIT_USD: f64 = 1.0e9;

/// Micro-USD in one USD.
const MICROS: f64 = 1_000_000.0;

/// USD as micro-USD, to the nearest micro-dollar.
pub fn to_micros(usd: f64) -> i64 {
    (usd * MICROS).round() as i64
}

/// Micro-USD as USD.
pub fn to_usd(micros: i64) -> f64 {
    micros as f64 / MICROS
}

/// The start (UTC midnight) of the period containing `at`.
pub fn period_start(period: &str, at: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    let at = at.with_timezone(&Utc);
    let day = if period == "day" { at.day() } else { 1 };
    Utc.with_ymd_and_hms(at.year(), at.month(), day, 0, 0, 0)
        .single()
        .unwrap_or(at)
        .fixed_offset()
}

/// A validated budget.
#[derive(Debug, Clone)]
pub struct BudgetInput {
    /// Display name.
    pub name: String,
    /// One of [`SCOPES`].
    pub scope: String,
    /// The department (scope `department`).
    pub department_id: Option<i32>,
    /// The agent (scope `agent`).
    pub agent_id: Option<i32>,
    /// The project (scope `project`).
    pub project_id: Option<i32>,
    /// One of [`PERIODS`].
    pub period: String,
    /// The limit per period, micro-USD (> 0).
    pub limit_micros: i64,
    /// The fraction of the limit at which `budget_warning` is sent (0 < x ≤ 1).
    pub warn_at: f64,
    /// Whether runs are held to it.
    pub is_active: bool,
}

impl BudgetInput {
    /// Parses and validates a budget document: the relation of its scope is required and the
    /// others must be absent.
    pub fn from_json(doc: &Value) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let name = f.string("name", true, 200);
        let mut scope = f.string("scope", false, 20);
        if scope.is_empty() {
            scope = "global".into();
        }
        if !SCOPES.contains(&scope.as_str()) {
            f.error("scope", "Must be global, department, agent or project.");
        }
        let relation = |f: &mut Fields<'_>, name: &str| {
            let id = f.relation(name, scope == name);
            if id.is_some() && scope != name && SCOPES.contains(&scope.as_str()) {
                f.error(name, format!("Must be empty for a {scope} budget."));
            }
            id
        };
        let department_id = relation(&mut f, "department");
        let agent_id = relation(&mut f, "agent");
        let project_id = relation(&mut f, "project");
        let mut period = f.string("period", false, 10);
        if period.is_empty() {
            period = "month".into();
        }
        if !PERIODS.contains(&period.as_str()) {
            f.error("period", "Must be day or month.");
        }
        let limit = match f.raw("limitUsd") {
            Value::Null => {
                f.error("limitUsd", "This field is required.");
                None
            }
            Value::String(s) if s.trim().is_empty() => {
                f.error("limitUsd", "This field is required.");
                None
            }
            v => f.number_opt("limitUsd", v, 0.0, MAX_LIMIT_USD),
        };
        let limit_micros = limit.map_or(0, to_micros);
        if limit.is_some() && limit_micros <= 0 {
            f.error("limitUsd", "Must be more than 0.");
        }
        let warn_at = f
            .number_opt("warnAt", f.raw("warnAt"), 0.0, 1.0)
            .unwrap_or(0.8);
        if warn_at <= 0.0 {
            f.error("warnAt", "Must be more than 0 and at most 1.");
        }
        let is_active = f.boolean("isActive", true);
        f.finish()?;
        Ok(Self {
            name,
            scope,
            department_id,
            agent_id,
            project_id,
            period,
            limit_micros,
            warn_at,
            is_active,
        })
    }
}

/// What a run is, for matching budgets: a budget matches when it is global or names the
/// run's department, agent or project.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunScope {
    /// The run's department.
    pub department_id: Option<i32>,
    /// The run's agent.
    pub agent_id: Option<i32>,
    /// The run's project.
    pub project_id: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn periods_start_at_utc_midnight() {
        let t = at("2026-12-04T23:30:00-02:00");
        assert_eq!(period_start("day", t), at("2026-12-05T00:00:00Z"));
        assert_eq!(period_start("month", t), at("2026-12-01T00:00:00Z"));
    }

    #[test]
    fn the_scope_names_its_relation_and_no_other() {
        let err = BudgetInput::from_json(
            &json!({"name": "x", "scope": "agent", "project": 3, "limitUsd": 1}),
        )
        .unwrap_err();
        let AppError::Validation(errors) = err else {
            panic!("{err:?}")
        };
        assert!(errors.contains_key("agent"));
        assert!(errors.contains_key("project"));
        let ok = BudgetInput::from_json(
            &json!({"name": "x", "scope": "project", "project": 3, "limitUsd": "2.5"}),
        )
        .unwrap();
        assert_eq!(ok.limit_micros, 2_500_000);
        assert_eq!(ok.warn_at, 0.8);
    }

    #[test]
    fn limits_and_warnings_are_checked() {
        for (doc, field) in [
            (json!({"name": "x", "limitUsd": 0}), "limitUsd"),
            (json!({"name": "x"}), "limitUsd"),
            (json!({"name": "x", "limitUsd": 1, "warnAt": 0}), "warnAt"),
            (json!({"name": "x", "limitUsd": 1, "warnAt": 1.5}), "warnAt"),
            (
                json!({"name": "x", "limitUsd": 1, "period": "week"}),
                "period",
            ),
        ] {
            let Err(AppError::Validation(errors)) = BudgetInput::from_json(&doc) else {
                panic!("{doc}")
            };
            assert!(errors.contains_key(field), "{doc}: {errors:?}");
        }
    }
}
