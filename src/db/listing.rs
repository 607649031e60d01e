//! Filtered, sorted, paginated reads for the JSON API: the filter and the order come from
//! the query module (already validated and typed), this module only runs them.

use sea_orm::sea_query::{Condition, NullOrdering, Order};
use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use super::Page;
use crate::query::SortKey;

/// One page of `select` narrowed by `filter` and ordered by `order`. With `count` false
/// (Payload's `pagination=false`) no count query runs and the page is the first `limit` rows.
pub async fn find_page<E>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    filter: Option<Condition>,
    order: &[SortKey],
    limit: u64,
    page: u64,
    count: bool,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
{
    let select = match filter {
        Some(condition) => select.filter(condition),
        None => select,
    };
    let page = if count { page.max(1) } else { 1 };
    let counter = select.clone();
    let mut query = select;
    for key in order {
        // PostgreSQL's own default (NULLs last ascending, first descending), spelled out so
        // that SQLite orders the same way.
        let nulls = match key.order {
            Order::Desc => NullOrdering::First,
            _ => NullOrdering::Last,
        };
        query = query.order_by_with_nulls(key.expr.clone(), key.order.clone(), nulls);
    }
    let offset = (page - 1).saturating_mul(limit);
    let items = query.limit(limit).offset(offset).all(db).await?;
    let len = items.len() as u64;
    // A page that is neither full nor past the end is the last one: its position gives the
    // total, and the count query is spared.
    let total = if !count || (len < limit && (len > 0 || page == 1)) {
        offset + len
    } else {
        counter.count(db).await?
    };
    Ok(Page {
        items,
        total,
        page,
        limit,
    })
}

/// Number of rows of `select` matching `filter`.
pub async fn count<E>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    filter: Option<Condition>,
) -> Result<u64, DbErr>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
{
    match filter {
        Some(condition) => select.filter(condition).count(db).await,
        None => select.count(db).await,
    }
}
