//! Departments: list, form, and the rules that keep one from being deleted while in use.

use std::collections::HashMap;

use askama::Template;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::Chrome;
use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListSpec, ListView, equals};
use crate::db;
use crate::entities::{departments, departments::Model};
use crate::error::AppResult;
use crate::query::Where;
use crate::state::AppState;

const FIELDS: &[(&str, Kind)] = &[
    ("slug", Kind::Text),
    ("name", Kind::Text),
    ("description", Kind::Text),
    ("icon", Kind::Text),
    ("color", Kind::Text),
    ("priority", Kind::Text),
    ("isActive", Kind::Bool),
    ("coreDepartment", Kind::Bool),
    ("defaultModel", Kind::Text),
    ("maxAgentSteps", Kind::Text),
    ("fallbackModels", Kind::Text),
];

/// The department list: searched by name, slug and description.
static LIST: ListSpec = ListSpec {
    base: <Departments as Resource>::BASE,
    map: &crate::collections::departments::FIELDS,
    search: &["name", "slug", "description"],
    sorts: &[
        ("priority", "priority"),
        ("name", "name"),
        ("slug", "slug"),
        ("updated", "updatedAt"),
    ],
    default_sort: "priority",
    missing_last: &[],
};

/// The department list.
#[derive(Template)]
#[template(path = "admin/departments/list.html", blocks = ["list"])]
pub struct DepartmentsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<Model>,
    agents: HashMap<i32, i64>,
}

impl DepartmentsPage {
    fn agent_count(&self, id: &i32) -> i64 {
        self.agents.get(id).copied().unwrap_or(0)
    }
}

/// The department form.
#[derive(Template)]
#[template(path = "admin/departments/form.html")]
pub struct DepartmentForm {
    chrome: Chrome,
    form: FormState,
    agent_count: u64,
}

/// Departments as a managed collection.
pub struct Departments;

impl Resource for Departments {
    type Collection = crate::collections::departments::Departments;
    type ListPage = DepartmentsPage;
    type FormPage = DepartmentForm;
    const BASE: &'static str = "/admin/departments";
    const NOUN: &'static str = "department";
    const PLURAL: &'static str = "departments";
    const NAV: &'static str = "departments";
    const FIELDS: &'static [(&'static str, Kind)] = FIELDS;
    const JSON_FIELDS: &'static [&'static str] = &["fallbackModels"];

    fn label(row: &Model) -> String {
        row.name.clone()
    }

    fn defaults() -> FormValues {
        let mut values = FormValues::default();
        values.set("isActive", "true");
        values.set("color", "#6366f1");
        values.set("priority", "0");
        values
    }

    fn duplicate(values: &mut FormValues) {
        let (slug, name) = (values.get("slug").to_owned(), values.get("name").to_owned());
        values.set("slug", format!("{slug}-copy"));
        values.set("name", format!("{name} (copy)"));
        values.set("coreDepartment", "false");
    }

    async fn set_active(db: &DatabaseConnection, id: i32, active: bool) -> AppResult<Model> {
        db::departments::set_active(db, id, active).await
    }

    fn is_active(row: &Model) -> bool {
        row.is_active
    }

    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<DepartmentsPage> {
        let (page, list) = LIST
            .fetch(
                &state.db,
                departments::Entity::find(),
                query,
                &filter(query),
            )
            .await?;
        Ok(DepartmentsPage {
            chrome,
            list,
            agents: db::departments::agent_counts(&state.db).await?,
            rows: page.items,
        })
    }

    fn list_fragment(page: &DepartmentsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        LIST.ids(
            db,
            departments::Entity::find(),
            departments::Column::Id,
            &filter(query),
        )
        .await
    }

    async fn form_page(
        state: &AppState,
        chrome: Chrome,
        form: FormState,
        row: Option<&Model>,
    ) -> AppResult<DepartmentForm> {
        let agent_count = match row {
            Some(row) => db::departments::count_agents(&state.db, row.id).await?,
            None => 0,
        };
        Ok(DepartmentForm {
            chrome,
            form,
            agent_count,
        })
    }
}

/// The list's filter: `q` and `active` (yes/no).
fn filter(query: &ListQuery) -> Where {
    LIST.filter(
        query,
        [query.flag("active").map(|yes| equals("isActive", yes))],
    )
}
