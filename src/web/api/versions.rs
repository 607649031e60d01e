//! Restoring versions: `POST /api/agents/{id}/versions/{version}/restore` and
//! `POST /api/custom-tools/{id}/versions/{version}/restore` (editors and admins) write a new
//! version equal to the one named. The versions themselves are the read-only collections
//! `agent-versions` and `custom-tool-versions`.

use actix_web::{HttpRequest, HttpResponse, web};

use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiUser, parse_id};
use super::views::DocResponse;
use crate::collections::agent_versions::restore_agent;
use crate::collections::custom_tool_versions::restore_tool;
use crate::collections::{Collection, agents::Agents, custom_tools::CustomTools};
use crate::query::ListParams;
use crate::state::AppState;

/// Mounts the two restore routes.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/agents/{id}/versions/{version}/restore")
            .route(web::post().to(restore_agent_version))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/custom-tools/{id}/versions/{version}/restore")
            .route(web::post().to(restore_tool_version))
            .default_service(web::to(method_not_allowed)),
    );
}

fn version_of(raw: &str) -> Result<i32, ApiError> {
    parse_id(raw)
}

async fn restore_agent_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let user = auth.require_editor()?;
    let (id, version) = path.into_inner();
    let (id, version) = (parse_id(&id)?, version_of(&version)?);
    let depth = ListParams::parse(req.query_string())?.depth;
    let row = Agents::find(&state.db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let row = restore_agent(&state.db, user, row, version).await?;
    let doc = Agents::render(&state.db, vec![row], depth)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc,
        message: format!("Version {version} restored as a new version."),
    }))
}

async fn restore_tool_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let user = auth.require_editor()?;
    let (id, version) = path.into_inner();
    let (id, version) = (parse_id(&id)?, version_of(&version)?);
    let depth = ListParams::parse(req.query_string())?.depth;
    let row = CustomTools::find(&state.db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let row = restore_tool(&state.db, user, row, version).await?;
    let doc = CustomTools::render(&state.db, vec![row], depth)
        .await?
        .pop()
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc,
        message: format!("Version {version} restored as a new version."),
    }))
}
