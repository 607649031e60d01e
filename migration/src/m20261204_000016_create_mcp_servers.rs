//! `mcp_servers`: MCP servers whose tools agents may call (`server/tool` in `toolNames`).
//! `headers` keeps secret values (never returned by the API); `tools` is what the last refresh
//! discovered; `department_ids` lists the departments it is shared with.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum McpServers {
    Table,
    Id,
    Name,
    Transport,
    Url,
    Command,
    Args,
    Headers,
    ToolAllowList,
    TimeoutMs,
    Approval,
    DepartmentIds,
    IsGlobal,
    IsActive,
    Tools,
    ToolsRefreshedAt,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(McpServers::Table)
                    .col(pk_auto(McpServers::Id))
                    .col(string_uniq(McpServers::Name))
                    .col(string(McpServers::Transport).default("http"))
                    .col(text_null(McpServers::Url))
                    .col(text_null(McpServers::Command))
                    .col(json_binary(McpServers::Args))
                    .col(json_binary(McpServers::Headers))
                    .col(json_binary(McpServers::ToolAllowList))
                    .col(integer(McpServers::TimeoutMs).default(30_000))
                    .col(json_binary(McpServers::Approval))
                    .col(json_binary(McpServers::DepartmentIds))
                    .col(boolean(McpServers::IsGlobal).default(false))
                    .col(boolean(McpServers::IsActive).default(true))
                    .col(json_binary(McpServers::Tools))
                    .col(timestamp_with_time_zone_null(McpServers::ToolsRefreshedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("idx_mcp_servers_created_id")
                    .table(McpServers::Table)
                    .col(McpServers::CreatedAt)
                    .col(McpServers::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(McpServers::Table).to_owned())
            .await
    }
}
