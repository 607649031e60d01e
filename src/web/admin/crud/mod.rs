//! The handlers every managed collection shares — list, new, create, show/edit, update,
//! duplicate, delete, bulk delete, and the inline isActive toggle — written once over
//! [`Resource`]. Each collection's module says how its rows become forms, pages and queries.

mod changes;
mod forms;

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use sea_orm::DatabaseConnection;

use super::form::{FormErrors, FormValues, Kind};
use super::list::ListQuery;
use super::{Chrome, Ctx, parse_id};
use crate::auth::current_user::CurrentUser;
use crate::collections::{Collection, Row};
use crate::domain::users::Role;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::render_with_status;

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

/// One managed collection: its pages, over the collection's one definition
/// ([`Collection`]), which loads, renders, validates and writes its rows for the admin exactly
/// as for the API.
pub trait Resource: Sized + 'static {
    /// The collection managed.
    type Collection: Collection;
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
    /// The form's fields: document paths (`a.b` nests) and how their inputs read.
    const FIELDS: &'static [(&'static str, Kind)];
    /// Fields edited as JSON text.
    const JSON_FIELDS: &'static [&'static str] = &[];

    /// The row's id.
    fn id(row: &Row<Self::Collection>) -> i32 {
        <Self::Collection as Collection>::id(row)
    }
    /// A name for messages.
    fn label(row: &Row<Self::Collection>) -> String;
    /// Loads a row.
    async fn find(db: &DatabaseConnection, id: i32) -> AppResult<Option<Row<Self::Collection>>> {
        <Self::Collection as Collection>::find(db, id).await
    }
    /// The form values of a stored row: its document.
    async fn values(db: &DatabaseConnection, row: &Row<Self::Collection>) -> AppResult<FormValues> {
        let doc = <Self::Collection as Collection>::document(db, row.clone()).await?;
        Ok(FormValues::from_doc(&doc, Self::JSON_FIELDS))
    }
    /// The values of a new row's form.
    fn defaults() -> FormValues;
    /// Adjusts copied values so that the copy can be saved (unique fields).
    fn duplicate(values: &mut FormValues);
    /// The document the submitted form stands for (what the API would have been sent).
    fn document(values: &FormValues) -> serde_json::Value {
        values.to_doc(Self::FIELDS)
    }
    /// Validates and creates, as the API's create does.
    async fn create(
        db: &DatabaseConnection,
        user: &CurrentUser,
        values: &FormValues,
    ) -> AppResult<Row<Self::Collection>> {
        <Self::Collection as Collection>::create(db, user, &Self::document(values)).await
    }
    /// Validates and updates, as the API's update does (every field of the form is given).
    async fn update(
        db: &DatabaseConnection,
        user: &CurrentUser,
        row: Row<Self::Collection>,
        values: &FormValues,
    ) -> AppResult<Row<Self::Collection>> {
        <Self::Collection as Collection>::update(db, user, row, &Self::document(values)).await
    }
    /// Deletes (Conflict explains why not; NotFound when it is gone).
    async fn delete(
        db: &DatabaseConnection,
        user: &CurrentUser,
        id: i32,
    ) -> AppResult<Row<Self::Collection>> {
        let row = Self::find(db, id).await?.ok_or_else(AppError::not_found)?;
        <Self::Collection as Collection>::delete(db, user, row).await
    }
    /// Sets isActive, for collections that have it.
    async fn set_active(
        _db: &DatabaseConnection,
        _id: i32,
        _active: bool,
    ) -> AppResult<Row<Self::Collection>> {
        Err(AppError::not_found())
    }
    /// Whether a row is active (collections without isActive: always).
    fn is_active(_row: &Row<Self::Collection>) -> bool {
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
        row: Option<&Row<Self::Collection>>,
    ) -> AppResult<Self::FormPage>;
}

fn capitalized(noun: &str) -> String {
    let mut chars = noun.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

async fn find_or_404<R: Resource>(state: &AppState, raw_id: &str) -> AppResult<Row<R::Collection>> {
    let id = parse_id(raw_id)?;
    R::find(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)
}

/// Refuses what the server's settings forbid (as the API does), before anything is written.
fn admit<R: Resource>(
    state: &AppState,
    row: Option<&Row<R::Collection>>,
    values: &FormValues,
) -> AppResult<()> {
    <R::Collection as Collection>::admit(&state.settings, row, &R::document(values))
}

async fn form_response<R: Resource>(
    state: &AppState,
    ctx: &Ctx,
    form: FormState,
    row: Option<&Row<R::Collection>>,
    status: StatusCode,
) -> Result<HttpResponse, PageError> {
    let page = R::form_page(state, ctx.chrome(R::NAV), form, row).await?;
    Ok(render_with_status(status, &page)?)
}

/// Mounts the routes of `R` (under the admin scope).
pub fn configure<R: Resource>(cfg: &mut web::ServiceConfig) {
    let base = R::BASE.trim_start_matches("/admin");
    cfg.service(
        web::resource(base.to_owned())
            .route(web::get().to(forms::list::<R>))
            .route(web::post().to(forms::create::<R>)),
    )
    .service(web::resource(format!("{base}/new")).route(web::get().to(forms::new_form::<R>)))
    .service(
        web::resource(format!("{base}/bulk-delete"))
            .route(web::post().to(changes::bulk_delete::<R>)),
    )
    .service(
        web::resource(format!("{base}/{{id}}"))
            .route(web::get().to(forms::show::<R>))
            .route(web::post().to(forms::update::<R>)),
    )
    .service(
        web::resource(format!("{base}/{{id}}/duplicate"))
            .route(web::get().to(forms::duplicate::<R>)),
    )
    .service(
        web::resource(format!("{base}/{{id}}/delete")).route(web::post().to(changes::delete::<R>)),
    )
    .service(
        web::resource(format!("{base}/{{id}}/active"))
            .route(web::post().to(changes::set_active::<R>)),
    );
}
