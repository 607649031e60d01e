//! `POST /api/agent-executions/{id}/cancel` and `…/{id}/resume`, beside the collection's own
//! routes.

use actix_web::{HttpRequest, HttpResponse, web};

use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiBody, ApiUser, parse_id};
use super::views::DocResponse;
use crate::collections::executions::render;
use crate::domain::fields::Fields;
use crate::error::AppError;
use crate::query::ListParams;
use crate::state::AppState;

/// The execution endpoints beyond the collection's own (registered before `/{id}`).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/agent-executions/{id}/cancel")
            .route(web::post().to(cancel_execution))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/agent-executions/{id}/resume")
            .route(web::post().to(resume_execution))
            .default_service(web::to(method_not_allowed)),
    );
}

/// `POST /api/agent-executions/{id}/resume {allowOverBudget?}` (editors; `allowOverBudget`
/// admins only): an `interrupted`, `timeout` or `paused` run continues from its last
/// checkpoint on the same row (status `pending`, event `resume`). 409 for any other status.
async fn resume_execution(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    let user = auth.require_editor()?;
    let id = parse_id(&id)?;
    let mut f = Fields::new(&body.0)?;
    let over_budget = f.boolean("allowOverBudget", false);
    f.finish()?;
    if over_budget {
        auth.require_admin()?;
    }
    let depth = ListParams::parse(req.query_string())?.depth;
    let row = state
        .runner
        .resume_with(id, Some(user.email.clone()), over_budget)
        .await
        .map_err(AppError::from)?;
    let message = if over_budget {
        "Execution resumed over its budget: it continues from its last checkpoint."
    } else {
        "Execution resumed: it continues from its last checkpoint."
    };
    answer(&state, &row, depth, message).await
}

/// The execution's document and a message.
async fn answer(
    state: &AppState,
    row: &crate::entities::agent_executions::Model,
    depth: u8,
    message: &str,
) -> ApiResult {
    let doc = render(&state.db, std::slice::from_ref(row), depth)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc,
        message: message.into(),
    }))
}

/// `POST /api/agent-executions/{id}/cancel` (editors): a queued or waiting (paused, awaiting
/// approval) run is cancelled at once, its descendants with it; a running one is aborted
/// (here, or by the instance running it, which is signalled).
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
    answer(&state, &row, depth, message).await
}
