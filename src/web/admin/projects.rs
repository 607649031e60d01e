//! Projects: the data tools read, and the scope of tool documents.

use askama::Template;
use sea_orm::DatabaseConnection;

use super::Chrome;
use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListView, fetch_page};
use crate::db::{self, projects::ProjectFilter};
use crate::domain::projects::STATUSES;
use crate::entities::projects::Model;
use crate::error::AppResult;
use crate::state::AppState;

const FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("slug", Kind::Text),
    ("description", Kind::Text),
    ("genre", Kind::Text),
    ("status", Kind::Text),
    ("metadata", Kind::Text),
];

const SORTS: &[&str] = &["name", "slug", "genre", "status", "updated"];

/// The project list.
#[derive(Template)]
#[template(path = "admin/projects/list.html", blocks = ["list"])]
pub struct ProjectsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<Model>,
    statuses: &'static [&'static str],
}

/// The project form.
#[derive(Template)]
#[template(path = "admin/projects/form.html")]
pub struct ProjectForm {
    chrome: Chrome,
    form: FormState,
    statuses: &'static [&'static str],
}

impl ProjectForm {
    /// A status stored through the API that the admin does not list, kept selectable.
    fn other_status(&self) -> Option<&str> {
        let current = self.form.value("status");
        (!current.is_empty() && !self.statuses.contains(&current)).then_some(current)
    }
}

/// Projects as a managed collection.
pub struct Projects;

impl Resource for Projects {
    type Collection = crate::collections::projects::Projects;
    type ListPage = ProjectsPage;
    type FormPage = ProjectForm;
    const BASE: &'static str = "/admin/projects";
    const NOUN: &'static str = "project";
    const PLURAL: &'static str = "projects";
    const NAV: &'static str = "projects";
    const FIELDS: &'static [(&'static str, Kind)] = FIELDS;
    const JSON_FIELDS: &'static [&'static str] = &["metadata"];

    fn label(row: &Model) -> String {
        row.name.clone()
    }

    fn defaults() -> FormValues {
        let mut values = FormValues::default();
        values.set("status", "development");
        values.set("metadata", "{}");
        values
    }

    fn duplicate(values: &mut FormValues) {
        let (slug, name) = (values.get("slug").to_owned(), values.get("name").to_owned());
        values.set("slug", format!("{slug}-copy"));
        values.set("name", format!("{name} (copy)"));
    }

    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<ProjectsPage> {
        let filter = filter(query);
        let sort = query.sort(SORTS, "name");
        let page = fetch_page(query, |limit, page| {
            db::projects::search(&state.db, &filter, &sort, limit, page)
        })
        .await?;
        Ok(ProjectsPage {
            chrome,
            list: query.view(Self::BASE, sort.clone(), "name", page.page, page.total),
            rows: page.items,
            statuses: STATUSES,
        })
    }

    fn list_fragment(page: &ProjectsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        Ok(db::projects::matching_ids(db, &filter(query)).await?)
    }

    async fn form_page(
        _state: &AppState,
        chrome: Chrome,
        form: FormState,
        _row: Option<&Model>,
    ) -> AppResult<ProjectForm> {
        Ok(ProjectForm {
            chrome,
            form,
            statuses: STATUSES,
        })
    }
}

fn filter(query: &ListQuery) -> ProjectFilter {
    ProjectFilter {
        q: query.q(),
        status: query.get("status").map(str::to_owned),
    }
}
