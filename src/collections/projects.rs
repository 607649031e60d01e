//! Projects (`/api/projects`): the data tools read, each project isolated from the others.

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::common::{CREATED_AT, ID, UPDATED_AT, col, json};
use super::{Collection, Row};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::projects::ProjectInput;
use crate::domain::{fields::merge, iso};
use crate::entities::projects;
use crate::error::AppResult;
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "projects",
    fields: &[
        ID,
        col("name", "name", Scalar::Text),
        col("slug", "slug", Scalar::Text),
        col("description", "description", Scalar::Text),
        col("genre", "genre", Scalar::Text),
        col("status", "status", Scalar::Text),
        json("metadata", "metadata"),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The projects collection.
pub struct Projects;

/// A project as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectResponse {
    /// Id.
    pub id: i32,
    /// Display name.
    pub name: String,
    /// Unique slug.
    pub slug: String,
    /// Synopsis.
    pub description: String,
    /// Genre, e.g. `fantasy`.
    pub genre: String,
    /// Status, e.g. `in-development`.
    pub status: String,
    /// Further project data (a JSON object).
    pub metadata: Value,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

impl From<&projects::Model> for ProjectResponse {
    fn from(m: &projects::Model) -> Self {
        Self {
            id: m.id,
            name: m.name.clone(),
            slug: m.slug.clone(),
            description: m.description.clone(),
            genre: m.genre.clone(),
            status: m.status.clone(),
            metadata: m.metadata.clone(),
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

impl Collection for Projects {
    const SLUG: &'static str = "projects";
    const SINGULAR: &'static str = "Project";
    const PLURAL: &'static str = "Projects";
    type Entity = projects::Entity;
    type View = ProjectResponse;

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
        Ok(rows.iter().map(ProjectResponse::from).collect())
    }

    async fn create(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        db::projects::create(db, ProjectInput::from_json(body)?).await
    }

    async fn update(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let input = ProjectInput::from_json(&merge(Self::document(db, row.clone()).await?, patch))?;
        db::projects::update(db, row.id, input).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::projects::delete(db, row.id).await
    }
}
