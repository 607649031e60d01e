//! Agent executions (`/api/agent-executions`): read-only documents written by the runner.
//! Runs are started by `execute` and cancelled by `cancel` (see `web::api::runs` and
//! `web::api::executions`), never written through the collection.

use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::agents::{AgentResponse, Agents};
use super::common::{CREATED_AT, ID, UPDATED_AT, col, json, json_value, relation};
use super::departments::{DepartmentResponse, Departments};
use super::projects::{ProjectResponse, Projects};
use super::{Collection, Relation, Row, populate, relation_field};
use crate::domain::executions::AggregateUsage;
use crate::domain::iso;
use crate::entities::agent_executions;
use crate::error::AppResult;
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "agent_executions",
    fields: &[
        ID,
        relation("agent", "agent_id", &super::agents::FIELDS),
        col("agentId", "agent_slug", Scalar::Text),
        relation("department", "department_id", &super::departments::FIELDS),
        relation("project", "project_id", &super::projects::FIELDS),
        col("episode", "episode_id", Scalar::Text),
        col("conversationId", "conversation_id", Scalar::Text),
        col("parentExecution", "parent_execution_id", Scalar::Int),
        col("prompt", "prompt", Scalar::Text),
        json("params", "params"),
        col("status", "status", Scalar::Text),
        col("pausedReason", "paused_reason", Scalar::Text),
        col("allowOverBudget", "allow_over_budget", Scalar::Bool),
        json("runState", "run_state"),
        json("output", "output"),
        col("outputText", "output_text", Scalar::Text),
        col("executionTime", "execution_time_ms", Scalar::Int),
        col("tokenUsage.inputTokens", "input_tokens", Scalar::Int),
        col("tokenUsage.outputTokens", "output_tokens", Scalar::Int),
        col(
            "tokenUsage.cacheReadTokens",
            "cache_read_tokens",
            Scalar::Int,
        ),
        col(
            "tokenUsage.cacheWriteTokens",
            "cache_write_tokens",
            Scalar::Int,
        ),
        col("tokenUsage.totalTokens", "total_tokens", Scalar::Int),
        json("tokenUsage.byModel", "usage_by_model"),
        col("tokenUsage.estimatedCost", "estimated_cost", Scalar::Float),
        col("tokenUsage.costSource", "cost_source", Scalar::Text),
        col("error.message", "error_message", Scalar::Text),
        col("error.code", "error_code", Scalar::Text),
        json("error.details", "error_details"),
        col("retryCount", "retry_count", Scalar::Int),
        col("maxRetries", "max_retries", Scalar::Int),
        json("agentSnapshot", "agent_snapshot"),
        col("startedAt", "started_at", Scalar::Date),
        col("completedAt", "completed_at", Scalar::Date),
        col("createdBy", "created_by", Scalar::Int),
        col("agentVersion", "agent_version", Scalar::Int),
        json("toolVersions", "tool_versions"),
        relation("experiment", "experiment_id", &super::experiments::FIELDS),
        col("variant", "variant", Scalar::Text),
        col("depth", "depth", Scalar::Int),
        col("chain", "chain_id", Scalar::Int),
        json_value(
            "aggregateUsage.inputTokens",
            "aggregate_usage",
            &["inputTokens"],
            Scalar::Int,
        ),
        json_value(
            "aggregateUsage.outputTokens",
            "aggregate_usage",
            &["outputTokens"],
            Scalar::Int,
        ),
        json_value(
            "aggregateUsage.totalTokens",
            "aggregate_usage",
            &["totalTokens"],
            Scalar::Int,
        ),
        json_value(
            "aggregateUsage.estimatedCost",
            "aggregate_usage",
            &["estimatedCost"],
            Scalar::Float,
        ),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The executions collection (read-only through the API).
pub struct Executions;

/// Token usage and cost of a run.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Prompt tokens neither read from nor written to the provider's prompt cache.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Prompt tokens read from the cache (Anthropic `cache_read_input_tokens`, OpenAI
    /// `prompt_tokens_details.cached_tokens`).
    pub cache_read_tokens: i64,
    /// Prompt tokens written to the cache (Anthropic `cache_creation_input_tokens`).
    pub cache_write_tokens: i64,
    /// Every token: input, output, cache reads and writes.
    pub total_tokens: i64,
    /// Cost in USD.
    pub estimated_cost: Option<f64>,
    /// Where the cost comes from (`provider` or `price_table`).
    pub cost_source: Option<String>,
    /// The same figures per model that answered (a fallback makes several), keyed by
    /// model id: `{calls, inputTokens, outputTokens, cacheReadTokens, cacheWriteTokens,
    /// totalTokens, estimatedCost, costSource}`.
    #[schema(value_type = Object)]
    pub by_model: Value,
}

/// Tokens and cost of a run and all its descendants (children, their children …).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AggregateUsageView {
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
    /// Cost in USD (the sum of the known costs).
    pub estimated_cost: Option<f64>,
}

/// The version of one custom tool a run loaded.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolVersionStamp {
    /// The tool's name.
    pub tool_name: String,
    /// Its version (`custom-tool-versions`).
    pub version: i32,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExecutionError {
    /// What happened.
    pub message: String,
    /// A stable code: `max_steps`, `timeout`, `cancelled`, `provider_error`, …
    pub code: Option<String>,
    /// Provider details, if any.
    pub details: Option<Value>,
}

/// An execution as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResponse {
    /// Id.
    pub id: i32,
    /// The agent (null once deleted, and for a chain's execution): id at depth 0, document at
    /// depth ≥ 1.
    #[schema(schema_with = relation_field::<AgentResponse>)]
    pub agent: Option<Relation<AgentResponse>>,
    /// The agent's slug at the time of the run (kept after deletion); for a chain's
    /// execution, the chain's chainId.
    pub agent_id: String,
    /// The agent's department.
    #[schema(schema_with = relation_field::<DepartmentResponse>)]
    pub department: Option<Relation<DepartmentResponse>>,
    /// The project the run worked on.
    #[schema(schema_with = relation_field::<ProjectResponse>)]
    pub project: Option<Relation<ProjectResponse>>,
    /// Episode id, if any.
    pub episode: Option<String>,
    /// Conversation id.
    pub conversation_id: String,
    /// The execution that started this one, if any.
    pub parent_execution: Option<i32>,
    /// The prompt.
    pub prompt: String,
    /// Metadata passed at start.
    pub params: Value,
    /// `pending`, `running`, `awaiting_approval`, `paused`, `completed`, `failed`,
    /// `cancelled` or `timeout`.
    pub status: String,
    /// Why a `paused` run is paused (`budget`); null otherwise.
    pub paused_reason: Option<String>,
    /// An admin let this run go on over its budgets (`POST …/resume {allowOverBudget: true}`).
    pub allow_over_budget: bool,
    /// The last checkpoint: `{step, messages, elapsedMs}`, the provider-neutral conversation
    /// (user, assistant with `toolCalls`, `tool_result` turns) and the model calls made. A
    /// resumed run, or a new one given `previousExecution`, continues from it.
    #[schema(value_type = Option<Object>)]
    pub run_state: Option<Value>,
    /// Structured output, if any.
    pub output: Option<Value>,
    /// Final text.
    pub output_text: Option<String>,
    /// Duration in milliseconds.
    pub execution_time: Option<i64>,
    /// Tokens and cost.
    pub token_usage: TokenUsage,
    /// Why it failed, if it did.
    pub error: Option<ExecutionError>,
    /// Provider retries made.
    pub retry_count: i32,
    /// Retries allowed.
    pub max_retries: i32,
    /// The agent configuration actually used.
    pub agent_snapshot: Value,
    /// When a worker started it.
    pub started_at: Option<String>,
    /// When it ended.
    pub completed_at: Option<String>,
    /// The user who started it.
    pub created_by: Option<i32>,
    /// The agent version the run used (`agent-versions`), stamped when queued.
    pub agent_version: Option<i32>,
    /// The versions of the custom tools the run loaded.
    pub tool_versions: Vec<ToolVersionStamp>,
    /// The experiment that chose its configuration, if any (its id).
    pub experiment: Option<i32>,
    /// The experiment's variant it got.
    pub variant: Option<String>,
    /// Nesting level: 0 for a top-level run, its parent's + 1 for a child.
    pub depth: i32,
    /// The chain this execution runs (its children are the steps); null for agent runs.
    pub chain: Option<i32>,
    /// Tokens and cost of this run and all its descendants, once it has ended (its own are
    /// in `tokenUsage`).
    pub aggregate_usage: Option<AggregateUsageView>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl ExecutionResponse {
    /// The view of a row with its relations as given.
    pub fn new(
        m: &agent_executions::Model,
        agent: Option<Relation<AgentResponse>>,
        department: Option<Relation<DepartmentResponse>>,
        project: Option<Relation<ProjectResponse>>,
    ) -> Self {
        Self {
            id: m.id,
            agent,
            agent_id: m.agent_slug.clone(),
            department,
            project,
            episode: m.episode_id.clone(),
            conversation_id: m.conversation_id.clone(),
            parent_execution: m.parent_execution_id,
            prompt: m.prompt.clone(),
            params: m.params.clone(),
            status: m.status.clone(),
            paused_reason: m.paused_reason.clone(),
            allow_over_budget: m.allow_over_budget,
            run_state: m.run_state.clone(),
            output: m.output.clone(),
            output_text: m.output_text.clone(),
            execution_time: m.execution_time_ms,
            token_usage: TokenUsage {
                input_tokens: m.input_tokens,
                output_tokens: m.output_tokens,
                cache_read_tokens: m.cache_read_tokens,
                cache_write_tokens: m.cache_write_tokens,
                total_tokens: m.total_tokens,
                estimated_cost: m.estimated_cost,
                cost_source: m.cost_source.clone(),
                by_model: m
                    .usage_by_model
                    .clone()
                    .unwrap_or_else(|| Value::Object(Default::default())),
            },
            error: m.error_message.as_ref().map(|message| ExecutionError {
                message: message.clone(),
                code: m.error_code.clone(),
                details: m.error_details.clone(),
            }),
            retry_count: m.retry_count,
            max_retries: m.max_retries,
            agent_snapshot: m.agent_snapshot.clone(),
            started_at: m.started_at.as_ref().map(iso),
            completed_at: m.completed_at.as_ref().map(iso),
            created_by: m.created_by,
            agent_version: m.agent_version,
            tool_versions: m
                .tool_versions
                .as_ref()
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
            experiment: m.experiment_id,
            variant: m.variant.clone(),
            depth: m.depth,
            chain: m.chain_id,
            aggregate_usage: AggregateUsage::from_stored(m.aggregate_usage.as_ref()).map(|u| {
                AggregateUsageView {
                    input_tokens: u.input_tokens,
                    output_tokens: u.output_tokens,
                    total_tokens: u.total_tokens,
                    estimated_cost: u.estimated_cost,
                }
            }),
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

/// Renders executions, populating agent (and, one level deeper, its department),
/// department and project when `depth` ≥ 1.
pub async fn render(
    db: &DatabaseConnection,
    rows: &[agent_executions::Model],
    depth: u8,
) -> AppResult<Vec<ExecutionResponse>> {
    let (agents, departments, projects) = if depth >= 1 {
        (
            populate::<Agents>(db, rows.iter().filter_map(|r| r.agent_id), depth - 1).await?,
            populate::<Departments>(db, rows.iter().filter_map(|r| r.department_id), 0).await?,
            populate::<Projects>(db, rows.iter().filter_map(|r| r.project_id), 0).await?,
        )
    } else {
        (HashMap::new(), HashMap::new(), HashMap::new())
    };
    // An execution's checkpoint is its `run_state` with the steps stored since on top.
    let mut states = crate::db::executions::current_states(db, rows).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let mut doc = ExecutionResponse::new(
                r,
                r.agent_id
                    .map(|id| Relation::of(id, agents.get(&id).cloned())),
                r.department_id
                    .map(|id| Relation::of(id, departments.get(&id).cloned())),
                r.project_id
                    .map(|id| Relation::of(id, projects.get(&id).cloned())),
            );
            if let Some(state) = states.remove(&r.id) {
                doc.run_state = Some(state);
            }
            doc
        })
        .collect())
}

impl Collection for Executions {
    const SLUG: &'static str = "agent-executions";
    const SINGULAR: &'static str = "Agent Execution";
    const PLURAL: &'static str = "Agent Executions";
    const ACCESS: &'static str =
        "Read: any user. Executions are created by runs, never written directly.";
    const WRITABLE: bool = false;
    type Entity = agent_executions::Entity;
    type View = ExecutionResponse;

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
        render(db, &rows, depth).await
    }
}
