//! Demo data: the film studio of the seed system. Loaded on the first start of an empty
//! database and by `aladdin seed`. Idempotent: a row is inserted only when its natural key
//! (slug, agentId, toolName, modelId, chainId) is absent, so editors' changes are never overwritten.

use std::fmt;

use anyhow::Context as _;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::Value;

use crate::domain::{
    agents::AgentInput, chains::ChainInput, custom_tools::ToolInput, departments::DepartmentInput,
    experiments::ExperimentInput, models::ModelInput, projects::ProjectInput,
};
use crate::{db, entities};

const DEPARTMENTS: &str = include_str!("data/departments.json");
const AGENTS: &str = include_str!("data/agents.json");
const TOOLS: &str = include_str!("data/tools.json");
const PROJECT: &str = include_str!("data/project.json");
const MODELS: &str = include_str!("data/models.json");
const EXPERIMENTS: &str = include_str!("data/experiments.json");
/// An example MCP server entry, inactive (it points at nothing): an MCP server to copy from, not
/// one that would put a warning in every run. No agent names its tools.
const MCP_SERVERS: &str = include_str!("data/mcp_servers.json");
const CHAINS: &str = include_str!("data/chains.json");
/// A monthly budget over every run and a small daily one on the demo project.
const BUDGETS: &str = include_str!("data/budgets.json");
const EVALS: &str = include_str!("data/evals.json");

/// How many rows of each kind a seeding run inserted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SeedReport {
    /// Departments inserted.
    pub departments: usize,
    /// Price-table rows inserted.
    pub models: usize,
    /// Custom tools inserted.
    pub tools: usize,
    /// Agents inserted.
    pub agents: usize,
    /// Projects inserted.
    pub projects: usize,
    /// Agent chains inserted.
    pub chains: usize,
}

impl SeedReport {
    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} departments, {} models, {} tools, {} agents, {} projects, {} chains",
            self.departments, self.models, self.tools, self.agents, self.projects, self.chains
        )
    }
}

/// True when the database holds no departments, agents or projects yet.
pub async fn database_is_empty(db: &DatabaseConnection) -> Result<bool, sea_orm::DbErr> {
    Ok(entities::departments::Entity::find().count(db).await? == 0
        && entities::agents::Entity::find().count(db).await? == 0
        && entities::projects::Entity::find().count(db).await? == 0)
}

/// Inserts whatever demo rows are missing.
pub async fn run(db: &DatabaseConnection) -> anyhow::Result<SeedReport> {
    let mut report = SeedReport::default();
    // Demo agents and tools are saved through the same path as every other write, so they
    // start with a version 1 like any other.
    let demo = db::versions::Authorship {
        created_by: None,
        change_note: "Demo data.".into(),
    };
    for doc in array(DEPARTMENTS, "departments")? {
        let input = DepartmentInput::from_json(&doc).map_err(invalid("department"))?;
        if db::departments::find_by_slug(db, &input.slug)
            .await?
            .is_none()
        {
            db::departments::create(db, input)
                .await
                .map_err(invalid("department"))?;
            report.departments += 1;
        }
    }
    for doc in array(MODELS, "models")? {
        let input = ModelInput::from_json(&doc).map_err(invalid("model"))?;
        if db::models::find_price(db, &input.model_id)
            .await?
            .is_none_or(|m| m.model_id != input.model_id)
        {
            db::models::create(db, input)
                .await
                .map_err(invalid("model"))?;
            report.models += 1;
        }
    }
    for mut doc in array(TOOLS, "tools")? {
        doc["departments"] = department_ids(db, &doc["departments"]).await?;
        let input = ToolInput::from_json(&doc).map_err(invalid("tool"))?;
        if db::custom_tools::find_by_name(db, &input.tool_name)
            .await?
            .is_none()
        {
            crate::collections::custom_tool_versions::save_tool(db, None, input, &demo)
                .await
                .map_err(invalid("tool"))?;
            report.tools += 1;
        }
    }
    // Heads name specialists listed after them, so spawnableAgents is set once every agent
    // exists.
    let mut teams = Vec::new();
    for mut doc in array(AGENTS, "agents")? {
        let slug = doc["department"].as_str().unwrap_or_default().to_owned();
        let department = db::departments::find_by_slug(db, &slug)
            .await?
            .with_context(|| format!("demo agent names an unknown department `{slug}`"))?;
        doc["department"] = department.id.into();
        let team = doc
            .as_object_mut()
            .and_then(|d| d.remove("spawnableAgents"));
        let input = AgentInput::from_json(&doc).map_err(invalid("agent"))?;
        if db::agents::find_by_agent_id(db, &input.agent_id)
            .await?
            .is_none()
        {
            // An agent with a team gets its version once the team is set (below), so that
            // every demo agent starts at version 1 with its whole configuration.
            let agent = if team.is_some() {
                db::agents::create(db, input).await
            } else {
                crate::collections::agent_versions::save_agent(db, None, input, &demo).await
            }
            .map_err(invalid("agent"))?;
            report.agents += 1;
            if let Some(team) = team {
                doc["spawnableAgents"] = team;
                teams.push((agent.id, doc));
            }
        }
    }
    for (id, doc) in teams {
        let input = AgentInput::from_json(&doc).map_err(invalid("agent"))?;
        crate::collections::agent_versions::save_agent(db, Some(id), input, &demo)
            .await
            .map_err(invalid("agent"))?;
    }
    for mut doc in array(EXPERIMENTS, "experiments")? {
        let slug = doc["agent"].as_str().unwrap_or_default().to_owned();
        let Some(agent) = db::agents::find_by_agent_id(db, &slug).await? else {
            continue;
        };
        // Only for an agent without experiments: an editor's own are never touched.
        if db::experiments::for_agent(db, agent.id).await?.is_empty() {
            doc["agent"] = agent.id.into();
            let input = ExperimentInput::from_json(&doc).map_err(invalid("experiment"))?;
            db::experiments::create(db, input)
                .await
                .map_err(invalid("experiment"))?;
        }
    }
    let project: Value = serde_json::from_str(PROJECT).context("demo project.json")?;
    let input = ProjectInput::from_json(&project).map_err(invalid("project"))?;
    if db::projects::find_by_slug(db, &input.slug).await?.is_none() {
        db::projects::create(db, input)
            .await
            .map_err(invalid("project"))?;
        report.projects += 1;
    }
    for doc in array(CHAINS, "chains")? {
        let chain_id = doc["chainId"].as_str().unwrap_or_default();
        if db::agent_chains::find_by_chain_id(db, chain_id)
            .await?
            .is_some()
        {
            continue;
        }
        let agents = db::agent_chains::agent_states(db, &ChainInput::named_agents(&doc)).await?;
        let input = ChainInput::from_json(&doc, &agents).map_err(invalid("chain"))?;
        db::agent_chains::create(db, input)
            .await
            .map_err(invalid("chain"))?;
        report.chains += 1;
    }
    for mut doc in array(BUDGETS, "budgets")? {
        let name = doc["name"].as_str().unwrap_or_default().to_owned();
        if db::budgets::all(db).await?.iter().any(|b| b.name == name) {
            continue;
        }
        if let Some(slug) = doc["project"].as_str().map(str::to_owned) {
            let project = db::projects::find_by_slug(db, &slug)
                .await?
                .with_context(|| format!("demo budget names an unknown project `{slug}`"))?;
            doc["project"] = project.id.into();
        }
        let input =
            crate::domain::budgets::BudgetInput::from_json(&doc).map_err(invalid("budget"))?;
        db::budgets::create(db, input)
            .await
            .map_err(invalid("budget"))?;
    }
    for doc in array(MCP_SERVERS, "mcp_servers")? {
        let name = doc["name"].as_str().unwrap_or_default().to_owned();
        if db::mcp_servers::find_by_names(db, std::slice::from_ref(&name))
            .await?
            .is_empty()
        {
            let input = crate::domain::mcp_servers::McpServerInput::from_json(
                &doc,
                &serde_json::Map::new(),
            )
            .map_err(invalid("MCP server"))?;
            db::mcp_servers::create(db, input)
                .await
                .map_err(invalid("MCP server"))?;
        }
    }
    for mut doc in array(EVALS, "evals")? {
        let name = doc["name"].as_str().unwrap_or_default().to_owned();
        if db::evals::datasets(db)
            .await?
            .iter()
            .any(|d| d.name == name)
        {
            continue;
        }
        for key in ["agent", "judgeAgent"] {
            let slug = doc[key].as_str().unwrap_or_default().to_owned();
            let agent = db::agents::find_by_agent_id(db, &slug)
                .await?
                .with_context(|| format!("demo dataset names an unknown agent `{slug}`"))?;
            doc[key] = agent.id.into();
        }
        let input =
            crate::domain::evals::DatasetInput::from_json(&doc).map_err(invalid("eval dataset"))?;
        db::evals::create_dataset(db, input)
            .await
            .map_err(invalid("eval dataset"))?;
    }
    Ok(report)
}

fn array(raw: &str, name: &str) -> anyhow::Result<Vec<Value>> {
    serde_json::from_str(raw).with_context(|| format!("demo {name}.json is not a JSON array"))
}

async fn department_ids(db: &DatabaseConnection, slugs: &Value) -> anyhow::Result<Value> {
    let mut ids = Vec::new();
    for slug in slugs.as_array().into_iter().flatten() {
        let slug = slug.as_str().unwrap_or_default();
        let department = db::departments::find_by_slug(db, slug)
            .await?
            .with_context(|| format!("demo tool names an unknown department `{slug}`"))?;
        ids.push(Value::from(department.id));
    }
    Ok(Value::Array(ids))
}

fn invalid(what: &'static str) -> impl Fn(crate::error::AppError) -> anyhow::Error {
    move |e| match e {
        crate::error::AppError::Validation(errors) => {
            anyhow::anyhow!("invalid demo {what}: {errors:?}")
        }
        other => anyhow::anyhow!("cannot insert demo {what}: {other}"),
    }
}
