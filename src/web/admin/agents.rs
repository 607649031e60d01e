//! Agents: list with department and status filters, and the form with the agent's metrics
//! and latest runs beside it.

use askama::Template;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListSpec, ListView, equals};
use super::{Chrome, fmt};
use crate::db;
use crate::entities::{agent_executions, agents, agents::Model, custom_tools, departments, models};
use crate::error::AppResult;
use crate::query::Where;
use crate::state::AppState;

const FIELDS: &[(&str, Kind)] = &[
    ("agentId", Kind::Text),
    ("name", Kind::Text),
    ("description", Kind::Text),
    ("department", Kind::Text),
    ("isDepartmentHead", Kind::Bool),
    ("model", Kind::Text),
    ("instructionsPrompt", Kind::Text),
    ("toolNames", Kind::Many),
    ("spawnableAgents", Kind::Many),
    ("maxAgentSteps", Kind::Text),
    ("isActive", Kind::Bool),
    ("executionSettings.maxRetries", Kind::Text),
    ("executionSettings.timeout", Kind::Text),
    ("executionSettings.temperature", Kind::Text),
    ("outputSchema", Kind::Text),
    ("changeNote", Kind::Text),
    ("fallbackModels", Kind::Text),
    ("modelRouting", Kind::Text),
    ("approvalRules", Kind::Text),
];

/// The agent list: searched by name, agentId and model.
static LIST: ListSpec = ListSpec {
    base: <Agents as Resource>::BASE,
    map: &crate::collections::agents::FIELDS,
    search: &["name", "agentId", "model"],
    sorts: &[
        ("name", "name"),
        ("agentId", "agentId"),
        ("model", "model"),
        ("runs", "performanceMetrics.totalExecutions"),
        ("lastRun", "lastExecutedAt"),
        ("updated", "updatedAt"),
    ],
    default_sort: "name",
    missing_last: &[],
};

/// Tools every agent can name without a custom tool behind them.
const BUILT_IN_TOOLS: &[(&str, &str)] = &[("getProjectContext", "Reads the execution's project")];

/// The agent list.
#[derive(Template)]
#[template(path = "admin/agents/list.html", blocks = ["list"])]
pub struct AgentsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<Model>,
    departments: Vec<departments::Model>,
}

impl AgentsPage {
    fn department(&self, id: &i32) -> Option<&departments::Model> {
        self.departments.iter().find(|d| d.id == *id)
    }
}

/// A tool offered in the agent form.
pub struct ToolChoice {
    name: String,
    title: String,
    scope: &'static str,
}

/// An agent offered in the form's "may spawn" picker.
pub struct AgentChoice {
    agent_id: String,
    name: String,
    is_active: bool,
}

/// The agent form.
#[derive(Template)]
#[template(path = "admin/agents/form.html")]
pub struct AgentForm {
    chrome: Chrome,
    form: FormState,
    departments: Vec<departments::Model>,
    tools: Vec<ToolChoice>,
    /// Every other agent, for `spawnableAgents`.
    spawnable: Vec<AgentChoice>,
    models: Vec<models::Model>,
    agent: Option<Model>,
    recent: Vec<agent_executions::Model>,
}

impl AgentForm {
    /// Tool names selected in the form that no longer exist (shown so that they can be removed).
    fn unknown_tools(&self) -> Vec<&str> {
        self.form
            .values
            .all("toolNames")
            .into_iter()
            .filter(|n| !self.tools.iter().any(|t| t.name == *n))
            .collect()
    }

    /// Spawnable agentIds selected in the form that no longer exist.
    fn unknown_spawnable(&self) -> Vec<&str> {
        self.form
            .values
            .all("spawnableAgents")
            .into_iter()
            .filter(|id| !self.spawnable.iter().any(|a| a.agent_id == *id))
            .collect()
    }

    fn success_rate(&self) -> String {
        match &self.agent {
            Some(a) if a.total_executions > 0 => {
                format!(
                    "{:.0}%",
                    a.successful_executions as f64 * 100.0 / a.total_executions as f64
                )
            }
            _ => "—".into(),
        }
    }

    fn average_time(&self) -> String {
        match &self.agent {
            Some(a) if a.total_executions > 0 => {
                fmt::duration_ms(&(a.total_execution_time_ms / a.total_executions))
            }
            _ => "—".into(),
        }
    }
}

/// Agents as a managed collection.
pub struct Agents;

impl Resource for Agents {
    type Collection = crate::collections::agents::Agents;
    type ListPage = AgentsPage;
    type FormPage = AgentForm;
    const BASE: &'static str = "/admin/agents";
    const NOUN: &'static str = "agent";
    const PLURAL: &'static str = "agents";
    const NAV: &'static str = "agents";
    const FIELDS: &'static [(&'static str, Kind)] = FIELDS;
    const JSON_FIELDS: &'static [&'static str] = &[
        "outputSchema",
        "fallbackModels",
        "modelRouting",
        "approvalRules",
    ];

    fn label(row: &Model) -> String {
        row.name.clone()
    }

    fn defaults() -> FormValues {
        let mut values = FormValues::default();
        values.set("isActive", "true");
        values
    }

    fn duplicate(values: &mut FormValues) {
        let (id, name) = (
            values.get("agentId").to_owned(),
            values.get("name").to_owned(),
        );
        values.set("agentId", format!("{id}-copy"));
        values.set("name", format!("{name} (copy)"));
        values.set("isDepartmentHead", "false");
    }

    async fn set_active(db: &DatabaseConnection, id: i32, active: bool) -> AppResult<Model> {
        db::agents::set_active(db, id, active).await
    }

    fn is_active(row: &Model) -> bool {
        row.is_active
    }

    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<AgentsPage> {
        let (page, list) = LIST
            .fetch(&state.db, agents::Entity::find(), query, &filter(query))
            .await?;
        Ok(AgentsPage {
            chrome,
            list,
            departments: db::departments::list_all(&state.db).await?,
            rows: page.items,
        })
    }

    fn list_fragment(page: &AgentsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        LIST.ids(
            db,
            agents::Entity::find(),
            agents::Column::Id,
            &filter(query),
        )
        .await
    }

    async fn form_page(
        state: &AppState,
        chrome: Chrome,
        form: FormState,
        row: Option<&Model>,
    ) -> AppResult<AgentForm> {
        let recent = match row {
            Some(agent) => db::executions::latest(&state.db, Some(agent.id), 5).await?,
            None => Vec::new(),
        };
        Ok(AgentForm {
            chrome,
            form,
            departments: db::departments::list_all(&state.db).await?,
            tools: tool_choices(&state.db).await?,
            spawnable: agent_choices(&state.db, row).await?,
            models: all_models(&state.db).await?,
            agent: row.cloned(),
            recent,
        })
    }
}

/// The list's filter: `q`, `department` (id), `active` and `head` (yes/no).
fn filter(query: &ListQuery) -> Where {
    LIST.filter(
        query,
        [
            query.id("department").map(|id| equals("department", id)),
            query.flag("active").map(|yes| equals("isActive", yes)),
            query
                .flag("head")
                .map(|yes| equals("isDepartmentHead", yes)),
        ],
    )
}

async fn tool_choices(db: &DatabaseConnection) -> AppResult<Vec<ToolChoice>> {
    let tools = db::custom_tools::list_all(db).await?;
    let mut choices: Vec<ToolChoice> = BUILT_IN_TOOLS
        .iter()
        .map(|(name, title)| ToolChoice {
            name: (*name).into(),
            title: (*title).into(),
            scope: "built-in",
        })
        .collect();
    choices.extend(tools.into_iter().map(|t: custom_tools::Model| ToolChoice {
        title: if t.display_name.is_empty() {
            t.description.chars().take(60).collect()
        } else {
            t.display_name
        },
        scope: match (t.is_active, t.is_global) {
            (false, _) => "inactive",
            (true, true) => "global",
            (true, false) => "shared",
        },
        name: t.tool_name,
    }));
    // Tools of active MCP servers, as their last refresh found them, when allowed.
    for server in db::mcp_servers::active(db).await? {
        let allowed = |name: &str| match server.tool_allow_list.as_array() {
            Some(list) if !list.is_empty() => list.iter().any(|t| t.as_str() == Some(name)),
            _ => true,
        };
        for tool in server.tools.as_array().into_iter().flatten() {
            let Some(name) = tool["name"].as_str().filter(|n| allowed(n)) else {
                continue;
            };
            choices.push(ToolChoice {
                name: format!("{}/{name}", server.name),
                title: tool["description"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(60)
                    .collect(),
                scope: "MCP",
            });
        }
    }
    Ok(choices)
}

/// The agents an agent may be allowed to spawn: every other agent, by name.
async fn agent_choices(
    db: &DatabaseConnection,
    this: Option<&Model>,
) -> AppResult<Vec<AgentChoice>> {
    let mut all = agents::Entity::find().all(db).await?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all
        .into_iter()
        .filter(|a| this.is_none_or(|t| t.id != a.id))
        .map(|a| AgentChoice {
            agent_id: a.agent_id,
            name: a.name,
            is_active: a.is_active,
        })
        .collect())
}

async fn all_models(db: &DatabaseConnection) -> AppResult<Vec<models::Model>> {
    Ok(db::models::list_all(db).await?)
}

/// Success rate of an agent's runs in percent, if it ran.
pub fn success_rate(agent: &Model) -> Option<u64> {
    (agent.total_executions > 0).then(|| {
        (agent.successful_executions as f64 * 100.0 / agent.total_executions as f64).round() as u64
    })
}
