//! `/api/users` and `POST /api/users/{id}/api-key`. Admins manage every user; other users
//! may read and change themselves (not their role), and manage their own API key.

use actix_web::{HttpResponse, web};
use sea_orm::{DatabaseConnection, TransactionTrait};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::collection::{Collection, Row};
use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiUser, parse_id};
use crate::auth::current_user::CurrentUser;
use crate::auth::{password, tokens};
use crate::db;
use crate::domain::users::{Role, UserInput, to_doc};
use crate::domain::{fields::merge, iso};
use crate::entities::users;
use crate::error::{AppError, AppResult};
use crate::query::{FieldMap, collections};
use crate::state::AppState;

/// The users collection.
pub struct Users;

/// A user as the API returns it: never the password hash, never the API key.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserResponse {
    /// Id.
    pub id: i32,
    /// Login email (lower-case).
    pub email: String,
    /// Display name.
    pub name: String,
    /// `admin`, `editor` or `viewer`.
    pub role: String,
    /// Whether the user's API key is accepted.
    #[serde(rename = "enableAPIKey")]
    pub enable_api_key: bool,
    /// Whether an API key is set (the key itself is shown once, when generated).
    #[serde(rename = "hasAPIKey")]
    pub has_api_key: bool,
    /// Disabled users cannot log in.
    pub disabled: bool,
    /// Always `users` (Payload's auth collection).
    pub collection: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// How the current request authenticated (`local-jwt`, `api-key`), on `login` and `me`.
    #[serde(rename = "_strategy", skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
}

impl From<&users::Model> for UserResponse {
    fn from(m: &users::Model) -> Self {
        Self {
            id: m.id,
            email: m.email.clone(),
            name: m.name.clone(),
            role: m.role.clone(),
            enable_api_key: m.enable_api_key,
            has_api_key: m.api_key_hash.is_some(),
            disabled: m.disabled,
            collection: "users".into(),
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
            strategy: None,
        }
    }
}

impl UserResponse {
    /// The view with the request's strategy (`login`, `me`).
    pub fn with_strategy(m: &users::Model, strategy: &str) -> Self {
        Self {
            strategy: Some(strategy.to_owned()),
            ..Self::from(m)
        }
    }
}

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

fn is_self_or_admin(user: &CurrentUser, id: i32) -> bool {
    user.is_admin() || user.id == id
}

/// The `disabled` flag of a patch, if it has one.
fn disabled_of(patch: &Value) -> AppResult<Option<bool>> {
    match patch.get("disabled") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(AppError::field("disabled", "Must be true or false.")),
    }
}

/// Refuses a change that would leave no enabled admin.
async fn keep_an_admin(
    db: &DatabaseConnection,
    row: &users::Model,
    stays_admin: bool,
    field: &str,
) -> AppResult<()> {
    let is_active_admin = row.role == Role::Admin.as_str() && !row.disabled;
    if is_active_admin && !stays_admin && db::users::count_active_admins(db).await? <= 1 {
        return Err(AppError::field(
            field,
            "The last enabled admin cannot be demoted, disabled or deleted.",
        ));
    }
    Ok(())
}

impl Collection for Users {
    const SLUG: &'static str = "users";
    const SINGULAR: &'static str = "User";
    const PLURAL: &'static str = "Users";
    const ACCESS: &'static str =
        "Admins: every user. Others: read and update themselves (not their role).";
    type Entity = users::Entity;
    type View = UserResponse;

    fn fields() -> &'static FieldMap {
        &collections::USERS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    fn can_read(user: &CurrentUser) -> bool {
        user.is_admin()
    }

    fn after_write(state: &AppState, id: i32) {
        state.api.credentials.forget_user(id);
    }

    fn can_read_doc(user: &CurrentUser, id: i32) -> bool {
        is_self_or_admin(user, id)
    }

    fn can_write(user: &CurrentUser) -> bool {
        user.is_admin()
    }

    fn can_write_doc(user: &CurrentUser, id: i32) -> bool {
        is_self_or_admin(user, id)
    }

    async fn find(db: &DatabaseConnection, id: i32) -> AppResult<Option<Row<Self>>> {
        Ok(db::users::find_by_id(db, id).await?)
    }

    async fn render(
        _db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        _depth: u8,
    ) -> AppResult<Vec<Self::View>> {
        Ok(rows.iter().map(UserResponse::from).collect())
    }

    async fn create(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        let input = UserInput::from_json(body, true)?;
        let hash = password::hash(SecretString::from(
            input.password.clone().unwrap_or_default(),
        ))
        .await?;
        let txn = db.begin().await?;
        let mut row =
            db::users::create_with_password(&txn, &input.email, &input.name, input.role, hash)
                .await?;
        if input.enable_api_key || input.api_key.is_some() {
            let key_hash = input.api_key.as_deref().map(tokens::hash);
            row = db::users::set_api_key(&txn, row.id, key_hash, input.enable_api_key).await?;
        }
        txn.commit().await?;
        Ok(row)
    }

    async fn update(
        db: &DatabaseConnection,
        user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let input = UserInput::from_json(&merge(to_doc(&row), patch), false)?;
        let disabled = disabled_of(patch)?;
        let role_changes = input.role.as_str() != row.role;
        let disabled_changes = disabled.is_some_and(|d| d != row.disabled);
        if !user.is_admin() && (role_changes || disabled_changes) {
            return Err(AppError::Forbidden);
        }
        let stays_admin = input.role == Role::Admin && !disabled.unwrap_or(row.disabled);
        keep_an_admin(
            db,
            &row,
            stays_admin,
            if role_changes { "role" } else { "disabled" },
        )
        .await?;
        let password_hash = match &input.password {
            Some(p) => Some(password::hash(SecretString::from(p.clone())).await?),
            None => None,
        };
        let txn = db.begin().await?;
        let mut out =
            db::users::update_profile(&txn, row.id, &input.email, &input.name, input.role).await?;
        if let Some(hash) = password_hash {
            out = db::users::set_password_hash(&txn, row.id, hash).await?;
        }
        if patch.get("enableAPIKey").is_some() || patch.get("apiKey").is_some() {
            let key_hash = input
                .api_key
                .as_deref()
                .map(tokens::hash)
                .or(row.api_key_hash.clone());
            out = db::users::set_api_key(&txn, row.id, key_hash, input.enable_api_key).await?;
        }
        if let Some(d) = disabled.filter(|_| disabled_changes) {
            out = db::users::set_disabled(&txn, row.id, d).await?;
        }
        txn.commit().await?;
        Ok(out)
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        keep_an_admin(db, &row, false, "role")
            .await
            .map_err(|_| AppError::Conflict("The last enabled admin cannot be deleted.".into()))?;
        db::users::delete(db, row.id).await
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::now;

    #[test]
    fn the_view_matches_the_domain_document_and_hides_hashes() {
        let m = users::Model {
            id: 1,
            email: "a@b.io".into(),
            password_hash: "$argon2id$secret".into(),
            role: "admin".into(),
            name: "A".into(),
            enable_api_key: true,
            api_key_hash: Some("deadbeef".into()),
            disabled: false,
            created_at: now(),
            updated_at: now(),
        };
        let json = serde_json::to_value(UserResponse::from(&m)).unwrap_or_default();
        assert_eq!(json, to_doc(&m));
        let text = json.to_string();
        assert!(!text.contains("argon2") && !text.contains("deadbeef"));
    }
}
