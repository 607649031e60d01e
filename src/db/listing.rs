//! Filtered, sorted, paginated reads for the JSON API: the filter and the order come from
//! the query module (already validated and typed), this module only runs them.

use sea_orm::sea_query::{Condition, Expr, NullOrdering, Order, SimpleExpr, SubQueryStatement};
use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder,
    QueryResult, QuerySelect, QueryTrait, Select,
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
    let query = query.limit(limit).offset(offset);
    if !count {
        let items = query.all(db).await?;
        let total = offset + items.len() as u64;
        return Ok(Page {
            items,
            total,
            page,
            limit,
        });
    }
    // The total rides along with the page as an uncorrelated scalar subquery (evaluated once
    // by SQLite and PostgreSQL alike): one statement, one round trip, instead of two.
    let mut total_query = counter.clone().into_query();
    total_query.clear_selects();
    total_query.expr(Expr::cust("COUNT(*)"));
    let rows = query
        .expr_as(
            SimpleExpr::SubQuery(
                None,
                Box::new(SubQueryStatement::SelectStatement(total_query)),
            ),
            TOTAL_COLUMN,
        )
        .into_model::<Counted<E::Model>>()
        .all(db)
        .await?;
    let total = match rows.first() {
        Some(first) => u64::try_from(first.total).unwrap_or(0),
        // Past the last page (or nothing matches): only a separate count can tell.
        None if page > 1 => counter.count(db).await?,
        None => 0,
    };
    let items = rows.into_iter().map(|row| row.model).collect();
    Ok(Page {
        items,
        total,
        page,
        limit,
    })
}

/// The alias of the total column added to a counted page.
const TOTAL_COLUMN: &str = "__total_docs";

/// A row of a counted page: the model and the total of the whole filtered set.
struct Counted<M> {
    model: M,
    total: i64,
}

impl<M: FromQueryResult> FromQueryResult for Counted<M> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            model: M::from_query_result(res, pre)?,
            total: res.try_get(pre, TOTAL_COLUMN)?,
        })
    }
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
