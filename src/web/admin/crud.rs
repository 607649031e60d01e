//! The handlers every managed collection shares — list, new, create, show/edit, update,
//! duplicate, delete, bulk delete, and the inline isActive toggle — written once over
//! [`Resource`]. Each collection's module says how its rows become forms, pages and queries.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use sea_orm::DatabaseConnection;

use super::form::{FormErrors, FormValues};
use super::list::ListQuery;
use super::{Chrome, Ctx, parse_id};
use crate::domain::users::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, ToastsOob, Tone, page_or_fragment, render_with_status, see_other};

/// A form being shown: its values, errors and target.
pub struct FormState {
    /// Where the form posts.
    pub action: String,
    /// Field values (stored, defaults, or as submitted).
    pub values: FormValues,
    /// Field errors of the last submission.
    pub errors: FormErrors,
    /// The row being edited (id and label); None for a new row.
    pub editing: Option<(i32, String)>,
    /// Label of the row this one duplicates.
    pub copy_of: Option<String>,
}

impl FormState {
    /// A form posting to `action` with these values and no errors.
    pub fn blank(action: &str, values: FormValues) -> Self {
        Self::new(action, values)
    }

    fn new(base: &str, values: FormValues) -> Self {
        Self {
            action: base.to_owned(),
            values,
            errors: FormErrors::default(),
            editing: None,
            copy_of: None,
        }
    }

    fn edit(base: &str, id: i32, label: String, values: FormValues) -> Self {
        Self {
            action: format!("{base}/{id}"),
            editing: Some((id, label)),
            ..Self::new(base, values)
        }
    }

    /// The id of the row being edited.
    pub fn id(&self) -> Option<i32> {
        self.editing.as_ref().map(|(id, _)| *id)
    }

    /// The field's value.
    pub fn value(&self, name: &str) -> &str {
        self.values.get(name)
    }

    /// The field's error.
    pub fn error(&self, name: &str) -> Option<&str> {
        self.errors.get(name)
    }
}

/// One managed collection.
pub trait Resource: Sized + 'static {
    /// A stored row.
    type Row;
    /// The list page (with a `list` block for htmx swaps).
    type ListPage: Template;
    /// The form page.
    type FormPage: Template;

    /// URL of the list, e.g. `/admin/agents`.
    const BASE: &'static str;
    /// Singular noun for messages, e.g. `agent`.
    const NOUN: &'static str;
    /// Plural noun for messages.
    const PLURAL: &'static str;
    /// Navigation key.
    const NAV: &'static str;
    /// Role needed to change rows (reading needs none).
    const WRITE_ROLE: Role = Role::Editor;

    /// The row's id.
    fn id(row: &Self::Row) -> i32;
    /// A name for messages.
    fn label(row: &Self::Row) -> String;
    /// Loads a row.
    async fn find(db: &DatabaseConnection, id: i32) -> AppResult<Option<Self::Row>>;
    /// The form values of a stored row.
    async fn values(db: &DatabaseConnection, row: &Self::Row) -> AppResult<FormValues>;
    /// The values of a new row's form.
    fn defaults() -> FormValues;
    /// Adjusts copied values so that the copy can be saved (unique fields).
    fn duplicate(values: &mut FormValues);
    /// Validates and creates.
    async fn create(db: &DatabaseConnection, values: &FormValues) -> AppResult<Self::Row>;
    /// Validates and updates.
    async fn update(db: &DatabaseConnection, id: i32, values: &FormValues) -> AppResult<Self::Row>;
    /// Deletes (Conflict explains why not).
    async fn delete(db: &DatabaseConnection, id: i32) -> AppResult<Self::Row>;
    /// Sets isActive, for collections that have it.
    async fn set_active(_db: &DatabaseConnection, _id: i32, _active: bool) -> AppResult<Self::Row> {
        Err(AppError::NotFound("Not Found".into()))
    }
    /// Whether a row is active (collections without isActive: always).
    fn is_active(_row: &Self::Row) -> bool {
        true
    }
    /// Builds the list page.
    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<Self::ListPage>;
    /// The `list` block of the list page (what htmx swaps).
    fn list_fragment(page: &Self::ListPage) -> impl Template + '_;
    /// Ids of every row matching the list's filter.
    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>>;
    /// Builds the form page (`row` is the stored row when editing).
    async fn form_page(
        state: &AppState,
        chrome: Chrome,
        form: FormState,
        row: Option<&Self::Row>,
    ) -> AppResult<Self::FormPage>;
}

fn capitalized(noun: &str) -> String {
    let mut chars = noun.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

async fn find_or_404<R: Resource>(state: &AppState, raw_id: &str) -> AppResult<R::Row> {
    let id = parse_id(raw_id)?;
    R::find(&state.db, id)
        .await?
        .ok_or_else(|| AppError::NotFound("Not Found".into()))
}

async fn form_response<R: Resource>(
    state: &AppState,
    ctx: &Ctx,
    form: FormState,
    row: Option<&R::Row>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let page = R::form_page(state, ctx.chrome(R::NAV), form, row).await?;
    Ok(render_with_status(status, &page)?)
}

/// GET: the list, or its `list` block for htmx.
async fn list<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let page = R::list_page(&state, ctx.chrome(R::NAV), &ListQuery::from_request(&req)).await?;
    Ok(page_or_fragment(ctx.hx, &page, &R::list_fragment(&page))?)
}

/// GET /new
async fn new_form<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    form_response::<R>(
        &state,
        &ctx,
        FormState::new(R::BASE, R::defaults()),
        None,
        StatusCode::OK,
    )
    .await
}

/// POST: creates, or shows the form again with every error (422).
async fn create<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let values = FormValues::parse(&body);
    match R::create(&state.db, &values).await {
        Ok(row) => {
            ctx.flash(
                Toast::success(format!("{} created", capitalized(R::NOUN)))
                    .with_text(R::label(&row)),
            );
            Ok(see_other(&format!("{}/{}", R::BASE, R::id(&row))))
        }
        Err(AppError::Validation(errors)) => {
            let form = FormState {
                errors: FormErrors::new(errors),
                ..FormState::new(R::BASE, values)
            };
            form_response::<R>(&state, &ctx, form, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

/// GET /{id}: the row's form (read-only below the write role).
async fn show<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let row = find_or_404::<R>(&state, &path).await?;
    let values = R::values(&state.db, &row).await?;
    let form = FormState::edit(R::BASE, R::id(&row), R::label(&row), values);
    form_response::<R>(&state, &ctx, form, Some(&row), StatusCode::OK).await
}

/// POST /{id}: saves, or shows the form again with every error (422).
async fn update<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let row = find_or_404::<R>(&state, &path).await?;
    let (id, values) = (R::id(&row), FormValues::parse(&body));
    match R::update(&state.db, id, &values).await {
        Ok(saved) => {
            ctx.flash(Toast::success("Changes saved").with_text(R::label(&saved)));
            Ok(see_other(&format!("{}/{id}", R::BASE)))
        }
        Err(AppError::Validation(errors)) => {
            let form = FormState {
                errors: FormErrors::new(errors),
                ..FormState::edit(R::BASE, id, R::label(&row), values)
            };
            form_response::<R>(
                &state,
                &ctx,
                form,
                Some(&row),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// GET /{id}/duplicate: a new-row form filled with a copy.
async fn duplicate<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let row = find_or_404::<R>(&state, &path).await?;
    let mut values = R::values(&state.db, &row).await?;
    R::duplicate(&mut values);
    let form = FormState {
        copy_of: Some(R::label(&row)),
        ..FormState::new(R::BASE, values)
    };
    form_response::<R>(&state, &ctx, form, None, StatusCode::OK).await
}

/// The list as the form's hidden fields described it, with toasts, after a change (htmx).
async fn list_after_change<R: Resource>(
    state: &AppState,
    ctx: &Ctx,
    form: &FormValues,
    toasts: &[Toast],
) -> Result<HttpResponse, PageError> {
    let query = ListQuery::from_pairs(
        ["q", "sort", "page", "per_page"]
            .iter()
            .chain(FILTER_KEYS)
            .map(|k| ((*k).to_owned(), form.get(k).to_owned()))
            .collect(),
    );
    let page = R::list_page(state, ctx.chrome(R::NAV), &query).await?;
    let body = R::list_fragment(&page)
        .render()
        .map_err(|e| AppError::Unexpected(e.into()))?
        + &ToastsOob { toasts }
            .render()
            .map_err(|e| AppError::Unexpected(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// Every filter name used by the lists (hidden fields of their bulk forms).
const FILTER_KEYS: &[&str] = &[
    "department",
    "active",
    "head",
    "global",
    "status",
    "provider",
    "role",
    "disabled",
    "agent",
    "project",
    "collection",
];

/// POST /{id}/delete: from the list (htmx: the list again, with a toast) or from the row's page.
async fn delete<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let id = parse_id(&path)?;
    match R::delete(&state.db, id).await {
        Ok(row) => {
            let toast = Toast::success(format!("{} deleted", capitalized(R::NOUN)))
                .with_text(R::label(&row));
            if ctx.hx.fragment {
                return list_after_change::<R>(&state, &ctx, &FormValues::parse(&body), &[toast])
                    .await;
            }
            ctx.flash(toast);
            Ok(see_other(R::BASE))
        }
        Err(AppError::Conflict(message)) if !ctx.hx.fragment => {
            ctx.flash(Toast::error(
                format!("This {} cannot be deleted", R::NOUN),
                message,
            ));
            Ok(see_other(&format!("{}/{id}", R::BASE)))
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /bulk-delete: the selected rows, or (only when chosen explicitly, and only if the
/// set did not change since it was shown) every row matching the filter.
async fn bulk_delete<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let form = FormValues::parse(&body);
    let ids = selected_ids::<R>(&state, &form).await?;
    let toasts = delete_many::<R>(&state, &ids).await;
    if ctx.hx.fragment {
        return list_after_change::<R>(&state, &ctx, &form, &toasts).await;
    }
    toasts.into_iter().for_each(|t| ctx.flash(t));
    Ok(see_other(R::BASE))
}

async fn selected_ids<R: Resource>(state: &AppState, form: &FormValues) -> AppResult<Vec<i32>> {
    if form.get("scope") != "matching" {
        return Ok(form
            .all("ids")
            .iter()
            .filter_map(|id| id.parse().ok())
            .collect());
    }
    let query = ListQuery::from_pairs(
        FILTER_KEYS
            .iter()
            .chain(&["q"])
            .map(|k| ((*k).to_owned(), form.get(k).to_owned()))
            .collect(),
    );
    let ids = R::matching_ids(&state.db, &query).await?;
    if form.get("expected_total") != ids.len().to_string() {
        return Err(AppError::Conflict(format!(
            "The {} matching this filter changed since the page was shown. Nothing was deleted; review the list and try again.",
            R::PLURAL
        )));
    }
    Ok(ids)
}

async fn delete_many<R: Resource>(state: &AppState, ids: &[i32]) -> Vec<Toast> {
    if ids.is_empty() {
        return vec![Toast::new(
            Tone::Warning,
            "Nothing selected",
            format!("Select the {} to delete first.", R::PLURAL),
        )];
    }
    let (mut deleted, mut refused) = (0, Vec::new());
    for id in ids {
        match R::delete(&state.db, *id).await {
            Ok(_) => deleted += 1,
            Err(AppError::NotFound(_)) => {}
            Err(AppError::Conflict(message)) => refused.push(message),
            Err(e) => refused.push(crate::web::errors::ErrorView::of(&e).message),
        }
    }
    let mut toasts = Vec::new();
    if deleted > 0 {
        let noun = if deleted == 1 { R::NOUN } else { R::PLURAL };
        toasts.push(Toast::success(format!("Deleted {deleted} {noun}")));
    }
    if let Some(first) = refused.first() {
        let title = format!("{} could not be deleted", refused.len());
        toasts.push(Toast::error(title, first.clone()));
    }
    toasts
}

#[derive(Template)]
#[template(path = "partials/active_toggle.html")]
struct ActiveToggle {
    url: String,
    active: bool,
    enabled: bool,
    label: String,
}

/// POST /{id}/active (htmx): flips isActive and answers with the toggle and a toast.
async fn set_active<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let id = parse_id(&path)?;
    let active = FormValues::parse(&body).checked("active");
    let row = R::set_active(&state.db, id, active).await?;
    if !ctx.hx.fragment {
        return Ok(see_other(R::BASE));
    }
    let (label, active) = (R::label(&row), R::is_active(&row));
    let toast =
        Toast::success(if active { "Activated" } else { "Deactivated" }).with_text(label.clone());
    let toggle = ActiveToggle {
        url: format!("{}/{id}/active", R::BASE),
        active,
        enabled: true,
        label,
    };
    let body = toggle
        .render()
        .map_err(|e| AppError::Unexpected(e.into()))?
        + &ToastsOob { toasts: &[toast] }
            .render()
            .map_err(|e| AppError::Unexpected(e.into()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// Mounts the routes of `R` (under the admin scope).
pub fn configure<R: Resource>(cfg: &mut web::ServiceConfig) {
    let base = R::BASE.trim_start_matches("/admin");
    cfg.service(
        web::resource(base.to_owned())
            .route(web::get().to(list::<R>))
            .route(web::post().to(create::<R>)),
    )
    .service(web::resource(format!("{base}/new")).route(web::get().to(new_form::<R>)))
    .service(web::resource(format!("{base}/bulk-delete")).route(web::post().to(bulk_delete::<R>)))
    .service(
        web::resource(format!("{base}/{{id}}"))
            .route(web::get().to(show::<R>))
            .route(web::post().to(update::<R>)),
    )
    .service(web::resource(format!("{base}/{{id}}/duplicate")).route(web::get().to(duplicate::<R>)))
    .service(web::resource(format!("{base}/{{id}}/delete")).route(web::post().to(delete::<R>)))
    .service(web::resource(format!("{base}/{{id}}/active")).route(web::post().to(set_active::<R>)));
}
