//! Server-side admin sessions (the storage behind actix-session).

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::OnConflict,
};

use crate::domain::now;
use crate::entities::sessions;

/// The state of a live session.
pub async fn load(db: &impl ConnectionTrait, id: &str) -> Result<Option<String>, DbErr> {
    Ok(sessions::Entity::find_by_id(id.to_owned())
        .filter(sessions::Column::ExpiresAt.gt(now()))
        .one(db)
        .await?
        .map(|s| s.state))
}

/// Inserts or replaces a session.
pub async fn save(
    db: &impl ConnectionTrait,
    id: &str,
    user_id: Option<i32>,
    state: &str,
    expires_at: DateTime<FixedOffset>,
) -> Result<(), DbErr> {
    let ts = now();
    sessions::Entity::insert(sessions::ActiveModel {
        id: Set(id.to_owned()),
        user_id: Set(user_id),
        state: Set(state.to_owned()),
        expires_at: Set(expires_at),
        created_at: Set(ts),
        updated_at: Set(ts),
    })
    .on_conflict(
        OnConflict::column(sessions::Column::Id)
            .update_columns([
                sessions::Column::UserId,
                sessions::Column::State,
                sessions::Column::ExpiresAt,
                sessions::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await
    .map(|_| ())
}

/// Replaces the state of an existing session; false when it no longer exists (revoked).
pub async fn update(
    db: &impl ConnectionTrait,
    id: &str,
    user_id: Option<i32>,
    state: &str,
    expires_at: DateTime<FixedOffset>,
) -> Result<bool, DbErr> {
    let result = sessions::Entity::update_many()
        .col_expr(sessions::Column::UserId, user_id.into())
        .col_expr(sessions::Column::State, state.into())
        .col_expr(sessions::Column::ExpiresAt, expires_at.into())
        .col_expr(sessions::Column::UpdatedAt, now().into())
        .filter(sessions::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Moves a session's expiry.
pub async fn touch(
    db: &impl ConnectionTrait,
    id: &str,
    expires_at: DateTime<FixedOffset>,
) -> Result<(), DbErr> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::ExpiresAt, expires_at.into())
        .filter(sessions::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

/// Deletes a session.
pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    sessions::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await
        .map(|_| ())
}

/// Deletes expired sessions; returns how many.
pub async fn delete_expired(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    Ok(sessions::Entity::delete_many()
        .filter(sessions::Column::ExpiresAt.lte(now()))
        .exec(db)
        .await?
        .rows_affected)
}
