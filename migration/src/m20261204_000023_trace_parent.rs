//! `trace_parent` on executions: the W3C `traceparent` of the span a run was queued under
//! (the HTTP request that started it), stored only when traces are on, so that whichever
//! instance claims the run, and a resumption after a restart, traces it in the caller's trace.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    TraceParent,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AgentExecutions::Table)
                    .add_column(string_null(AgentExecutions::TraceParent))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AgentExecutions::Table)
                    .drop_column(AgentExecutions::TraceParent)
                    .to_owned(),
            )
            .await
    }
}
