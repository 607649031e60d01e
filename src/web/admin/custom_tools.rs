//! Custom tools: JSON Schema input, JavaScript body compiled on save, and the departments
//! they are shared with; the edit page's "Try it" panel is in [`try_it`].

mod try_it;

pub use try_it::configure;

use std::collections::HashMap;

use askama::Template;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::Chrome;
use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListSpec, ListView, equals};
use crate::db;
use crate::entities::{custom_tools, custom_tools::Model, departments, projects};
use crate::error::AppResult;
use crate::query::Where;
use crate::state::AppState;

const FIELDS: &[(&str, Kind)] = &[
    ("toolName", Kind::Text),
    ("displayName", Kind::Text),
    ("description", Kind::Text),
    ("inputSchema", Kind::Text),
    ("exampleInputs", Kind::Text),
    ("executeFunction", Kind::Text),
    ("departments", Kind::Many),
    ("isGlobal", Kind::Bool),
    ("isActive", Kind::Bool),
    ("timeoutMs", Kind::Text),
    ("version", Kind::Text),
    ("approval.mode", Kind::Text),
    ("approval.when", Kind::Text),
    ("approval.timeoutMinutes", Kind::Text),
    ("changeNote", Kind::Text),
];

/// The tool list: searched by tool name, display name and description.
static LIST: ListSpec = ListSpec {
    base: <Tools as Resource>::BASE,
    map: &crate::collections::custom_tools::FIELDS,
    search: &["toolName", "displayName", "description"],
    sorts: &[
        ("toolName", "toolName"),
        ("displayName", "displayName"),
        ("calls", "performanceMetrics.totalCalls"),
        ("version", "version"),
        ("updated", "updatedAt"),
    ],
    default_sort: "toolName",
    missing_last: &[],
};

const EXAMPLE_FUNCTION: &str = "async (input, { payload, project }) => {\n  const { docs } = await payload.find({\n    collection: 'world-rules',\n    limit: 10,\n  });\n  return { project: project.name, rules: docs.length };\n}";

/// The tool list.
#[derive(Template)]
#[template(path = "admin/custom_tools/list.html", blocks = ["list"])]
pub struct ToolsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<Model>,
    departments: Vec<departments::Model>,
    links: HashMap<i32, Vec<i32>>,
}

impl ToolsPage {
    fn departments_of(&self, tool: &i32) -> Vec<&departments::Model> {
        let ids = self.links.get(tool).map(Vec::as_slice).unwrap_or_default();
        self.departments
            .iter()
            .filter(|d| ids.contains(&d.id))
            .collect()
    }
}

/// The tool form.
#[derive(Template)]
#[template(path = "admin/custom_tools/form.html")]
pub struct ToolForm {
    chrome: Chrome,
    form: FormState,
    departments: Vec<departments::Model>,
    tool: Option<Model>,
    example_function: &'static str,
    /// Projects of the "Try it" panel (empty when it is not shown).
    projects: Vec<projects::Model>,
    /// The panel's starting input.
    try_input: String,
}

impl ToolForm {
    fn failure_rate(&self) -> String {
        match &self.tool {
            Some(t) if t.total_calls > 0 => format!(
                "{:.1}%",
                t.failed_calls as f64 * 100.0 / t.total_calls as f64
            ),
            _ => "—".into(),
        }
    }

    fn average_time(&self) -> String {
        match &self.tool {
            Some(t) if t.total_calls > 0 => {
                super::fmt::duration_ms(&(t.total_execution_time_ms / t.total_calls))
            }
            _ => "—".into(),
        }
    }
}

/// Custom tools as a managed collection.
pub struct Tools;

impl Resource for Tools {
    type Collection = crate::collections::custom_tools::CustomTools;
    type ListPage = ToolsPage;
    type FormPage = ToolForm;
    const BASE: &'static str = "/admin/custom-tools";
    const NOUN: &'static str = "tool";
    const PLURAL: &'static str = "tools";
    const NAV: &'static str = "tools";
    const FIELDS: &'static [(&'static str, Kind)] = FIELDS;
    const JSON_FIELDS: &'static [&'static str] = &["inputSchema", "exampleInputs", "approval.when"];

    fn label(row: &Model) -> String {
        row.tool_name.clone()
    }

    fn defaults() -> FormValues {
        let mut values = FormValues::default();
        values.set("isActive", "true");
        values.set("timeoutMs", "5000");
        values.set("version", "1.0.0");
        values.set("inputSchema", "{\n  \"type\": \"object\",\n  \"properties\": {},\n  \"additionalProperties\": false\n}");
        values.set("exampleInputs", "[]");
        values
    }

    fn duplicate(values: &mut FormValues) {
        let name = values.get("toolName").to_owned();
        values.set("toolName", format!("{name}Copy"));
    }

    async fn set_active(db: &DatabaseConnection, id: i32, active: bool) -> AppResult<Model> {
        db::custom_tools::set_active(db, id, active).await
    }

    fn is_active(row: &Model) -> bool {
        row.is_active
    }

    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<ToolsPage> {
        let (page, list) = LIST
            .fetch(
                &state.db,
                custom_tools::Entity::find(),
                query,
                &filter(query),
            )
            .await?;
        let ids: Vec<i32> = page.items.iter().map(|t| t.id).collect();
        Ok(ToolsPage {
            chrome,
            list,
            departments: db::departments::list_all(&state.db).await?,
            links: db::custom_tools::department_ids(&state.db, &ids).await?,
            rows: page.items,
        })
    }

    fn list_fragment(page: &ToolsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        LIST.ids(
            db,
            custom_tools::Entity::find(),
            custom_tools::Column::Id,
            &filter(query),
        )
        .await
    }

    async fn form_page(
        state: &AppState,
        chrome: Chrome,
        form: FormState,
        row: Option<&Model>,
    ) -> AppResult<ToolForm> {
        // The "Try it" panel: stored tools, for those who may run them.
        let (projects, try_input) = match row {
            Some(tool) if chrome.can_edit() => (
                db::projects::list_for_picker(&state.db).await?,
                try_it::prefill(tool),
            ),
            _ => (Vec::new(), String::new()),
        };
        Ok(ToolForm {
            chrome,
            form,
            departments: db::departments::list_all(&state.db).await?,
            tool: row.cloned(),
            example_function: EXAMPLE_FUNCTION,
            projects,
            try_input,
        })
    }
}

/// The list's filter: `q`, `department` (tools it may call: global ones and those shared
/// with it), `global` and `active` (yes/no).
fn filter(query: &ListQuery) -> Where {
    LIST.filter(
        query,
        [
            query
                .id("department")
                .map(|id| Where::Or(vec![equals("isGlobal", true), equals("departments", id)])),
            query.flag("global").map(|yes| equals("isGlobal", yes)),
            query.flag("active").map(|yes| equals("isActive", yes)),
        ],
    )
}
