//! The signed-in user's own account: profile and password change. Changing the password
//! signs out every other session (the current one continues under a new key).

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use secrecy::SecretString;

use super::form::FormValues;
use super::{Chrome, Ctx};
use crate::auth::password::{self, PasswordError};
use crate::db;
use crate::domain::users::MIN_PASSWORD_LEN;
use crate::error::{AppError, FieldErrors};
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, render_with_status, see_other};

#[derive(Template)]
#[template(path = "admin/account.html")]
struct AccountPage {
    chrome: Chrome,
    errors: FieldErrors,
}

fn page(ctx: &Ctx, errors: FieldErrors, status: StatusCode) -> Result<HttpResponse, PageError> {
    Ok(render_with_status(
        status,
        &AccountPage {
            chrome: ctx.chrome("account"),
            errors,
        },
    )?)
}

/// GET /admin/account
async fn show(ctx: Ctx) -> Result<HttpResponse, PageError> {
    page(&ctx, FieldErrors::new(), StatusCode::OK)
}

/// POST /admin/account/password
async fn change_password(
    ctx: Ctx,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form = FormValues::parse(&body);
    let address = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    if let Err(limited) = state.login_limiter.check(&ctx.user.email, &address).await {
        let errors = FieldErrors::from([("current_password".to_owned(), limited.message())]);
        return page(&ctx, errors, StatusCode::TOO_MANY_REQUESTS);
    }
    let mut errors = check_new_password(&form);
    if !current_password_matches(&state, &ctx, form.get("current_password"), &address).await? {
        errors.insert(
            "current_password".into(),
            "This is not your current password.".into(),
        );
    }
    if !errors.is_empty() {
        return page(&ctx, errors, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let hash = password::hash(SecretString::from(form.get("new_password").to_owned()))
        .await
        .map_err(AppError::Unexpected)?;
    db::users::set_password_hash(&state.db, ctx.user.id, hash).await?;
    ctx.session.sign_in(ctx.user.id);
    ctx.flash(Toast::success("Password changed").with_text("Your other sessions were signed out."));
    tracing::info!(user.id = ctx.user.id, "changed their password");
    Ok(see_other("/admin/account"))
}

/// Checks the current password; a wrong one counts against the sign-in limits.
async fn current_password_matches(
    state: &AppState,
    ctx: &Ctx,
    given: &str,
    address: &str,
) -> Result<bool, AppError> {
    let user = db::users::find_by_id(&state.db, ctx.user.id)
        .await?
        .ok_or(AppError::Unauthorized)?;
    match password::verify(
        SecretString::from(given.to_owned()),
        Some(user.password_hash),
    )
    .await
    {
        Ok(()) => Ok(true),
        Err(PasswordError::Invalid) => {
            state
                .login_limiter
                .record_failure(&ctx.user.email, address)
                .await;
            Ok(false)
        }
        Err(PasswordError::Unexpected(e)) => Err(AppError::Unexpected(e)),
    }
}

fn check_new_password(form: &FormValues) -> FieldErrors {
    let mut errors = FieldErrors::new();
    let new = form.get("new_password");
    if new.chars().count() < MIN_PASSWORD_LEN {
        errors.insert(
            "new_password".into(),
            format!("Must be at least {MIN_PASSWORD_LEN} characters."),
        );
    } else if new != form.get("confirm_password") {
        errors.insert(
            "confirm_password".into(),
            "The passwords do not match.".into(),
        );
    }
    errors
}

/// Mounts the account page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/account").route(web::get().to(show)))
        .service(web::resource("/account/password").route(web::post().to(change_password)));
}
