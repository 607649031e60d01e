//! The model price table, used when a provider does not report the cost of a call.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(Models::Table)
                    .col(pk_auto(Models::Id))
                    .col(string_uniq(Models::ModelId))
                    .col(string(Models::Provider))
                    .col(string(Models::DisplayName).default(""))
                    .col(double(Models::InputPricePerMTok))
                    .col(double(Models::OutputPricePerMTok))
                    .col(integer_null(Models::ContextWindow))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Models::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Models {
    Table,
    Id,
    ModelId,
    Provider,
    DisplayName,
    #[sea_orm(iden = "input_price_per_mtok")]
    InputPricePerMTok,
    #[sea_orm(iden = "output_price_per_mtok")]
    OutputPricePerMTok,
    ContextWindow,
}
