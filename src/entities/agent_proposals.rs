//! `SeaORM` Entity for `agent_proposals`: an improved prompt proposed by the optimizer agent.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_proposals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub agent_id: i32,
    pub base_version: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub proposed_prompt: String,
    #[sea_orm(column_type = "Text")]
    pub rationale: String,
    #[sea_orm(column_type = "Text")]
    pub diff: String,
    pub status: String,
    pub execution_id: Option<i32>,
    pub created_by: Option<i32>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
