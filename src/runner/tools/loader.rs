//! Loading the tools of a run (lifecycle rule 2): active tools that are global or shared with
//! the agent's department, restricted to the agent's toolNames when it names any. A named tool
//! that is missing, inactive, not shared, or whose schema or code does not compile becomes a
//! warning; the built-ins are never "missing".

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{DateTime, FixedOffset};
use sea_orm::{DatabaseConnection, DbErr};

use super::builtin::{PROJECT_CONTEXT, ProjectContext, SET_OUTPUT, SetOutput};
use super::js::JsTool;
use super::spawn::{SPAWN_AGENTS, SpawnAgents};
use super::{Tool, ToolSet, schema};
use crate::db;
use crate::domain::approvals::Rule;
use crate::entities::custom_tools;
use crate::runner::snapshot::AgentConfig;

/// The tools of one run, and what could not be loaded.
pub(crate) struct Loaded {
    /// Tools offered to the model.
    pub tools: ToolSet,
    /// The structured output tool, when the agent has an outputSchema.
    pub set_output: Option<Arc<SetOutput>>,
    /// One sentence per tool that was left out.
    pub warnings: Vec<String>,
    /// `(name, version)` of the custom tools offered that have a version (stamped on the
    /// run).
    pub tool_versions: Vec<(String, i32)>,
}

/// Compiled custom tools (input validator, syntax check) and their latest version, keyed by
/// tool id and invalidated when the row's `updated_at` changes: compiling once per edit, not
/// once per run — and once even when many runs start together (the first compiles, the
/// others wait for it). A tool's version row is written in the transaction that updates the
/// tool, so the version read for one `updated_at` stays its version.
#[derive(Default)]
pub(crate) struct ToolCache {
    entries: Mutex<HashMap<i32, Arc<Entry>>>,
}

type Compiled = Result<Arc<jsonschema::Validator>, String>;

struct Entry {
    updated_at: DateTime<FixedOffset>,
    compiled: tokio::sync::OnceCell<Compiled>,
    /// The latest `custom_tool_versions.version` (`None`: the tool has none).
    version: OnceLock<Option<i32>>,
}

impl ToolCache {
    /// The entry of `row` (a new one when the row changed since).
    fn entry(&self, row: &custom_tools::Model) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries
            .entry(row.id)
            .or_insert_with(|| Arc::new(Entry::new(row)));
        if entry.updated_at != row.updated_at {
            *entry = Arc::new(Entry::new(row));
        }
        entry.clone()
    }

    /// The validator of `row`, or why the tool cannot be used.
    async fn compiled(&self, row: &custom_tools::Model) -> Compiled {
        let entry = self.entry(row);
        entry.compiled.get_or_init(|| compile(row)).await.clone()
    }

    /// The latest versions of `rows`, in order; those not known yet are read in one query.
    async fn versions(
        &self,
        db: &DatabaseConnection,
        rows: &[&custom_tools::Model],
    ) -> Result<Vec<Option<i32>>, DbErr> {
        let entries: Vec<Arc<Entry>> = rows.iter().map(|row| self.entry(row)).collect();
        let missing: Vec<i32> = rows
            .iter()
            .zip(&entries)
            .filter(|(_, entry)| entry.version.get().is_none())
            .map(|(row, _)| row.id)
            .collect();
        if !missing.is_empty() {
            let found = db::versions::latest_tool_versions(db, &missing).await?;
            for (row, entry) in rows.iter().zip(&entries) {
                if missing.contains(&row.id) {
                    let version = found.iter().find(|(id, _)| *id == row.id).map(|(_, v)| *v);
                    let _ = entry.version.set(version);
                }
            }
        }
        Ok(entries
            .iter()
            .map(|entry| entry.version.get().copied().flatten())
            .collect())
    }
}

impl Entry {
    fn new(row: &custom_tools::Model) -> Self {
        Self {
            updated_at: row.updated_at,
            compiled: tokio::sync::OnceCell::new(),
            version: OnceLock::new(),
        }
    }
}

async fn compile(row: &custom_tools::Model) -> Result<Arc<jsonschema::Validator>, String> {
    let validator = schema::compile(&row.input_schema)
        .map_err(|e| format!("its inputSchema is not a valid JSON Schema: {e}"))?;
    let source = row.execute_function.clone();
    // QuickJS compilation is CPU work: keep it off the async threads.
    match tokio::task::spawn_blocking(move || crate::sandbox::check_syntax(&source)).await {
        Ok(Ok(())) => Ok(Arc::new(validator)),
        Ok(Err(e)) => Err(format!("its code does not compile: {e}")),
        Err(_) => Err("its code could not be checked".into()),
    }
}

/// Whether `name` is a built-in tool.
pub(crate) fn is_builtin(name: &str) -> bool {
    name == PROJECT_CONTEXT || name == SET_OUTPUT || name == SPAWN_AGENTS
}

fn project_context() -> (Arc<ProjectContext>, Arc<jsonschema::Validator>) {
    static TOOL: OnceLock<(Arc<ProjectContext>, Arc<jsonschema::Validator>)> = OnceLock::new();
    TOOL.get_or_init(|| {
        let tool = Arc::new(ProjectContext::default());
        let validator = schema::compile(tool.input_schema())
            .unwrap_or_else(|e| panic!("the getProjectContext schema is valid: {e}"));
        (tool, Arc::new(validator))
    })
    .clone()
}

/// Loads the tools of a run of `config`. MCP tools (`server/tool`) are offered only when
/// `toolNames` names them (see [`super::mcp_loader`]).
pub(crate) async fn load(
    db: &DatabaseConnection,
    cache: &ToolCache,
    config: &AgentConfig,
    allow_stdio: bool,
) -> Result<Loaded, DbErr> {
    let mut tools = ToolSet::default();
    let mut warnings = Vec::new();
    let mut offered = Vec::new();
    let (context_tool, context_validator) = project_context();
    tools.add(context_tool, context_validator);

    let named: Vec<String> = config
        .tool_names
        .iter()
        .filter(|n| !is_builtin(n) && !super::mcp_loader::is_mcp_name(n))
        .cloned()
        .collect();
    let mut rows = if !config.tool_names.is_empty() && named.is_empty() {
        Vec::new()
    } else {
        db::custom_tools::available_to(db, config.department_id, &named).await?
    };
    if !named.is_empty() {
        rows.sort_by_key(|r| named.iter().position(|n| *n == r.tool_name));
        for name in named
            .iter()
            .filter(|n| !rows.iter().any(|r| r.tool_name == **n))
        {
            warnings.push(explain_missing(db, name).await?);
        }
    }
    for row in &rows {
        if is_builtin(&row.tool_name) {
            warnings.push(format!(
                "Tool {} was skipped: its name is reserved for a built-in tool.",
                row.tool_name
            ));
            continue;
        }
        match cache.compiled(row).await {
            Ok(validator) => {
                if tools.add(Arc::new(JsTool::new(row)), validator) {
                    let rule = row.approval.as_ref().map(Rule::from_stored);
                    tools.set_approval(&row.tool_name, rule.unwrap_or_default());
                }
                offered.push(row);
            }
            Err(why) => warnings.push(format!("Tool {} was skipped: {why}.", row.tool_name)),
        }
    }

    let tool_versions = cache
        .versions(db, &offered)
        .await?
        .into_iter()
        .zip(&offered)
        .filter_map(|(version, row)| version.map(|v| (row.tool_name.clone(), v)))
        .collect();

    super::mcp_loader::load(db, config, allow_stdio, &mut tools, &mut warnings).await?;

    if !config.spawnable_agents.is_empty() {
        let tool = Arc::new(SpawnAgents::new(&config.spawnable_agents));
        match schema::compile(tool.input_schema()) {
            Ok(validator) => {
                tools.add(tool, Arc::new(validator));
            }
            Err(e) => warnings.push(format!("spawn_agents could not be offered: {e}.")),
        }
    }

    let mut set_output = None;
    if let Some(output_schema) = &config.output_schema {
        let tool = Arc::new(SetOutput::new(output_schema));
        match schema::compile(tool.input_schema()) {
            Ok(validator) => {
                tools.add(tool.clone(), Arc::new(validator));
                set_output = Some(tool);
            }
            Err(e) => warnings.push(format!(
                "The agent's outputSchema is not a valid JSON Schema ({e}); the run returns text instead."
            )),
        }
    }
    Ok(Loaded {
        tools,
        set_output,
        tool_versions,
        warnings,
    })
}

/// Why a named tool is not available, as a warning sentence.
async fn explain_missing(db: &DatabaseConnection, name: &str) -> Result<String, DbErr> {
    let why = match db::custom_tools::find_by_name(db, name).await? {
        None => "no custom tool has this name",
        Some(tool) if !tool.is_active => "it is inactive",
        Some(_) => "it is neither global nor shared with the agent's department",
    };
    Ok(format!("Tool {name} is not available: {why}."))
}
