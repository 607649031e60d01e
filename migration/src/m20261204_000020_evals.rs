//! Evaluations and learning: `eval_datasets` (cases with expectations), `eval_runs` (a
//! dataset run against an agent's current config, an older version or a variant),
//! `eval_case_results` (one row per finished case, written as each case ends, so a run of many
//! cases never rewrites a growing array), and `agent_proposals` (prompt improvements written
//! by the optimizer agent).

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EvalDatasets {
    Table,
    Id,
    Name,
    AgentId,
    JudgeAgentId,
    Cases,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EvalRuns {
    Table,
    Id,
    DatasetId,
    AgentId,
    Version,
    Variant,
    Overrides,
    Status,
    TotalCases,
    PassedCases,
    PassRate,
    CostUsd,
    JudgeCostUsd,
    Error,
    StartedAt,
    CompletedAt,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum EvalCaseResults {
    Table,
    Id,
    RunId,
    CaseIndex,
    ExecutionId,
    JudgeExecutionId,
    Passed,
    Score,
    Reason,
    CostUsd,
    JudgeCostUsd,
}

#[derive(DeriveIden)]
enum AgentProposals {
    Table,
    Id,
    AgentId,
    BaseVersion,
    ProposedPrompt,
    Rationale,
    Diff,
    Status,
    ExecutionId,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

async fn created_index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden + 'static,
    created: impl IntoIden + 'static,
    id: impl IntoIden + 'static,
) -> Result<(), DbErr> {
    manager
        .create_index(
            Index::create()
                .if_not_exists()
                .name(name)
                .table(table)
                .col(created)
                .col(id)
                .to_owned(),
        )
        .await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(EvalDatasets::Table)
                    .col(pk_auto(EvalDatasets::Id))
                    .col(string(EvalDatasets::Name))
                    .col(integer_null(EvalDatasets::AgentId))
                    .col(integer_null(EvalDatasets::JudgeAgentId))
                    .col(json_binary(EvalDatasets::Cases))
                    .foreign_key(
                        ForeignKey::create()
                            .from(EvalDatasets::Table, EvalDatasets::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(EvalDatasets::Table, EvalDatasets::JudgeAgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        created_index(
            manager,
            "idx_eval_datasets_created_id",
            EvalDatasets::Table,
            EvalDatasets::CreatedAt,
            EvalDatasets::Id,
        )
        .await?;
        manager
            .create_table(
                table_auto(EvalRuns::Table)
                    .col(pk_auto(EvalRuns::Id))
                    .col(integer(EvalRuns::DatasetId))
                    .col(integer(EvalRuns::AgentId))
                    .col(integer_null(EvalRuns::Version))
                    .col(string_null(EvalRuns::Variant))
                    .col(json_binary_null(EvalRuns::Overrides))
                    .col(string(EvalRuns::Status).default("pending"))
                    .col(integer(EvalRuns::TotalCases).default(0))
                    .col(integer(EvalRuns::PassedCases).default(0))
                    .col(double_null(EvalRuns::PassRate))
                    .col(double(EvalRuns::CostUsd).default(0.0))
                    .col(double(EvalRuns::JudgeCostUsd).default(0.0))
                    .col(text_null(EvalRuns::Error))
                    .col(timestamp_with_time_zone_null(EvalRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(EvalRuns::CompletedAt))
                    .col(integer_null(EvalRuns::CreatedBy))
                    .foreign_key(
                        ForeignKey::create()
                            .from(EvalRuns::Table, EvalRuns::DatasetId)
                            .to(EvalDatasets::Table, EvalDatasets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(EvalRuns::Table, EvalRuns::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(EvalRuns::Table, EvalRuns::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        created_index(
            manager,
            "idx_eval_runs_created_id",
            EvalRuns::Table,
            EvalRuns::CreatedAt,
            EvalRuns::Id,
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table(EvalCaseResults::Table)
                    .if_not_exists()
                    .col(pk_auto(EvalCaseResults::Id))
                    .col(integer(EvalCaseResults::RunId))
                    .col(integer(EvalCaseResults::CaseIndex))
                    .col(integer_null(EvalCaseResults::ExecutionId))
                    .col(integer_null(EvalCaseResults::JudgeExecutionId))
                    .col(boolean(EvalCaseResults::Passed))
                    .col(double(EvalCaseResults::Score))
                    .col(text(EvalCaseResults::Reason).default(""))
                    .col(double(EvalCaseResults::CostUsd).default(0.0))
                    .col(double(EvalCaseResults::JudgeCostUsd).default(0.0))
                    .foreign_key(
                        ForeignKey::create()
                            .from(EvalCaseResults::Table, EvalCaseResults::RunId)
                            .to(EvalRuns::Table, EvalRuns::Id)
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
                    .name("idx_eval_case_results_run_case")
                    .table(EvalCaseResults::Table)
                    .col(EvalCaseResults::RunId)
                    .col(EvalCaseResults::CaseIndex)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table_auto(AgentProposals::Table)
                    .col(pk_auto(AgentProposals::Id))
                    .col(integer(AgentProposals::AgentId))
                    .col(integer_null(AgentProposals::BaseVersion))
                    .col(text(AgentProposals::ProposedPrompt))
                    .col(text(AgentProposals::Rationale).default(""))
                    .col(text(AgentProposals::Diff).default(""))
                    .col(string(AgentProposals::Status).default("proposed"))
                    .col(integer_null(AgentProposals::ExecutionId))
                    .col(integer_null(AgentProposals::CreatedBy))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AgentProposals::Table, AgentProposals::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AgentProposals::Table, AgentProposals::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        created_index(
            manager,
            "idx_agent_proposals_created_id",
            AgentProposals::Table,
            AgentProposals::CreatedAt,
            AgentProposals::Id,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AgentProposals::Table.into_iden(),
            EvalCaseResults::Table.into_iden(),
            EvalRuns::Table.into_iden(),
            EvalDatasets::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
