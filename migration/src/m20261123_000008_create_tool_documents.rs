//! Documents written by custom tools, in collections that are not built in (e.g.
//! `world-rules`), always scoped to one project.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

use crate::m20261123_000005_create_projects::Projects;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(ToolDocuments::Table)
                    .col(pk_auto(ToolDocuments::Id))
                    .col(string(ToolDocuments::Collection))
                    .col(integer(ToolDocuments::ProjectId))
                    .col(json_binary(ToolDocuments::Data))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ToolDocuments::Table, ToolDocuments::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tool_documents_project_collection")
                    .table(ToolDocuments::Table)
                    .col(ToolDocuments::ProjectId)
                    .col(ToolDocuments::Collection)
                    .col(ToolDocuments::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ToolDocuments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum ToolDocuments {
    Table,
    Id,
    Collection,
    ProjectId,
    Data,
}
