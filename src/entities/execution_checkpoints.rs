//! `SeaORM` Entity for `execution_checkpoints` (see the migration that creates it).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "execution_checkpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub execution_id: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub n: i32,
    pub step: i32,
    pub elapsed_ms: i64,
    #[sea_orm(column_type = "JsonBinary")]
    pub messages: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::agent_executions::Entity",
        from = "Column::ExecutionId",
        to = "super::agent_executions::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    AgentExecutions,
}

impl Related<super::agent_executions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AgentExecutions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
