//! Sign-in, sign-out and the first user.

use actix_web::{
    HttpRequest, HttpResponse,
    http::{StatusCode, header},
    web,
};
use askama::Template;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::errors::PageError;
use super::htmx::{Toast, render_with_status, see_other};
use super::{csrf, session::TypedSession};
use crate::auth::password;
use crate::domain::users::{Role, UserInput};
use crate::entities::users;
use crate::error::{AppError, FieldErrors};
use crate::{db, state::AppState};

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Template)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    csrf: String,
    user_name: String,
    email: String,
    errors: FieldErrors,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    next: String,
    csrf_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct SetupForm {
    name: String,
    email: String,
    password: String,
    password_confirm: String,
    csrf_token: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginQuery {
    next: String,
    signed_out: Option<String>,
}

/// A url-encoded body as `T`; malformed bodies give the defaults (the form then fails its checks).
pub fn parse_form<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> T {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// Only local admin paths are followed after sign-in (no open redirect).
fn safe_next(next: &str) -> &str {
    let local = next.starts_with("/admin") && !next.starts_with("//") && !next.contains('\\');
    if local { next } else { "/admin" }
}

fn peer(req: &HttpRequest) -> String {
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

fn with_login_cookie(
    req: &HttpRequest,
    secure: bool,
    page: impl FnOnce(String) -> Result<HttpResponse, AppError>,
) -> Result<HttpResponse, PageError> {
    let (token, cookie) = csrf::login_token(req, secure);
    let mut response = page(token)?;
    if let Some(cookie) = cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| AppError::Unexpected(e.into()))?;
    }
    Ok(response)
}

/// GET /admin/login
async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    query: web::Query<LoginQuery>,
) -> Result<HttpResponse, PageError> {
    if db::users::count(&state.db).await? == 0 {
        return Ok(see_other("/admin/setup"));
    }
    if session.user_id().is_some() {
        return Ok(see_other(safe_next(&query.next)));
    }
    let notice = query
        .signed_out
        .as_ref()
        .map(|_| "You have been signed out.".to_owned());
    with_login_cookie(&req, state.settings.server.cookie_secure, |csrf| {
        let page = LoginPage {
            csrf,
            email: String::new(),
            next: query.next.clone(),
            error: None,
            notice,
        };
        render_with_status(StatusCode::OK, &page)
    })
}

/// POST /admin/login
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form: LoginForm = parse_form(&body);
    if !csrf::login_token_valid(&req, &form.csrf_token) {
        return Err(PageError::forbidden(
            "The sign-in form has expired. Reload the page and try again.",
        ));
    }
    let address = peer(&req);
    let refuse = |status: StatusCode, message: String| {
        with_login_cookie(&req, state.settings.server.cookie_secure, |csrf| {
            let page = LoginPage {
                csrf,
                email: form.email.clone(),
                next: form.next.clone(),
                error: Some(message),
                notice: None,
            };
            render_with_status(status, &page)
        })
    };
    if let Err(limited) = state.login_limiter.check(&form.email, &address).await {
        tracing::warn!(client.address = %address, "sign-in refused by the rate limit");
        let mut response = refuse(StatusCode::TOO_MANY_REQUESTS, limited.message())?;
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(limited.retry_after_secs()),
        );
        return Ok(response);
    }
    match authenticate(&state, &form.email, form.password.clone()).await? {
        Ok(user) => {
            state.login_limiter.clear_account(&form.email).await;
            session.sign_in(user.id);
            tracing::info!(user.id = user.id, "signed in to the admin");
            Ok(see_other(safe_next(&form.next)))
        }
        Err(message) => {
            tracing::info!(client.address = %address, "sign-in failed");
            state
                .login_limiter
                .record_failure(&form.email, &address)
                .await;
            refuse(StatusCode::UNAUTHORIZED, message.into())
        }
    }
}

/// Checks the credentials; the inner error is the message for the form.
async fn authenticate(
    state: &AppState,
    email: &str,
    password: String,
) -> Result<Result<users::Model, &'static str>, AppError> {
    let user = db::users::find_by_email(&state.db, email).await?;
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    match password::verify(SecretString::from(password), hash).await {
        Ok(()) => match user {
            Some(user) if !user.disabled => Ok(Ok(user)),
            _ => Ok(Err(
                "This account is disabled. Ask an administrator to enable it.",
            )),
        },
        Err(password::PasswordError::Invalid) => Ok(Err("Invalid email or password.")),
        Err(password::PasswordError::Unexpected(e)) => Err(AppError::Unexpected(e)),
    }
}

/// GET /admin/setup: the first user, only while there is none.
async fn setup_form(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    if db::users::count(&state.db).await? > 0 {
        return Ok(see_other("/admin/login"));
    }
    with_login_cookie(&req, state.settings.server.cookie_secure, |csrf| {
        let page = SetupPage {
            csrf,
            user_name: String::new(),
            email: String::new(),
            errors: FieldErrors::new(),
        };
        render_with_status(StatusCode::OK, &page)
    })
}

/// POST /admin/setup: creates the first admin and signs them in.
async fn setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: TypedSession,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form: SetupForm = parse_form(&body);
    if !csrf::login_token_valid(&req, &form.csrf_token) {
        return Err(PageError::forbidden(
            "The form has expired. Reload the page and try again.",
        ));
    }
    if db::users::count(&state.db).await? > 0 {
        return Ok(see_other("/admin/login"));
    }
    match create_first_admin(&state, &form).await {
        Ok(user) => {
            session.sign_in(user.id);
            session.push_flash(
                Toast::success("Welcome to Aladdin")
                    .with_text("Your administrator account is ready."),
            );
            tracing::info!(
                user.id = user.id,
                "created the first admin from the setup page"
            );
            Ok(see_other("/admin"))
        }
        Err(AppError::Validation(errors)) => {
            with_login_cookie(&req, state.settings.server.cookie_secure, |csrf| {
                let page = SetupPage {
                    csrf,
                    user_name: form.name.clone(),
                    email: form.email.clone(),
                    errors,
                };
                render_with_status(StatusCode::UNPROCESSABLE_ENTITY, &page)
            })
        }
        Err(e) => Err(e.into()),
    }
}

async fn create_first_admin(state: &AppState, form: &SetupForm) -> Result<users::Model, AppError> {
    let doc =
        json!({"email": form.email, "name": form.name, "password": form.password, "role": "admin"});
    let mut errors = match UserInput::from_json(&doc, true) {
        Ok(_) => FieldErrors::new(),
        Err(AppError::Validation(errors)) => errors,
        Err(e) => return Err(e),
    };
    if form.password != form.password_confirm {
        errors
            .entry("password_confirm".into())
            .or_insert_with(|| "The passwords do not match.".into());
    }
    if form.name.trim().is_empty() {
        errors
            .entry("name".into())
            .or_insert_with(|| "This field is required.".into());
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let hash = password::hash(SecretString::from(form.password.clone())).await?;
    db::users::create_with_password(&state.db, &form.email, form.name.trim(), Role::Admin, hash)
        .await
}

/// POST /admin/logout
async fn logout(session: TypedSession) -> HttpResponse {
    session.sign_out();
    see_other("/admin/login?signed_out=1")
}

/// Routes reachable without a session: sign-in and the first user.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/login")
            .route(web::get().to(login_form))
            .route(web::post().to(login)),
    )
    .service(
        web::resource("/setup")
            .route(web::get().to(setup_form))
            .route(web::post().to(setup)),
    );
}

/// Routes for signed-in users (behind the CSRF check).
pub fn configure_signed_in(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/logout").route(web::post().to(logout)));
}
