//! Indexes for the default order of every list (`-createdAt`, then `id`): the database walks
//! the index and stops after one page, instead of sorting every row of the collection.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (index, table) of the collections listed newest first.
const INDEXES: [(&str, &str); 7] = [
    ("idx_users_created_id", "users"),
    ("idx_departments_created_id", "departments"),
    ("idx_agents_created_id", "agents"),
    ("idx_custom_tools_created_id", "custom_tools"),
    ("idx_projects_created_id", "projects"),
    ("idx_models_created_id", "models"),
    ("idx_executions_created_id", "agent_executions"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in INDEXES {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name(name)
                        .table(Alias::new(table))
                        .col(Alias::new("created_at"))
                        .col(Alias::new("id"))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in INDEXES {
            manager
                .drop_index(
                    Index::drop()
                        .if_exists()
                        .name(name)
                        .table(Alias::new(table))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
