//! Models (`/api/models`): the price table (admins write, everyone reads).

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::common::{CREATED_AT, ID, UPDATED_AT, col};
use super::{Collection, Row};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::models::ModelInput;
use crate::domain::{fields::merge, iso};
use crate::entities::models;
use crate::error::AppResult;
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "models",
    fields: &[
        ID,
        col("modelId", "model_id", Scalar::Text),
        col("provider", "provider", Scalar::Text),
        col("displayName", "display_name", Scalar::Text),
        col("inputPricePerMTok", "input_price_per_mtok", Scalar::Float),
        col("outputPricePerMTok", "output_price_per_mtok", Scalar::Float),
        col("contextWindow", "context_window", Scalar::Int),
        col(
            "cacheReadPricePerMTok",
            "cache_read_price_per_mtok",
            Scalar::Float,
        ),
        col(
            "cacheWritePricePerMTok",
            "cache_write_price_per_mtok",
            Scalar::Float,
        ),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The models collection.
pub struct Models;

/// A price-table row as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelResponse {
    /// Id.
    pub id: i32,
    /// Model id as agents name it, e.g. `anthropic/claude-sonnet-4.5`.
    pub model_id: String,
    /// `openrouter`, `anthropic`, `openai`, …
    pub provider: String,
    /// Display name.
    pub display_name: String,
    /// USD per million input tokens.
    #[serde(rename = "inputPricePerMTok")]
    pub input_price_per_mtok: f64,
    /// USD per million output tokens.
    #[serde(rename = "outputPricePerMTok")]
    pub output_price_per_mtok: f64,
    /// Context window in tokens; conversation history is trimmed to fit it.
    pub context_window: Option<i32>,
    /// USD per million prompt tokens read from the prompt cache (null: the input price).
    #[serde(rename = "cacheReadPricePerMTok")]
    pub cache_read_price_per_mtok: Option<f64>,
    /// USD per million prompt tokens written to the prompt cache (null: the input price).
    #[serde(rename = "cacheWritePricePerMTok")]
    pub cache_write_price_per_mtok: Option<f64>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<&models::Model> for ModelResponse {
    fn from(m: &models::Model) -> Self {
        Self {
            id: m.id,
            model_id: m.model_id.clone(),
            provider: m.provider.clone(),
            display_name: m.display_name.clone(),
            input_price_per_mtok: m.input_price_per_mtok,
            output_price_per_mtok: m.output_price_per_mtok,
            context_window: m.context_window,
            cache_read_price_per_mtok: m.cache_read_price_per_mtok,
            cache_write_price_per_mtok: m.cache_write_price_per_mtok,
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

impl Collection for Models {
    const SLUG: &'static str = "models";
    const SINGULAR: &'static str = "Model";
    const PLURAL: &'static str = "Models";
    const ACCESS: &'static str = "Read: any user. Write: admins.";
    type Entity = models::Entity;
    type View = ModelResponse;

    fn fields() -> &'static FieldMap {
        &FIELDS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    fn can_write(user: &CurrentUser) -> bool {
        user.is_admin()
    }

    async fn render(
        _db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        _depth: u8,
    ) -> AppResult<Vec<Self::View>> {
        Ok(rows.iter().map(ModelResponse::from).collect())
    }

    async fn create(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        db::models::create(db, ModelInput::from_json(body)?).await
    }

    async fn update(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let input = ModelInput::from_json(&merge(Self::document(db, row.clone()).await?, patch))?;
        db::models::update(db, row.id, input).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::models::delete(db, row.id).await
    }
}
