//! Users. Passwords arrive here already hashed; this module never sees a clear password.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter,
};

use crate::domain::now;
use crate::domain::users::Role;
use crate::entities::{api_tokens, sessions, users};
use crate::error::{AppError, AppResult};

/// Number of users.
pub async fn count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    users::Entity::find().count(db).await
}

/// The user with this id.
pub async fn find_by_id(db: &impl ConnectionTrait, id: i32) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id).one(db).await
}

/// The user with this email (case-insensitive: emails are stored lower-cased).
pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find()
        .filter(users::Column::Email.eq(email.trim().to_lowercase()))
        .one(db)
        .await
}

/// The enabled user whose API key hashes to `key_hash`, if API keys are enabled for them.
pub async fn find_by_api_key_hash(
    db: &impl ConnectionTrait,
    key_hash: &str,
) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find()
        .filter(users::Column::ApiKeyHash.eq(key_hash))
        .filter(users::Column::EnableApiKey.eq(true))
        .filter(users::Column::Disabled.eq(false))
        .one(db)
        .await
}

/// Creates a user with an already-hashed password.
pub async fn create_with_password(
    db: &impl ConnectionTrait,
    email: &str,
    name: &str,
    role: Role,
    password_hash: String,
) -> AppResult<users::Model> {
    let ts = now();
    users::ActiveModel {
        email: Set(email.trim().to_lowercase()),
        password_hash: Set(password_hash),
        role: Set(role.as_str().to_owned()),
        name: Set(name.to_owned()),
        enable_api_key: Set(false),
        api_key_hash: Set(None),
        disabled: Set(false),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| super::unique_violation(e, "email"))
}

/// Changes profile fields (email, name, role).
pub async fn update_profile(
    db: &impl ConnectionTrait,
    id: i32,
    email: &str,
    name: &str,
    role: Role,
) -> AppResult<users::Model> {
    let mut row: users::ActiveModel = find_or_404(db, id).await?.into();
    row.email = Set(email.trim().to_lowercase());
    row.name = Set(name.to_owned());
    row.role = Set(role.as_str().to_owned());
    row.updated_at = Set(now());
    row.update(db)
        .await
        .map_err(|e| super::unique_violation(e, "email"))
}

/// Sets a new password hash and revokes every session and token of the user.
pub async fn set_password_hash(
    db: &impl ConnectionTrait,
    id: i32,
    password_hash: String,
) -> AppResult<users::Model> {
    let mut row: users::ActiveModel = find_or_404(db, id).await?.into();
    row.password_hash = Set(password_hash);
    row.updated_at = Set(now());
    let user = row.update(db).await?;
    revoke_all_sessions(db, id).await?;
    Ok(user)
}

/// Stores the hash of a new API key (or removes the key) and whether keys are enabled.
pub async fn set_api_key(
    db: &impl ConnectionTrait,
    id: i32,
    key_hash: Option<String>,
    enabled: bool,
) -> AppResult<users::Model> {
    let mut row: users::ActiveModel = find_or_404(db, id).await?.into();
    row.api_key_hash = Set(key_hash);
    row.enable_api_key = Set(enabled);
    row.updated_at = Set(now());
    row.update(db)
        .await
        .map_err(|e| super::unique_violation(e, "apiKey"))
}

/// Disables or re-enables a user; disabling revokes their sessions and tokens at once.
pub async fn set_disabled(
    db: &impl ConnectionTrait,
    id: i32,
    disabled: bool,
) -> AppResult<users::Model> {
    let mut row: users::ActiveModel = find_or_404(db, id).await?.into();
    row.disabled = Set(disabled);
    row.updated_at = Set(now());
    let user = row.update(db).await?;
    if disabled {
        revoke_all_sessions(db, id).await?;
    }
    Ok(user)
}

/// Deletes a user (their sessions and tokens go with them).
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> AppResult<users::Model> {
    let user = find_or_404(db, id).await?;
    users::Entity::delete_by_id(id).exec(db).await?;
    Ok(user)
}

/// Number of enabled admins (the last one cannot be demoted, disabled or deleted).
pub async fn count_active_admins(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    users::Entity::find()
        .filter(users::Column::Role.eq(Role::Admin.as_str()))
        .filter(users::Column::Disabled.eq(false))
        .count(db)
        .await
}

/// Deletes every session and API token of a user.
pub async fn revoke_all_sessions(db: &impl ConnectionTrait, id: i32) -> Result<(), DbErr> {
    sessions::Entity::delete_many()
        .filter(sessions::Column::UserId.eq(id))
        .exec(db)
        .await?;
    api_tokens::Entity::delete_many()
        .filter(api_tokens::Column::UserId.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

async fn find_or_404(db: &impl ConnectionTrait, id: i32) -> AppResult<users::Model> {
    find_by_id(db, id).await?.ok_or_else(AppError::not_found)
}

/// Disables a user (revoking their sessions), refusing to disable the last enabled admin.
pub async fn disable(db: &impl ConnectionTrait, id: i32) -> AppResult<users::Model> {
    let user = find_or_404(db, id).await?;
    if user.role == Role::Admin.as_str() && !user.disabled && count_active_admins(db).await? <= 1 {
        return Err(AppError::Conflict(
            "This is the last administrator and cannot be disabled.".into(),
        ));
    }
    set_disabled(db, id, true).await
}

/// Changes profile fields like [`update_profile`], refusing to demote the last enabled admin
/// (a field error on `role`).
pub async fn update_profile_keeping_an_admin(
    db: &impl ConnectionTrait,
    id: i32,
    email: &str,
    name: &str,
    role: Role,
) -> AppResult<users::Model> {
    let user = find_or_404(db, id).await?;
    if user.role == Role::Admin.as_str()
        && role != Role::Admin
        && !user.disabled
        && count_active_admins(db).await? <= 1
    {
        return Err(AppError::field(
            "role",
            "This is the last administrator: make someone else an administrator first.",
        ));
    }
    update_profile(db, id, email, name, role).await
}
