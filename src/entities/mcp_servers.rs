//! `SeaORM` Entity of `mcp_servers`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "mcp_servers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub name: String,
    pub transport: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub url: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub command: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub args: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub headers: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub tool_allow_list: Json,
    pub timeout_ms: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub approval: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub department_ids: Json,
    pub is_global: bool,
    pub is_active: bool,
    #[sea_orm(column_type = "JsonBinary")]
    pub tools: Json,
    pub tools_refreshed_at: Option<DateTimeWithTimeZone>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
