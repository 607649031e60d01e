//! Human in the loop: `approvals` (one row per tool call that waits for a person, unique per
//! execution and call id, so a call is never asked about twice), the `approval` rule of custom
//! tools and the `approval_rules` of agents.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Approvals {
    Table,
    Id,
    ExecutionId,
    ToolCallId,
    ToolName,
    Input,
    Status,
    DecidedBy,
    DecidedAt,
    Comment,
    ExpiresAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum CustomTools {
    Table,
    Approval,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    ApprovalRules,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(Approvals::Table)
                    .col(pk_auto(Approvals::Id))
                    .col(integer(Approvals::ExecutionId))
                    .col(string(Approvals::ToolCallId))
                    .col(string(Approvals::ToolName))
                    .col(json_binary(Approvals::Input))
                    .col(string(Approvals::Status).default("pending"))
                    .col(integer_null(Approvals::DecidedBy))
                    .col(timestamp_with_time_zone_null(Approvals::DecidedAt))
                    .col(text_null(Approvals::Comment))
                    .col(timestamp_with_time_zone_null(Approvals::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Approvals::Table, Approvals::ExecutionId)
                            .to(AgentExecutions::Table, AgentExecutions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Approvals::Table, Approvals::DecidedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols, unique) in [
            (
                "idx_approvals_execution_call",
                vec![Approvals::ExecutionId, Approvals::ToolCallId],
                true,
            ),
            (
                "idx_approvals_status_expires",
                vec![Approvals::Status, Approvals::ExpiresAt],
                false,
            ),
            (
                "idx_approvals_created_id",
                vec![Approvals::CreatedAt, Approvals::Id],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.if_not_exists().name(name).table(Approvals::Table);
            for col in cols {
                index.col(col);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(CustomTools::Table)
                    .add_column(json_binary_null(CustomTools::Approval))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Agents::Table)
                    .add_column(json_binary_null(Agents::ApprovalRules))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Agents::Table)
                    .drop_column(Agents::ApprovalRules)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CustomTools::Table)
                    .drop_column(CustomTools::Approval)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Approvals::Table).to_owned())
            .await
    }
}
