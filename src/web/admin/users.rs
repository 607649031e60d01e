//! Users (administrators only): invite, change role, reset password, generate an API key
//! (shown once, stored hashed), disable and enable. The last enabled administrator can be
//! neither demoted nor disabled.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use sea_orm::EntityTrait;
use secrecy::SecretString;
use serde_json::json;

use super::crud::FormState;
use super::form::{FormErrors, FormValues};
use super::list::{ListQuery, ListSpec, ListView, equals};
use super::{Chrome, Ctx, parse_id};
use crate::auth::{password, tokens};
use crate::collections::users::UserResponse;
use crate::db;
use crate::domain::users::{MIN_PASSWORD_LEN, Role, UserInput};
use crate::entities::{users, users::Model};
use crate::error::{AppError, AppResult, FieldErrors};
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, page_or_fragment, render_with_status, see_other};

const BASE: &str = "/admin/users";
/// The user list: searched by email and name.
static LIST: ListSpec = ListSpec {
    base: BASE,
    map: &crate::collections::users::FIELDS,
    search: &["email", "name"],
    sorts: &[
        ("email", "email"),
        ("name", "name"),
        ("role", "role"),
        ("created", "createdAt"),
    ],
    default_sort: "email",
    missing_last: &[],
};

#[derive(Template)]
#[template(path = "admin/users/list.html", blocks = ["list"])]
struct UsersPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<Model>,
    roles: [Role; 3],
}

#[derive(Template)]
#[template(path = "admin/users/new.html")]
struct NewUserPage {
    chrome: Chrome,
    form: FormState,
    roles: [Role; 3],
}

/// The user's page: profile form and the account actions.
#[derive(Template)]
#[template(path = "admin/users/show.html")]
struct UserPage {
    chrome: Chrome,
    user: Model,
    form: FormState,
    roles: [Role; 3],
    password_error: Option<String>,
    new_api_key: Option<String>,
}

impl UserPage {
    fn is_self(&self) -> bool {
        self.user.id == self.chrome.user.id
    }
}

/// GET /admin/users
async fn list(
    ctx: Ctx,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    let query = ListQuery::from_request(&req);
    // The filter: `q`, `role` (an unknown one is ignored) and `disabled` (yes/no).
    let filter = LIST.filter(
        &query,
        [
            query
                .get("role")
                .and_then(Role::parse)
                .map(|role| equals("role", role.as_str())),
            query.flag("disabled").map(|yes| equals("disabled", yes)),
        ],
    );
    let (page, list) = LIST
        .fetch(&state.db, users::Entity::find(), &query, &filter)
        .await?;
    let view = UsersPage {
        chrome: ctx.chrome("users"),
        list,
        rows: page.items,
        roles: Role::ALL,
    };
    Ok(page_or_fragment(ctx.hx, &view, &view.as_list())?)
}

fn new_page(
    ctx: &Ctx,
    values: FormValues,
    errors: FieldErrors,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let mut form = FormState::blank(BASE, values);
    form.errors = FormErrors::new(errors);
    Ok(render_with_status(
        status,
        &NewUserPage {
            chrome: ctx.chrome("users"),
            form,
            roles: Role::ALL,
        },
    )?)
}

/// GET /admin/users/new
async fn new_form(ctx: Ctx) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    let mut values = FormValues::default();
    values.set("role", Role::Editor.as_str());
    new_page(&ctx, values, FieldErrors::new(), StatusCode::OK)
}

/// POST /admin/users
async fn create(
    ctx: Ctx,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    let values = FormValues::parse(&body);
    let doc = json!({"email": values.get("email"), "name": values.get("name"), "role": values.get("role"), "password": values.get("password")});
    let created = match UserInput::from_json(&doc, true) {
        Ok(input) => create_user(&state, input).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(user) => {
            ctx.flash(
                Toast::success("User created")
                    .with_text(format!("{} can now sign in.", user.email)),
            );
            Ok(see_other(&format!("{BASE}/{}", user.id)))
        }
        Err(AppError::Validation(errors)) => {
            new_page(&ctx, values, errors, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => Err(e.into()),
    }
}

async fn create_user(state: &AppState, input: UserInput) -> AppResult<Model> {
    let hash = password::hash(SecretString::from(input.password.unwrap_or_default())).await?;
    db::users::create_with_password(&state.db, &input.email, &input.name, input.role, hash).await
}

async fn find_user(state: &AppState, raw_id: &str) -> AppResult<Model> {
    db::users::find_by_id(&state.db, parse_id(raw_id)?)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Renders the user's page; `values`/`errors` are the profile form's.
fn user_page(
    ctx: &Ctx,
    user: Model,
    values: Option<FormValues>,
    errors: FieldErrors,
    extra: (Option<String>, Option<String>),
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let values = values.unwrap_or_else(|| {
        FormValues::from_doc(
            &serde_json::to_value(UserResponse::from(&user)).unwrap_or_default(),
            &[],
        )
    });
    let mut form = FormState::blank(&format!("{BASE}/{}", user.id), values);
    form.errors = FormErrors::new(errors);
    let (password_error, new_api_key) = extra;
    let page = UserPage {
        chrome: ctx.chrome("users"),
        user,
        form,
        roles: Role::ALL,
        password_error,
        new_api_key,
    };
    Ok(render_with_status(status, &page)?)
}

/// GET /admin/users/{id}
async fn show(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    let user = find_user(&state, &path).await?;
    user_page(
        &ctx,
        user,
        None,
        FieldErrors::new(),
        (None, None),
        StatusCode::OK,
    )
}

/// POST /admin/users/{id}: email, name and role.
async fn update(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    let user = find_user(&state, &path).await?;
    let values = FormValues::parse(&body);
    let doc = json!({"email": values.get("email"), "name": values.get("name"), "role": values.get("role")});
    let saved = match UserInput::from_json(&doc, false) {
        Ok(input) => {
            db::users::update_profile_keeping_an_admin(
                &state.db,
                user.id,
                &input.email,
                &input.name,
                input.role,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(saved) => {
            ctx.flash(Toast::success("Changes saved").with_text(saved.email.clone()));
            Ok(see_other(&format!("{BASE}/{}", saved.id)))
        }
        Err(AppError::Validation(errors)) => user_page(
            &ctx,
            user,
            Some(values),
            errors,
            (None, None),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => Err(e.into()),
    }
}

/// POST /admin/users/{id}/password: sets a new password and signs the user out everywhere.
async fn reset_password(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    let user = find_user(&state, &path).await?;
    let values = FormValues::parse(&body);
    let new = values.get("password");
    if new.chars().count() < MIN_PASSWORD_LEN {
        let message = format!("Must be at least {MIN_PASSWORD_LEN} characters.");
        return user_page(
            &ctx,
            user,
            None,
            FieldErrors::new(),
            (Some(message), None),
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let hash = password::hash(SecretString::from(new.to_owned()))
        .await
        .map_err(AppError::Unexpected)?;
    db::users::set_password_hash(&state.db, user.id, hash).await?;
    if user.id == ctx.user.id {
        // Revoking every session included this one: continue in a fresh one.
        ctx.session.sign_in(user.id);
    }
    ctx.flash(
        Toast::success("Password reset")
            .with_text(format!("{} was signed out of every session.", user.email)),
    );
    Ok(see_other(&format!("{BASE}/{}", user.id)))
}

/// POST /admin/users/{id}/api-key: a new key, shown once on the page that answers.
async fn generate_api_key(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    let user = find_user(&state, &path).await?;
    let key = tokens::generate();
    let user = db::users::set_api_key(&state.db, user.id, Some(tokens::hash(&key)), true).await?;
    tracing::info!(user.id = user.id, "generated a new API key");
    user_page(
        &ctx,
        user,
        None,
        FieldErrors::new(),
        (None, Some(key)),
        StatusCode::OK,
    )
}

/// POST /admin/users/{id}/api-key/revoke
async fn revoke_api_key(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    let user = find_user(&state, &path).await?;
    db::users::set_api_key(&state.db, user.id, None, false).await?;
    ctx.flash(Toast::success("API key revoked").with_text(user.email));
    Ok(see_other(&format!("{BASE}/{}", user.id)))
}

/// POST /admin/users/{id}/disable and /enable
async fn set_disabled(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Admin)?;
    let (raw_id, action) = path.into_inner();
    let user = find_user(&state, &raw_id).await?;
    let result = match action.as_str() {
        "disable" => db::users::disable(&state.db, user.id).await,
        _ => db::users::set_disabled(&state.db, user.id, false).await,
    };
    match result {
        Ok(user) if user.disabled => ctx.flash(Toast::success("User disabled").with_text(format!(
            "{} was signed out and can no longer sign in.",
            user.email
        ))),
        Ok(user) => ctx.flash(Toast::success("User enabled").with_text(user.email)),
        Err(AppError::Conflict(message)) => {
            ctx.flash(Toast::error("Cannot disable this user", message))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(see_other(&format!("{BASE}/{}", user.id)))
}

/// Mounts the user pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/users")
            .route(web::get().to(list))
            .route(web::post().to(create)),
    )
    .service(web::resource("/users/new").route(web::get().to(new_form)))
    .service(
        web::resource("/users/{id}")
            .route(web::get().to(show))
            .route(web::post().to(update)),
    )
    .service(web::resource("/users/{id}/password").route(web::post().to(reset_password)))
    .service(web::resource("/users/{id}/api-key").route(web::post().to(generate_api_key)))
    .service(web::resource("/users/{id}/api-key/revoke").route(web::post().to(revoke_api_key)))
    .service(
        web::resource("/users/{id}/{action:disable|enable}").route(web::post().to(set_disabled)),
    );
}
