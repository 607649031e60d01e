//! Custom tools: the editors' JavaScript, run in the sandbox with the tool's limits and the
//! execution's project-scoped data API. Each call is counted into the tool's metrics with one
//! atomic UPDATE.

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::{Tool, ToolContext, ToolOutcome};
use crate::db;
use crate::domain::projects;
use crate::entities::custom_tools;
use crate::sandbox::Limits;

/// A custom tool row, ready to call.
pub struct JsTool {
    id: i32,
    name: String,
    description: String,
    input_schema: Value,
    source: String,
    timeout_ms: u64,
}

impl JsTool {
    /// The tool of a `custom_tools` row.
    pub fn new(row: &custom_tools::Model) -> Self {
        Self {
            id: row.id,
            name: row.tool_name.clone(),
            description: row.description.clone(),
            input_schema: row.input_schema.clone(),
            source: row.execute_function.clone(),
            timeout_ms: u64::try_from(row.timeout_ms).unwrap_or(0),
        }
    }
}

impl Tool for JsTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn input_schema(&self) -> &Value {
        &self.input_schema
    }

    fn call<'a>(&'a self, input: Value, ctx: &'a ToolContext) -> BoxFuture<'a, ToolOutcome> {
        Box::pin(async move {
            let limits = Limits {
                memory_bytes: ctx.memory_bytes,
                ..Limits::with_timeout_ms(Some(self.timeout_ms))
            };
            let project = ctx.project.as_ref().map_or(Value::Null, projects::context);
            let run = ctx
                .sandbox
                .run(&self.source, input, project, ctx.data_api.clone(), limits)
                .await;
            let duration_ms = i64::try_from(run.duration.as_millis()).unwrap_or(i64::MAX);
            if let Err(e) =
                db::custom_tools::record_call(&ctx.db, self.id, run.result.is_err(), duration_ms)
                    .await
            {
                tracing::warn!(tool.name = %self.name, error = %e, "could not record the tool call metrics");
            }
            ToolOutcome {
                result: run.result.map_err(|e| e.to_string()),
                console: Some(run.console).filter(|c| !c.is_empty()),
            }
        })
    }
}
