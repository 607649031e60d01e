//! The form side of a collection: list, new, create, show/edit, update, duplicate.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};

use super::{FormState, Resource, admit, capitalized, find_or_404, form_response};
use crate::error::AppError;
use crate::state::AppState;
use crate::web::admin::Ctx;
use crate::web::admin::form::{FormErrors, FormValues};
use crate::web::admin::list::ListQuery;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, page_or_fragment, see_other};
use crate::web::released::resume_released;

/// GET: the list, or its `list` block for htmx.
pub(super) async fn list<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let page = R::list_page(&state, ctx.chrome(R::NAV), &ListQuery::from_request(&req)).await?;
    Ok(page_or_fragment(ctx.hx, &page, &R::list_fragment(&page))?)
}

/// GET /new
pub(super) async fn new_form<R: Resource>(
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
pub(super) async fn create<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let values = FormValues::parse(&body);
    let created = match admit::<R>(&state, None, &values) {
        Ok(()) => R::create(&state.db, &ctx.user, &values).await,
        Err(e) => Err(e),
    };
    match created {
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
pub(super) async fn show<R: Resource>(
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
pub(super) async fn update<R: Resource>(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(R::WRITE_ROLE)?;
    let row = find_or_404::<R>(&state, &path).await?;
    let (id, values) = (R::id(&row), FormValues::parse(&body));
    let saved = match admit::<R>(&state, Some(&row), &values) {
        Ok(()) => R::update(&state.db, &ctx.user, row.clone(), &values).await,
        Err(e) => Err(e),
    };
    match saved {
        Ok(saved) => {
            resume_released::<R::Collection>(&state, &ctx.user, &row, Some(&saved)).await;
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
pub(super) async fn duplicate<R: Resource>(
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
