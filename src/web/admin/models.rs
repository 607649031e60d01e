//! The model price table: read by everyone, changed by administrators.

use askama::Template;
use sea_orm::{DatabaseConnection, EntityTrait};

use super::Chrome;
use super::crud::{FormState, Resource};
use super::form::{FormValues, Kind};
use super::list::{ListQuery, ListSpec, ListView, equals};
use crate::db;
use crate::domain::users::Role;
use crate::entities::{models, models::Model};
use crate::error::AppResult;
use crate::query::Where;
use crate::state::AppState;

const FIELDS: &[(&str, Kind)] = &[
    ("modelId", Kind::Text),
    ("provider", Kind::Text),
    ("displayName", Kind::Text),
    ("inputPricePerMTok", Kind::Text),
    ("outputPricePerMTok", Kind::Text),
    ("contextWindow", Kind::Text),
    ("cacheReadPricePerMTok", Kind::Text),
    ("cacheWritePricePerMTok", Kind::Text),
];

/// The price table: searched by model id and display name.
static LIST: ListSpec = ListSpec {
    base: <Models as Resource>::BASE,
    map: &crate::collections::models::FIELDS,
    search: &["modelId", "displayName"],
    sorts: &[
        ("modelId", "modelId"),
        ("provider", "provider"),
        ("input", "inputPricePerMTok"),
        ("output", "outputPricePerMTok"),
        ("context", "contextWindow"),
    ],
    default_sort: "modelId",
    missing_last: &[],
};

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
        let (page, list) = LIST
            .fetch(&state.db, models::Entity::find(), query, &filter(query))
            .await?;
        Ok(ModelsPage {
            chrome,
            list,
            providers: db::models::providers(&state.db).await?,
            rows: page.items,
        })
    }

    fn list_fragment(page: &ModelsPage) -> impl Template + '_ {
        page.as_list()
    }

    async fn matching_ids(db: &DatabaseConnection, query: &ListQuery) -> AppResult<Vec<i32>> {
        LIST.ids(
            db,
            models::Entity::find(),
            models::Column::Id,
            &filter(query),
        )
        .await
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

/// The list's filter: `q` and `provider`.
fn filter(query: &ListQuery) -> Where {
    LIST.filter(
        query,
        [query
            .text("provider")
            .map(|provider| equals("provider", provider))],
    )
}
