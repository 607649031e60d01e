//! Payload's auth endpoints on the `users` collection: `login`, `me`, `logout` and
//! `refresh-token`. Tokens are opaque random strings, stored hashed with an expiry, and sent
//! back in the body and the `payload-token` cookie (HttpOnly, SameSite=Lax).

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, FixedOffset};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::errors::{ApiError, ApiResult, error_response, method_not_allowed};
use super::extract::{ApiBody, ApiUser, PeerIp};
use crate::auth::api_credentials::{COOKIE_NAME, Strategy};
use crate::auth::current_user::CurrentUser;
use crate::auth::{password, tokens};
use crate::collections::users::UserResponse;
use crate::db;
use crate::domain::now;
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;

/// How long a login token lives (Payload's default `tokenExpiration`: two hours).
pub const TOKEN_TTL_SECS: i64 = 7200;

/// `POST /api/users/login`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// `Authentication Passed`
    pub message: String,
    /// The user.
    pub user: UserResponse,
    /// The token: send it as `Authorization: JWT <token>` or `Bearer <token>`.
    pub token: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
}

/// `GET /api/users/me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// The user, or null when the request is anonymous.
    pub user: Option<UserResponse>,
    /// `users` when authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// `local-jwt` or `api-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// The token's expiry, when a token was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The token, when a token was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// `Account`
    pub message: String,
}

/// `POST /api/users/refresh-token`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshResponse {
    /// `Token refresh successful.`
    pub message: String,
    /// The new token. The one presented keeps working until its own expiry, as in Payload:
    /// a client configured with it (the official SDK) goes on using it after a refresh.
    pub refreshed_token: String,
    /// Its expiry, seconds since the epoch.
    pub exp: i64,
    /// The cookie was set too.
    pub set_cookie: bool,
    /// `local-jwt`
    pub strategy: String,
    /// The user.
    pub user: UserResponse,
}

/// A response that is only a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResponse {
    /// What happened.
    pub message: String,
}

/// Login credentials.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginRequest {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// The auth routes (registered before `/users/{id}`).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    for (path, route) in [
        ("/users/login", web::post().to(login)),
        ("/users/me", web::get().to(me)),
        ("/users/logout", web::post().to(logout)),
        ("/users/refresh-token", web::post().to(refresh_token)),
    ] {
        cfg.service(
            web::resource(path)
                .route(route)
                .default_service(web::to(method_not_allowed)),
        );
    }
}

/// The email and password of a login body; each missing one is a validation error.
fn credentials(body: &Value) -> Result<(String, String), ApiError> {
    let text = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let (email, password) = (text("email").trim().to_lowercase(), text("password"));
    let mut errors = FieldErrors::new();
    if email.is_empty() {
        errors.insert("email".into(), "This field is required.".into());
    }
    if password.is_empty() {
        errors.insert("password".into(), "This field is required.".into());
    }
    if errors.is_empty() {
        Ok((email, password))
    } else {
        Err(AppError::Validation(errors).into())
    }
}

/// Stores a new token for the user.
async fn issue_token(
    state: &AppState,
    user_id: i32,
) -> Result<(String, DateTime<FixedOffset>), ApiError> {
    let token = tokens::generate();
    let expires_at = now() + chrono::Duration::seconds(TOKEN_TTL_SECS);
    db::api_tokens::create(&state.db, user_id, tokens::hash(&token), expires_at).await?;
    Ok((token, expires_at))
}

fn token_cookie(state: &AppState, token: &str) -> Cookie<'static> {
    Cookie::build(COOKIE_NAME, token.to_owned())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.server.cookie_secure)
        .max_age(CookieDuration::seconds(TOKEN_TTL_SECS))
        .finish()
}

/// `POST /api/users/login` `{email, password}` → `{message, user, token, exp}` and the cookie.
/// Wrong credentials and disabled users get the same 401; repeated failures a 429.
async fn login(state: web::Data<AppState>, ip: PeerIp, body: ApiBody) -> ApiResult {
    let (email, pass) = credentials(&body.0)?;
    // One limiter for the admin sign-in form and the API: failures count across both.
    let limiter = &state.login_limiter;
    let address = ip.0.to_string();
    if let Err(limited) = limiter.check(&email, &address).await {
        let wait = limited.retry_after_secs();
        let mut response = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            format!("Too many failed login attempts. Try again in {wait} seconds."),
        );
        if let Ok(value) = header::HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return Ok(response);
    }
    let user = db::users::find_by_email(&state.db, &email).await?;
    let verified = password::verify(
        SecretString::from(pass),
        user.as_ref().map(|u| u.password_hash.clone()),
    )
    .await;
    let user = match (verified, user) {
        (Ok(()), Some(user)) if CurrentUser::from_model(&user).is_some() => user,
        (Err(password::PasswordError::Unexpected(e)), _) => {
            return Err(AppError::Unexpected(e).into());
        }
        _ => {
            limiter.record_failure(&email, &address).await;
            return Err(ApiError::Status(
                StatusCode::UNAUTHORIZED,
                "The email or password provided is incorrect.".into(),
            ));
        }
    };
    limiter.clear_account(&email).await;
    let (token, expires_at) = issue_token(&state, user.id).await?;
    Ok(HttpResponse::Ok()
        .cookie(token_cookie(&state, &token))
        .json(LoginResponse {
            message: "Authentication Passed".into(),
            user: UserResponse::with_strategy(&user, Strategy::LocalJwt.as_str()),
            token,
            exp: expires_at.timestamp(),
        }))
}

/// `GET /api/users/me`: the caller, or `{user: null}` when anonymous (always 200).
async fn me(auth: ApiUser) -> ApiResult {
    let response = match auth.authenticated() {
        None => MeResponse {
            user: None,
            collection: None,
            strategy: None,
            exp: None,
            token: None,
            message: "Account".into(),
        },
        Some(a) => MeResponse {
            user: Some(UserResponse::with_strategy(&a.user, a.strategy.as_str())),
            collection: Some("users".into()),
            strategy: Some(a.strategy.as_str().into()),
            exp: a.expires_at.map(|e| e.timestamp()),
            token: a.token.clone(),
            message: "Account".into(),
        },
    };
    Ok(HttpResponse::Ok().json(response))
}

/// `POST /api/users/logout`: revokes the token used (if any) and clears the cookie. Only that
/// session ends: the user's other tokens, API key and admin sessions stay valid.
async fn logout(state: web::Data<AppState>, auth: ApiUser) -> ApiResult {
    let Some(a) = auth.authenticated() else {
        return Err(ApiError::bad_request("No User"));
    };
    if let Some(token) = &a.token {
        let hash = tokens::hash(token);
        // The row first, then this instance's cache: a lookup racing the logout either reads
        // no row or is not cached (see `CredentialCache`).
        db::api_tokens::delete(&state.db, &hash).await?;
        state.api.credentials.forget(&hash);
    }
    let mut removal = token_cookie(&state, "");
    removal.make_removal();
    Ok(HttpResponse::Ok().cookie(removal).json(MessageResponse {
        message: "Logout successful.".into(),
    }))
}

/// `POST /api/users/refresh-token`: a new token with a new expiry, for a caller signed in
/// with a token. The token presented is not revoked (Payload keeps it valid until its own
/// expiry; clients such as the official SDK keep sending it after refreshing).
async fn refresh_token(state: web::Data<AppState>, auth: ApiUser) -> ApiResult {
    let a = auth.authenticated().ok_or_else(ApiError::unauthorized)?;
    if a.token.is_none() {
        return Err(ApiError::forbidden());
    }
    let (token, expires_at) = issue_token(&state, a.user.id).await?;
    Ok(HttpResponse::Ok()
        .cookie(token_cookie(&state, &token))
        .json(RefreshResponse {
            message: "Token refresh successful.".into(),
            refreshed_token: token,
            exp: expires_at.timestamp(),
            set_cookie: true,
            strategy: Strategy::LocalJwt.as_str().into(),
            user: UserResponse::with_strategy(&a.user, Strategy::LocalJwt.as_str()),
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn missing_credentials_name_both_fields() {
        let Err(ApiError::App(AppError::Validation(errors))) = credentials(&json!({"email": " "}))
        else {
            panic!("expected a validation error")
        };
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["email", "password"]);
        assert!(credentials(&json!({"email": "A@B.io", "password": "x"})).is_ok());
        assert!(credentials(&json!([1])).is_err());
    }
}
