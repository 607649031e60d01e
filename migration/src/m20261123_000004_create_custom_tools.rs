//! Custom tools (JavaScript run in the sandbox) and the departments they are shared with.

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
                table_auto(CustomTools::Table)
                    .col(pk_auto(CustomTools::Id))
                    .col(string_uniq(CustomTools::ToolName))
                    .col(string(CustomTools::DisplayName).default(""))
                    .col(text(CustomTools::Description).default(""))
                    .col(json_binary(CustomTools::InputSchema))
                    .col(json_binary(CustomTools::ExampleInputs))
                    .col(text(CustomTools::ExecuteFunction))
                    .col(boolean(CustomTools::IsGlobal).default(false))
                    .col(boolean(CustomTools::IsActive).default(true))
                    .col(integer(CustomTools::TimeoutMs).default(5000))
                    .col(string(CustomTools::Version).default("1.0.0"))
                    .col(big_integer(CustomTools::TotalCalls).default(0))
                    .col(big_integer(CustomTools::FailedCalls).default(0))
                    .col(big_integer(CustomTools::TotalExecutionTimeMs).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CustomToolDepartments::Table)
                    .if_not_exists()
                    .col(integer(CustomToolDepartments::ToolId))
                    .col(integer(CustomToolDepartments::DepartmentId))
                    .primary_key(
                        Index::create()
                            .col(CustomToolDepartments::ToolId)
                            .col(CustomToolDepartments::DepartmentId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomToolDepartments::Table, CustomToolDepartments::ToolId)
                            .to(CustomTools::Table, CustomTools::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                CustomToolDepartments::Table,
                                CustomToolDepartments::DepartmentId,
                            )
                            .to(Departments::Table, Departments::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_custom_tool_departments_department")
                    .table(CustomToolDepartments::Table)
                    .col(CustomToolDepartments::DepartmentId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(CustomToolDepartments::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(CustomTools::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum CustomTools {
    Table,
    Id,
    ToolName,
    DisplayName,
    Description,
    InputSchema,
    ExampleInputs,
    ExecuteFunction,
    IsGlobal,
    IsActive,
    TimeoutMs,
    Version,
    TotalCalls,
    FailedCalls,
    TotalExecutionTimeMs,
}

#[derive(DeriveIden)]
enum CustomToolDepartments {
    Table,
    ToolId,
    DepartmentId,
}
