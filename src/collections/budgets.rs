//! Budgets (`/api/budgets`): spending limits per period (UTC day or month) over every run,
//! a department's, an agent's or a project's runs. The runner reserves each model call's
//! worst case against every active matching budget before the call (`db::budgets::reserve`);
//! a call that does not fit pauses its run (`pausedReason: "budget"`). Admins and editors
//! write; every user reads. `spentUsd`, `reservedUsd` and `periodStart` are read-only.

use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::agents::{AgentResponse, Agents};
use super::common::{CREATED_AT, ID, UPDATED_AT, col, relation};
use super::departments::{DepartmentResponse, Departments};
use super::projects::{ProjectResponse, Projects};
use super::{Collection, Relation, Row, populate, relation_field};
use crate::auth::current_user::CurrentUser;
use crate::db;
use crate::domain::budgets::{BudgetInput, period_start, to_usd};
use crate::domain::{fields::merge, iso, now};
use crate::entities::budgets;
use crate::error::AppResult;
use crate::query::{FieldMap, Scalar};

/// The queryable fields.
pub static FIELDS: FieldMap = FieldMap {
    table: "budgets",
    fields: &[
        ID,
        col("name", "name", Scalar::Text),
        col("scope", "scope", Scalar::Text),
        relation("department", "department_id", &super::departments::FIELDS),
        relation("agent", "agent_id", &super::agents::FIELDS),
        relation("project", "project_id", &super::projects::FIELDS),
        col("period", "period", Scalar::Text),
        col("warnAt", "warn_at", Scalar::Float),
        col("isActive", "is_active", Scalar::Bool),
        col("periodStart", "period_start", Scalar::Date),
        CREATED_AT,
        UPDATED_AT,
    ],
    open_json: None,
};

/// The budgets collection.
pub struct Budgets;

/// A budget as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetResponse {
    /// Id.
    pub id: i32,
    /// Display name.
    pub name: String,
    /// `global`, `department`, `agent` or `project`: which runs it limits.
    pub scope: String,
    /// The department (scope `department`).
    #[schema(schema_with = relation_field::<DepartmentResponse>)]
    pub department: Option<Relation<DepartmentResponse>>,
    /// The agent (scope `agent`).
    #[schema(schema_with = relation_field::<AgentResponse>)]
    pub agent: Option<Relation<AgentResponse>>,
    /// The project (scope `project`).
    #[schema(schema_with = relation_field::<ProjectResponse>)]
    pub project: Option<Relation<ProjectResponse>>,
    /// `day` or `month` (UTC).
    pub period: String,
    /// Most the matching runs may spend per period, in USD.
    pub limit_usd: f64,
    /// Fraction of the limit (0 < x ≤ 1) at which a `budget_warning` event is sent, once per
    /// period.
    pub warn_at: f64,
    /// Whether runs are held to it.
    pub is_active: bool,
    /// Read-only: spent in the current period, USD.
    pub spent_usd: f64,
    /// Read-only: held by model calls in flight (their worst case), USD.
    pub reserved_usd: f64,
    /// Read-only: start of the current period (RFC 3339, UTC midnight).
    pub period_start: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

/// Populated relations of a page of budgets.
#[derive(Default)]
struct Related {
    departments: HashMap<i32, DepartmentResponse>,
    agents: HashMap<i32, AgentResponse>,
    projects: HashMap<i32, ProjectResponse>,
}

impl BudgetResponse {
    fn new(m: &budgets::Model, related: &Related) -> Self {
        // A period that has ended spent nothing of the current one (the next reservation
        // rolls the row over).
        let current = period_start(&m.period, now());
        let spent = if m.period_start < current {
            0
        } else {
            m.spent_micros
        };
        Self {
            id: m.id,
            name: m.name.clone(),
            scope: m.scope.clone(),
            department: m
                .department_id
                .map(|id| Relation::of(id, related.departments.get(&id).cloned())),
            agent: m
                .agent_id
                .map(|id| Relation::of(id, related.agents.get(&id).cloned())),
            project: m
                .project_id
                .map(|id| Relation::of(id, related.projects.get(&id).cloned())),
            period: m.period.clone(),
            limit_usd: to_usd(m.limit_micros),
            warn_at: m.warn_at,
            is_active: m.is_active,
            spent_usd: to_usd(spent),
            reserved_usd: to_usd(m.reserved_micros.max(0)),
            period_start: iso(&m.period_start.max(current)),
            created_at: iso(&m.created_at),
            updated_at: iso(&m.updated_at),
        }
    }
}

impl Collection for Budgets {
    const SLUG: &'static str = "budgets";
    const SINGULAR: &'static str = "Budget";
    const PLURAL: &'static str = "Budgets";
    const ACCESS: &'static str = "Read: any user. Write: editors and admins. `spentUsd`, `reservedUsd` and `periodStart` are read-only. Raising `limitUsd` or deactivating (or deleting) a budget resumes the runs it paused.";
    type Entity = budgets::Entity;
    type View = BudgetResponse;

    fn fields() -> &'static FieldMap {
        &FIELDS
    }

    fn id(row: &Row<Self>) -> i32 {
        row.id
    }

    async fn render(
        db: &DatabaseConnection,
        rows: Vec<Row<Self>>,
        depth: u8,
    ) -> AppResult<Vec<Self::View>> {
        let related = if depth >= 1 {
            Related {
                departments: populate::<Departments>(
                    db,
                    rows.iter().filter_map(|r| r.department_id),
                    depth - 1,
                )
                .await?,
                agents: populate::<Agents>(db, rows.iter().filter_map(|r| r.agent_id), depth - 1)
                    .await?,
                projects: populate::<Projects>(
                    db,
                    rows.iter().filter_map(|r| r.project_id),
                    depth - 1,
                )
                .await?,
            }
        } else {
            Related::default()
        };
        Ok(rows
            .iter()
            .map(|r| BudgetResponse::new(r, &related))
            .collect())
    }

    async fn create(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        body: &Value,
    ) -> AppResult<Row<Self>> {
        db::budgets::create(db, BudgetInput::from_json(body)?).await
    }

    async fn update(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
        patch: &Value,
    ) -> AppResult<Row<Self>> {
        let input = BudgetInput::from_json(&merge(Self::document(db, row.clone()).await?, patch))?;
        db::budgets::update(db, row.id, input).await
    }

    async fn delete(
        db: &DatabaseConnection,
        _user: &CurrentUser,
        row: Row<Self>,
    ) -> AppResult<Row<Self>> {
        db::budgets::delete(db, row.id).await
    }

    async fn released_runs(
        db: &DatabaseConnection,
        before: &Row<Self>,
        after: Option<&Row<Self>>,
    ) -> AppResult<Vec<i32>> {
        // Raised, deactivated, deleted or moved to other runs: the runs it paused may go on
        // (a run still held by another budget pauses again at its next call).
        let released = match after {
            None => before.is_active,
            Some(after) => {
                (before.is_active && !after.is_active)
                    || (after.is_active && after.limit_micros > before.limit_micros)
                    || (
                        &before.scope,
                        before.department_id,
                        before.agent_id,
                        before.project_id,
                    ) != (
                        &after.scope,
                        after.department_id,
                        after.agent_id,
                        after.project_id,
                    )
            }
        };
        if !released {
            return Ok(Vec::new());
        }
        let mut ids = db::budgets::paused_runs(db, before).await?;
        if let Some(after) = after {
            ids.extend(db::budgets::paused_runs(db, after).await?);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }
}
