//! `SeaORM` Entity for `eval_datasets`: cases with expectations an agent is evaluated on.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "eval_datasets")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub name: String,
    pub agent_id: Option<i32>,
    pub judge_agent_id: Option<i32>,
    #[sea_orm(column_type = "JsonBinary")]
    pub cases: Json,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
