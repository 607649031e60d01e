//! `SeaORM` Entity for `eval_runs`: one run of a dataset against an agent configuration.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "eval_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub dataset_id: i32,
    pub agent_id: i32,
    pub version: Option<i32>,
    pub variant: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub overrides: Option<Json>,
    pub status: String,
    pub total_cases: i32,
    pub passed_cases: i32,
    #[sea_orm(column_type = "Double", nullable)]
    pub pass_rate: Option<f64>,
    #[sea_orm(column_type = "Double")]
    pub cost_usd: f64,
    #[sea_orm(column_type = "Double")]
    pub judge_cost_usd: f64,
    #[sea_orm(column_type = "Text", nullable)]
    pub error: Option<String>,
    pub started_at: Option<DateTimeWithTimeZone>,
    pub completed_at: Option<DateTimeWithTimeZone>,
    pub created_by: Option<i32>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
