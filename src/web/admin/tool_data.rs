//! Tool data: documents that custom tools stored, browsed by collection and project; editors
//! may delete them.
//!
//! The page's state (search text, collection, project, sort, page) becomes a Payload `where`
//! over [`BROWSE`] and is read through the same where-engine and paging as the JSON API: the
//! search is `data` `contains` the text (anywhere in the document's JSON, ignoring case), the
//! pickers are `equals`.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use sea_orm::DbBackend;
use sea_orm::sea_query::Condition;
use serde_json::json;

use super::form::FormValues;
use super::list::{ListQuery, ListView, fetch_page};
use super::{Chrome, Ctx, parse_id};
use crate::db::{self, list::Sort, listing::PageRequest, tool_documents::BROWSE};
use crate::domain::users::Role;
use crate::entities::{projects, tool_documents::Model};
use crate::error::{AppError, AppResult};
use crate::query::{Operator, Where};
use crate::state::AppState;
use crate::web::errors::PageError;
use crate::web::htmx::{Toast, Tone, fragment_with_toasts, page_or_fragment, render, see_other};

const BASE: &str = "/admin/tool-data";
const SORTS: &[&str] = &["updated", "created", "collection", "id"];
const STATE_KEYS: &[&str] = &["q", "collection", "project", "sort", "page", "per_page"];

#[derive(Template)]
#[template(path = "admin/tool_data/list.html", blocks = ["list"])]
struct DocumentsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<Model>,
    collections: Vec<String>,
    projects: Vec<projects::Model>,
}

impl DocumentsPage {
    fn project_name(&self, id: &i32) -> &str {
        self.projects
            .iter()
            .find(|p| p.id == *id)
            .map_or("", |p| p.name.as_str())
    }

    /// The start of a document, for the table.
    fn preview(&self, doc: &Model) -> String {
        let text = serde_json::to_string(&doc.data).unwrap_or_default();
        let mut preview: String = text.chars().take(220).collect();
        if preview.len() < text.len() {
            preview.push('…');
        }
        preview
    }
}

#[derive(Template)]
#[template(path = "admin/tool_data/show.html")]
struct DocumentPage {
    chrome: Chrome,
    doc: Model,
    project: Option<projects::Model>,
    json: String,
}

/// The list's filter as a `where`: the search text, the collection and the project.
fn where_of(query: &ListQuery) -> Where {
    let field = |path: &str, op, value| Where::Field {
        path: path.to_owned(),
        op,
        value,
    };
    let mut parts = Vec::new();
    let q = query.q();
    if !q.is_empty() {
        parts.push(field("data", Operator::Contains, json!(q)));
    }
    if let Some(collection) = query.get("collection") {
        parts.push(field("collection", Operator::Equals, json!(collection)));
    }
    if let Some(project) = query.id("project") {
        parts.push(field("project", Operator::Equals, json!(project)));
    }
    Where::And(parts)
}

/// The SQL filter of the list's state.
fn filter(query: &ListQuery, backend: DbBackend) -> AppResult<Option<Condition>> {
    crate::query::sql::condition(&BROWSE, &where_of(query), backend.into())
        .map_err(|e| AppError::BadRequest(e.to_string()))
}

/// The field path of a sort key of the page.
fn sort_path(sort: &Sort) -> String {
    let path = match sort.key.as_str() {
        "created" => "createdAt",
        "collection" => "collection",
        "id" => "id",
        _ => "updatedAt",
    };
    if sort.desc {
        format!("-{path}")
    } else {
        path.to_owned()
    }
}

async fn list_page(
    state: &AppState,
    chrome: Chrome,
    query: &ListQuery,
) -> AppResult<DocumentsPage> {
    let backend = state.db.get_database_backend();
    let filter = filter(query, backend)?;
    let sort = query.sort(SORTS, "-updated");
    let order = crate::query::order(&BROWSE, &[sort_path(&sort)], backend);
    let page = fetch_page(query, |limit, page| {
        let request = PageRequest {
            filter: filter.clone(),
            order: &order,
            limit,
            page,
            count: true,
        };
        db::listing::find_page(&state.db, db::tool_documents::everything(), request)
    })
    .await?;
    Ok(DocumentsPage {
        chrome,
        list: query.view(BASE, sort.clone(), "-updated", page.page, page.total),
        rows: page.items,
        collections: db::tool_documents::collection_names(&state.db).await?,
        projects: db::projects::list_for_picker(&state.db).await?,
    })
}

/// GET /admin/tool-data
async fn list(
    ctx: Ctx,
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let page = list_page(&state, ctx.chrome("data"), &ListQuery::from_request(&req)).await?;
    Ok(page_or_fragment(ctx.hx, &page, &page.as_list())?)
}

/// GET /admin/tool-data/{id}
async fn show(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let doc = db::tool_documents::find_by_id(&state.db, parse_id(&path)?)
        .await?
        .ok_or_else(AppError::not_found)?;
    let project = db::projects::find_by_id(&state.db, doc.project_id).await?;
    let json = serde_json::to_string_pretty(&doc.data).unwrap_or_default();
    Ok(render(&DocumentPage {
        chrome: ctx.chrome("data"),
        doc,
        project,
        json,
    })?)
}

/// The list as the request's hidden fields described it, with toasts (htmx), or a redirect.
async fn after_change(
    state: &AppState,
    ctx: &Ctx,
    form: &FormValues,
    toasts: Vec<Toast>,
) -> Result<HttpResponse, PageError> {
    if !ctx.hx.fragment {
        toasts.into_iter().for_each(|t| ctx.flash(t));
        return Ok(see_other(BASE));
    }
    let query = ListQuery::from_pairs(
        STATE_KEYS
            .iter()
            .map(|k| ((*k).to_owned(), form.get(k).to_owned()))
            .collect(),
    );
    let page = list_page(state, ctx.chrome("data"), &query).await?;
    Ok(fragment_with_toasts(&page.as_list(), &toasts)?)
}

/// POST /admin/tool-data/{id}/delete
async fn delete(
    ctx: Ctx,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let id = parse_id(&path)?;
    let doc = db::tool_documents::find_by_id(&state.db, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    db::tool_documents::delete(&state.db, id).await?;
    let toast =
        Toast::success("Document deleted").with_text(format!("{} #{}", doc.collection, doc.id));
    after_change(&state, &ctx, &FormValues::parse(&body), vec![toast]).await
}

/// POST /admin/tool-data/bulk-delete: the selected documents, or every document matching
/// the filter when that was chosen explicitly and the set did not change meanwhile.
async fn bulk_delete(
    ctx: Ctx,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    ctx.require(Role::Editor)?;
    let form = FormValues::parse(&body);
    let ids: Vec<i32> = if form.get("scope") == "matching" {
        let query = ListQuery::from_pairs(
            STATE_KEYS
                .iter()
                .map(|k| ((*k).to_owned(), form.get(k).to_owned()))
                .collect(),
        );
        let filter = filter(&query, state.db.get_database_backend())?;
        let ids = db::tool_documents::matching_ids(&state.db, filter).await?;
        if form.get("expected_total") != ids.len().to_string() {
            return Err(AppError::Conflict("The documents matching this filter changed since the page was shown. Nothing was deleted; review the list and try again.".into()).into());
        }
        ids
    } else {
        form.all("ids")
            .iter()
            .filter_map(|id| id.parse().ok())
            .collect()
    };
    for id in &ids {
        db::tool_documents::delete(&state.db, *id).await?;
    }
    let toast = match ids.len() {
        0 => Toast::new(
            Tone::Warning,
            "Nothing selected",
            "Select the documents to delete first.",
        ),
        1 => Toast::success("Deleted 1 document"),
        n => Toast::success(format!("Deleted {n} documents")),
    };
    after_change(&state, &ctx, &form, vec![toast]).await
}

/// Mounts the tool-data pages.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/tool-data").route(web::get().to(list)))
        .service(web::resource("/tool-data/bulk-delete").route(web::post().to(bulk_delete)))
        .service(web::resource("/tool-data/{id}").route(web::get().to(show)))
        .service(web::resource("/tool-data/{id}/delete").route(web::post().to(delete)));
}
