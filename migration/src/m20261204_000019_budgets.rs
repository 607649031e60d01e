//! Budgets that pause: the `budgets` table (money in integer micro-USD, so the reservation's
//! conditional UPDATE compares exact sums on both engines) and `allow_over_budget` on
//! executions (an admin's resume that ignores budgets for that run survives restarts).

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Budgets {
    Table,
    Id,
    Name,
    Scope,
    DepartmentId,
    AgentId,
    ProjectId,
    Period,
    LimitMicros,
    WarnAt,
    IsActive,
    SpentMicros,
    ReservedMicros,
    PeriodStart,
    WarnedPeriod,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Departments {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Agents {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Projects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    AllowOverBudget,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(Budgets::Table)
                    .col(pk_auto(Budgets::Id))
                    .col(string(Budgets::Name))
                    .col(string(Budgets::Scope).default("global"))
                    .col(integer_null(Budgets::DepartmentId))
                    .col(integer_null(Budgets::AgentId))
                    .col(integer_null(Budgets::ProjectId))
                    .col(string(Budgets::Period).default("month"))
                    .col(big_integer(Budgets::LimitMicros))
                    .col(double(Budgets::WarnAt).default(0.8))
                    .col(boolean(Budgets::IsActive).default(true))
                    .col(big_integer(Budgets::SpentMicros).default(0))
                    .col(big_integer(Budgets::ReservedMicros).default(0))
                    .col(timestamp_with_time_zone(Budgets::PeriodStart))
                    .col(timestamp_with_time_zone_null(Budgets::WarnedPeriod))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Budgets::Table, Budgets::DepartmentId)
                            .to(Departments::Table, Departments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Budgets::Table, Budgets::AgentId)
                            .to(Agents::Table, Agents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Budgets::Table, Budgets::ProjectId)
                            .to(Projects::Table, Projects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_budgets_created_id")
                    .table(Budgets::Table)
                    .col(Budgets::CreatedAt)
                    .col(Budgets::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AgentExecutions::Table)
                    .add_column(boolean(AgentExecutions::AllowOverBudget).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AgentExecutions::Table)
                    .drop_column(AgentExecutions::AllowOverBudget)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Budgets::Table).to_owned())
            .await
    }
}
