//! `POST /api/approvals/{id}/approve {comment?, input?}` and `…/{id}/reject {comment?}`
//! (editors and admins), beside the read-only collection's own routes.

use actix_web::{HttpRequest, HttpResponse, web};

use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiBody, ApiUser, parse_id};
use super::views::DocResponse;
use crate::collections::Collection;
use crate::collections::approvals::Approvals;
use crate::domain::approvals::ApprovalStatus;
use crate::domain::fields::Fields;
use crate::error::AppError;
use crate::query::ListParams;
use crate::runner::approvals::DecisionRequest;
use crate::state::AppState;

/// Longest comment kept.
const MAX_COMMENT: usize = 5000;

/// The decision endpoints (registered before the collection's `/{id}`).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/approvals/{id}/approve")
            .route(web::post().to(approve))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/approvals/{id}/reject")
            .route(web::post().to(reject))
            .default_service(web::to(method_not_allowed)),
    );
}

/// `POST /api/approvals/{id}/approve {comment?, input?}`: the call runs (with `input`, which
/// is checked against the tool's schema, when given) and the run resumes.
async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    let user = auth.require_editor()?;
    let id = parse_id(&id)?;
    let mut f = Fields::new(&body.0)?;
    let comment = Some(f.string("comment", false, MAX_COMMENT)).filter(|c| !c.is_empty());
    let input = f.json("input");
    f.finish()?;
    let request = DecisionRequest {
        status: ApprovalStatus::Approved,
        by: Some((user.id, user.email.clone())),
        comment,
        input,
    };
    decide(
        &req,
        &state,
        id,
        request,
        "Approved: the call runs and the run continues.",
    )
    .await
}

/// `POST /api/approvals/{id}/reject {comment?}`: the model gets the tool error
/// "rejected by <email>: <comment>" and the run resumes.
async fn reject(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    let user = auth.require_editor()?;
    let id = parse_id(&id)?;
    let mut f = Fields::new(&body.0)?;
    let comment = Some(f.string("comment", false, MAX_COMMENT)).filter(|c| !c.is_empty());
    f.finish()?;
    let request = DecisionRequest {
        status: ApprovalStatus::Rejected,
        by: Some((user.id, user.email.clone())),
        comment,
        input: None,
    };
    decide(
        &req,
        &state,
        id,
        request,
        "Rejected: the model is told, and the run continues.",
    )
    .await
}

async fn decide(
    req: &HttpRequest,
    state: &AppState,
    id: i32,
    request: DecisionRequest,
    message: &str,
) -> ApiResult {
    let depth = ListParams::parse(req.query_string())?.depth;
    let row = state
        .runner
        .decide_approval(id, request)
        .await
        .map_err(AppError::from)?;
    let doc = Approvals::render(&state.db, vec![row], depth)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc,
        message: message.into(),
    }))
}
