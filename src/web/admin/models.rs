//! The model price table: read by everyone, changed by administrators.

use askama::Template;
use sea_orm::DatabaseConnection;

use super::Chrome;
use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListView, fetch_page};
use crate::db::{self, models::ModelFilter};
use crate::domain::users::Role;
use crate::entities::models::Model;
use crate::error::AppResult;
use crate::state::AppState;

const FIELDS: &[(&str, Kind)] = &[
    ("modelId", Kind::Text),
    ("provider", Kind::Text),
    ("displayName", Kind::Text),
    ("inputPricePerMTok", Kind::Text),
    ("outputPricePerMTok", Kind::Text),
    ("contextWindow", Kind::Text),
];

const SORTS: &[&str] = &["modelId", "provider", "input", "output", "context"];

/// Providers suggested in the form.
const PROVIDERS: &[&str] = &["openrouter", "anthropic", "openai", "google", "ollama"];

/// The price table.
#[derive(Template)]
#[template(path = "admin/models/list.html", blocks = ["list"])]
pub struct ModelsPage {
    chrome: Chrome,
    list: ListView,
    rows: Vec<Model>,
    providers: Vec<String>,
}

/// A price-table row's form.
#[derive(Template)]
#[template(path = "admin/models/form.html")]
pub struct ModelForm {
    chrome: Chrome,
    form: FormState,
    providers: &'static [&'static str],
}

/// The price table as a managed collection.
pub struct Models;

impl Resource for Models {
    type Collection = crate::collections::models::Models;
    type ListPage = ModelsPage;
    type FormPage = ModelForm;
    const BASE: &'static str = "/admin/models";
    const NOUN: &'static str = "model";
    const PLURAL: &'static str = "models";
    const NAV: &'static str = "models";
    const FIELDS: &'static [(&'static str, Kind)] = FIELDS;
    const WRITE_ROLE: Role = Role::Admin;

    fn label(row: &Model) -> String {
        row.model_id.clone()
    }

    fn defaults() -> FormValues {
        let mut values = FormValues::default();
        values.set("provider", "openrouter");
        values
    }

    fn duplicate(values: &mut FormValues) {
        let id = values.get("modelId").to_owned();
        values.set("modelId", format!("{id}-copy"));
    }

    async fn list_page(
        state: &AppState,
        chrome: Chrome,
        query: &ListQuery,
    ) -> AppResult<ModelsPage> {
        let filter = filter(query);
        let sort = query.sort(SORTS, "modelId");
        let page = fetch_page(query, |limit, page| {
            db::models::search(&state.db, &filter, &sort, limit, page)
        })
        .await?;
        Ok(ModelsPage {
            chrome,
            list: query.view(Self::BASE, sort.clone(), "modelId", page.page, page.total),
            providers: db::models::providers(&state.db).await?,
            rows: page.items,
        })
    }

    fn list_fragment(page: &ModelsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        Ok(db::models::matching_ids(db, &filter(query)).await?)
    }

    async fn form_page(
        _state: &AppState,
        chrome: Chrome,
        form: FormState,
        _row: Option<&Model>,
    ) -> AppResult<ModelForm> {
        Ok(ModelForm {
            chrome,
            form,
            providers: PROVIDERS,
        })
    }
}

fn filter(query: &ListQuery) -> ModelFilter {
    ModelFilter {
        q: query.q(),
        provider: query.get("provider").map(str::to_owned),
    }
}
