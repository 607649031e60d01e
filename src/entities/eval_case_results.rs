//! `SeaORM` Entity for `eval_case_results`: the verdict of one case of an eval run.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "eval_case_results")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub run_id: i32,
    pub case_index: i32,
    pub execution_id: Option<i32>,
    pub judge_execution_id: Option<i32>,
    pub passed: bool,
    #[sea_orm(column_type = "Double")]
    pub score: f64,
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    #[sea_orm(column_type = "Double")]
    pub cost_usd: f64,
    #[sea_orm(column_type = "Double")]
    pub judge_cost_usd: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
