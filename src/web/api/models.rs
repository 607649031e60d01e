//! `/api/models`: the price table (admins write, everyone reads).

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::collection::{Collection, Row};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::models::{ModelInput, to_doc};
use crate::domain::{fields::merge, iso};
use crate::entities::models;
use crate::error::AppResult;
use crate::query::{FieldMap, collections};

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
    /// Context window in tokens.
    pub context_window: Option<i32>,
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
        &collections::MODELS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    fn can_write(user: &CurrentUser) -> bool {
        user.is_admin()
    }

    async fn find(db: &DatabaseConnection, id: i32) -> AppResult<Option<Row<Self>>> {
        Ok(db::models::find_by_id(db, id).await?)
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
        let input = ModelInput::from_json(&merge(to_doc(&row), patch))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::now;

    #[test]
    fn the_view_matches_the_domain_document() {
        let m = models::Model {
            id: 1,
            model_id: "anthropic/claude-sonnet-4.5".into(),
            provider: "openrouter".into(),
            display_name: "Sonnet".into(),
            input_price_per_mtok: 3.0,
            output_price_per_mtok: 15.0,
            context_window: Some(200_000),
            created_at: now(),
            updated_at: now(),
        };
        assert_eq!(
            serde_json::to_value(ModelResponse::from(&m)).ok(),
            Some(to_doc(&m))
        );
    }
}
