//! "Try it": one call of a saved custom tool outside any run, for the admin panel.
//!
//! The call goes through the same path as a run's call — the input validated against the
//! tool's inputSchema, then the sandbox pool with the tool's limits and the project-scoped
//! [`DbDataApi`] — so what it writes is really written to the chosen project's tool data.
//! It records nothing else: no execution, no events, and no performanceMetrics (those
//! describe the calls agents make, and a few test calls from the editor would skew them).

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde_json::Value;

use super::data_api::DbDataApi;
use super::schema;
use crate::domain::projects::context;
use crate::entities::{custom_tools, projects};
use crate::sandbox::{Limits, Sandbox, ToolError};

/// Why a trial call did not produce a value.
#[derive(Debug, Clone, PartialEq)]
pub enum TrialError {
    /// The input text is not JSON (serde's message, with its line and column).
    InvalidJson(String),
    /// The input does not match the inputSchema: one problem per line, each naming its path.
    InvalidInput(Vec<String>),
    /// The chosen project does not exist.
    UnknownProject,
    /// The stored inputSchema does not compile.
    BadSchema(String),
    /// The tool itself failed (compile error, throw, limit, bad return value).
    Tool(ToolError),
}

/// The outcome of one trial call.
#[derive(Debug, Clone)]
pub struct Trial {
    /// The returned JSON, or why there is none.
    pub result: Result<Value, TrialError>,
    /// Captured console output (empty when the code did not run or printed nothing).
    pub console: String,
    /// Wall-clock time of the sandbox call (zero when the input was refused before it).
    pub duration: Duration,
}

impl Trial {
    /// A call refused before any code ran.
    pub fn refused(error: TrialError) -> Self {
        Self {
            result: Err(error),
            console: String::new(),
            duration: Duration::ZERO,
        }
    }
}

/// Parses the input text of the panel.
pub fn parse_input(text: &str) -> Result<Value, TrialError> {
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_json::from_str(text).map_err(|e| TrialError::InvalidJson(e.to_string()))
}

/// Calls `tool`'s saved code once with `input` on `project`'s data (heap limit
/// `memory_bytes`, time limit the tool's timeoutMs).
pub async fn run(
    sandbox: &Sandbox,
    db: &DatabaseConnection,
    tool: &custom_tools::Model,
    project: Option<projects::Model>,
    input: Value,
    memory_bytes: usize,
) -> Trial {
    let validator = match schema::compile(&tool.input_schema) {
        Ok(v) => v,
        Err(e) => return Trial::refused(TrialError::BadSchema(e)),
    };
    if let Err(problems) = schema::check(&validator, &input) {
        let lines = problems.lines().map(str::to_owned).collect();
        return Trial::refused(TrialError::InvalidInput(lines));
    }
    let limits = Limits {
        memory_bytes,
        ..Limits::with_timeout_ms(u64::try_from(tool.timeout_ms).ok())
    };
    let project_doc = project.as_ref().map_or(Value::Null, context);
    let api = Arc::new(DbDataApi::new(db.clone(), project));
    let run = sandbox
        .run(&tool.execute_function, input, project_doc, api, limits)
        .await;
    Trial {
        result: run.result.map_err(TrialError::Tool),
        console: run.console,
        duration: run.duration,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_text_is_parsed_and_an_empty_box_means_an_empty_object() {
        assert_eq!(parse_input("  "), Ok(serde_json::json!({})));
        assert_eq!(parse_input(r#"{"a": 1}"#), Ok(serde_json::json!({"a": 1})));
        match parse_input("{\"a\": }") {
            Err(TrialError::InvalidJson(m)) => assert!(m.contains("line 1"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
