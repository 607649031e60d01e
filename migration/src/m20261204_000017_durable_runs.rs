//! Durable runs: the checkpointed `run_state` of an execution (provider-neutral messages and
//! the step reached) and the `paused_reason` of a paused run.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    RunState,
    PausedReason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            json_binary_null(AgentExecutions::RunState).to_owned(),
            string_null(AgentExecutions::PausedReason).to_owned(),
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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [AgentExecutions::RunState, AgentExecutions::PausedReason] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AgentExecutions::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
