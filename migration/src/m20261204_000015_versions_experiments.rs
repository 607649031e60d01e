//! Versions, experiments and feedback: `agent_versions` and `custom_tool_versions` (one
//! immutable row per create or update, `version` 1..n per parent), `experiments` (weighted
//! variants of an agent, at most one running per agent), `execution_feedback` (one rating per
//! user per execution), and on executions the `agent_version`, `tool_versions`,
//! `experiment_id` and `variant` stamps.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AgentVersions {
    Table,
    Id,
    AgentId,
    Version,
    Snapshot,
    CreatedBy,
    ChangeNote,
}

#[derive(DeriveIden)]
enum CustomToolVersions {
    Table,
    Id,
    ToolId,
    Version,
    Snapshot,
    CreatedBy,
    ChangeNote,
}

#[derive(DeriveIden)]
enum Experiments {
    Table,
    Id,
    Name,
    AgentId,
    Status,
    Variants,
    StickyBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ExecutionFeedback {
    Table,
    Id,
    ExecutionId,
    UserId,
    Rating,
    Comment,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    Id,
    AgentVersion,
    ToolVersions,
    ExperimentId,
    Variant,
    ExecutionTimeMs,
    Status,
    EstimatedCost,
    TotalTokens,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CustomTools {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(AgentVersions::Table)
                    .col(pk_auto(AgentVersions::Id))
                    .col(integer(AgentVersions::AgentId))
                    .col(integer(AgentVersions::Version))
                    .col(json_binary(AgentVersions::Snapshot))
                    .col(integer_null(AgentVersions::CreatedBy))
                    .col(text(AgentVersions::ChangeNote).default(""))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AgentVersions::Table, AgentVersions::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AgentVersions::Table, AgentVersions::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .unique()
                    .name("idx_agent_versions_agent_version")
                    .table(AgentVersions::Table)
                    .col(AgentVersions::AgentId)
                    .col(AgentVersions::Version)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table_auto(CustomToolVersions::Table)
                    .col(pk_auto(CustomToolVersions::Id))
                    .col(integer(CustomToolVersions::ToolId))
                    .col(integer(CustomToolVersions::Version))
                    .col(json_binary(CustomToolVersions::Snapshot))
                    .col(integer_null(CustomToolVersions::CreatedBy))
                    .col(text(CustomToolVersions::ChangeNote).default(""))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomToolVersions::Table, CustomToolVersions::ToolId)
                            .to(CustomTools::Table, CustomTools::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomToolVersions::Table, CustomToolVersions::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .unique()
                    .name("idx_custom_tool_versions_tool_version")
                    .table(CustomToolVersions::Table)
                    .col(CustomToolVersions::ToolId)
                    .col(CustomToolVersions::Version)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table_auto(Experiments::Table)
                    .col(pk_auto(Experiments::Id))
                    .col(string(Experiments::Name))
                    .col(integer(Experiments::AgentId))
                    .col(string(Experiments::Status).default("draft"))
                    .col(json_binary(Experiments::Variants))
                    .col(string(Experiments::StickyBy).default("conversation"))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Experiments::Table, Experiments::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_experiments_created_id")
                    .table(Experiments::Table)
                    .col(Experiments::CreatedAt)
                    .col(Experiments::Id)
                    .to_owned(),
            )
            .await?;
        // One running experiment per agent, enforced by the database too (partial index:
        // the same statement on SQLite and PostgreSQL).
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS idx_experiments_one_running \
                 ON experiments (agent_id) WHERE status = 'running'",
            )
            .await?;
        manager
            .create_table(
                table_auto(ExecutionFeedback::Table)
                    .col(pk_auto(ExecutionFeedback::Id))
                    .col(integer(ExecutionFeedback::ExecutionId))
                    .col(integer(ExecutionFeedback::UserId))
                    .col(small_integer(ExecutionFeedback::Rating))
                    .col(text(ExecutionFeedback::Comment).default(""))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExecutionFeedback::Table, ExecutionFeedback::ExecutionId)
                            .to(AgentExecutions::Table, AgentExecutions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ExecutionFeedback::Table, ExecutionFeedback::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .unique()
                    .name("idx_execution_feedback_execution_user")
                    .table(ExecutionFeedback::Table)
                    .col(ExecutionFeedback::ExecutionId)
                    .col(ExecutionFeedback::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_execution_feedback_created_id")
                    .table(ExecutionFeedback::Table)
                    .col(ExecutionFeedback::CreatedAt)
                    .col(ExecutionFeedback::Id)
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [
            integer_null(AgentExecutions::AgentVersion).to_owned(),
            json_binary_null(AgentExecutions::ToolVersions).to_owned(),
            integer_null(AgentExecutions::ExperimentId).to_owned(),
            string_null(AgentExecutions::Variant).to_owned(),
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
        // The results of an experiment: grouped by variant, durations read in order for the
        // percentiles, and every aggregated column in the index, so that neither statement
        // reads the (wide) table rows.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_executions_experiment_variant")
                    .table(AgentExecutions::Table)
                    .col(AgentExecutions::ExperimentId)
                    .col(AgentExecutions::Variant)
                    .col(AgentExecutions::ExecutionTimeMs)
                    .col(AgentExecutions::Status)
                    .col(AgentExecutions::EstimatedCost)
                    .col(AgentExecutions::TotalTokens)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name("idx_executions_experiment_variant")
                    .table(AgentExecutions::Table)
                    .to_owned(),
            )
            .await?;
        for col in [
            AgentExecutions::AgentVersion,
            AgentExecutions::ToolVersions,
            AgentExecutions::ExperimentId,
            AgentExecutions::Variant,
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
        for table in [
            ExecutionFeedback::Table.into_iden(),
            Experiments::Table.into_iden(),
            CustomToolVersions::Table.into_iden(),
            AgentVersions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
