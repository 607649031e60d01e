//! Tool data over the JSON API: the documents custom tools write (e.g. `world-rules`), with
//! the same REST conventions as the built-in collections, at two addresses.
//!
//! - `/api/tool-data/{collection}?project=<id or slug>`: one project's documents; the project
//!   is a required query parameter on every request.
//! - `/api/{collection}` for any slug-like name that is not built in or reserved (see
//!   [`db::tool_documents::collection_error`]), as a Payload client calls a collection: every
//!   project's documents, `project` being an ordinary field (`where[project][equals]=1`), and
//!   the project of a new document coming from its body. [`fallback_routes`] is mounted after
//!   every other `/api` route, so that it never shadows one.
//!
//! A document is shaped by [`db::tool_documents::to_doc`], as tools see it; `where` and `sort`
//! reach `id`, `collection`, `project`, `createdAt`, `updatedAt` and any path inside the
//! document (`where[era][equals]=first`), through the same where-engine as everything else.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use sea_orm::{DatabaseConnection, Select};
use serde_json::Value;

use super::errors::{ApiError, ApiResult, method_not_allowed};
use super::extract::{ApiBody, ApiUser, parse_id};
use super::views::{BulkError, BulkResponse, CountResponse, DocResponse, ListResponse};
use crate::db::{self, listing::PageRequest, tool_documents::DataError};
use crate::entities::tool_documents;
use crate::error::AppError;
use crate::query::{ListParams, MAX_LIMIT};
use crate::state::AppState;

/// The field map of tool data.
const FIELDS: &crate::query::FieldMap = &db::tool_documents::FIELDS;

/// The `/api/tool-data/{collection}` routes.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    mount::<false>(cfg, "/tool-data/{collection}");
}

/// The `/api/{collection}` routes: mount them after every other `/api` route.
pub(crate) fn fallback_routes(cfg: &mut web::ServiceConfig) {
    mount::<true>(cfg, "/{collection}");
}

/// Registers the routes of one address (`/count` before `/{id}`). `OPEN` is true for
/// `/api/{collection}`, false for `/api/tool-data/{collection}`.
fn mount<const OPEN: bool>(cfg: &mut web::ServiceConfig, base: &str) {
    cfg.service(
        web::resource(format!("{base}/count"))
            .route(web::get().to(count::<OPEN>))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource(base.to_owned())
            .route(web::get().to(list::<OPEN>))
            .route(web::post().to(create::<OPEN>))
            .route(web::patch().to(update_many::<OPEN>))
            .route(web::delete().to(delete_many::<OPEN>))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource(format!("{base}/{{id}}"))
            .route(web::get().to(find_by_id::<OPEN>))
            .route(web::patch().to(update_by_id::<OPEN>))
            .route(web::delete().to(delete_by_id::<OPEN>))
            .default_service(web::to(method_not_allowed)),
    );
}

/// The documents a request addresses.
enum Scope {
    /// One collection in one project (`/api/tool-data/{collection}?project=…`).
    Project { collection: String, project_id: i32 },
    /// One collection in every project (`/api/{collection}`).
    Open { collection: String },
}

impl Scope {
    /// The request's scope: its collection name checked, and for `/api/tool-data/…` its
    /// project looked up.
    async fn of<const OPEN: bool>(
        req: &HttpRequest,
        db: &DatabaseConnection,
        collection: &str,
    ) -> Result<Self, ApiError> {
        route_exists::<OPEN>(req, collection)?;
        if let Some(problem) = db::tool_documents::collection_error(collection) {
            return Err(ApiError::bad_request(problem));
        }
        let collection = collection.to_owned();
        if OPEN {
            return Ok(Scope::Open { collection });
        }
        let params = ListParams::parse(req.query_string())?;
        let Some(project) = params
            .param("project")
            .map(str::trim)
            .filter(|p| !p.is_empty())
        else {
            return Err(ApiError::bad_request(
                "The project query parameter is required: tool data belongs to one project (?project=<id or slug>).",
            ));
        };
        let project_id = find_project(db, project).await?.ok_or_else(|| {
            ApiError::App(AppError::NotFound(format!("Project not found: {project}")))
        })?;
        Ok(Scope::Project {
            collection,
            project_id,
        })
    }

    fn collection(&self) -> &str {
        match self {
            Scope::Project { collection, .. } | Scope::Open { collection } => collection,
        }
    }

    /// Every document in scope, as a query to narrow.
    fn select(&self) -> Select<tool_documents::Entity> {
        match self {
            Scope::Project {
                collection,
                project_id,
            } => db::tool_documents::scoped(*project_id, collection),
            Scope::Open { collection } => db::tool_documents::in_collection(collection),
        }
    }

    /// The document `id`, if it is in scope.
    async fn find(
        &self,
        db: &DatabaseConnection,
        id: &str,
    ) -> Result<tool_documents::Model, ApiError> {
        let id = parse_id(id)?;
        let row = match self {
            Scope::Project {
                collection,
                project_id,
            } => db::tool_documents::find_in_project(db, *project_id, collection, id).await?,
            Scope::Open { collection } => {
                db::tool_documents::find_in_collection(db, collection, id).await?
            }
        };
        row.ok_or_else(ApiError::not_found)
    }
}

/// At `/api/{collection}`, a name that is not a tool data collection is no route at all:
/// answered before credentials are checked, as unknown routes are.
fn route_exists<const OPEN: bool>(req: &HttpRequest, collection: &str) -> Result<(), ApiError> {
    if OPEN && db::tool_documents::collection_error(collection).is_some() {
        return Err(ApiError::Status(
            StatusCode::NOT_FOUND,
            format!("Route not found \"{}\"", req.path()),
        ));
    }
    Ok(())
}

/// The id of the project named by an id or a slug.
async fn find_project(db: &DatabaseConnection, project: &str) -> Result<Option<i32>, ApiError> {
    let found = match project.parse::<i32>() {
        Ok(id) if id > 0 => db::projects::find_by_id(db, id).await?,
        _ => db::projects::find_by_slug(db, project).await?,
    };
    Ok(found.map(|p| p.id))
}

/// The project of a document created at `/api/{collection}`: the body's `project`, an id
/// (or a slug).
async fn project_of_body(db: &DatabaseConnection, body: &Value) -> Result<i32, ApiError> {
    let named = match body.get("project") {
        None | Some(Value::Null) => {
            return Err(AppError::field("project", "This field is required.").into());
        }
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) if !s.trim().is_empty() && !s.contains('\0') => s.trim().to_owned(),
        Some(_) => {
            return Err(AppError::field("project", "Must be a project id.").into());
        }
    };
    find_project(db, &named)
        .await?
        .ok_or_else(|| AppError::field("project", format!("No project has the id {named}.")).into())
}

fn data_error(e: DataError) -> ApiError {
    match e {
        DataError::NotAnObject => ApiError::bad_request("The body must be a JSON object."),
        DataError::TooLarge(_) => ApiError::bad_request(format!("Invalid document: {e}.")),
    }
}

fn doc(row: &tool_documents::Model) -> Value {
    db::tool_documents::to_doc(row)
}

async fn list<const OPEN: bool>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<String>,
) -> ApiResult {
    route_exists::<OPEN>(&req, &path)?;
    auth.require()?;
    let scope = Scope::of::<OPEN>(&req, &state.db, &path).await?;
    let params = ListParams::parse(req.query_string())?;
    let backend = state.db.get_database_backend();
    let order = params.order(FIELDS, backend);
    let request = PageRequest {
        filter: params.filter(FIELDS, backend)?,
        order: &order,
        limit: params.limit,
        page: params.page,
        count: params.pagination,
    };
    let page = db::listing::find_page(&state.db, scope.select(), request).await?;
    let docs: Vec<Value> = page.items.iter().map(doc).collect();
    Ok(HttpResponse::Ok().json(ListResponse::new(
        docs,
        page.total,
        page.limit,
        page.page,
        params.pagination,
    )))
}

async fn count<const OPEN: bool>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<String>,
) -> ApiResult {
    route_exists::<OPEN>(&req, &path)?;
    auth.require()?;
    let scope = Scope::of::<OPEN>(&req, &state.db, &path).await?;
    let params = ListParams::parse(req.query_string())?;
    let filter = params.filter(FIELDS, state.db.get_database_backend())?;
    let total = db::listing::count(&state.db, scope.select(), filter).await?;
    Ok(HttpResponse::Ok().json(CountResponse { total_docs: total }))
}

async fn create<const OPEN: bool>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    route_exists::<OPEN>(&req, &path)?;
    auth.require_editor()?;
    let scope = Scope::of::<OPEN>(&req, &state.db, &path).await?;
    let data = db::tool_documents::new_data(&body.0).map_err(data_error)?;
    let project_id = match &scope {
        Scope::Project { project_id, .. } => *project_id,
        Scope::Open { .. } => project_of_body(&state.db, &body.0).await?,
    };
    let row = db::tool_documents::create(&state.db, project_id, scope.collection(), data).await?;
    Ok(HttpResponse::Created().json(DocResponse {
        doc: doc(&row),
        message: "Document successfully created.".into(),
    }))
}

async fn find_by_id<const OPEN: bool>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<(String, String)>,
) -> ApiResult {
    route_exists::<OPEN>(&req, &path.0)?;
    auth.require()?;
    let scope = Scope::of::<OPEN>(&req, &state.db, &path.0).await?;
    let row = scope.find(&state.db, &path.1).await?;
    Ok(HttpResponse::Ok().json(doc(&row)))
}

/// Top-level fields of the patch replace those of the document (the envelope's keys,
/// `project` included, are the server's).
async fn apply_patch(
    db: &DatabaseConnection,
    row: tool_documents::Model,
    patch: &Value,
) -> Result<tool_documents::Model, ApiError> {
    let data = db::tool_documents::patched_data(&row.data, patch).map_err(data_error)?;
    Ok(db::tool_documents::replace_data(db, row, data).await?)
}

async fn update_by_id<const OPEN: bool>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<(String, String)>,
    body: ApiBody,
) -> ApiResult {
    route_exists::<OPEN>(&req, &path.0)?;
    auth.require_editor()?;
    let scope = Scope::of::<OPEN>(&req, &state.db, &path.0).await?;
    let row = scope.find(&state.db, &path.1).await?;
    let row = apply_patch(&state.db, row, &body.0).await?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc: doc(&row),
        message: "Updated successfully.".into(),
    }))
}

async fn delete_by_id<const OPEN: bool>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<(String, String)>,
) -> ApiResult {
    route_exists::<OPEN>(&req, &path.0)?;
    auth.require_editor()?;
    let scope = Scope::of::<OPEN>(&req, &state.db, &path.0).await?;
    let row = scope.find(&state.db, &path.1).await?;
    db::tool_documents::delete(&state.db, row.id).await?;
    Ok(HttpResponse::Ok().json(DocResponse {
        doc: doc(&row),
        message: "Deleted successfully.".into(),
    }))
}

/// The documents a bulk request applies to (a non-empty `where` is required; at most
/// [`MAX_LIMIT`], or `limit`).
async fn bulk_targets(
    req: &HttpRequest,
    db: &DatabaseConnection,
    scope: &Scope,
    verb: &str,
) -> Result<Vec<tool_documents::Model>, ApiError> {
    let params = ListParams::parse(req.query_string())?;
    if params.where_.as_ref().is_none_or(|w| w.is_empty()) {
        return Err(ApiError::bad_request(format!(
            "Missing 'where' query of documents to {verb}."
        )));
    }
    let backend = db.get_database_backend();
    let limit = if params.raw.contains_key("limit") {
        params.limit
    } else {
        MAX_LIMIT
    };
    let order = params.order(FIELDS, backend);
    let request = PageRequest {
        filter: params.filter(FIELDS, backend)?,
        order: &order,
        limit,
        page: 1,
        count: false,
    };
    Ok(db::listing::find_page(db, scope.select(), request)
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

async fn update_many<const OPEN: bool>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<String>,
    body: ApiBody,
) -> ApiResult {
    route_exists::<OPEN>(&req, &path)?;
    auth.require_editor()?;
    let scope = Scope::of::<OPEN>(&req, &state.db, &path).await?;
    if !body.0.is_object() {
        return Err(data_error(DataError::NotAnObject));
    }
    let rows = bulk_targets(&req, &state.db, &scope, "update").await?;
    let (mut docs, mut errors) = (Vec::new(), Vec::new());
    for row in rows {
        let id = row.id;
        match apply_patch(&state.db, row, &body.0).await {
            Ok(row) => docs.push(doc(&row)),
            Err(e) => errors.push(BulkError {
                id,
                message: e.public_message(),
            }),
        }
    }
    Ok(bulk_result(docs, errors, "Updated", "update"))
}

async fn delete_many<const OPEN: bool>(
    req: HttpRequest,
    state: web::Data<AppState>,
    auth: ApiUser,
    path: web::Path<String>,
) -> ApiResult {
    route_exists::<OPEN>(&req, &path)?;
    auth.require_editor()?;
    let scope = Scope::of::<OPEN>(&req, &state.db, &path).await?;
    let rows = bulk_targets(&req, &state.db, &scope, "delete").await?;
    let (mut docs, mut errors) = (Vec::new(), Vec::new());
    for row in rows {
        match db::tool_documents::delete(&state.db, row.id).await {
            Ok(()) => docs.push(doc(&row)),
            Err(e) => errors.push(BulkError {
                id: row.id,
                message: ApiError::from(e).public_message(),
            }),
        }
    }
    Ok(bulk_result(docs, errors, "Deleted", "delete"))
}
