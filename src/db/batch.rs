//! SQLite transactions sent in one round trip.
//!
//! sqlx runs each SQLite connection on a thread of its own, so every statement, `BEGIN` and
//! `COMMIT` is a hand-off to that thread and back: a short transaction of two statements is
//! four waits. [`sqlite_transaction`] sends `BEGIN IMMEDIATE`, the statements and `COMMIT` as
//! one multi-statement call instead. sqlx does not know about a transaction begun that way,
//! so a connection on which such a call did not finish cleanly (an error, or the caller gone
//! mid-call) is closed instead of going back to the pool: closing a SQLite connection rolls
//! back what it left open, and no later statement can land inside it.

use sea_orm::sqlx::Error as SqlxError;
use sea_orm::sqlx::pool::PoolConnection;
use sea_orm::sqlx::sqlite::{Sqlite, SqliteRow};
use sea_orm::{ConnAcquireErr, DatabaseConnection, DbErr, QueryResult, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;

/// A pooled connection that is closed, not returned, unless the call on it finished cleanly.
struct Checked(Option<PoolConnection<Sqlite>>);

impl Checked {
    fn conn(&mut self) -> Result<&mut PoolConnection<Sqlite>, DbErr> {
        self.0
            .as_mut()
            .ok_or_else(|| DbErr::Custom("connection already released".into()))
    }

    /// The call finished cleanly: the connection goes back to the pool.
    fn release(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Checked {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            // Out of the pool: dropped, its worker thread closes it (rolling back).
            drop(conn.detach());
        }
    }
}

/// Runs `statements` (SQLite) as one transaction in one round trip and returns the rows they
/// return (their `RETURNING` clauses), in order, as sea-orm results. All of them are
/// committed, or none.
pub(crate) async fn sqlite_transaction(
    db: &DatabaseConnection,
    statements: Vec<Statement>,
) -> Result<Vec<QueryResult>, DbErr> {
    SqliteTransaction::open(db).await?.commit(statements).await
}

/// A SQLite transaction whose `BEGIN IMMEDIATE` travels with its first statements and whose
/// `COMMIT` with its last: a transaction that must look at a result before going on costs
/// two round trips, not one per statement.
pub(crate) struct SqliteTransaction {
    conn: Checked,
    begun: bool,
}

impl SqliteTransaction {
    /// Takes a connection of `db`'s pool (nothing is sent yet).
    pub(crate) async fn open(db: &DatabaseConnection) -> Result<Self, DbErr> {
        let pool = db.get_sqlite_connection_pool();
        let conn = pool.acquire().await.map_err(acquire_error)?;
        Ok(Self {
            conn: Checked(Some(conn)),
            begun: false,
        })
    }

    /// Runs `statements` inside the transaction; the rows they return.
    pub(crate) async fn run(
        &mut self,
        statements: Vec<Statement>,
    ) -> Result<Vec<QueryResult>, DbErr> {
        self.send(statements, false).await
    }

    /// Runs `statements` and commits; the rows they return.
    pub(crate) async fn commit(
        mut self,
        statements: Vec<Statement>,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let rows = self.send(statements, true).await?;
        self.conn.release();
        Ok(rows)
    }

    /// Gives up what was run so far.
    pub(crate) async fn rollback(mut self) -> Result<(), DbErr> {
        if self.begun {
            let rollback = sea_orm::sqlx::query("ROLLBACK");
            rollback
                .execute(&mut **self.conn.conn()?)
                .await
                .map_err(exec_error)?;
        }
        self.conn.release();
        Ok(())
    }

    async fn send(
        &mut self,
        statements: Vec<Statement>,
        commit: bool,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let mut parts: Vec<String> = Vec::with_capacity(statements.len() + 2);
        if !self.begun {
            parts.push("BEGIN IMMEDIATE".into());
        }
        let mut values = Vec::new();
        for statement in statements {
            parts.push(statement.sql);
            values.extend(statement.values.map(|v| v.0).unwrap_or_default());
        }
        if commit {
            parts.push("COMMIT".into());
        }
        let query = sea_orm::sqlx::query_with(
            sea_orm::sqlx::AssertSqlSafe(parts.join("; ")),
            SqlxValues(sea_orm::Values(values)),
        );
        self.begun = true;
        let rows: Vec<SqliteRow> = query
            .fetch_all(&mut **self.conn.conn()?)
            .await
            .map_err(exec_error)?;
        Ok(rows.into_iter().map(QueryResult::from).collect())
    }
}

fn exec_error(e: SqlxError) -> DbErr {
    DbErr::Exec(RuntimeErr::SqlxError(e.into()))
}

/// What sea-orm makes of a pool that could not hand out a connection.
fn acquire_error(e: SqlxError) -> DbErr {
    match e {
        SqlxError::PoolTimedOut => DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
        SqlxError::PoolClosed => DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
        e => DbErr::Conn(RuntimeErr::SqlxError(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, DbBackend};

    use super::*;

    async fn database() -> (DatabaseConnection, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("aladdin-batch-{}", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}/batch.db?mode=rwc", dir.display());
        let db = super::super::connect(&url, 1).await.expect("database");
        db.execute_unprepared("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)")
            .await
            .expect("table");
        (db, dir)
    }

    fn sql(text: &str) -> Statement {
        Statement::from_string(DbBackend::Sqlite, text)
    }

    async fn count(db: &DatabaseConnection) -> i64 {
        let row = db
            .query_one_raw(sql("SELECT COUNT(*) FROM t"))
            .await
            .expect("count")
            .expect("a row");
        row.try_get_by_index(0).expect("a number")
    }

    #[tokio::test]
    async fn the_statements_commit_together_and_return_their_rows() {
        let (db, dir) = database().await;
        let rows = sqlite_transaction(
            &db,
            vec![
                sql("INSERT INTO t (id, v) VALUES (1, 10), (2, 20)"),
                sql("UPDATE t SET v = v + 1 RETURNING id"),
            ],
        )
        .await
        .expect("committed");
        let mut ids: Vec<i32> = rows
            .iter()
            .map(|r| r.try_get_by_index(0).expect("id"))
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![1, 2]);
        assert_eq!(count(&db).await, 2);
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_failing_statement_leaves_nothing_written_and_no_transaction_open() {
        let (db, dir) = database().await;
        let failed = sqlite_transaction(
            &db,
            vec![
                sql("INSERT INTO t (id, v) VALUES (1, 10)"),
                // NOT NULL: fails after the first statement ran inside the transaction.
                sql("INSERT INTO t (id, v) VALUES (2, NULL)"),
            ],
        )
        .await;
        assert!(failed.is_err());
        assert_eq!(count(&db).await, 0, "the first statement was rolled back");
        // The pool's only connection is a fresh one: a plain write commits on its own (it
        // would stay uncommitted, and invisible to a second connection, inside a transaction
        // left open).
        db.execute_unprepared("INSERT INTO t (id, v) VALUES (3, 30)")
            .await
            .expect("written");
        let other =
            super::super::connect(&format!("sqlite://{}/batch.db?mode=rwc", dir.display()), 1)
                .await
                .expect("second connection");
        assert_eq!(count(&other).await, 1);
        drop((db, other));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_transaction_looked_at_midway_can_be_given_up() {
        let (db, dir) = database().await;
        let mut txn = SqliteTransaction::open(&db).await.expect("opened");
        let rows = txn
            .run(vec![sql(
                "INSERT INTO t (id, v) VALUES (1, 10) RETURNING v",
            )])
            .await
            .expect("ran");
        assert_eq!(rows.len(), 1);
        txn.rollback().await.expect("rolled back");
        assert_eq!(count(&db).await, 0);
        let mut txn = SqliteTransaction::open(&db).await.expect("opened");
        txn.run(vec![sql("INSERT INTO t (id, v) VALUES (1, 10)")])
            .await
            .expect("ran");
        txn.commit(vec![sql("INSERT INTO t (id, v) VALUES (2, 20)")])
            .await
            .expect("committed");
        assert_eq!(count(&db).await, 2);
        drop(db);
        let _ = std::fs::remove_dir_all(dir);
    }
}
