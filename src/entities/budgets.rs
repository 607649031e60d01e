//! `SeaORM` Entity of `budgets`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "budgets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
    pub scope: String,
    pub department_id: Option<i32>,
    pub agent_id: Option<i32>,
    pub project_id: Option<i32>,
    pub period: String,
    pub limit_micros: i64,
    #[sea_orm(column_type = "Double")]
    pub warn_at: f64,
    pub is_active: bool,
    pub spent_micros: i64,
    pub reserved_micros: i64,
    pub period_start: DateTimeWithTimeZone,
    pub warned_period: Option<DateTimeWithTimeZone>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
