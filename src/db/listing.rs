//! Filtered, sorted, paginated reads for the JSON API, the admin lists and tool data: the
//! filter and the order come from the query module (already validated and typed), this
//! module only runs them.
//!
//! A counted page is one statement: the total rides along with the rows as an uncorrelated
//! scalar subquery (evaluated once by SQLite and PostgreSQL alike), and a to-one relation
//! that is to be populated comes with them through a left join. Every statement costs a
//! round trip to the database (on SQLite, a hand-off to the connection's thread and back),
//! which is most of the cost of a small list.

use sea_orm::sea_query::{
    Condition, Expr, NullOrdering, Order, SelectStatement, SimpleExpr, SubQueryStatement,
};
use sea_orm::{
    ConnectionTrait, DbErr, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder,
    QueryResult, QuerySelect, QueryTrait, Related, Select,
};

use super::Page;
use crate::query::SortKey;

/// What a list request asks for.
#[derive(Debug, Clone)]
pub struct PageRequest<'a> {
    /// The filter, if any.
    pub filter: Option<Condition>,
    /// ORDER BY keys, most significant first.
    pub order: &'a [SortKey],
    /// Page size.
    pub limit: u64,
    /// 1-based page.
    pub page: u64,
    /// False (Payload's `pagination=false`): no count, the page is the first `limit` rows.
    pub count: bool,
}

/// One page of `select` narrowed, ordered and windowed as `request` says.
pub async fn find_page<E>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    request: PageRequest<'_>,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
{
    let window = Window::of(&request);
    let select = filtered(select, request.filter);
    let query = window.apply(select.clone(), request.order);
    if !request.count {
        let items = query.all(db).await?;
        return Ok(window.uncounted(items));
    }
    let rows = query
        .expr_as(total_of(&select), TOTAL_COLUMN)
        .into_model::<Counted<E::Model>>()
        .all(db)
        .await?;
    let total = window
        .total(rows.first().map(|r| r.total), &select, db)
        .await?;
    Ok(window.counted(rows.into_iter().map(|r| r.model).collect(), total))
}

/// Like [`find_page`], with each row's `R` (a to-one relation of `E`) read in the same
/// statement through a left join: `None` where the row has none.
pub async fn find_page_also_related<E, R>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    related: R,
    request: PageRequest<'_>,
) -> Result<Page<(E::Model, Option<R::Model>)>, DbErr>
where
    E: EntityTrait + Related<R>,
    R: EntityTrait,
    E::Model: FromQueryResult + Send + Sync,
    R::Model: FromQueryResult + Send + Sync,
{
    // The filter, the order and the count only ever name `E`'s table qualified, so the join
    // changes none of them; the count is taken without it.
    let window = Window::of(&request);
    let select = filtered(select, request.filter);
    let query = window.apply(select.clone().find_also_related(related), request.order);
    if !request.count {
        let items = query.all(db).await?;
        return Ok(window.uncounted(items));
    }
    let rows = query
        .expr_as(total_of(&select), TOTAL_COLUMN)
        .into_model::<Counted<E::Model>, R::Model>()
        .all(db)
        .await?;
    let total = window
        .total(rows.first().map(|(r, _)| r.total), &select, db)
        .await?;
    let items = rows.into_iter().map(|(r, also)| (r.model, also)).collect();
    Ok(window.counted(items, total))
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
    filtered(select, filter).count(db).await
}

fn filtered<E: EntityTrait>(select: Select<E>, filter: Option<Condition>) -> Select<E> {
    match filter {
        Some(condition) => select.filter(condition),
        None => select,
    }
}

/// The page window of a request: which page, how large, from which row.
struct Window {
    page: u64,
    limit: u64,
    offset: u64,
}

impl Window {
    fn of(request: &PageRequest<'_>) -> Self {
        let page = if request.count {
            request.page.max(1)
        } else {
            1
        };
        Self {
            page,
            limit: request.limit,
            offset: (page - 1).saturating_mul(request.limit),
        }
    }

    /// `query` ordered by `order` and cut to the window.
    fn apply<Q: QueryOrder + QuerySelect>(&self, query: Q, order: &[SortKey]) -> Q {
        let mut query = query;
        for key in order {
            if !key.nullable {
                // No NULL placement: SQLite cannot walk an index in an order that spells
                // one out, and sorts every matching row instead.
                query = query.order_by(key.expr.clone(), key.order.clone());
                continue;
            }
            // PostgreSQL's own default (NULLs last ascending, first descending), spelled out
            // so that SQLite orders the same way.
            let nulls = match key.order {
                Order::Desc => NullOrdering::First,
                _ => NullOrdering::Last,
            };
            query = query.order_by_with_nulls(key.expr.clone(), key.order.clone(), nulls);
        }
        query.limit(self.limit).offset(self.offset)
    }

    /// The total of a counted page, from its first row's total column. Past the last page
    /// (or when nothing matches) there is no row to carry it, and only a count can tell.
    async fn total<E>(
        &self,
        first: Option<i64>,
        select: &Select<E>,
        db: &impl ConnectionTrait,
    ) -> Result<u64, DbErr>
    where
        E: EntityTrait,
        E::Model: FromQueryResult + Send + Sync,
    {
        match first {
            Some(total) => Ok(u64::try_from(total).unwrap_or(0)),
            None if self.page > 1 => select.clone().count(db).await,
            None => Ok(0),
        }
    }

    fn counted<T>(&self, items: Vec<T>, total: u64) -> Page<T> {
        Page {
            items,
            total,
            page: self.page,
            limit: self.limit,
        }
    }

    fn uncounted<T>(&self, items: Vec<T>) -> Page<T> {
        let total = self.offset + items.len() as u64;
        self.counted(items, total)
    }
}

/// `(SELECT COUNT(*) FROM … WHERE …)` of a filtered select.
fn total_of<E: EntityTrait>(select: &Select<E>) -> SimpleExpr {
    let mut query: SelectStatement = select.clone().into_query();
    query.clear_selects();
    query.expr(Expr::cust("COUNT(*)"));
    SimpleExpr::SubQuery(None, Box::new(SubQueryStatement::SelectStatement(query)))
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
            // Never prefixed: it is added after a join has aliased the models' columns.
            total: res.try_get("", TOTAL_COLUMN)?,
        })
    }
}
