//! `execution_checkpoints`: what each step of a running execution adds to its checkpoint
//! (`run_state`): the new messages, the step number and the run time, numbered `n` per
//! execution. A step appends one row instead of rewriting the whole conversation; a
//! checkpoint is read as `run_state` with its steps on top.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ExecutionCheckpoints {
    Table,
    ExecutionId,
    N,
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
        // Keyed by (execution, n): a step's INSERT touches one B-tree (on SQLite the table is
        // `WITHOUT ROWID`, clustered by that key), and an execution's steps are one range.
        let table = Table::create()
            .table(ExecutionCheckpoints::Table)
            .if_not_exists()
            .col(integer(ExecutionCheckpoints::ExecutionId))
            .col(integer(ExecutionCheckpoints::N))
            .col(integer(ExecutionCheckpoints::Step))
            .col(big_integer(ExecutionCheckpoints::ElapsedMs))
            .col(json_binary(ExecutionCheckpoints::Messages))
            .primary_key(
                Index::create()
                    .col(ExecutionCheckpoints::ExecutionId)
                    .col(ExecutionCheckpoints::N),
            )
            .foreign_key(
                ForeignKey::create()
                    .from(
                        ExecutionCheckpoints::Table,
                        ExecutionCheckpoints::ExecutionId,
                    )
                    .to(AgentExecutions::Table, AgentExecutions::Id)
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned();
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::Sqlite => {
                let sql = format!("{} WITHOUT ROWID", table.to_string(SqliteQueryBuilder));
                manager
                    .get_connection()
                    .execute_unprepared(&sql)
                    .await
                    .map(|_| ())
            }
            _ => manager.create_table(table).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExecutionCheckpoints::Table).to_owned())
            .await
    }
}
