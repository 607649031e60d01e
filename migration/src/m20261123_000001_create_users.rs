//! Users, their server-side sessions and API tokens, and instance settings.

use sea_orm_migration::{prelude::*, schema::*};

use crate::timestamps::table_auto;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                table_auto(Users::Table)
                    .col(pk_auto(Users::Id))
                    .col(string_uniq(Users::Email))
                    .col(string(Users::PasswordHash))
                    .col(string(Users::Role))
                    .col(string(Users::Name).default(""))
                    .col(boolean(Users::EnableApiKey).default(false))
                    .col(string_null(Users::ApiKeyHash))
                    .col(boolean(Users::Disabled).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_api_key_hash")
                    .table(Users::Table)
                    .col(Users::ApiKeyHash)
                    .unique()
                    .to_owned(),
            )
            .await?;

        // Server-side sessions (admin cookie) and API tokens (login via /api/users/login):
        // stored so that logout, a password change or disabling a user revokes them everywhere.
        manager
            .create_table(
                table_auto(Sessions::Table)
                    .col(string(Sessions::Id).primary_key())
                    .col(integer_null(Sessions::UserId))
                    .col(text(Sessions::State))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table_auto(ApiTokens::Table)
                    .col(pk_auto(ApiTokens::Id))
                    .col(integer(ApiTokens::UserId))
                    .col(string_uniq(ApiTokens::TokenHash))
                    .col(timestamp_with_time_zone(ApiTokens::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                table_auto(AppSettings::Table)
                    .col(string(AppSettings::Key).primary_key())
                    .col(text(AppSettings::Value))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AppSettings::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    Role,
    Name,
    EnableApiKey,
    ApiKeyHash,
    Disabled,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    State,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    UserId,
    TokenHash,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AppSettings {
    Table,
    Key,
    Value,
}
