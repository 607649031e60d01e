//! Agent chains.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::entities::agent_chains;

/// The row with this id.
pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: i32,
) -> Result<Option<agent_chains::Model>, DbErr> {
    agent_chains::Entity::find_by_id(id).one(db).await
}

/// The chain with this `chainId`.
pub async fn find_by_chain_id(
    db: &impl ConnectionTrait,
    chain_id: &str,
) -> Result<Option<agent_chains::Model>, DbErr> {
    agent_chains::Entity::find()
        .filter(agent_chains::Column::ChainId.eq(chain_id))
        .one(db)
        .await
}
