//! Durable runs: the checkpointed `run_state` of an execution (provider-neutral messages and
//! the step reached), the `paused_reason` of a paused run, and an `id` on every stored event
//! (the read-only `execution-events` collection addresses events by it; `(execution_id, seq)`
//! stays unique). SQLite cannot add an auto-increment key to a table, so the events table is
//! rebuilt, its rows copied in order.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    RunState,
    PausedReason,
}

#[derive(DeriveIden, Clone, Copy)]
enum ExecutionEvents {
    Table,
    Id,
    ExecutionId,
    Seq,
    Type,
    Data,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentExecutionsKey {
    #[sea_orm(iden = "agent_executions")]
    Table,
    Id,
}

/// The rebuilt events table, before it takes the old one's name.
const NEW_EVENTS: &str = "execution_events_new";

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
        rebuild_events(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("idx_execution_events_execution_seq")
                    .table(ExecutionEvents::Table)
                    .to_owned(),
            )
            .await?;
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

/// Recreates `execution_events` with an auto-increment `id` primary key and a unique
/// `(execution_id, seq)`, keeping every row (ids follow the old order). The statements run
/// as one batch on one connection: on SQLite, a pooled connection that did not see the drop
/// would refuse the rename.
async fn rebuild_events(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let new = Alias::new(NEW_EVENTS);
    let create = Table::create()
        .table(new.clone())
        .col(pk_auto(ExecutionEvents::Id))
        .col(integer(ExecutionEvents::ExecutionId))
        .col(big_integer(ExecutionEvents::Seq))
        .col(string(ExecutionEvents::Type))
        .col(json_binary(ExecutionEvents::Data))
        .col(timestamp_with_time_zone(ExecutionEvents::CreatedAt))
        .foreign_key(
            ForeignKey::create()
                .from(new.clone(), ExecutionEvents::ExecutionId)
                .to(AgentExecutionsKey::Table, AgentExecutionsKey::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned();
    let columns = [
        ExecutionEvents::ExecutionId,
        ExecutionEvents::Seq,
        ExecutionEvents::Type,
        ExecutionEvents::Data,
        ExecutionEvents::CreatedAt,
    ];
    let mut select = Query::select();
    select
        .columns(columns)
        .from(ExecutionEvents::Table)
        .order_by(ExecutionEvents::ExecutionId, Order::Asc)
        .order_by(ExecutionEvents::Seq, Order::Asc);
    let copy = Query::insert()
        .into_table(new.clone())
        .columns(columns)
        .select_from(select)
        .map_err(|e| DbErr::Migration(e.to_string()))?
        .to_owned();
    let drop = Table::drop().table(ExecutionEvents::Table).to_owned();
    let rename = Table::rename()
        .table(new, ExecutionEvents::Table)
        .to_owned();
    let index = Index::create()
        .name("idx_execution_events_execution_seq")
        .table(ExecutionEvents::Table)
        .col(ExecutionEvents::ExecutionId)
        .col(ExecutionEvents::Seq)
        .unique()
        .to_owned();
    let backend = manager.get_database_backend();
    let batch = [
        backend.build(&create).to_string(),
        backend.build(&copy).to_string(),
        backend.build(&drop).to_string(),
        backend.build(&rename).to_string(),
        backend.build(&index).to_string(),
    ]
    .join(";\n");
    manager
        .get_connection()
        .execute_unprepared(&batch)
        .await
        .map(|_| ())
}
