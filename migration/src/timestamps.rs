//! `created_at` / `updated_at` as timestamps *with* time zone (sea-orm-migration's
//! `table_auto` uses plain `timestamp`, which PostgreSQL will not decode as UTC times).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveIden)]
enum Timestamps {
    CreatedAt,
    UpdatedAt,
}

/// `CREATE TABLE IF NOT EXISTS name` with both timestamp columns.
pub fn table_auto<T: IntoIden + 'static>(name: T) -> TableCreateStatement {
    Table::create()
        .table(name)
        .if_not_exists()
        .col(timestamp_with_time_zone(Timestamps::CreatedAt))
        .col(timestamp_with_time_zone(Timestamps::UpdatedAt))
        .take()
}
