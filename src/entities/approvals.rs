//! `SeaORM` Entity of `approvals`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Eq)]
#[sea_orm(table_name = "approvals")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub execution_id: i32,
    pub tool_call_id: String,
    pub tool_name: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub input: Json,
    pub status: String,
    pub decided_by: Option<i32>,
    pub decided_at: Option<DateTimeWithTimeZone>,
    #[sea_orm(column_type = "Text", nullable)]
    pub comment: Option<String>,
    pub expires_at: Option<DateTimeWithTimeZone>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
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
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::DecidedBy",
        to = "super::users::Column::Id",
        on_update = "NoAction",
        on_delete = "SetNull"
    )]
    Users,
}

impl Related<super::agent_executions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::AgentExecutions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
