//! What happens on the first start of a database: demo data and the first admin.

use sea_orm::DatabaseConnection;

use crate::{auth::password, config::Settings, db, domain::users::Role, seed};

/// Loads the demo data into an empty database (when `SEED_DEMO` allows) and creates the
/// first admin from `ADMIN_EMAIL`/`ADMIN_PASSWORD` when no user exists.
pub async fn prepare(db: &DatabaseConnection, settings: &Settings) -> anyhow::Result<()> {
    if settings.seed_demo && seed::database_is_empty(db).await? {
        let report = seed::run(db).await?;
        tracing::info!(created = %report, "loaded the demo data into the new database");
    }
    create_first_admin(db, settings).await
}

async fn create_first_admin(db: &DatabaseConnection, settings: &Settings) -> anyhow::Result<()> {
    let (Some(email), Some(pass)) = (&settings.auth.admin_email, &settings.auth.admin_password)
    else {
        return Ok(());
    };
    // Both were validated with the rest of the configuration, before the database was opened.
    if db::users::count(db).await? > 0 {
        return Ok(());
    }
    let hash = password::hash(pass.clone()).await?;
    match db::users::create_with_password(db, email, "Administrator", Role::Admin, hash).await {
        Ok(user) => tracing::info!(user.email = %user.email, "created the first admin"),
        // Another instance created it at the same moment.
        Err(crate::error::AppError::Validation(_)) => {}
        Err(e) => return Err(anyhow::anyhow!("cannot create the first admin: {e}")),
    }
    Ok(())
}
