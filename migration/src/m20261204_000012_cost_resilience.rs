//! Cost and provider resilience: cache prices on `models`; `fallback_models` on agents and
//! departments and `model_routing` on agents; on executions the cache token counts and the
//! usage split per model (`usage_by_model`); an index of events by type and time.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Models {
    Table,
    CacheReadPricePerMtok,
    CacheWritePricePerMtok,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    FallbackModels,
    ModelRouting,
}

#[derive(DeriveIden)]
enum Departments {
    Table,
    FallbackModels,
}

#[derive(DeriveIden)]
enum ExecutionEvents {
    Table,
    Type,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    CacheReadTokens,
    CacheWriteTokens,
    UsageByModel,
}

/// One column added to `table` (SQLite adds one column per ALTER TABLE).
async fn add(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    mut column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column(&mut column)
                .to_owned(),
        )
        .await
}

async fn drop(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: impl IntoIden,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add(
            manager,
            Models::Table,
            double_null(Models::CacheReadPricePerMtok),
        )
        .await?;
        add(
            manager,
            Models::Table,
            double_null(Models::CacheWritePricePerMtok),
        )
        .await?;
        add(
            manager,
            Agents::Table,
            json_binary(Agents::FallbackModels).default("[]").to_owned(),
        )
        .await?;
        add(
            manager,
            Agents::Table,
            json_binary(Agents::ModelRouting).default("[]").to_owned(),
        )
        .await?;
        add(
            manager,
            Departments::Table,
            json_binary(Departments::FallbackModels)
                .default("[]")
                .to_owned(),
        )
        .await?;
        add(
            manager,
            AgentExecutions::Table,
            big_integer(AgentExecutions::CacheReadTokens)
                .default(0)
                .to_owned(),
        )
        .await?;
        add(
            manager,
            AgentExecutions::Table,
            big_integer(AgentExecutions::CacheWriteTokens)
                .default(0)
                .to_owned(),
        )
        .await?;
        add(
            manager,
            AgentExecutions::Table,
            json_binary_null(AgentExecutions::UsageByModel),
        )
        .await?;
        // The spend page counts fallbacks and breaker trips by day without a scan.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_events_type_created")
                    .table(ExecutionEvents::Table)
                    .col(ExecutionEvents::Type)
                    .col(ExecutionEvents::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("idx_events_type_created")
                    .table(ExecutionEvents::Table)
                    .to_owned(),
            )
            .await?;
        drop(
            manager,
            AgentExecutions::Table,
            AgentExecutions::UsageByModel,
        )
        .await?;
        drop(
            manager,
            AgentExecutions::Table,
            AgentExecutions::CacheWriteTokens,
        )
        .await?;
        drop(
            manager,
            AgentExecutions::Table,
            AgentExecutions::CacheReadTokens,
        )
        .await?;
        drop(manager, Departments::Table, Departments::FallbackModels).await?;
        drop(manager, Agents::Table, Agents::ModelRouting).await?;
        drop(manager, Agents::Table, Agents::FallbackModels).await?;
        drop(manager, Models::Table, Models::CacheWritePricePerMtok).await?;
        drop(manager, Models::Table, Models::CacheReadPricePerMtok).await
    }
}
