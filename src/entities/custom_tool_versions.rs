//! `SeaORM` Entity for `custom_tool_versions`: one immutable row per saved configuration.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_tool_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub tool_id: i32,
    pub version: i32,
    #[sea_orm(column_type = "JsonBinary")]
    pub snapshot: Json,
    pub created_by: Option<i32>,
    #[sea_orm(column_type = "Text")]
    pub change_note: String,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
