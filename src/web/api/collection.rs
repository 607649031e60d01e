//! Payload's REST operations, written once for every collection: find, count, findByID,
//! create, update and delete by id, and bulk update / delete by `where`. Each collection is
//! defined once in [`crate::collections`] (its labels, access rules, field map, rendering and
//! writes); the handlers here are the glue.

use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::{DatabaseConnection, EntityTrait};

use crate::collections::{Collection, Row};
use serde::Serialize;
use serde_json::Value;

use super::errors::{ApiError, ApiResult};
use super::extract::{ApiBody, ApiUser, parse_id};
use super::views::{BulkError, BulkResponse, CountResponse, DocResponse, ListResponse};
use crate::auth::current_user::CurrentUser;
use crate::db::{self, listing::PageRequest};
use crate::error::AppError;
use crate::query::{ListParams, MAX_LIMIT};
use crate::state::AppState;
use crate::web::released::resume_released;

/// Registers a collection's routes in the `/api` scope (`/count` before `/{id}`).
pub(crate) fn routes<C: Collection>(cfg: &mut web::ServiceConfig) {
    let base = format!("/{}", C::SLUG);
    let mut list = web::resource(base.clone()).route(web::get().to(list::<C>));
    let mut one = web::resource(format!("{base}/{{id}}")).route(web::get().to(find_by_id::<C>));
    if C::WRITABLE {
        list = list
            .route(web::post().to(create::<C>))
            .route(web::patch().to(update_many::<C>))
            .route(web::delete().to(delete_many::<C>));
        one = one
            .route(web::patch().to(update_by_id::<C>))
            .route(web::delete().to(delete_by_id::<C>));
    }
    cfg.service(
        web::resource(format!("{base}/count"))
            .route(web::get().to(count::<C>))
            .default_service(web::to(super::errors::method_not_allowed)),
    )
    .service(list.default_service(web::to(super::errors::method_not_allowed)))
    .service(one.default_service(web::to(super::errors::method_not_allowed)));
}

fn can_read<C: Collection>(auth: &ApiUser) -> Result<&CurrentUser, ApiError> {
    let user = auth.require()?;
    if C::can_read(user) {
        Ok(user)
    } else {
        Err(ApiError::forbidden())
    }
}

fn can_write<C: Collection>(auth: &ApiUser) -> Result<&CurrentUser, ApiError> {
    let user = auth.require()?;
    if C::can_write(user) {
        Ok(user)
    } else {
        Err(ApiError::forbidden())
    }
}

/// Patches must be objects (`merge` would silently ignore anything else).
fn require_object(body: &Value) -> Result<(), ApiError> {
    if body.is_object() {
        Ok(())
    } else {
        Err(ApiError::bad_request("The body must be a JSON object."))
    }
}

/// The `depth` of a single-document request.
fn depth_of(req: &HttpRequest) -> Result<u8, ApiError> {
    Ok(ListParams::parse(req.query_string())?.depth)
}

async fn render_one<C: Collection>(
    db: &DatabaseConnection,
    row: Row<C>,
    depth: u8,
) -> ApiResult<C::View> {
    C::render(db, vec![row], depth)
        .await?
        .pop()
        .ok_or_else(|| ApiError::App(anyhow::anyhow!("rendering returned no document").into()))
}

/// `GET /api/{slug}`: Payload's find.
async fn list<C: Collection>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
) -> ApiResult {
    can_read::<C>(&auth)?;
    let params = ListParams::parse(req.query_string())?;
    let backend = state.db.get_database_backend();
    let order = params.order(C::fields(), backend);
    let request = PageRequest {
        filter: params.filter(C::fields(), backend)?,
        order: &order,
        limit: params.limit,
        page: params.page,
        count: params.pagination,
    };
    let page = C::find_page(&state.db, request, params.depth).await?;
    Ok(HttpResponse::Ok().json(ListResponse::new(
        page.items,
        page.total,
        page.limit,
        page.page,
        params.pagination,
    )))
}

/// `GET /api/{slug}/count`.
async fn count<C: Collection>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
) -> ApiResult {
    can_read::<C>(&auth)?;
    let params = ListParams::parse(req.query_string())?;
    let filter = params.filter(C::fields(), state.db.get_database_backend())?;
    let total = db::listing::count(&state.db, C::Entity::find(), filter).await?;
    Ok(HttpResponse::Ok().json(CountResponse { total_docs: total }))
}

/// `GET /api/{slug}/{id}`: the bare document.
async fn find_by_id<C: Collection>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    let user = auth.require()?;
    let id = parse_id(&id)?;
    if !C::can_read_doc(user, id) {
        return Err(ApiError::forbidden());
    }
    let depth = depth_of(&req)?;
    let row = C::find(&state.db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(render_one::<C>(&state.db, row, depth).await?))
}

/// `POST /api/{slug}` → 201 `{doc, message}`.
async fn create<C: Collection>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    body: ApiBody,
) -> ApiResult {
    let user = can_write::<C>(&auth)?;
    let depth = depth_of(&req)?;
    C::admit(&state.settings, None, &body.0)?;
    let row = C::create(&state.db, user, &body.0).await?;
    let doc = render_one::<C>(&state.db, row, depth).await?;
    Ok(HttpResponse::Created().json(DocResponse {
        doc,
        message: format!("{} successfully created.", C::SINGULAR),
    }))
}

/// `PATCH /api/{slug}/{id}` → `{doc, message}`.
async fn update_by_id<C: Collection>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    let user = auth.require()?;
    let id = parse_id(&id)?;
    if !C::can_write_doc(user, id) {
        return Err(ApiError::forbidden());
    }
    let depth = depth_of(&req)?;
    require_object(&body.0)?;
    let row = C::find(&state.db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    C::admit(&state.settings, Some(&row), &body.0)?;
    let before = row.clone();
    let row = C::update(&state.db, user, row, &body.0).await?;
    C::after_write(&state.api.credentials, id);
    resume_released::<C>(&state, user, &before, Some(&row)).await;
    let doc = render_one::<C>(&state.db, row, depth).await?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc,
        message: "Updated successfully.".into(),
    }))
}

/// `DELETE /api/{slug}/{id}` → `{doc, message}` (the document as it was).
async fn delete_by_id<C: Collection>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    id: web::Path<String>,
) -> ApiResult {
    let user = auth.require()?;
    let id = parse_id(&id)?;
    if !C::can_write_doc(user, id) {
        return Err(ApiError::forbidden());
    }
    let depth = depth_of(&req)?;
    let row = C::find(&state.db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // Render before deleting: relations of a deleted document may go with it.
    let doc = render_one::<C>(&state.db, row.clone(), depth).await?;
    C::delete(&state.db, user, row.clone()).await?;
    C::after_write(&state.api.credentials, id);
    resume_released::<C>(&state, user, &row, None).await;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc,
        message: "Deleted successfully.".into(),
    }))
}

/// The rows a bulk operation applies to: those matching a non-empty `where` (a bulk request
/// without one is refused, so that a forgotten filter never touches the whole collection).
async fn bulk_targets<C: Collection>(
    req: &HttpRequest,
    db: &DatabaseConnection,
    verb: &str,
) -> ApiResult<(Vec<Row<C>>, u8)> {
    let params = ListParams::parse(req.query_string())?;
    if params.where_.as_ref().is_none_or(|w| w.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "Missing 'where' query of documents to {verb}."
        )));
    }
    let backend = db.get_database_backend();
    let filter = params.filter(C::fields(), backend)?;
    let limit = if params.raw.contains_key("limit") {
        params.limit
    } else {
        MAX_LIMIT
    };
    let order = params.order(C::fields(), backend);
    let request = PageRequest {
        filter,
        order: &order,
        limit,
        page: 1,
        count: false,
    };
    let page = db::listing::find_page(db, C::Entity::find(), request).await?;
    Ok((page.items, params.depth))
}

fn bulk_error<C: Collection>(row: &Row<C>, e: AppError) -> BulkError {
    BulkError {
        id: C::id(row),
        message: ApiError::App(e).public_message(),
    }
}

fn bulk_response<T: Serialize>(
    docs: Vec<T>,
    errors: Vec<BulkError>,
    done: &str,
    verb: &str,
    singular: &str,
    plural: &str,
) -> HttpResponse {
    let label = |n: usize| if n == 1 { singular } else { plural };
    if errors.is_empty() {
        let message = format!("{done} {} {} successfully.", docs.len(), label(docs.len()));
        HttpResponse::Ok().json(BulkResponse {
            docs,
            errors,
            message,
        })
    } else {
        let total = docs.len() + errors.len();
        let message = format!(
            "Unable to {verb} {} out of {total} {}.",
            errors.len(),
            label(total)
        );
        HttpResponse::BadRequest().json(BulkResponse {
            docs,
            errors,
            message,
        })
    }
}

/// `PATCH /api/{slug}?where=…`: the same patch applied to every matching document.
async fn update_many<C: Collection>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    body: ApiBody,
) -> ApiResult {
    let user = can_write::<C>(&auth)?;
    require_object(&body.0)?;
    let (rows, depth) = bulk_targets::<C>(&req, &state.db, "update").await?;
    let (mut updated, mut errors) = (Vec::new(), Vec::new());
    for row in rows {
        let id = C::id(&row);
        if !C::can_write_doc(user, id) {
            errors.push(bulk_error::<C>(&row, AppError::Forbidden));
            continue;
        }
        let admitted = C::admit(&state.settings, Some(&row), &body.0);
        let result = match admitted {
            Ok(()) => C::update(&state.db, user, row.clone(), &body.0).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(saved) => {
                C::after_write(&state.api.credentials, id);
                resume_released::<C>(&state, user, &row, Some(&saved)).await;
                let row = saved;
                updated.push(row);
            }
            Err(e) => errors.push(bulk_error::<C>(&row, e)),
        }
    }
    let docs = C::render(&state.db, updated, depth).await?;
    Ok(bulk_response(
        docs,
        errors,
        "Updated",
        "update",
        C::SINGULAR,
        C::PLURAL,
    ))
}

/// `DELETE /api/{slug}?where=…`.
async fn delete_many<C: Collection>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
) -> ApiResult {
    let user = can_write::<C>(&auth)?;
    let (rows, depth) = bulk_targets::<C>(&req, &state.db, "delete").await?;
    let (mut deleted, mut errors) = (Vec::new(), Vec::new());
    for row in rows {
        if !C::can_write_doc(user, C::id(&row)) {
            errors.push(bulk_error::<C>(&row, AppError::Forbidden));
            continue;
        }
        let doc = render_one::<C>(&state.db, row.clone(), depth).await?;
        match C::delete(&state.db, user, row.clone()).await {
            Ok(_) => {
                C::after_write(&state.api.credentials, C::id(&row));
                resume_released::<C>(&state, user, &row, None).await;
                deleted.push(doc);
            }
            Err(e) => errors.push(bulk_error::<C>(&row, e)),
        }
    }
    Ok(bulk_response(
        deleted,
        errors,
        "Deleted",
        "delete",
        C::SINGULAR,
        C::PLURAL,
    ))
}
