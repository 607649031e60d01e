//! `SeaORM` Entity for `execution_feedback`: one rating per user per execution.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "execution_feedback")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub execution_id: i32,
    pub user_id: i32,
    pub rating: i16,
    #[sea_orm(column_type = "Text")]
    pub comment: String,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
