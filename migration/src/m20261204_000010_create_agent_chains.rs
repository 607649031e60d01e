//! `agent_chains`: deterministic sequences of agent runs (`steps` is a JSON array of
//! `{agentId, prompt, parallel?: [{agentId, prompt}]}`).

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AgentChains {
    Table,
    Id,
    ChainId,
    Name,
    Description,
    IsActive,
    Steps,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(AgentChains::Table)
                    .col(pk_auto(AgentChains::Id))
                    .col(string_uniq(AgentChains::ChainId))
                    .col(string(AgentChains::Name))
                    .col(text(AgentChains::Description).default(""))
                    .col(boolean(AgentChains::IsActive).default(true))
                    .col(json_binary(AgentChains::Steps))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_agent_chains_created_id")
                    .table(AgentChains::Table)
                    .col(AgentChains::CreatedAt)
                    .col(AgentChains::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AgentChains::Table).to_owned())
            .await
    }
}
