//! `execution_checkpoints`: what each step of a running execution adds to its checkpoint
//! (`run_state`): the new messages, the step number and the run time. A step appends one
//! row instead of rewriting the whole conversation; the rows are folded into `run_state`
//! when the run stops, waits or is recovered, and onto it when a running run is read.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ExecutionCheckpoints {
    Table,
    Id,
    ExecutionId,
    Step,
    ElapsedMs,
    Messages,
}

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ExecutionCheckpoints::Table)
                    .if_not_exists()
                    .col(pk_auto(ExecutionCheckpoints::Id))
                    .col(integer(ExecutionCheckpoints::ExecutionId))
                    .col(integer(ExecutionCheckpoints::Step))
                    .col(big_integer(ExecutionCheckpoints::ElapsedMs))
                    .col(json_binary(ExecutionCheckpoints::Messages))
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                ExecutionCheckpoints::Table,
                                ExecutionCheckpoints::ExecutionId,
                            )
                            .to(AgentExecutions::Table, AgentExecutions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_execution_checkpoints_execution")
                    .table(ExecutionCheckpoints::Table)
                    .col(ExecutionCheckpoints::ExecutionId)
                    .col(ExecutionCheckpoints::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExecutionCheckpoints::Table).to_owned())
            .await
    }
}
