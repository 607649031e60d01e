//! Departments (`/api/departments`): slug, name, colour and the defaults of their agents.

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::common::{CREATED_AT, ID, UPDATED_AT, col};
use super::{Collection, Row};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::departments::DepartmentInput;
use crate::domain::{fields::merge, iso};
use crate::entities::departments;
use crate::error::AppResult;
use crate::query::{Field, FieldMap, Kind, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "departments",
    fields: &[
        ID,
        col("slug", "slug", Scalar::Text),
        col("name", "name", Scalar::Text),
        col("description", "description", Scalar::Text),
        col("icon", "icon", Scalar::Text),
        col("color", "color", Scalar::Text),
        col("priority", "priority", Scalar::Int),
        col("isActive", "is_active", Scalar::Bool),
        col("coreDepartment", "core_department", Scalar::Bool),
        col("defaultModel", "default_model", Scalar::Text),
        col("maxAgentSteps", "max_agent_steps", Scalar::Int),
        Field {
            name: "fallbackModels",
            kind: Kind::JsonArray {
                column: "fallback_models",
                key: "model",
            },
        },
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The departments collection.
pub struct Departments;

/// One entry of a `fallbackModels` list.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ModelEntry {
    /// A model id, as agents name it.
    pub model: String,
}

impl ModelEntry {
    /// The entries of a stored `[{model}]` list.
    pub fn list(stored: &Value) -> Vec<Self> {
        crate::domain::routing::stored_models(stored)
            .into_iter()
            .map(|model| Self { model })
            .collect()
    }
}

/// A department as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DepartmentResponse {
    /// Id.
    pub id: i32,
    /// Unique slug, `^[a-z][a-z0-9-]*$`.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// An emoji or short icon name.
    pub icon: String,
    /// `#rrggbb`.
    pub color: String,
    /// Sort order, 0–1000.
    pub priority: i32,
    /// Inactive departments are hidden from pickers.
    pub is_active: bool,
    /// Core departments cannot be deleted.
    pub core_department: bool,
    /// Model for agents that leave theirs empty.
    pub default_model: String,
    /// Step limit for agents that leave theirs empty.
    pub max_agent_steps: Option<i32>,
    /// Fallback chain for agents that name none: tried in order when the model fails.
    pub fallback_models: Vec<ModelEntry>,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<departments::Model> for DepartmentResponse {
    /// The view of a row (taken apart, not copied).
    fn from(m: departments::Model) -> Self {
        Self {
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
            id: m.id,
            slug: m.slug,
            name: m.name,
            description: m.description,
            icon: m.icon,
            color: m.color,
            priority: m.priority,
            is_active: m.is_active,
            core_department: m.core_department,
            default_model: m.default_model,
            max_agent_steps: m.max_agent_steps,
            fallback_models: ModelEntry::list(&m.fallback_models),
        }
    }
}

impl Collection for Departments {
    const SLUG: &'static str = "departments";
    const SINGULAR: &'static str = "Department";
    const PLURAL: &'static str = "Departments";
    type Entity = departments::Entity;
    type View = DepartmentResponse;

    fn fields() -> &'static FieldMap {
        &FIELDS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    async fn render(
        _db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        _depth: u8,
    ) -> AppResult<Vec<Self::View>> {
        Ok(rows.into_iter().map(DepartmentResponse::from).collect())
    }

    async fn create(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        db::departments::create(db, DepartmentInput::from_json(body)?).await
    }

    async fn update(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let input =
            DepartmentInput::from_json(&merge(Self::document(db, row.clone()).await?, patch))?;
        db::departments::update(db, row.id, input).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::departments::delete(db, row.id).await
    }
}
