//! Departments group agents and share tools.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(Departments::Table)
                    .col(pk_auto(Departments::Id))
                    .col(string_uniq(Departments::Slug))
                    .col(string(Departments::Name))
                    .col(text(Departments::Description).default(""))
                    .col(string(Departments::Icon).default(""))
                    .col(string(Departments::Color).default("#6366f1"))
                    .col(integer(Departments::Priority).default(0))
                    .col(boolean(Departments::IsActive).default(true))
                    .col(boolean(Departments::CoreDepartment).default(false))
                    .col(string(Departments::DefaultModel).default(""))
                    .col(integer_null(Departments::MaxAgentSteps))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Departments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Departments {
    Table,
    Id,
    Slug,
    Name,
    Description,
    Icon,
    Color,
    Priority,
    IsActive,
    CoreDepartment,
    DefaultModel,
    MaxAgentSteps,
}
