//! actix-session's storage over our `sessions` table, so that every instance sees the same
//! sessions and revoking them (logout, password change, disabled user) takes effect at once.
//!
//! The cookie carries a random 64-character key; the table stores only its SHA-256, so a copy
//! of the database does not hand out live sessions. The signed-in user's id is copied from the
//! state into the row's `user_id` column, which is what `db::users::revoke_all_sessions` uses.

use std::collections::HashMap;

use actix_session::storage::{
    LoadError, SaveError, SessionKey, SessionStore, UpdateError, generate_session_key,
};
use actix_web::cookie::time::Duration;
use anyhow::Context as _;
use chrono::{DateTime, FixedOffset};
use sea_orm::DatabaseConnection;

use super::session::USER_ID_KEY;
use crate::{auth::tokens, db, domain::now};

type SessionState = HashMap<String, String>;

/// Sessions stored in the database.
#[derive(Clone)]
pub struct DbSessionStore {
    db: DatabaseConnection,
}

impl DbSessionStore {
    /// A store over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn row_id(key: &SessionKey) -> String {
    tokens::hash(key.as_ref())
}

fn user_id(state: &SessionState) -> Option<i32> {
    state.get(USER_ID_KEY).and_then(|v| v.parse().ok())
}

fn expiry(ttl: &Duration) -> DateTime<FixedOffset> {
    let seconds = ttl.whole_seconds().clamp(1, 366 * 24 * 3600);
    now() + chrono::Duration::seconds(seconds)
}

fn encode(state: &SessionState) -> Result<String, anyhow::Error> {
    serde_json::to_string(state).context("cannot serialise the session state")
}

impl SessionStore for DbSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        let Some(raw) = db::sessions::load(&self.db, &row_id(key))
            .await
            .map_err(|e| LoadError::Other(e.into()))?
        else {
            return Ok(None);
        };
        serde_json::from_str(&raw)
            .map(Some)
            .map_err(|e| LoadError::Deserialization(e.into()))
    }

    async fn save(&self, state: SessionState, ttl: &Duration) -> Result<SessionKey, SaveError> {
        let body = encode(&state).map_err(SaveError::Serialization)?;
        let key = generate_session_key();
        db::sessions::save(&self.db, &row_id(&key), user_id(&state), &body, expiry(ttl))
            .await
            .map_err(|e| SaveError::Other(e.into()))?;
        // New sessions are rare (sign-in); a good moment to sweep the expired ones.
        if let Err(e) = db::sessions::delete_expired(&self.db).await {
            tracing::warn!(error = %e, "cannot delete expired sessions");
        }
        Ok(key)
    }

    async fn update(
        &self,
        key: SessionKey,
        mut state: SessionState,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        let body = encode(&state).map_err(UpdateError::Serialization)?;
        let updated =
            db::sessions::update(&self.db, &row_id(&key), user_id(&state), &body, expiry(ttl))
                .await
                .map_err(|e| UpdateError::Other(e.into()))?;
        if updated {
            return Ok(key);
        }
        // The row was revoked while this request ran: never resurrect the sign-in. Whatever
        // else the state held (a flash message) moves to a fresh, anonymous session.
        state.remove(USER_ID_KEY);
        self.save(state, ttl).await.map_err(|e| match e {
            SaveError::Serialization(e) => UpdateError::Serialization(e),
            SaveError::Other(e) => UpdateError::Other(e),
        })
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> Result<(), anyhow::Error> {
        db::sessions::touch(&self.db, &row_id(key), expiry(ttl))
            .await
            .context("cannot extend the session")
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), anyhow::Error> {
        db::sessions::delete(&self.db, &row_id(key))
            .await
            .context("cannot delete the session")
    }
}
