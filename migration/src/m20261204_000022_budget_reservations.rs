//! `budget_reservations`: which run holds how much of which budget during a model call. The
//! budgets' `reserved_micros` is their sum; a run whose process died mid-call (kill -9) leaves
//! its rows behind, and the recovery that takes the run over gives them back in its
//! transaction, so a dead process never shrinks a budget for good.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BudgetReservations {
    Table,
    Id,
    ExecutionId,
    BudgetId,
    AmountMicros,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AgentExecutions {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Budgets {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BudgetReservations::Table)
                    .if_not_exists()
                    .col(pk_auto(BudgetReservations::Id))
                    .col(integer(BudgetReservations::ExecutionId))
                    .col(integer(BudgetReservations::BudgetId))
                    .col(big_integer(BudgetReservations::AmountMicros))
                    .col(timestamp_with_time_zone(BudgetReservations::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BudgetReservations::Table, BudgetReservations::ExecutionId)
                            .to(AgentExecutions::Table, AgentExecutions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(BudgetReservations::Table, BudgetReservations::BudgetId)
                            .to(Budgets::Table, Budgets::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_budget_reservations_execution")
                    .table(BudgetReservations::Table)
                    .col(BudgetReservations::ExecutionId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_budget_reservations_budget")
                    .table(BudgetReservations::Table)
                    .col(BudgetReservations::BudgetId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BudgetReservations::Table).to_owned())
            .await
    }
}
