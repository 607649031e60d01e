//! Budgets: spend bars per budget (spent and held of the limit, the warning mark), the runs
//! each one paused (linked to the filtered executions), and the form. Editors and admins
//! write; viewers read.

use askama::Template;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::Chrome;
use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListSpec, ListView, equals};
use crate::collections::budgets::BudgetResponse;
use crate::db;
use crate::domain::budgets::{PERIODS, SCOPES};
use crate::entities::{agents, budgets, budgets::Model, departments, projects};
use crate::error::AppResult;
use crate::query::Where;
use crate::state::AppState;

const FIELDS: &[(&str, Kind)] = &[
    ("name", Kind::Text),
    ("scope", Kind::Text),
    ("department", Kind::Text),
    ("agent", Kind::Text),
    ("project", Kind::Text),
    ("period", Kind::Text),
    ("limitUsd", Kind::Text),
    ("warnAt", Kind::Text),
    ("isActive", Kind::Bool),
];

/// The budget list: searched by name.
static LIST: ListSpec = ListSpec {
    base: <Budgets as Resource>::BASE,
    map: &crate::collections::budgets::FIELDS,
    search: &["name"],
    sorts: &[
        ("name", "name"),
        ("scope", "scope"),
        ("period", "period"),
        ("updated", "updatedAt"),
    ],
    default_sort: "name",
    missing_last: &[],
};

/// One budget of the list: the row, its document (current spend) and what it paused.
pub struct BudgetRow {
    /// The row.
    pub row: Model,
    /// Its API document at depth 0 (spent this period).
    pub doc: BudgetResponse,
    /// What it applies to, in words.
    pub applies_to: String,
    /// Runs it paused that wait.
    pub paused: u64,
    /// The executions list filtered on them.
    pub paused_href: String,
}

impl BudgetRow {
    /// Spent, as a percentage of the limit (the bar, capped at 100).
    pub fn spent_pct(&self) -> f64 {
        pct(self.doc.spent_usd, self.doc.limit_usd)
    }

    /// Held by calls in flight, as a percentage of the limit (on top of the spent part).
    pub fn reserved_pct(&self) -> f64 {
        pct(self.doc.reserved_usd, self.doc.limit_usd).min(100.0 - self.spent_pct())
    }

    /// Where the warning mark sits, in percent.
    pub fn warn_pct(&self) -> f64 {
        (self.doc.warn_at * 100.0).clamp(0.0, 100.0)
    }

    /// `ok`, `warn` (past warnAt) or `over` (no room for anything).
    pub fn tone(&self) -> &'static str {
        let used = self.doc.spent_usd + self.doc.reserved_usd;
        if used >= self.doc.limit_usd {
            "over"
        } else if self.doc.spent_usd >= self.doc.warn_at * self.doc.limit_usd {
            "warn"
        } else {
            "ok"
        }
    }
}

fn pct(part: f64, whole: f64) -> f64 {
    if whole <= 0.0 {
        return 0.0;
    }
    (part / whole * 100.0).clamp(0.0, 100.0)
}

/// The budget list.
#[derive(Template)]
#[template(path = "admin/budgets/list.html", blocks = ["list"])]
pub struct BudgetsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<BudgetRow>,
}

/// A choice of a related document in the form.
pub struct Choice {
    /// Its id.
    pub id: i32,
    /// Its name.
    pub label: String,
}

/// The budget form.
#[derive(Template)]
#[template(path = "admin/budgets/form.html")]
pub struct BudgetForm {
    chrome: Chrome,
    form: FormState,
    scopes: &'static [&'static str],
    periods: &'static [&'static str],
    departments: Vec<Choice>,
    agents: Vec<Choice>,
    projects: Vec<Choice>,
    current: Option<BudgetRow>,
}

/// Budgets as a managed collection.
pub struct Budgets;

impl Resource for Budgets {
    type Collection = crate::collections::budgets::Budgets;
    type ListPage = BudgetsPage;
    type FormPage = BudgetForm;
    const BASE: &'static str = "/admin/budgets";
    const NOUN: &'static str = "budget";
    const PLURAL: &'static str = "budgets";
    const NAV: &'static str = "budgets";
    const FIELDS: &'static [(&'static str, Kind)] = FIELDS;

    fn label(row: &Model) -> String {
        row.name.clone()
    }

    fn defaults() -> FormValues {
        let mut values = FormValues::default();
        values.set("scope", "global");
        values.set("period", "month");
        values.set("warnAt", "0.8");
        values.set("isActive", "true");
        values
    }

    fn duplicate(values: &mut FormValues) {
        let name = values.get("name").to_owned();
        values.set("name", format!("{name} (copy)"));
    }

    async fn set_active(db: &DatabaseConnection, id: i32, active: bool) -> AppResult<Model> {
        db::budgets::set_active(db, id, active).await
    }

    fn is_active(row: &Model) -> bool {
        row.is_active
    }

    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<BudgetsPage> {
        let (page, list) = LIST
            .fetch(&state.db, budgets::Entity::find(), query, &filter(query))
            .await?;
        let mut rows = Vec::with_capacity(page.items.len());
        for row in page.items {
            rows.push(budget_row(&state.db, row).await?);
        }
        Ok(BudgetsPage { chrome, list, rows })
    }

    fn list_fragment(page: &BudgetsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        LIST.ids(
            db,
            budgets::Entity::find(),
            budgets::Column::Id,
            &filter(query),
        )
        .await
    }

    async fn form_page(
        state: &AppState,
        chrome: Chrome,
        form: FormState,
        row: Option<&Model>,
    ) -> AppResult<BudgetForm> {
        let db = &state.db;
        let current = match row {
            Some(row) => Some(budget_row(db, row.clone()).await?),
            None => None,
        };
        Ok(BudgetForm {
            chrome,
            form,
            scopes: &SCOPES,
            periods: &PERIODS,
            departments: departments::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|d| Choice {
                    id: d.id,
                    label: d.name,
                })
                .collect(),
            agents: agents::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|a| Choice {
                    id: a.id,
                    label: format!("{} ({})", a.name, a.agent_id),
                })
                .collect(),
            projects: projects::Entity::find()
                .all(db)
                .await?
                .into_iter()
                .map(|p| Choice {
                    id: p.id,
                    label: p.name,
                })
                .collect(),
            current,
        })
    }
}

/// A budget with its current spend, what it applies to and the runs it paused.
async fn budget_row(db: &DatabaseConnection, row: Model) -> AppResult<BudgetRow> {
    use crate::collections::Collection as _;
    let doc = crate::collections::budgets::Budgets::render(db, vec![row.clone()], 0)
        .await?
        .pop()
        .ok_or_else(crate::error::AppError::not_found)?;
    let paused = db::budgets::paused_count(db, &row).await?;
    let mut href = String::from("/admin/executions?status=paused");
    let applies_to = match row.scope.as_str() {
        "department" => {
            let id = row.department_id.unwrap_or_default();
            href.push_str(&format!("&department={id}"));
            let name = departments::Entity::find_by_id(id).one(db).await?;
            format!("Department {}", name.map_or(id.to_string(), |d| d.name))
        }
        "agent" => {
            let id = row.agent_id.unwrap_or_default();
            let agent = agents::Entity::find_by_id(id).one(db).await?;
            if let Some(a) = &agent {
                href.push_str(&format!("&agent={}", a.agent_id));
            }
            format!("Agent {}", agent.map_or(id.to_string(), |a| a.name))
        }
        "project" => {
            let id = row.project_id.unwrap_or_default();
            href.push_str(&format!("&project={id}"));
            let name = projects::Entity::find_by_id(id).one(db).await?;
            format!("Project {}", name.map_or(id.to_string(), |p| p.name))
        }
        _ => "Every run".to_owned(),
    };
    Ok(BudgetRow {
        row,
        doc,
        applies_to,
        paused,
        paused_href: href,
    })
}

/// The list's filter: `q`, `scope` and `active`.
fn filter(query: &ListQuery) -> Where {
    LIST.filter(
        query,
        [
            query.text("scope").map(|scope| equals("scope", scope)),
            query.flag("active").map(|yes| equals("isActive", yes)),
        ],
    )
}
