//! Agents (`/api/agents`): a prompt, a model, tools and limits, in a department. Runs start
//! through `POST /api/agents/{agentId}/execute` (`web::api::runs`).

use std::collections::HashMap;

use sea_orm::{DatabaseConnection, EntityTrait};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::common::{CREATED_AT, ID, UPDATED_AT, col, json, json_value, relation};
use super::departments::{DepartmentResponse, Departments, ModelEntry};
use super::{Collection, Row};
use super::{Relation, populate, relation_field};
use crate::auth::current_user::CurrentUser;
use crate::db::{self, Page, listing::PageRequest};
use crate::domain::agents::{
    AgentInput, ExecutionSettings, stored_spawnable_agents, stored_tool_names,
};
use crate::domain::{fields::merge, iso};
use crate::entities::agents;
use crate::error::AppResult;
use crate::query::{Field, FieldMap, Kind, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "agents",
    fields: &[
        ID,
        col("agentId", "agent_id", Scalar::Text),
        col("name", "name", Scalar::Text),
        col("description", "description", Scalar::Text),
        relation("department", "department_id", &super::departments::FIELDS),
        col("isDepartmentHead", "is_department_head", Scalar::Bool),
        col("model", "model", Scalar::Text),
        col("instructionsPrompt", "instructions_prompt", Scalar::Text),
        Field {
            name: "toolNames",
            kind: Kind::JsonArray {
                column: "tool_names",
                key: "toolName",
            },
        },
        col("maxAgentSteps", "max_agent_steps", Scalar::Int),
        col("isActive", "is_active", Scalar::Bool),
        json_value(
            "executionSettings.maxRetries",
            "execution_settings",
            &["maxRetries"],
            Scalar::Int,
        ),
        json_value(
            "executionSettings.timeout",
            "execution_settings",
            &["timeout"],
            Scalar::Int,
        ),
        json_value(
            "executionSettings.temperature",
            "execution_settings",
            &["temperature"],
            Scalar::Float,
        ),
        json("outputSchema", "output_schema"),
        Field {
            name: "fallbackModels",
            kind: Kind::JsonArray {
                column: "fallback_models",
                key: "model",
            },
        },
        json("modelRouting", "model_routing"),
        json("approvalRules", "approval_rules"),
        col(
            "performanceMetrics.totalExecutions",
            "total_executions",
            Scalar::Int,
        ),
        col(
            "performanceMetrics.successfulExecutions",
            "successful_executions",
            Scalar::Int,
        ),
        col(
            "performanceMetrics.failedExecutions",
            "failed_executions",
            Scalar::Int,
        ),
        Field {
            name: "performanceMetrics.averageExecutionTime",
            kind: Kind::Derived {
                sql: "(CASE WHEN {t}.\"total_executions\" > 0 THEN {t}.\"total_execution_time_ms\" / {t}.\"total_executions\" ELSE 0 END)",
                ty: Scalar::Int,
            },
        },
        Field {
            name: "performanceMetrics.successRate",
            kind: Kind::Derived {
                sql: "(CASE WHEN {t}.\"total_executions\" > 0 THEN CAST({t}.\"successful_executions\" AS DOUBLE PRECISION) * 100.0 / {t}.\"total_executions\" ELSE 0.0 END)",
                ty: Scalar::Float,
            },
        },
        Field {
            name: "spawnableAgents",
            kind: Kind::JsonArray {
                column: "spawnable_agents",
                key: "agentId",
            },
        },
        col("lastExecutedAt", "last_executed_at", Scalar::Date),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The agents collection.
pub struct Agents;

/// One entry of `toolNames`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolNameEntry {
    /// A custom tool's name.
    pub tool_name: String,
}

/// One entry of `spawnableAgents`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpawnableAgentEntry {
    /// The agentId of an agent this one may start with `spawn_agents`.
    pub agent_id: String,
}

/// Per-agent execution settings (null: the server default).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSettingsView {
    /// Retries per provider request, 0–10.
    pub max_retries: Option<i32>,
    /// Whole-run deadline in seconds.
    pub timeout: Option<i64>,
    /// Sampling temperature, 0–2.
    pub temperature: Option<f64>,
}

/// One `modelRouting` rule.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RoutingRuleView {
    /// A `where` over `{promptLength, department, metadata.*}`.
    pub when: Value,
    /// The model picked when it matches.
    pub model: String,
}

/// Read-only metrics, derived from atomic counters.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentMetrics {
    /// Finished executions.
    pub total_executions: i64,
    /// Completed ones.
    pub successful_executions: i64,
    /// Failed, timed-out or cancelled ones.
    pub failed_executions: i64,
    /// Mean duration in milliseconds.
    pub average_execution_time: i64,
    /// Percentage of successes, two decimals.
    pub success_rate: f64,
}

/// An agent as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentResponse {
    /// Row id.
    pub id: i32,
    /// Unique slug, e.g. `story-head-001`.
    pub agent_id: String,
    /// Display name.
    pub name: String,
    /// What the agent is for.
    pub description: String,
    /// The department: its id at depth 0, the document at depth ≥ 1.
    #[schema(schema_with = relation_field::<DepartmentResponse>)]
    pub department: Relation<DepartmentResponse>,
    /// At most one head per department.
    pub is_department_head: bool,
    /// Model id (empty: the department's or the server's default).
    pub model: String,
    /// System prompt.
    pub instructions_prompt: String,
    /// Tools the agent may call (empty: every tool of its department).
    pub tool_names: Vec<ToolNameEntry>,
    /// Model calls per run, 1–100.
    pub max_agent_steps: Option<i32>,
    /// Inactive agents cannot run.
    pub is_active: bool,
    /// Retries, timeout, temperature.
    pub execution_settings: ExecutionSettingsView,
    /// JSON Schema of the structured output, if any.
    pub output_schema: Option<Value>,
    /// Agents it may start with the `spawn_agents` tool (empty: the tool is not offered).
    pub spawnable_agents: Vec<SpawnableAgentEntry>,
    /// Models tried in order when the model fails (empty: the department's list).
    pub fallback_models: Vec<ModelEntry>,
    /// Rules choosing the model of each run; the first match wins, else `model`.
    pub model_routing: Vec<RoutingRuleView>,
    /// Per-tool approval rules overriding the tools' own: `[{toolName, mode, when?}]`
    /// (built-ins and `spawn_agents` included).
    #[schema(value_type = Vec<Object>)]
    pub approval_rules: Value,
    /// Read-only metrics.
    pub performance_metrics: AgentMetrics,
    /// Last finished run (RFC 3339).
    pub last_executed_at: Option<String>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl AgentResponse {
    /// The view of a row (taken apart, not copied), with its department as given.
    pub fn new(m: agents::Model, department: Relation<DepartmentResponse>) -> Self {
        let settings = ExecutionSettings::from_stored(&m.execution_settings);
        let total = m.total_executions.max(0);
        Self {
            id: m.id,
            tool_names: stored_tool_names(&m.tool_names)
                .into_iter()
                .map(|tool_name| ToolNameEntry { tool_name })
                .collect(),
            spawnable_agents: stored_spawnable_agents(&m.spawnable_agents)
                .into_iter()
                .map(|agent_id| SpawnableAgentEntry { agent_id })
                .collect(),
            agent_id: m.agent_id,
            name: m.name,
            description: m.description,
            department,
            is_department_head: m.is_department_head,
            model: m.model,
            instructions_prompt: m.instructions_prompt,
            max_agent_steps: m.max_agent_steps,
            is_active: m.is_active,
            execution_settings: ExecutionSettingsView {
                max_retries: settings.max_retries,
                timeout: settings.timeout_secs,
                temperature: settings.temperature,
            },
            output_schema: m.output_schema,
            fallback_models: ModelEntry::list(&m.fallback_models),
            model_routing: crate::domain::routing::stored_rules(&m.model_routing)
                .into_iter()
                .map(|r| RoutingRuleView {
                    when: r.when,
                    model: r.model,
                })
                .collect(),
            approval_rules: crate::domain::approvals::agent_rules_json(
                &crate::domain::approvals::stored_agent_rules(
                    m.approval_rules.as_ref().unwrap_or(&Value::Null),
                ),
            ),
            performance_metrics: AgentMetrics {
                total_executions: total,
                successful_executions: m.successful_executions,
                failed_executions: m.failed_executions,
                average_execution_time: if total > 0 {
                    m.total_execution_time_ms / total
                } else {
                    0
                },
                success_rate: if total > 0 {
                    (m.successful_executions as f64 * 10_000.0 / total as f64).round() / 100.0
                } else {
                    0.0
                },
            },
            last_executed_at: m.last_executed_at.as_ref().map(iso),
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

/// Renders agents, with their departments populated when `depth` ≥ 1.
pub async fn render(
    db: &DatabaseConnection,
    rows: Vec<agents::Model>,
    depth: u8,
) -> AppResult<Vec<AgentResponse>> {
    let departments: HashMap<i32, DepartmentResponse> = if depth >= 1 {
        populate::<Departments>(db, rows.iter().map(|r| r.department_id), 0).await?
    } else {
        HashMap::new()
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let department = departments.get(&r.department_id).cloned();
            let department_id = r.department_id;
            AgentResponse::new(r, Relation::of(department_id, department))
        })
        .collect())
}

impl Collection for Agents {
    const SLUG: &'static str = "agents";
    const SINGULAR: &'static str = "Agent";
    const PLURAL: &'static str = "Agents";
    type Entity = agents::Entity;
    type View = AgentResponse;

    fn fields() -> &'static FieldMap {
        &FIELDS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    async fn render(
        db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        depth: u8,
    ) -> AppResult<Vec<Self::View>> {
        render(db, rows, depth).await
    }

    /// At depth ≥ 1 the departments come with the agents, in the same statement.
    async fn find_page(
        db: &DatabaseConnection,
        request: PageRequest<'_>,
        depth: u8,
    ) -> AppResult<Page<Self::View>> {
        if depth == 0 {
            let page = db::listing::find_page(db, agents::Entity::find(), request).await?;
            return Ok(page.map(|r| {
                let department_id = r.department_id;
                AgentResponse::new(r, Relation::Id(department_id))
            }));
        }
        let page = db::listing::find_page_also_related(
            db,
            agents::Entity::find(),
            crate::entities::departments::Entity,
            request,
        )
        .await?;
        Ok(page.map(|(r, department)| {
            let department_id = r.department_id;
            AgentResponse::new(r, Relation::of(department_id, department.map(Into::into)))
        }))
    }

    async fn create(
        db: &DatabaseConnection,
        user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        let who = super::agent_versions::authorship(Some(user), body)?;
        super::agent_versions::save_agent(db, None, AgentInput::from_json(body)?, &who).await
    }

    async fn update(
        db: &DatabaseConnection,
        user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let who = super::agent_versions::authorship(Some(user), patch)?;
        let input = AgentInput::from_json(&merge(Self::document(db, row.clone()).await?, patch))?;
        super::agent_versions::save_agent(db, Some(row.id), input, &who).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::agents::delete(db, row.id).await
    }
}
