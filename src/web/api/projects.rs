//! `/api/projects`.

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::collection::{Collection, Row};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::projects::{ProjectInput, to_doc};
use crate::domain::{fields::merge, iso};
use crate::entities::projects;
use crate::error::AppResult;
use crate::query::{FieldMap, collections};

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

/// The projects with these ids, rendered, by id.
pub(crate) async fn populate(
    db: &DatabaseConnection,
    ids: impl IntoIterator<Item = i32>,
) -> AppResult<std::collections::HashMap<i32, ProjectResponse>> {
    let mut ids: Vec<i32> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(db::projects::find_by_ids(db, &ids)
        .await?
        .iter()
        .map(|p| (p.id, ProjectResponse::from(p)))
        .collect())
}

impl Collection for Projects {
    const SLUG: &'static str = "projects";
    const SINGULAR: &'static str = "Project";
    const PLURAL: &'static str = "Projects";
    const ACCESS: &'static str = "Read: any user. Write: editors and admins.";
    type Entity = projects::Entity;
    type View = ProjectResponse;

    fn fields() -> &'static FieldMap {
        &collections::PROJECTS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    async fn find(db: &DatabaseConnection, id: i32) -> AppResult<Option<Row<Self>>> {
        Ok(db::projects::find_by_id(db, id).await?)
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
        let input = ProjectInput::from_json(&merge(to_doc(&row), patch))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::now;

    #[test]
    fn the_view_matches_the_domain_document() {
        let m = projects::Model {
            id: 1,
            name: "Epic Quest".into(),
            slug: "epic-quest".into(),
            description: "d".into(),
            genre: "fantasy".into(),
            status: "development".into(),
            metadata: serde_json::json!({"a": 1}),
            created_at: now(),
            updated_at: now(),
        };
        assert_eq!(
            serde_json::to_value(ProjectResponse::from(&m)).ok(),
            Some(to_doc(&m))
        );
    }
}
