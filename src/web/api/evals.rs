//! Evaluations and learning beyond their collection routes:
//! `POST /api/eval-datasets/{id}/run {agentId, version?, variant?, overrides?}`,
//! `POST /api/eval-runs/{id}/cancel`, `GET /api/eval-runs/compare?a=&b=`,
//! `POST /api/agents/{id}/proposals`, and `POST /api/agent-proposals/{id}/accept`,
//! `/reject`, `/experiment` and `/evaluate {datasetId}`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::{Value, json};

use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiBody, ApiUser, parse_id};
use super::views::DocResponse;
use crate::collections::agent_proposals::{self as proposals, AgentProposals};
use crate::collections::eval_runs::{self as runs, EvalRuns};
use crate::collections::experiments::Experiments;
use crate::collections::{Collection, agents::Agents};
use crate::db;
use crate::error::AppError;
use crate::query::ListParams;
use crate::state::AppState;

macro_rules! post_route {
    ($cfg:expr, $path:expr, $handler:expr) => {
        $cfg.service(
            web::resource($path)
                .route(web::post().to($handler))
                .default_service(web::to(method_not_allowed)),
        )
    };
}

/// Mounts the routes (before the collections' `/{id}` routes).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/eval-runs/compare")
            .route(web::get().to(compare))
            .default_service(web::to(method_not_allowed)),
    );
    post_route!(cfg, "/eval-datasets/{id}/run", run);
    post_route!(cfg, "/eval-runs/{id}/cancel", cancel);
    post_route!(cfg, "/agents/{id}/proposals", propose);
    post_route!(cfg, "/agent-proposals/{id}/accept", accept);
    post_route!(cfg, "/agent-proposals/{id}/reject", reject);
    post_route!(cfg, "/agent-proposals/{id}/experiment", experiment);
    post_route!(cfg, "/agent-proposals/{id}/evaluate", evaluate);
}

fn depth(req: &HttpRequest) -> Result<u8, ApiError> {
    Ok(ListParams::parse(req.query_string())?.depth)
}

async fn one<C: Collection>(
    state: &AppState,
    row: crate::collections::Row<C>,
    depth: u8,
) -> Result<C::View, ApiError> {
    C::render(&state.db, vec![row], depth)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)
}

/// Editors and admins: starts an eval run (201 with the `pending` run; its cases run in the
/// background).
async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    let user = auth.require_editor()?;
    let id = parse_id(&id)?;
    let depth = depth(&req)?;
    let row = runs::create_run(&state.db, user, id, &body.0).await?;
    state.runner.start_eval(row.id);
    Ok(HttpResponse::Created().json(DocResponse {
        doc: one::<EvalRuns>(&state, row, depth).await?,
        message: "Eval run started.".into(),
    }))
}

/// Editors and admins: no further case starts; cases in flight finish and count.
async fn cancel(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    auth.require_editor()?;
    let id = parse_id(&id)?;
    let depth = depth(&req)?;
    let existing = db::evals::find_run(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(ApiError::not_found)?;
    if !db::evals::transition_run(&state.db, id, &["pending", "running"], "cancelled", None)
        .await
        .map_err(AppError::from)?
    {
        return Err(AppError::Conflict(format!(
            "This eval run has already ended ({}).",
            existing.status
        ))
        .into());
    }
    let row = db::evals::find_run(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc: one::<EvalRuns>(&state, row, depth).await?,
        message: "Eval run cancelled.".into(),
    }))
}

#[derive(serde::Deserialize)]
struct CompareQuery {
    a: Option<String>,
    b: Option<String>,
}

/// Any user: two runs case by case.
async fn compare(
    state: web::Data<AppState>,
    auth: ApiUser,
    query: web::Query<CompareQuery>,
) -> ApiResult {
    auth.require()?;
    let mut found = Vec::new();
    for (name, raw) in [("a", &query.a), ("b", &query.b)] {
        let id = raw
            .as_deref()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .filter(|id| *id > 0)
            .ok_or_else(|| AppError::field(name, "Must be the id of an eval run."))?;
        let row = db::evals::find_run(&state.db, id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::field(name, format!("No eval run {id}.")))?;
        found.push(row);
    }
    let b = found.pop().ok_or_else(ApiError::not_found)?;
    let a = found.pop().ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(runs::compare(&state.db, a, b).await?))
}

/// Editors and admins: runs the optimizer and answers 201 with the proposal.
async fn propose(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    let user = auth.require_editor()?;
    let id = parse_id(&id)?;
    let depth = depth(&req)?;
    let agent = db::agents::find_by_id(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(ApiError::not_found)?;
    let row = state.runner.propose(&agent, Some(user.id)).await?;
    Ok(HttpResponse::Created().json(DocResponse {
        doc: one::<AgentProposals>(&state, row, depth).await?,
        message: "Proposal written.".into(),
    }))
}

/// The answer to Accept: the agent's new version and the proposal.
#[derive(Serialize)]
struct AcceptResponse {
    agent: crate::collections::agents::AgentResponse,
    proposal: proposals::AgentProposalResponse,
    message: String,
}

async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    let user = auth.require_editor()?;
    let id = parse_id(&id)?;
    let depth = depth(&req)?;
    let (agent, proposal) = proposals::accept(&state.db, user, id).await?;
    Ok(HttpResponse::Ok().json(AcceptResponse {
        agent: one::<Agents>(&state, agent, depth).await?,
        proposal: one::<AgentProposals>(&state, proposal, depth).await?,
        message: "Proposal accepted: the agent has a new version.".into(),
    }))
}

async fn reject(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    auth.require_editor()?;
    let id = parse_id(&id)?;
    let depth = depth(&req)?;
    let row = proposals::reject(&state.db, id).await?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc: one::<AgentProposals>(&state, row, depth).await?,
        message: "Proposal rejected.".into(),
    }))
}

async fn experiment(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    auth.require_editor()?;
    let id = parse_id(&id)?;
    let depth = depth(&req)?;
    let row = proposals::draft_experiment(&state.db, id).await?;
    Ok(HttpResponse::Created().json(DocResponse {
        doc: one::<Experiments>(&state, row, depth).await?,
        message: "Draft experiment created: current vs proposal.".into(),
    }))
}

/// The answer to Evaluate: the two eval runs started.
#[derive(Serialize)]
struct EvaluateResponse {
    current: runs::EvalRunResponse,
    proposal: runs::EvalRunResponse,
    message: String,
}

/// Starts two eval runs of a dataset: the agent as it is, and with the proposed prompt
/// (variant `proposal-<id>`).
async fn evaluate(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    let user = auth.require_editor()?;
    let id = parse_id(&id)?;
    let depth = depth(&req)?;
    let proposal = db::evals::find_proposal(&state.db, id)
        .await
        .map_err(AppError::from)?
        .ok_or_else(ApiError::not_found)?;
    let (current, proposed) = start_pair(&state, user, &proposal, &body.0["datasetId"]).await?;
    Ok(HttpResponse::Created().json(EvaluateResponse {
        current: one::<EvalRuns>(&state, current, depth).await?,
        proposal: one::<EvalRuns>(&state, proposed, depth).await?,
        message: "Two eval runs started: current and proposal.".into(),
    }))
}

/// Starts the eval runs of a proposal on dataset `dataset` (current, then proposal).
pub(crate) async fn start_pair(
    state: &AppState,
    user: &crate::auth::current_user::CurrentUser,
    proposal: &crate::entities::agent_proposals::Model,
    dataset: &Value,
) -> Result<
    (
        crate::entities::eval_runs::Model,
        crate::entities::eval_runs::Model,
    ),
    AppError,
> {
    let dataset_id = crate::domain::fields::relation_id(dataset)
        .ok_or_else(|| AppError::field("datasetId", "Must be the id of an eval dataset."))?;
    if db::evals::find_dataset(&state.db, dataset_id)
        .await?
        .is_none()
    {
        return Err(AppError::field("datasetId", "No such eval dataset."));
    }
    let agent = db::agents::find_by_id(&state.db, proposal.agent_id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let base = json!({"agentId": agent.agent_id});
    let current = runs::create_run(&state.db, user, dataset_id, &base).await?;
    let mut with = base;
    with["overrides"] = proposals::overrides(proposal);
    let proposed = runs::create_run(&state.db, user, dataset_id, &with).await?;
    let proposed =
        db::evals::label_run(&state.db, proposed.id, &format!("proposal-{}", proposal.id)).await?;
    state.runner.start_eval(current.id);
    state.runner.start_eval(proposed.id);
    Ok((current, proposed))
}
