//! Projects: the data tools read, and the scope of tool documents.

use askama::Template;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::Chrome;
use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListSpec, ListView, equals};
use crate::domain::projects::STATUSES;
use crate::entities::{projects, projects::Model};
use crate::error::AppResult;
use crate::query::Where;
use crate::state::AppState;

const FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("slug", Kind::Text),
    ("description", Kind::Text),
    ("genre", Kind::Text),
    ("status", Kind::Text),
    ("metadata", Kind::Text),
];

/// The project list: searched by name, slug, genre and description.
static LIST: ListSpec = ListSpec {
    base: <Projects as Resource>::BASE,
    map: &crate::collections::projects::FIELDS,
    search: &["name", "slug", "genre", "description"],
    sorts: &[
        ("name", "name"),
        ("slug", "slug"),
        ("genre", "genre"),
        ("status", "status"),
        ("updated", "updatedAt"),
    ],
    default_sort: "name",
    missing_last: &[],
};

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
        let (page, list) = LIST
            .fetch(&state.db, projects::Entity::find(), query, &filter(query))
            .await?;
        Ok(ProjectsPage {
            chrome,
            list,
            rows: page.items,
            statuses: STATUSES,
        })
    }

    fn list_fragment(page: &ProjectsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        LIST.ids(
            db,
            projects::Entity::find(),
            projects::Column::Id,
            &filter(query),
        )
        .await
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

/// The list's filter: `q` and `status`.
fn filter(query: &ListQuery) -> Where {
    LIST.filter(
        query,
        [query.text("status").map(|status| equals("status", status))],
    )
}
