//! Agent chains: list, form with the step editor ([`editor`]), and the Run form.

mod editor;
mod run;

use askama::Template;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::Chrome;
use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListSpec, ListView, equals};
use crate::auth::current_user::CurrentUser;
use crate::collections::{Collection, agent_chains::AgentChains};
use crate::db;
use crate::domain::chains::stored_steps;
use crate::entities::{agent_chains, agent_chains::Model, projects};
use crate::error::AppResult;
use crate::query::Where;
use crate::state::AppState;

pub use run::configure;

const FIELDS: &[(&str, Kind)] = &[
    ("chainId", Kind::Text),
    ("name", Kind::Text),
    ("description", Kind::Text),
    ("isActive", Kind::Bool),
];

/// The chain list: searched by name, chainId and description.
static LIST: ListSpec = ListSpec {
    base: <Chains as Resource>::BASE,
    map: &crate::collections::agent_chains::FIELDS,
    search: &["name", "chainId", "description"],
    sorts: &[
        ("name", "name"),
        ("chain", "chainId"),
        ("updated", "updatedAt"),
    ],
    default_sort: "name",
    missing_last: &[],
};

/// A row of the list: the chain and the agents of its steps, in order.
pub struct ChainRow {
    /// The chain.
    pub chain: Model,
    /// Each step's agents (one, or the group's).
    pub steps: Vec<Vec<String>>,
}

/// The chain list.
#[derive(Template)]
#[template(path = "admin/chains/list.html", blocks = ["list"])]
pub struct ChainsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<ChainRow>,
    agents: Vec<(String, String)>,
}

/// The chain form, with its step editor and, for a saved chain, the Run form.
#[derive(Template)]
#[template(path = "admin/chains/form.html")]
pub struct ChainForm {
    chrome: Chrome,
    form: FormState,
    editor: editor::StepsEditor,
    run: Option<run::RunCard>,
}

/// Agent chains as a managed collection.
pub struct Chains;

impl Resource for Chains {
    type Collection = AgentChains;
    type ListPage = ChainsPage;
    type FormPage = ChainForm;
    const BASE: &'static str = "/admin/agent-chains";
    const NOUN: &'static str = "chain";
    const PLURAL: &'static str = "chains";
    const NAV: &'static str = "chains";
    const FIELDS: &'static [(&'static str, Kind)] = FIELDS;

    fn label(row: &Model) -> String {
        row.name.clone()
    }

    async fn values(db: &DatabaseConnection, row: &Model) -> AppResult<FormValues> {
        let doc = AgentChains::document(db, row.clone()).await?;
        let mut values = FormValues::from_doc(&doc, &["steps"]);
        editor::from_doc(&mut values, &doc);
        Ok(values)
    }

    fn defaults() -> FormValues {
        let mut values = FormValues::default();
        values.set("isActive", "true");
        values.set("steps.0.kind", "single");
        values
    }

    fn duplicate(values: &mut FormValues) {
        let (id, name) = (
            values.get("chainId").to_owned(),
            values.get("name").to_owned(),
        );
        values.set("chainId", format!("{id}-copy"));
        values.set("name", format!("{name} (copy)"));
    }

    async fn create(
        db: &DatabaseConnection,
        user: &CurrentUser,
        values: &FormValues,
    ) -> AppResult<Model> {
        AgentChains::create(db, user, &document(values)).await
    }

    async fn update(
        db: &DatabaseConnection,
        user: &CurrentUser,
        row: Model,
        values: &FormValues,
    ) -> AppResult<Model> {
        AgentChains::update(db, user, row, &document(values)).await
    }

    async fn set_active(db: &DatabaseConnection, id: i32, active: bool) -> AppResult<Model> {
        db::agent_chains::set_active(db, id, active).await
    }

    fn is_active(row: &Model) -> bool {
        row.is_active
    }

    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<ChainsPage> {
        let (page, list) = LIST
            .fetch(
                &state.db,
                agent_chains::Entity::find(),
                query,
                &filter(query),
            )
            .await?;
        let rows = page
            .items
            .into_iter()
            .map(|chain| ChainRow {
                steps: stored_steps(&chain.steps)
                    .iter()
                    .map(|s| s.runs().iter().map(|(a, _)| (*a).to_owned()).collect())
                    .collect(),
                chain,
            })
            .collect();
        Ok(ChainsPage {
            chrome,
            list,
            rows,
            agents: db::agent_chains::agent_choices(&state.db).await?,
        })
    }

    fn list_fragment(page: &ChainsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        LIST.ids(
            db,
            agent_chains::Entity::find(),
            agent_chains::Column::Id,
            &filter(query),
        )
        .await
    }

    async fn form_page(
        state: &AppState,
        chrome: Chrome,
        form: FormState,
        row: Option<&Model>,
    ) -> AppResult<ChainForm> {
        let run = match row {
            Some(row) if chrome.can_edit() => Some(run::RunCard::new(
                row,
                projects(state).await?,
                Default::default(),
                Default::default(),
            )),
            _ => None,
        };
        form_with(state, chrome, form, run).await
    }
}

async fn projects(state: &AppState) -> AppResult<Vec<projects::Model>> {
    Ok(db::projects::list_for_picker(&state.db).await?)
}

/// The form page around `form`, with the step editor built from its values and errors.
async fn form_with(
    state: &AppState,
    chrome: Chrome,
    form: FormState,
    run: Option<run::RunCard>,
) -> AppResult<ChainForm> {
    let editor = editor_of(state, &form, chrome.can_edit()).await?;
    Ok(ChainForm {
        chrome,
        form,
        editor,
        run,
    })
}

async fn editor_of(
    state: &AppState,
    form: &FormState,
    can_edit: bool,
) -> AppResult<editor::StepsEditor> {
    let agents = db::agent_chains::agent_choices(&state.db)
        .await?
        .into_iter()
        .map(|(id, name)| editor::AgentOption {
            label: format!("{id} · {name}"),
            id,
        })
        .collect();
    Ok(editor::StepsEditor::new(
        &form.values,
        &form.errors,
        agents,
        editor_action(form.id()),
        can_edit,
    ))
}

/// Where the step editor's buttons post.
fn editor_action(id: Option<i32>) -> String {
    match id {
        Some(id) => format!("{}/{id}/editor", Chains::BASE),
        None => format!("{}/editor", Chains::BASE),
    }
}

/// The document a submitted form stands for (what the API would be sent).
fn document(values: &FormValues) -> serde_json::Value {
    let mut doc = values.to_doc(FIELDS);
    doc["steps"] = editor::to_json(&editor::read(values));
    doc
}

/// The list's filter: `q`, `active` (yes/no) and `agent` (a single-agent step runs it).
fn filter(query: &ListQuery) -> Where {
    LIST.filter(
        query,
        [
            query.flag("active").map(|yes| equals("isActive", yes)),
            query.text("agent").map(|id| equals("steps.agentId", id)),
        ],
    )
}
