//! Multi-agent runs: `agents.spawnable_agents` (`[{agentId}]`), and on executions the
//! nesting `depth`, the `chain_id` of a chain execution and the `aggregate_usage` of a tree.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Agents {
    Table,
    SpawnableAgents,
}

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    Depth,
    ChainId,
    AggregateUsage,
    ParentExecutionId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Agents::Table)
                    .add_column(json_binary(Agents::SpawnableAgents).default("[]"))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [
            integer(AgentExecutions::Depth).default(0).to_owned(),
            integer_null(AgentExecutions::ChainId).to_owned(),
            json_binary_null(AgentExecutions::AggregateUsage).to_owned(),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(AgentExecutions::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        for (name, col) in [
            ("idx_executions_parent", AgentExecutions::ParentExecutionId),
            ("idx_executions_chain", AgentExecutions::ChainId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name(name)
                        .table(AgentExecutions::Table)
                        .col(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_executions_parent", "idx_executions_chain"] {
            manager
                .drop_index(
                    Index::drop()
                        .if_exists()
                        .name(name)
                        .table(AgentExecutions::Table)
                        .to_owned(),
                )
                .await?;
        }
        for col in [
            AgentExecutions::Depth,
            AgentExecutions::ChainId,
            AgentExecutions::AggregateUsage,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AgentExecutions::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Agents::Table)
                    .drop_column(Agents::SpawnableAgents)
                    .to_owned(),
            )
            .await
    }
}
