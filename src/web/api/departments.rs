//! `/api/departments`.

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::collection::{Collection, Row};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::departments::{DepartmentInput, to_doc};
use crate::domain::{fields::merge, iso};
use crate::entities::departments;
use crate::error::AppResult;
use crate::query::{FieldMap, collections};

/// The departments collection.
pub struct Departments;

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
        }
    }
}

/// The departments with these ids, rendered, by id (for populating relations).
pub(crate) async fn populate(
    db: &DatabaseConnection,
    ids: impl IntoIterator<Item = i32>,
) -> AppResult<std::collections::HashMap<i32, DepartmentResponse>> {
    let mut ids: Vec<i32> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(db::departments::find_by_ids(db, &ids)
        .await?
        .into_iter()
        .map(|d| (d.id, DepartmentResponse::from(d)))
        .collect())
}

impl Collection for Departments {
    const SLUG: &'static str = "departments";
    const SINGULAR: &'static str = "Department";
    const PLURAL: &'static str = "Departments";
    const ACCESS: &'static str = "Read: any user. Write: editors and admins.";
    type Entity = departments::Entity;
    type View = DepartmentResponse;

    fn fields() -> &'static FieldMap {
        &collections::DEPARTMENTS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    async fn find(db: &DatabaseConnection, id: i32) -> AppResult<Option<Row<Self>>> {
        Ok(db::departments::find_by_id(db, id).await?)
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
        let input = DepartmentInput::from_json(&merge(to_doc(&row), patch))?;
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::now;

    /// A department row for view tests.
    pub(crate) fn row() -> departments::Model {
        departments::Model {
            id: 3,
            slug: "story".into(),
            name: "Story".into(),
            description: "Plots".into(),
            icon: "📖".into(),
            color: "#aabbcc".into(),
            priority: 2,
            is_active: true,
            core_department: false,
            default_model: String::new(),
            max_agent_steps: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    #[test]
    fn the_view_matches_the_domain_document() {
        let m = row();
        assert_eq!(
            serde_json::to_value(DepartmentResponse::from(m.clone())).ok(),
            Some(to_doc(&m))
        );
    }
}
