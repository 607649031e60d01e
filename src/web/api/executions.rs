//! `/api/agent-executions`: read (find, count, findByID) and
//! `POST /api/agent-executions/{id}/cancel`.
//!
//! The runner's two endpoints join this module when the runner is merged:
//! `POST /api/agents/{agentId}/execute` (`execute_agent`: start a run, 202 with the execution
//! and its event-stream URL, or 200 with the finished one when `wait=true`) and
//! `GET /api/agent-executions/{id}/events` (`stream_events`: SSE with the seq as event id,
//! resumable with `Last-Event-ID`). Both register in [`routes`] next to `cancel`, and render
//! executions with [`render`].

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::{RefOr, schema::Schema};

use super::agents::{self, AgentResponse};
use super::collection::{Collection, Row};
use super::departments::{self, DepartmentResponse};
use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiUser, parse_id};
use super::projects::{self, ProjectResponse};
use super::views::{DocResponse, Relation, relation_schema};
use crate::db;
use crate::domain::iso;
use crate::entities::agent_executions;
use crate::error::{AppError, AppResult};
use crate::query::{FieldMap, ListParams, collections};
use crate::state::AppState;

/// The executions collection (read-only through the API).
pub struct Executions;

/// Token usage and cost of a run.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// Input tokens reported by the provider.
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// Their sum.
    pub total_tokens: i64,
    /// Cost in USD.
    pub estimated_cost: Option<f64>,
    /// Where the cost comes from (`provider` or `price_table`).
    pub cost_source: Option<String>,
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

fn agent_schema() -> RefOr<Schema> {
    RefOr::T(Schema::OneOf(relation_schema::<AgentResponse>()))
}

fn department_schema() -> RefOr<Schema> {
    RefOr::T(Schema::OneOf(relation_schema::<DepartmentResponse>()))
}

fn project_schema() -> RefOr<Schema> {
    RefOr::T(Schema::OneOf(relation_schema::<ProjectResponse>()))
}

/// An execution as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionResponse {
    /// Id.
    pub id: i32,
    /// The agent (null once deleted): id at depth 0, document at depth ≥ 1.
    #[schema(schema_with = agent_schema)]
    pub agent: Option<Relation<AgentResponse>>,
    /// The agent's slug at the time of the run (kept after deletion).
    pub agent_id: String,
    /// The agent's department.
    #[schema(schema_with = department_schema)]
    pub department: Option<Relation<DepartmentResponse>>,
    /// The project the run worked on.
    #[schema(schema_with = project_schema)]
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
    /// `pending`, `running`, `completed`, `failed`, `cancelled` or `timeout`.
    pub status: String,
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
            output: m.output.clone(),
            output_text: m.output_text.clone(),
            execution_time: m.execution_time_ms,
            token_usage: TokenUsage {
                input_tokens: m.input_tokens,
                output_tokens: m.output_tokens,
                total_tokens: m.total_tokens,
                estimated_cost: m.estimated_cost,
                cost_source: m.cost_source.clone(),
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
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

/// Renders executions, populating agent (and, one level deeper, its department),
/// department and project when `depth` ≥ 1.
pub(crate) async fn render(
    db: &DatabaseConnection,
    rows: &[agent_executions::Model],
    depth: u8,
) -> AppResult<Vec<ExecutionResponse>> {
    let (agents, departments, projects) = if depth >= 1 {
        let agent_rows = db::agents::find_by_ids(
            db,
            &rows.iter().filter_map(|r| r.agent_id).collect::<Vec<_>>(),
        )
        .await?;
        let agents: HashMap<i32, AgentResponse> = agents::render(db, agent_rows, depth - 1)
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect();
        (
            agents,
            departments::populate(db, rows.iter().filter_map(|r| r.department_id)).await?,
            projects::populate(db, rows.iter().filter_map(|r| r.project_id)).await?,
        )
    } else {
        (HashMap::new(), HashMap::new(), HashMap::new())
    };
    Ok(rows
        .iter()
        .map(|r| {
            ExecutionResponse::new(
                r,
                r.agent_id
                    .map(|id| Relation::of(id, agents.get(&id).cloned())),
                r.department_id
                    .map(|id| Relation::of(id, departments.get(&id).cloned())),
                r.project_id
                    .map(|id| Relation::of(id, projects.get(&id).cloned())),
            )
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
        &collections::EXECUTIONS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    async fn find(db: &DatabaseConnection, id: i32) -> AppResult<Option<Row<Self>>> {
        Ok(db::executions::find_by_id(db, id).await?)
    }

    async fn render(
        db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        depth: u8,
    ) -> AppResult<Vec<Self::View>> {
        render(db, &rows, depth).await
    }
}

/// The execution endpoints beyond the collection's own (registered before `/{id}`).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/agent-executions/{id}/cancel")
            .route(web::post().to(cancel_execution))
            .default_service(web::to(method_not_allowed)),
    );
}

/// `POST /api/agent-executions/{id}/cancel` (editors): a queued run is cancelled at once; a
/// running one is aborted (here, or by the instance running it at its next heartbeat).
/// 409 when it has already ended.
async fn cancel_execution(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    auth.require_editor()?;
    let id = parse_id(&id)?;
    let depth = ListParams::parse(req.query_string())?.depth;
    let row = state.runner.cancel(id).await.map_err(AppError::from)?;
    let message = if row.status == "cancelled" {
        "Execution cancelled."
    } else {
        "Cancellation requested: the run stops at its next step."
    };
    let doc = render(&state.db, std::slice::from_ref(&row), depth)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc,
        message: message.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::executions::to_doc;
    use crate::domain::now;
    use serde_json::json;

    #[test]
    fn the_view_matches_the_domain_document() {
        let m = agent_executions::Model {
            id: 5,
            agent_id: Some(7),
            agent_slug: "story-head-001".into(),
            department_id: Some(3),
            project_id: None,
            episode_id: None,
            conversation_id: "c1".into(),
            parent_execution_id: None,
            prompt: "Write".into(),
            params: json!({}),
            status: "failed".into(),
            output: None,
            output_text: Some("partial".into()),
            execution_time_ms: Some(12),
            input_tokens: 10,
            output_tokens: 5,
            total_tokens: 15,
            estimated_cost: Some(0.001),
            cost_source: Some("price_table".into()),
            error_message: Some("boom".into()),
            error_code: Some("provider_error".into()),
            error_details: None,
            retry_count: 1,
            max_retries: 3,
            agent_snapshot: json!({"model": "m"}),
            started_at: Some(now()),
            completed_at: Some(now()),
            created_by: Some(1),
            cancel_requested: false,
            lease_owner: None,
            lease_expires_at: None,
            created_at: now(),
            updated_at: now(),
        };
        let view = ExecutionResponse::new(&m, Some(Relation::Id(7)), Some(Relation::Id(3)), None);
        assert_eq!(serde_json::to_value(view).ok(), Some(to_doc(&m)));
    }
}
