//! Agents. Performance counters are plain columns so that the runner can update them with
//! atomic increments; averages and rates are derived when read.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

use crate::m20261123_000002_create_departments::Departments;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(Agents::Table)
                    .col(pk_auto(Agents::Id))
                    .col(string_uniq(Agents::AgentId))
                    .col(string(Agents::Name))
                    .col(text(Agents::Description).default(""))
                    .col(integer(Agents::DepartmentId))
                    .col(boolean(Agents::IsDepartmentHead).default(false))
                    .col(string(Agents::Model).default(""))
                    .col(text(Agents::InstructionsPrompt).default(""))
                    .col(json_binary(Agents::ToolNames))
                    .col(integer_null(Agents::MaxAgentSteps))
                    .col(boolean(Agents::IsActive).default(true))
                    .col(json_binary(Agents::ExecutionSettings))
                    .col(json_binary_null(Agents::OutputSchema))
                    .col(big_integer(Agents::TotalExecutions).default(0))
                    .col(big_integer(Agents::SuccessfulExecutions).default(0))
                    .col(big_integer(Agents::FailedExecutions).default(0))
                    .col(big_integer(Agents::TotalExecutionTimeMs).default(0))
                    .col(timestamp_with_time_zone_null(Agents::LastExecutedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Agents::Table, Agents::DepartmentId)
                            .to(Departments::Table, Departments::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_agents_department")
                    .table(Agents::Table)
                    .col(Agents::DepartmentId)
                    .to_owned(),
            )
            .await?;
        // At most one head per department: a partial unique index (SQLite and PostgreSQL both
        // support `WHERE` on indexes), so the rule holds even under concurrent writes.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_agents_one_head_per_department \
                 ON agents (department_id) WHERE is_department_head = TRUE",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Agents::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum Agents {
    Table,
    Id,
    AgentId,
    Name,
    Description,
    DepartmentId,
    IsDepartmentHead,
    Model,
    InstructionsPrompt,
    ToolNames,
    MaxAgentSteps,
    IsActive,
    ExecutionSettings,
    OutputSchema,
    TotalExecutions,
    SuccessfulExecutions,
    FailedExecutions,
    TotalExecutionTimeMs,
    LastExecutedAt,
}
