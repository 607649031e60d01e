//! The admin session's contents behind typed accessors, so that string keys live in one place.
//! The state itself is stored server-side (see [`super::session_store`]).

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use serde::{Serialize, de::DeserializeOwned};

use crate::auth::current_user::CurrentUser;
use crate::auth::tokens;

/// Session key of the signed-in user's id. The session store also copies it into the row's
/// `user_id` column, which is how a user's sessions are revoked together.
pub const USER_ID_KEY: &str = "user_id";
const CSRF_KEY: &str = "csrf";
const FLASH_KEY: &str = "flash";

/// Typed access to the admin session.
#[derive(Clone)]
pub struct TypedSession(Session);

impl TypedSession {
    /// Wraps an actix session.
    pub fn new(session: Session) -> Self {
        Self(session)
    }

    /// Starts a fresh session for `user_id` (a new key, so a planted key is never promoted):
    /// the previous state is dropped and a new CSRF token is issued.
    pub fn sign_in(&self, user_id: i32) {
        self.0.renew();
        self.0.clear();
        self.set(USER_ID_KEY, user_id);
        self.set(CSRF_KEY, tokens::generate());
    }

    /// Ends the session: its row is deleted and the cookie removed.
    pub fn sign_out(&self) {
        self.0.purge();
    }

    /// The signed-in user's id.
    pub fn user_id(&self) -> Option<i32> {
        self.get(USER_ID_KEY)
    }

    /// The signed-in user, read from the database so that a role change or a disabled
    /// account counts at once; None when nobody is signed in or the account is gone.
    pub async fn current_user(
        &self,
        db: &sea_orm::DatabaseConnection,
    ) -> Result<Option<CurrentUser>, sea_orm::DbErr> {
        let Some(id) = self.user_id() else {
            return Ok(None);
        };
        Ok(crate::db::users::find_by_id(db, id)
            .await?
            .as_ref()
            .and_then(CurrentUser::from_model))
    }

    /// The session's CSRF token (created on first use for sessions that predate it).
    pub fn csrf_token(&self) -> String {
        if let Some(token) = self.get::<String>(CSRF_KEY) {
            return token;
        }
        let token = tokens::generate();
        self.set(CSRF_KEY, token.clone());
        token
    }

    /// The CSRF token if the session has one (never creates it).
    pub fn existing_csrf_token(&self) -> Option<String> {
        self.get(CSRF_KEY)
    }

    /// Queues a value to show on the next page (a toast after a redirect).
    pub fn push_flash<T: Serialize + DeserializeOwned>(&self, item: T) {
        let mut items: Vec<T> = self.get(FLASH_KEY).unwrap_or_default();
        items.push(item);
        self.set(FLASH_KEY, items);
    }

    /// Takes the queued values (the session changes only when there were some).
    pub fn take_flashes<T: DeserializeOwned>(&self) -> Vec<T> {
        if !self.0.contains_key(FLASH_KEY) {
            return Vec::new();
        }
        self.0
            .remove_as::<Vec<T>>(FLASH_KEY)
            .and_then(Result::ok)
            .unwrap_or_default()
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get(key).ok().flatten()
    }

    fn set<T: Serialize>(&self, key: &str, value: T) {
        // Serialising our own plain types cannot fail; a failure would only lose this value.
        if let Err(e) = self.0.insert(key, value) {
            tracing::warn!(error = %e, session.key = key, "cannot write to the session");
        }
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(req.get_session())))
    }
}

/// Name of the session cookie.
pub const COOKIE_NAME: &str = "aladdin_session";

/// How long a session lives after its last change (sign-in, a saved form's message).
pub const SESSION_TTL_DAYS: i64 = 7;

/// The key that signs and encrypts session cookies: derived from `SECRET_KEY` when set, else
/// generated on the first start and kept in the database, so restarts (and the other
/// instances) keep accepting the cookies already issued.
pub async fn cookie_key(
    db: &sea_orm::DatabaseConnection,
    secret: Option<&secrecy::SecretString>,
) -> anyhow::Result<actix_web::cookie::Key> {
    use actix_web::cookie::Key;
    use base64::{Engine, engine::general_purpose::STANDARD};
    use secrecy::ExposeSecret;

    if let Some(secret) = secret {
        let bytes = secret.expose_secret().as_bytes();
        anyhow::ensure!(
            bytes.len() >= 32,
            "SECRET_KEY must be at least 32 bytes long"
        );
        return Ok(Key::derive_from(bytes));
    }
    let fresh = STANDARD.encode(Key::generate().master());
    let stored = crate::db::settings::get_or_insert(db, "session_cookie_key", &fresh).await?;
    let bytes = STANDARD
        .decode(stored.trim())
        .map_err(|e| anyhow::anyhow!("the stored session cookie key is not base64: {e}"))?;
    Key::try_from(bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("the stored session cookie key is unusable: {e}"))
}

/// The session middleware of the admin: server-side state, HttpOnly + SameSite=Lax cookie,
/// `Secure` when `secure`.
pub fn middleware(
    store: super::session_store::DbSessionStore,
    key: actix_web::cookie::Key,
    secure: bool,
) -> actix_session::SessionMiddleware<super::session_store::DbSessionStore> {
    use actix_session::config::{PersistentSession, TtlExtensionPolicy};
    use actix_web::cookie::{SameSite, time::Duration};

    actix_session::SessionMiddleware::builder(store, key)
        .cookie_name(COOKIE_NAME.to_owned())
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_secure(secure)
        .cookie_path("/".to_owned())
        .session_lifecycle(
            PersistentSession::default()
                .session_ttl(Duration::days(SESSION_TTL_DAYS))
                .session_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build()
}
