//! Instance settings kept in the database (e.g. the generated cookie key).

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, sea_query::OnConflict};

use crate::domain::now;
use crate::entities::app_settings;

/// The value stored under `key`.
pub async fn get(db: &impl ConnectionTrait, key: &str) -> Result<Option<String>, DbErr> {
    Ok(app_settings::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?
        .map(|row| row.value))
}

/// Stores `value` under `key` unless a value is already there; returns the stored value.
/// Safe when several instances start at once: the first writer wins.
pub async fn get_or_insert(
    db: &impl ConnectionTrait,
    key: &str,
    value: &str,
) -> Result<String, DbErr> {
    let ts = now();
    app_settings::Entity::insert(app_settings::ActiveModel {
        key: Set(key.to_owned()),
        value: Set(value.to_owned()),
        created_at: Set(ts),
        updated_at: Set(ts),
    })
    .on_conflict(
        OnConflict::column(app_settings::Column::Key)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(get(db, key).await?.unwrap_or_else(|| value.to_owned()))
}
