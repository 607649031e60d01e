//! API tokens issued by `POST /api/users/login`, stored hashed so that logout revokes them.

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};

use crate::domain::now;
use crate::entities::{api_tokens, users};

/// Stores a token hash for `user_id`, valid until `expires_at`.
pub async fn create(
    db: &impl ConnectionTrait,
    user_id: i32,
    token_hash: String,
    expires_at: DateTime<FixedOffset>,
) -> Result<api_tokens::Model, DbErr> {
    let ts = now();
    api_tokens::ActiveModel {
        user_id: Set(user_id),
        token_hash: Set(token_hash),
        expires_at: Set(expires_at),
        created_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// The enabled user owning an unexpired token with this hash, and the token's expiry.
pub async fn find_user(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<(users::Model, DateTime<FixedOffset>)>, DbErr> {
    let Some(token) = api_tokens::Entity::find()
        .filter(api_tokens::Column::TokenHash.eq(token_hash))
        .filter(api_tokens::Column::ExpiresAt.gt(now()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    Ok(users::Entity::find_by_id(token.user_id)
        .filter(users::Column::Disabled.eq(false))
        .one(db)
        .await?
        .map(|u| (u, token.expires_at)))
}

/// Revokes one token.
pub async fn delete(db: &impl ConnectionTrait, token_hash: &str) -> Result<(), DbErr> {
    api_tokens::Entity::delete_many()
        .filter(api_tokens::Column::TokenHash.eq(token_hash))
        .exec(db)
        .await
        .map(|_| ())
}
