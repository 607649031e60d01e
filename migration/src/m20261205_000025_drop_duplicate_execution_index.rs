//! Drops `idx_executions_created` (`created_at`): `idx_executions_created_id` (`created_at`,
//! `id`) serves every query it served, and on SQLite the two are the same index (an index
//! ends with the rowid, which is `id`). Every execution inserted wrote both.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEX: &str = "idx_executions_created";

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(INDEX)
                    .table(AgentExecutions::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(INDEX)
                    .table(AgentExecutions::Table)
                    .col(AgentExecutions::CreatedAt)
                    .to_owned(),
            )
            .await
    }
}
