//! Changes made from a list: delete one row, bulk delete, and the inline isActive toggle.
//! htmx requests get the list (or the toggle) again with toasts; plain ones a redirect.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::{Resource, capitalized};
use crate::auth::current_user::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::web::admin::form::FormValues;
use crate::web::admin::list::ListQuery;
use crate::web::admin::{Ctx, parse_id};
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, Tone, fragment_with_toasts, see_other};
use crate::web::released::resume_released;

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
    Ok(fragment_with_toasts(&R::list_fragment(&page), toasts)?)
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
    "transport",
];

/// POST /{id}/delete: from the list (htmx: the list again, with a toast) or from the row's page.
pub(super) async fn delete<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let id = parse_id(&path)?;
    match R::delete(&state.db, &ctx.user, id).await {
        Ok(row) => {
            resume_released::<R::Collection>(&state, &ctx.user, &row, None).await;
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
pub(super) async fn bulk_delete<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let form = FormValues::parse(&body);
    let ids = selected_ids::<R>(&state, &form).await?;
    let toasts = delete_many::<R>(&state, &ctx.user, &ids).await;
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

async fn delete_many<R: Resource>(state: &AppState, user: &CurrentUser, ids: &[i32]) -> Vec<Toast> {
    if ids.is_empty() {
        return vec![Toast::new(
            Tone::Warning,
            "Nothing selected",
            format!("Select the {} to delete first.", R::PLURAL),
        )];
    }
    let (mut deleted, mut refused) = (0, Vec::new());
    for id in ids {
        match R::delete(&state.db, user, *id).await {
            Ok(row) => {
                resume_released::<R::Collection>(state, user, &row, None).await;
                deleted += 1;
            }
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
pub(super) async fn set_active<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let id = parse_id(&path)?;
    let active = FormValues::parse(&body).checked("active");
    let before = R::find(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    let row = R::set_active(&state.db, id, active).await?;
    resume_released::<R::Collection>(&state, &ctx.user, &before, Some(&row)).await;
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
    Ok(fragment_with_toasts(&toggle, &[toast])?)
}
