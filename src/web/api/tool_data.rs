//! `/api/tool-data/{collection}`: the documents custom tools write (e.g. `world-rules`),
//! with the same REST conventions as the built-in collections.
//!
//! Tool data is isolated per project, so every request names its project with the
//! `project` query parameter (an id or a slug): `GET /api/tool-data/world-rules?project=1`.
//! A document is its free-form JSON fields plus `id`, `project`, `createdAt` and
//! `updatedAt`; `where` and `sort` reach any field inside it (`where[era][equals]=first`).

use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::DatabaseConnection;
use serde_json::{Map, Value};

use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiBody, ApiUser, parse_id};
use super::views::{BulkError, BulkResponse, CountResponse, DocResponse, ListResponse};
use crate::db::{self, listing::PageRequest};
use crate::domain::{fields::is_slug, iso};
use crate::entities::tool_documents;
use crate::query::{ListParams, MAX_LIMIT, collections::TOOL_DATA};
use crate::state::AppState;

/// Fields every document has, set by the server.
const RESERVED: [&str; 4] = ["id", "project", "createdAt", "updatedAt"];

/// The routes.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tool-data/{collection}/count")
            .route(web::get().to(count))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/tool-data/{collection}")
            .route(web::get().to(list))
            .route(web::post().to(create))
            .route(web::patch().to(update_many))
            .route(web::delete().to(delete_many))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/tool-data/{collection}/{id}")
            .route(web::get().to(find_by_id))
            .route(web::patch().to(update_by_id))
            .route(web::delete().to(delete_by_id))
            .default_service(web::to(method_not_allowed)),
    );
}

/// The project and collection a request addresses.
struct Scope {
    project_id: i32,
    collection: String,
}

async fn scope(
    db: &DatabaseConnection,
    collection: &str,
    params: &ListParams,
) -> Result<Scope, ApiError> {
    if collection.len() > 64 || !is_slug(collection) {
        return Err(ApiError::bad_request(
            "Tool-data collection names are lowercase letters, digits and dashes, starting with a letter.",
        ));
    }
    let Some(project) = params
        .param("project")
        .map(str::trim)
        .filter(|p| !p.is_empty())
    else {
        return Err(ApiError::bad_request(
            "The project query parameter is required: tool data belongs to one project (?project=<id or slug>).",
        ));
    };
    let found = match project.parse::<i32>() {
        Ok(id) if id > 0 => db::projects::find_by_id(db, id).await?,
        _ => db::projects::find_by_slug(db, project).await?,
    };
    let project = found.ok_or_else(|| {
        ApiError::App(crate::error::AppError::NotFound(format!(
            "Project not found: {project}"
        )))
    })?;
    Ok(Scope {
        project_id: project.id,
        collection: collection.to_owned(),
    })
}

/// A stored document as the API returns it.
pub fn to_doc(m: &tool_documents::Model) -> Value {
    let mut doc = match &m.data {
        Value::Object(map) => map.clone(),
        other => Map::from_iter([("value".to_owned(), other.clone())]),
    };
    doc.insert("id".into(), m.id.into());
    doc.insert("project".into(), m.project_id.into());
    doc.insert("createdAt".into(), iso(&m.created_at).into());
    doc.insert("updatedAt".into(), iso(&m.updated_at).into());
    Value::Object(doc)
}

/// The data of a body: a JSON object without the server's fields.
fn data_of(body: &Value) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(ApiError::bad_request("The body must be a JSON object."));
    };
    Ok(map
        .iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect())
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<String>,
) -> ApiResult {
    auth.require()?;
    let params = ListParams::parse(req.query_string())?;
    let scope = scope(&state.db, &path, &params).await?;
    let backend = state.db.get_database_backend();
    let order = params.order(&TOOL_DATA, backend);
    let request = PageRequest {
        filter: params.filter(&TOOL_DATA, backend)?,
        order: &order,
        limit: params.limit,
        page: params.page,
        count: params.pagination,
    };
    let page = db::listing::find_page(
        &state.db,
        db::tool_documents::scoped(scope.project_id, &scope.collection),
        request,
    )
    .await?;
    let docs: Vec<Value> = page.items.iter().map(to_doc).collect();
    Ok(HttpResponse::Ok().json(ListResponse::new(
        docs,
        page.total,
        page.limit,
        page.page,
        params.pagination,
    )))
}

async fn count(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<String>,
) -> ApiResult {
    auth.require()?;
    let params = ListParams::parse(req.query_string())?;
    let scope = scope(&state.db, &path, &params).await?;
    let filter = params.filter(&TOOL_DATA, state.db.get_database_backend())?;
    let total = db::listing::count(
        &state.db,
        db::tool_documents::scoped(scope.project_id, &scope.collection),
        filter,
    )
    .await?;
    Ok(HttpResponse::Ok().json(CountResponse { total_docs: total }))
}

async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    auth.require_editor()?;
    let params = ListParams::parse(req.query_string())?;
    let scope = scope(&state.db, &path, &params).await?;
    let data = data_of(&body.0)?;
    let row = db::tool_documents::create(
        &state.db,
        scope.project_id,
        &scope.collection,
        Value::Object(data),
    )
    .await?;
    Ok(HttpResponse::Created().json(DocResponse {
        doc: to_doc(&row),
        message: "Document successfully created.".into(),
    }))
}

async fn find_row(
    req: &HttpRequest,
    state: &AppState,
    collection: &str,
    id: &str,
) -> Result<tool_documents::Model, ApiError> {
    let params = ListParams::parse(req.query_string())?;
    let scope = scope(&state.db, collection, &params).await?;
    let id = parse_id(id)?;
    db::tool_documents::find_in_project(&state.db, scope.project_id, &scope.collection, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn find_by_id(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<(String, String)>,
) -> ApiResult {
    auth.require()?;
    let row = find_row(&req, &state, &path.0, &path.1).await?;
    Ok(HttpResponse::Ok().json(to_doc(&row)))
}

/// Top-level fields of the patch replace those of the document.
async fn apply_patch(
    db: &DatabaseConnection,
    row: tool_documents::Model,
    patch: &Value,
) -> Result<tool_documents::Model, ApiError> {
    let patch = data_of(patch)?;
    let mut data = match &row.data {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    data.extend(patch);
    Ok(db::tool_documents::replace_data(db, row, Value::Object(data)).await?)
}

async fn update_by_id(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<(String, String)>,
    body: ApiBody,
) -> ApiResult {
    auth.require_editor()?;
    let row = find_row(&req, &state, &path.0, &path.1).await?;
    let row = apply_patch(&state.db, row, &body.0).await?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc: to_doc(&row),
        message: "Updated successfully.".into(),
    }))
}

async fn delete_by_id(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<(String, String)>,
) -> ApiResult {
    auth.require_editor()?;
    let row = find_row(&req, &state, &path.0, &path.1).await?;
    db::tool_documents::delete(&state.db, row.id).await?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc: to_doc(&row),
        message: "Deleted successfully.".into(),
    }))
}

/// The documents a bulk request applies to (a non-empty `where` is required).
async fn bulk_targets(
    req: &HttpRequest,
    state: &AppState,
    collection: &str,
    verb: &str,
) -> Result<Vec<tool_documents::Model>, ApiError> {
    let params = ListParams::parse(req.query_string())?;
    let scope = scope(&state.db, collection, &params).await?;
    if params.where_.as_ref().is_none_or(|w| w.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "Missing 'where' query of documents to {verb}."
        )));
    }
    let backend = state.db.get_database_backend();
    let limit = if params.raw.contains_key("limit") {
        params.limit
    } else {
        MAX_LIMIT
    };
    let order = params.order(&TOOL_DATA, backend);
    let request = PageRequest {
        filter: params.filter(&TOOL_DATA, backend)?,
        order: &order,
        limit,
        page: 1,
        count: false,
    };
    Ok(db::listing::find_page(
        &state.db,
        db::tool_documents::scoped(scope.project_id, &scope.collection),
        request,
    )
    .await?
    .items)
}

fn bulk_result(docs: Vec<Value>, errors: Vec<BulkError>, done: &str, verb: &str) -> HttpResponse {
    let label = |n: usize| if n == 1 { "Document" } else { "Documents" };
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

async fn update_many(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    auth.require_editor()?;
    data_of(&body.0)?;
    let rows = bulk_targets(&req, &state, &path, "update").await?;
    let (mut docs, mut errors) = (Vec::new(), Vec::new());
    for row in rows {
        let id = row.id;
        match apply_patch(&state.db, row, &body.0).await {
            Ok(row) => docs.push(to_doc(&row)),
            Err(e) => errors.push(BulkError {
                id,
                message: e.public_message(),
            }),
        }
    }
    Ok(bulk_result(docs, errors, "Updated", "update"))
}

async fn delete_many(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<String>,
) -> ApiResult {
    auth.require_editor()?;
    let rows = bulk_targets(&req, &state, &path, "delete").await?;
    let (mut docs, mut errors) = (Vec::new(), Vec::new());
    for row in rows {
        match db::tool_documents::delete(&state.db, row.id).await {
            Ok(()) => docs.push(to_doc(&row)),
            Err(e) => errors.push(BulkError {
                id: row.id,
                message: ApiError::from(e).public_message(),
            }),
        }
    }
    Ok(bulk_result(docs, errors, "Deleted", "delete"))
}
