//! `POST /api/users/{id}/api-key`, beside the collection's own routes.

use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiUser, parse_id};
use crate::auth::tokens;
use crate::collections::users::{UserResponse, is_self_or_admin};
use crate::db;
use crate::state::AppState;

/// A newly generated API key, shown once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyResponse {
    /// `New API Key Generated.`
    pub message: String,
    /// The key: send it as `Authorization: users API-Key <key>`. It is stored hashed and
    /// cannot be shown again.
    pub api_key: String,
    /// The user, with `enableAPIKey` now true.
    pub user: UserResponse,
}

/// Routes beyond the collection's own.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users/{id}/api-key")
            .route(web::post().to(generate_api_key))
            .default_service(web::to(method_not_allowed)),
    );
}

/// `POST /api/users/{id}/api-key` (the user or an admin): a new random key, enabled, shown
/// once; the previous key stops working.
async fn generate_api_key(
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    let user = auth.require()?;
    let id = parse_id(&id)?;
    if !is_self_or_admin(user, id) {
        return Err(ApiError::forbidden());
    }
    db::users::find_by_id(&state.db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let key = tokens::generate();
    let row = db::users::set_api_key(&state.db, id, Some(tokens::hash(&key)), true).await?;
    state.api.credentials.forget_user(id);
    Ok(HttpResponse::Ok().json(ApiKeyResponse {
        message: "New API Key Generated.".into(),
        api_key: key,
        user: UserResponse::from(&row),
    }))
}
