//! Experiments beyond their collection routes: `GET /api/experiments/{id}/results`,
//! `POST /api/experiments/{id}/promote {variant}` and `POST /api/experiments/{id}/stop`;
//! and feedback on executions, `POST /api/agent-executions/{id}/feedback {rating, comment?}`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiBody, ApiUser, parse_id};
use super::views::DocResponse;
use crate::collections::experiments::{self as coll, Experiments};
use crate::collections::{Collection, agents::Agents};
use crate::db;
use crate::domain::experiments::FeedbackInput;
use crate::domain::iso;
use crate::error::AppError;
use crate::query::ListParams;
use crate::state::AppState;

/// Mounts the routes (before the collections' `/{id}` routes).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/experiments/{id}/results")
            .route(web::get().to(results))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/experiments/{id}/promote")
            .route(web::post().to(promote))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/experiments/{id}/stop")
            .route(web::post().to(stop))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/agent-executions/{id}/feedback")
            .route(web::post().to(feedback))
            .default_service(web::to(method_not_allowed)),
    );
}

async fn results(state: web::Data<AppState>, auth: ApiUser, id: web::Path<String>) -> ApiResult {
    auth.require()?;
    let id = parse_id(&id)?;
    let experiment = db::experiments::find_by_id(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(coll::results(&state.db, &experiment).await?))
}

/// The answer to Promote: the agent's new version and the stopped experiment.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PromoteResponse {
    agent: crate::collections::agents::AgentResponse,
    experiment: coll::ExperimentResponse,
    message: String,
}

async fn promote(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    let user = auth.require_editor()?;
    let id = parse_id(&id)?;
    let depth = ListParams::parse(req.query_string())?.depth;
    let variant = match &body.0["variant"] {
        serde_json::Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
        serde_json::Value::Null => {
            return Err(AppError::field("variant", "This field is required.").into());
        }
        _ => return Err(AppError::field("variant", "Must be a variant's name.").into()),
    };
    let experiment = db::experiments::find_by_id(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(ApiError::not_found)?;
    let (agent, experiment) = coll::promote(&state.db, user, &experiment, &variant).await?;
    let agent = Agents::render(&state.db, vec![agent], depth)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    let experiment = Experiments::render(&state.db, vec![experiment], depth)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(PromoteResponse {
        agent,
        experiment,
        message: format!("Variant {variant} promoted: the agent has a new version."),
    }))
}

async fn stop(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    auth.require_editor()?;
    let id = parse_id(&id)?;
    let depth = ListParams::parse(req.query_string())?.depth;
    let row = db::experiments::set_status(&state.db, id, "stopped").await?;
    let doc = Experiments::render(&state.db, vec![row], depth)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc,
        message: "Experiment stopped.".into(),
    }))
}

/// A stored rating.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedbackResponse {
    /// The execution.
    pub execution: i32,
    /// The user who rated it.
    pub user: i32,
    /// 1 or -1.
    pub rating: i16,
    /// Why.
    pub comment: String,
    /// First rated (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
}

impl From<crate::entities::execution_feedback::Model> for FeedbackResponse {
    fn from(m: crate::entities::execution_feedback::Model) -> Self {
        Self {
            execution: m.execution_id,
            user: m.user_id,
            rating: m.rating,
            comment: m.comment,
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

/// Any signed-in user rates an execution; their last rating counts.
async fn feedback(
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    let user = auth.require()?;
    let id = parse_id(&id)?;
    let input = FeedbackInput::from_json(&body.0)?;
    db::executions::find_by_id(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(ApiError::not_found)?;
    let row = db::experiments::upsert_feedback(&state.db, id, user.id, input)
        .await
        .map_err(AppError::from)?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc: FeedbackResponse::from(row),
        message: "Feedback recorded.".into(),
    }))
}
