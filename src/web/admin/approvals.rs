//! The Approvals inbox (`/admin/approvals`): pending calls first, filtered by status, each
//! with Approve (optional comment and edited input) and Reject (optional comment); the
//! navigation's live count (`/admin/approvals/badge`, polled by htmx); the decisions posted
//! from the inbox and from the run page.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Chrome, Ctx, parse_id};
use crate::db;
use crate::domain::approvals::ApprovalStatus;
use crate::domain::iso;
use crate::domain::users::Role;
use crate::error::AppError;
use crate::runner::approvals::{DecideError, DecisionRequest};
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, hx_redirect, render};

/// Approvals per page of the inbox.
const PER_PAGE: u64 = 50;

/// One row of the inbox.
struct Item {
    id: i32,
    execution: i32,
    tool_name: String,
    input: String,
    status: String,
    comment: String,
    decided_at: String,
    expires_at: String,
    created_at: String,
}

#[derive(Template)]
#[template(path = "admin/approvals/list.html")]
struct ApprovalsPage {
    chrome: Chrome,
    status: String,
    statuses: Vec<&'static str>,
    items: Vec<Item>,
    total: u64,
}

#[derive(Template)]
#[template(path = "admin/approvals/_badge.html")]
struct Badge {
    count: u64,
}

#[derive(Deserialize)]
struct Filter {
    #[serde(default)]
    status: Option<String>,
}

/// GET /admin/approvals?status=…: pending first (oldest first), then the rest, newest first.
async fn list(
    ctx: Ctx,
    state: web::Data<AppState>,
    filter: web::Query<Filter>,
) -> Result<HttpResponse, PageError> {
    let status = filter
        .status
        .as_deref()
        .and_then(ApprovalStatus::parse)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    let rows = db::approvals::inbox(&state.db, ApprovalStatus::parse(&status), PER_PAGE).await?;
    let total = rows.len() as u64;
    let items = rows
        .into_iter()
        .map(|a| Item {
            id: a.id,
            execution: a.execution_id,
            tool_name: a.tool_name,
            input: serde_json::to_string_pretty(&a.input).unwrap_or_default(),
            status: a.status,
            comment: a.comment.unwrap_or_default(),
            decided_at: a.decided_at.as_ref().map(iso).unwrap_or_default(),
            expires_at: a.expires_at.as_ref().map(iso).unwrap_or_default(),
            created_at: iso(&a.created_at),
        })
        .collect();
    let page = ApprovalsPage {
        chrome: ctx.chrome("approvals"),
        status,
        statuses: ApprovalStatus::ALL.iter().map(|s| s.as_str()).collect(),
        items,
        total,
    };
    Ok(render(&page)?)
}

/// GET /admin/approvals/badge: the pending count for the navigation (one indexed COUNT).
async fn badge(_ctx: Ctx, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let count = db::approvals::count_pending(&state.db).await?;
    Ok(render(&Badge { count })?)
}

/// The fields of the decision forms.
#[derive(Deserialize)]
struct DecisionForm {
    #[serde(default)]
    comment: String,
    #[serde(default)]
    input: String,
    /// Where to go afterwards: `run` (the run's page) or the inbox.
    #[serde(default)]
    back: String,
}

/// POST /admin/approvals/{id}/approve and /reject (editors).
async fn decide(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let (raw_id, action) = path.into_inner();
    let id = parse_id(&raw_id)?;
    let status = match action.as_str() {
        "approve" => ApprovalStatus::Approved,
        "reject" => ApprovalStatus::Rejected,
        _ => return Err(AppError::not_found().into()),
    };
    let comment = Some(form.comment.trim().to_owned()).filter(|c| !c.is_empty());
    let input = match form.input.trim() {
        "" => Ok(None),
        _ if status == ApprovalStatus::Rejected => Ok(None),
        text => serde_json::from_str::<serde_json::Value>(text)
            .map(Some)
            .map_err(|e| format!("The edited input is not valid JSON: {e}.")),
    };
    let found = db::approvals::find_by_id(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let toast = match input {
        Err(message) => Toast::error("Not decided", message),
        Ok(input) => {
            let request = DecisionRequest {
                status,
                by: Some((ctx.user.id, ctx.user.email.clone())),
                comment,
                input,
            };
            match state.runner.decide_approval(id, request).await {
                Ok(_) if status == ApprovalStatus::Approved => Toast::success("Approved"),
                Ok(_) => Toast::success("Rejected"),
                Err(DecideError::InvalidInput(problems)) => Toast::error(
                    "Not decided: the edited input does not match the tool's schema",
                    problems
                        .iter()
                        .map(|(path, problem)| format!("{path}: {problem}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                Err(e @ DecideError::AlreadyDecided(_)) => {
                    Toast::error("Not decided", e.to_string())
                }
                Err(e) => return Err(AppError::from(e).into()),
            }
        }
    };
    let back = if form.back == "run" {
        format!("/admin/executions/{}/watch", found.execution_id)
    } else {
        "/admin/approvals".to_owned()
    };
    if ctx.hx.fragment && form.back == "run" {
        // The run page updates itself from its event stream.
        let status = if toast.tone == crate::web::htmx::Tone::Success {
            actix_web::http::StatusCode::OK
        } else {
            actix_web::http::StatusCode::CONFLICT
        };
        return Ok(crate::web::htmx::toast_only(status, &[toast])?);
    }
    ctx.flash(toast);
    Ok(hx_redirect(ctx.hx, &back))
}

/// Mounts the inbox, the badge and the decisions.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/approvals").route(web::get().to(list)))
        .service(web::resource("/approvals/badge").route(web::get().to(badge)))
        .service(web::resource("/approvals/{id}/{action}").route(web::post().to(decide)));
}
