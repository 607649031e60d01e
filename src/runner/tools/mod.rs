//! Tools the model can call: the [`Tool`] trait, the per-run [`ToolSet`], the built-ins
//! (`getProjectContext`, `set_output`, `spawn_agents`), JavaScript custom tools over the sandbox, the
//! project-scoped data API those tools use, and the admin's trial calls ("Try it").

pub mod builtin;
pub mod data_api;
pub mod js;
pub(crate) mod loader;
pub mod mcp;
mod mcp_loader;
pub mod schema;
pub mod spawn;
pub mod trial;

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use serde_json::Value;

use super::providers::ToolSpec;
use crate::entities::projects;
use crate::sandbox::{DataApi, Sandbox};

pub use builtin::{PROJECT_CONTEXT, SET_OUTPUT};
pub use spawn::SPAWN_AGENTS;

/// A tool the model can call.
pub trait Tool: Send + Sync {
    /// The name the model calls it by.
    fn name(&self) -> &str;
    /// What it does, for the model.
    fn description(&self) -> &str;
    /// JSON Schema of its input; inputs are validated against it before [`Tool::call`].
    fn input_schema(&self) -> &Value;
    /// Runs the tool on a validated input.
    fn call<'a>(&'a self, input: Value, ctx: &'a ToolContext) -> BoxFuture<'a, ToolOutcome>;
}

/// What a tool call produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutcome {
    /// The JSON result, or an error message for the model (and the tool_result event).
    pub result: Result<Value, String>,
    /// Captured console output, for JavaScript tools.
    pub console: Option<String>,
}

impl ToolOutcome {
    /// A successful result.
    pub fn ok(value: Value) -> Self {
        Self {
            result: Ok(value),
            console: None,
        }
    }

    /// A failed call.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            result: Err(message.into()),
            console: None,
        }
    }
}

/// What a tool may use while it runs: the execution's project and its scoped data API.
#[derive(Clone)]
pub struct ToolContext {
    /// The execution the call belongs to.
    pub execution_id: i32,
    /// The execution's project, if it has one.
    pub project: Option<projects::Model>,
    /// The data API scoped to that project.
    pub data_api: Arc<dyn DataApi>,
    /// The process-wide sandbox pool.
    pub sandbox: Sandbox,
    /// The database (for tool metrics).
    pub db: DatabaseConnection,
    /// Heap limit per JavaScript call, in bytes.
    pub memory_bytes: usize,
}

/// The tools of one run, each with its compiled input validator.
#[derive(Default, Clone)]
pub struct ToolSet {
    entries: Vec<Entry>,
    /// Each tool's own approval rule (custom tools, MCP servers); absent: never.
    approvals: std::collections::HashMap<String, crate::domain::approvals::Rule>,
}

#[derive(Clone)]
struct Entry {
    tool: Arc<dyn Tool>,
    validator: Arc<jsonschema::Validator>,
}

impl ToolSet {
    /// Adds a tool; a tool of the same name already present wins.
    pub fn add(&mut self, tool: Arc<dyn Tool>, validator: Arc<jsonschema::Validator>) -> bool {
        if self.contains(tool.name()) {
            return false;
        }
        self.entries.push(Entry { tool, validator });
        true
    }

    /// Sets the approval rule of tool `name` (its `approval`, or its MCP server's).
    pub fn set_approval(&mut self, name: &str, rule: crate::domain::approvals::Rule) {
        self.approvals.insert(name.to_owned(), rule);
    }

    /// The approval rule of tool `name`, if it has one.
    pub fn approval(&self, name: &str) -> Option<&crate::domain::approvals::Rule> {
        self.approvals.get(name)
    }

    /// Whether a tool of this name is present.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.tool.name() == name)
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.entry(name).map(|e| &e.tool)
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tool.name() == name)
    }

    /// The tool a provider called by its wire name (see
    /// [`crate::runner::providers::wire_tool_name`]): the name itself when a tool has it,
    /// else the tool whose wire name it is.
    pub fn resolve_wire<'a>(&'a self, called: &'a str) -> &'a str {
        if self.entry(called).is_some() {
            return called;
        }
        self.entries
            .iter()
            .map(|e| e.tool.name())
            .find(|name| crate::runner::providers::wire_tool_name(name) == called)
            .unwrap_or(called)
    }

    /// Tool names, in the order offered to the model.
    pub fn names(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| e.tool.name().to_owned())
            .collect()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Tool definitions for the provider (schemas cleaned of keys providers reject).
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.entries
            .iter()
            .map(|e| ToolSpec {
                name: e.tool.name().to_owned(),
                description: e.tool.description().to_owned(),
                input_schema: schema::for_provider(e.tool.input_schema()),
            })
            .collect()
    }

    /// Checks `input` against the input schema of tool `name`: the list of problems, one per
    /// line, when it does not match.
    pub fn validate(&self, name: &str, input: &Value) -> Result<(), String> {
        match self.entry(name) {
            Some(entry) => schema::check(&entry.validator, input),
            None => Err(format!("unknown tool {name}")),
        }
    }
}
