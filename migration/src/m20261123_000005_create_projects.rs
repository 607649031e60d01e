//! Projects: the data that tools read, and the scope of tool documents.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(Projects::Table)
                    .col(pk_auto(Projects::Id))
                    .col(string(Projects::Name))
                    .col(string_uniq(Projects::Slug))
                    .col(text(Projects::Description).default(""))
                    .col(string(Projects::Genre).default(""))
                    .col(string(Projects::Status).default("development"))
                    .col(json_binary(Projects::Metadata))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Projects::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Projects {
    Table,
    Id,
    Name,
    Slug,
    Description,
    Genre,
    Status,
    Metadata,
}
