//! The model price table.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, sea_query::ExprTrait,
};

use crate::domain::models::ModelInput;
use crate::domain::now;
use crate::entities::models;
use crate::error::{AppError, AppResult};

/// The row with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<models::Model>, DbErr> {
    models::Entity::find_by_id(id).one(db).await
}

/// The price of `model_id`: an exact match, else the same model under its other name
/// (`anthropic/claude-x` and `claude-x` are the same model).
pub async fn find_price(
    db: &impl ConnectionTrait,
    model_id: &str,
) -> Result<Option<models::Model>, DbErr> {
    let bare = model_id.rsplit('/').next().unwrap_or(model_id);
    let candidates = models::Entity::find()
        .filter(
            models::Column::ModelId
                .eq(model_id)
                .or(models::Column::ModelId.eq(bare))
                .or(models::Column::ModelId.like(format!("%/{bare}"))),
        )
        .all(db)
        .await?;
    Ok(candidates
        .iter()
        .find(|m| m.model_id == model_id)
        .or_else(|| candidates.first())
        .cloned())
}

fn apply(mut row: models::ActiveModel, input: ModelInput) -> models::ActiveModel {
    row.model_id = Set(input.model_id);
    row.provider = Set(input.provider);
    row.display_name = Set(input.display_name);
    row.input_price_per_mtok = Set(input.input_price_per_mtok);
    row.output_price_per_mtok = Set(input.output_price_per_mtok);
    row.context_window = Set(input.context_window);
    row.cache_read_price_per_mtok = Set(input.cache_read_price_per_mtok);
    row.cache_write_price_per_mtok = Set(input.cache_write_price_per_mtok);
    row.updated_at = Set(now());
    row
}

/// Creates a price-table row.
pub async fn create(db: &impl ConnectionTrait, input: ModelInput) -> AppResult<models::Model> {
    apply(
        models::ActiveModel {
            created_at: Set(now()),
            ..Default::default()
        },
        input,
    )
    .insert(db)
    .await
    .map_err(|e| super::unique_violation(e, "modelId"))
}

/// Replaces a row's fields.
pub async fn update(
    db: &impl ConnectionTrait,
    id: i32,
    input: ModelInput,
) -> AppResult<models::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    apply(existing.into(), input)
        .update(db)
        .await
        .map_err(|e| super::unique_violation(e, "modelId"))
}

/// Deletes a row.
pub async fn delete(db: &impl ConnectionTrait, id: i32) -> AppResult<models::Model> {
    let existing = find_by_id(db, id).await?.ok_or_else(AppError::not_found)?;
    models::Entity::delete_by_id(id).exec(db).await?;
    Ok(existing)
}

/// Every model by modelId (the agent form's model choices).
pub async fn list_all(db: &impl ConnectionTrait) -> Result<Vec<models::Model>, DbErr> {
    use sea_orm::QueryOrder;
    models::Entity::find()
        .order_by_asc(models::Column::ModelId)
        .order_by_asc(models::Column::Id)
        .all(db)
        .await
}

/// The providers named in the table, for the filter.
pub async fn providers(db: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    models::Entity::find()
        .select_only()
        .column(models::Column::Provider)
        .distinct()
        .order_by_asc(models::Column::Provider)
        .into_tuple()
        .all(db)
        .await
}
