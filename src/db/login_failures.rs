//! Failed sign-in attempts (`login_failures`), shared by every instance: the login limiter
//! counts them per key (`account:<email>`, `address:<ip>`) in a sliding window.

use chrono::{DateTime, FixedOffset};
use sea_orm::{
    ConnectionTrait, DbErr, FromQueryResult,
    sea_query::{Alias, Expr, ExprTrait, Func, Query},
};

fn table() -> Alias {
    Alias::new("login_failures")
}

fn key() -> Alias {
    Alias::new("key")
}

fn failed_at() -> Alias {
    Alias::new("failed_at")
}

#[derive(Debug, FromQueryResult)]
struct Tally {
    n: i64,
    oldest: Option<DateTime<FixedOffset>>,
}

/// How many failures `key` has since `since`, and the oldest of them.
pub async fn count_since(
    db: &impl ConnectionTrait,
    key_value: &str,
    since: DateTime<FixedOffset>,
) -> Result<(i64, Option<DateTime<FixedOffset>>), DbErr> {
    let query = Query::select()
        .expr_as(Func::count(Expr::col(Alias::new("id"))), Alias::new("n"))
        .expr_as(Func::min(Expr::col(failed_at())), Alias::new("oldest"))
        .from(table())
        .and_where(Expr::col(key()).eq(key_value))
        .and_where(Expr::col(failed_at()).gt(since))
        .to_owned();
    let row = db.query_one(&query).await?;
    let tally = match row {
        Some(row) => Tally::from_query_result(&row, "")?,
        None => Tally { n: 0, oldest: None },
    };
    Ok((tally.n, tally.oldest))
}

/// Counts one failure for each of `keys` at `at`, and forgets failures older than `forget`.
pub async fn record(
    db: &impl ConnectionTrait,
    keys: &[String],
    at: DateTime<FixedOffset>,
    forget: DateTime<FixedOffset>,
) -> Result<(), DbErr> {
    let delete = Query::delete()
        .from_table(table())
        .and_where(Expr::col(failed_at()).lt(forget))
        .to_owned();
    db.execute(&delete).await?;
    let mut insert = Query::insert();
    insert.into_table(table()).columns([key(), failed_at()]);
    for k in keys {
        insert
            .values([k.as_str().into(), at.into()])
            .map_err(|e| DbErr::Custom(e.to_string()))?;
    }
    db.execute(&insert).await?;
    Ok(())
}

/// Forgets every failure of `key`.
pub async fn clear(db: &impl ConnectionTrait, key_value: &str) -> Result<(), DbErr> {
    let delete = Query::delete()
        .from_table(table())
        .and_where(Expr::col(key()).eq(key_value))
        .to_owned();
    db.execute(&delete).await.map(|_| ())
}
