//! Agent executions (the run queue and history) and their append-only events.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

use crate::m20261123_000001_create_users::Users;
use crate::m20261123_000002_create_departments::Departments;
use crate::m20261123_000003_create_agents::Agents;
use crate::m20261123_000005_create_projects::Projects;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(AgentExecutions::Table)
                    .col(pk_auto(AgentExecutions::Id))
                    .col(integer_null(AgentExecutions::AgentId))
                    .col(string(AgentExecutions::AgentSlug))
                    .col(integer_null(AgentExecutions::DepartmentId))
                    .col(integer_null(AgentExecutions::ProjectId))
                    .col(string_null(AgentExecutions::EpisodeId))
                    .col(string(AgentExecutions::ConversationId))
                    .col(integer_null(AgentExecutions::ParentExecutionId))
                    .col(text(AgentExecutions::Prompt))
                    .col(json_binary(AgentExecutions::Params))
                    .col(string(AgentExecutions::Status))
                    .col(json_binary_null(AgentExecutions::Output))
                    .col(text_null(AgentExecutions::OutputText))
                    .col(big_integer_null(AgentExecutions::ExecutionTimeMs))
                    .col(big_integer(AgentExecutions::InputTokens).default(0))
                    .col(big_integer(AgentExecutions::OutputTokens).default(0))
                    .col(big_integer(AgentExecutions::TotalTokens).default(0))
                    .col(double_null(AgentExecutions::EstimatedCost))
                    .col(string_null(AgentExecutions::CostSource))
                    .col(text_null(AgentExecutions::ErrorMessage))
                    .col(string_null(AgentExecutions::ErrorCode))
                    .col(json_binary_null(AgentExecutions::ErrorDetails))
                    .col(integer(AgentExecutions::RetryCount).default(0))
                    .col(integer(AgentExecutions::MaxRetries).default(0))
                    .col(json_binary(AgentExecutions::AgentSnapshot))
                    .col(timestamp_with_time_zone_null(AgentExecutions::StartedAt))
                    .col(timestamp_with_time_zone_null(AgentExecutions::CompletedAt))
                    .col(integer_null(AgentExecutions::CreatedBy))
                    .col(boolean(AgentExecutions::CancelRequested).default(false))
                    .col(string_null(AgentExecutions::LeaseOwner))
                    .col(timestamp_with_time_zone_null(
                        AgentExecutions::LeaseExpiresAt,
                    ))
                    .foreign_key(&mut fk(AgentExecutions::AgentId, Agents::Table, Agents::Id))
                    .foreign_key(&mut fk(
                        AgentExecutions::DepartmentId,
                        Departments::Table,
                        Departments::Id,
                    ))
                    .foreign_key(&mut fk(
                        AgentExecutions::ProjectId,
                        Projects::Table,
                        Projects::Id,
                    ))
                    .foreign_key(&mut fk(AgentExecutions::CreatedBy, Users::Table, Users::Id))
                    .foreign_key(&mut fk(
                        AgentExecutions::ParentExecutionId,
                        AgentExecutions::Table,
                        AgentExecutions::Id,
                    ))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_executions_agent_created",
                vec![AgentExecutions::AgentId, AgentExecutions::CreatedAt],
            ),
            (
                "idx_executions_status_created",
                vec![AgentExecutions::Status, AgentExecutions::CreatedAt],
            ),
            (
                "idx_executions_project_created",
                vec![AgentExecutions::ProjectId, AgentExecutions::CreatedAt],
            ),
            (
                "idx_executions_department_created",
                vec![AgentExecutions::DepartmentId, AgentExecutions::CreatedAt],
            ),
            ("idx_executions_created", vec![AgentExecutions::CreatedAt]),
            (
                "idx_executions_conversation",
                vec![AgentExecutions::ConversationId, AgentExecutions::Id],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(AgentExecutions::Table);
            for col in cols {
                index.col(col);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ExecutionEvents::Table)
                    .if_not_exists()
                    .col(integer(ExecutionEvents::ExecutionId))
                    .col(big_integer(ExecutionEvents::Seq))
                    .col(string(ExecutionEvents::Type))
                    .col(json_binary(ExecutionEvents::Data))
                    .col(timestamp_with_time_zone(ExecutionEvents::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(ExecutionEvents::ExecutionId)
                            .col(ExecutionEvents::Seq),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExecutionEvents::Table, ExecutionEvents::ExecutionId)
                            .to(AgentExecutions::Table, AgentExecutions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExecutionEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AgentExecutions::Table).to_owned())
            .await
    }
}

/// A nullable reference that survives the deletion of its target: history outlives the
/// agents, projects and users it mentions.
fn fk(
    from: AgentExecutions,
    table: impl IntoIden + 'static,
    col: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(AgentExecutions::Table, from)
        .to(table, col)
        .on_delete(ForeignKeyAction::SetNull)
        .to_owned()
}

#[derive(DeriveIden, Clone, Copy)]
enum AgentExecutions {
    Table,
    Id,
    AgentId,
    AgentSlug,
    DepartmentId,
    ProjectId,
    EpisodeId,
    ConversationId,
    ParentExecutionId,
    Prompt,
    Params,
    Status,
    Output,
    OutputText,
    ExecutionTimeMs,
    InputTokens,
    OutputTokens,
    TotalTokens,
    EstimatedCost,
    CostSource,
    ErrorMessage,
    ErrorCode,
    ErrorDetails,
    RetryCount,
    MaxRetries,
    AgentSnapshot,
    StartedAt,
    CompletedAt,
    CreatedBy,
    CancelRequested,
    LeaseOwner,
    LeaseExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ExecutionEvents {
    Table,
    ExecutionId,
    Seq,
    Type,
    Data,
    CreatedAt,
}
