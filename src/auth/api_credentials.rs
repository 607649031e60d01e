//! Credentials of JSON API requests, the ways Payload accepts them: a login token as
//! `Authorization: JWT <token>` or `Bearer <token>` or in the `payload-token` cookie, and an
//! API key as `Authorization: users API-Key <key>`. Tokens are opaque random strings (not
//! JWTs) stored hashed, so that logout revokes them at once; keys are stored hashed too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use sea_orm::{ConnectionTrait, DbErr};

use super::current_user::CurrentUser;
use super::tokens;
use crate::db;
use crate::entities::users;

/// The cookie Payload sets on login.
pub const COOKIE_NAME: &str = "payload-token";

/// Longest credential looked at (ours are 43 characters; API keys chosen by clients up to
/// a few hundred).
const MAX_LEN: usize = 1024;

/// A credential presented by a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A login token (from `POST /api/users/login`).
    Token(String),
    /// A user's API key.
    ApiKey(String),
}

/// How a request was authenticated (Payload's `_strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// A login token (Payload calls its JWT strategy `local-jwt`).
    LocalJwt,
    /// An API key.
    ApiKey,
}

impl Strategy {
    /// Payload's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::LocalJwt => "local-jwt",
            Strategy::ApiKey => "api-key",
        }
    }
}

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The user row.
    pub user: users::Model,
    /// The user and their role.
    pub current: CurrentUser,
    /// How they authenticated.
    pub strategy: Strategy,
    /// The login token, when one was used (`me` and `logout` need it).
    pub token: Option<String>,
    /// When that token expires.
    pub expires_at: Option<DateTime<FixedOffset>>,
}

impl Credential {
    /// Reads the `Authorization` header, else the `payload-token` cookie. A malformed
    /// header counts as no credential (the request is anonymous), as in Payload.
    pub fn from_parts(authorization: Option<&str>, cookie: Option<&str>) -> Option<Credential> {
        if let Some(header) = authorization {
            return parse_authorization(header);
        }
        cookie
            .map(str::trim)
            .filter(|c| !c.is_empty() && c.len() <= MAX_LEN)
            .map(|c| Credential::Token(c.to_owned()))
    }
}

fn parse_authorization(header: &str) -> Option<Credential> {
    let header = header.trim();
    if header.len() > MAX_LEN + 32 {
        return None;
    }
    let (scheme, rest) = header.split_once(' ')?;
    let rest = rest.trim();
    let credential = if scheme.eq_ignore_ascii_case("JWT") || scheme.eq_ignore_ascii_case("Bearer")
    {
        Credential::Token(rest.to_owned())
    } else if scheme == "users" {
        let (kind, key) = rest.split_once(' ')?;
        if !kind.eq_ignore_ascii_case("API-Key") {
            return None;
        }
        Credential::ApiKey(key.trim().to_owned())
    } else {
        return None;
    };
    match &credential {
        Credential::Token(t) | Credential::ApiKey(t)
            if t.is_empty() || t.contains(char::is_whitespace) =>
        {
            None
        }
        _ => Some(credential),
    }
}

impl Credential {
    /// What is stored and cached for it: its SHA-256 (never the credential itself).
    pub fn hash(&self) -> String {
        match self {
            Credential::Token(t) | Credential::ApiKey(t) => tokens::hash(t),
        }
    }
}

/// Credentials verified in the last [`CredentialCache::TTL`], by hash, so that a client
/// sending thousands of requests with one key does not cost a query each. Changes made
/// through the API (logout, key or password changes, disabling, deleting) evict the entries
/// concerned at once; changes made elsewhere (another instance, the admin panel) take effect
/// within the TTL. Unknown credentials are never cached.
///
/// A lookup that read the database before an eviction must not put its (now stale) answer
/// back afterwards, or a logged-out token would work for another TTL: every eviction moves
/// an epoch, and [`CredentialCache::insert`] drops answers read under an older one.
#[derive(Debug, Default)]
pub struct CredentialCache {
    inner: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    entries: HashMap<String, (Instant, Arc<Authenticated>)>,
    /// Evictions so far.
    epoch: u64,
}

/// When a database lookup started, relative to the cache's evictions (see
/// [`CredentialCache::ticket`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

impl CredentialCache {
    /// How long a verified credential is trusted without asking the database again.
    pub const TTL: Duration = Duration::from_secs(1);
    /// Entries kept before expired ones are swept.
    const MAX_ENTRIES: usize = 10_000;

    fn state(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached authentication for a credential hash, if fresh and unexpired.
    pub fn get(&self, hash: &str) -> Option<Arc<Authenticated>> {
        let state = self.state();
        let (at, auth) = state.entries.get(hash)?;
        let token_valid = auth.expires_at.is_none_or(|e| e > crate::domain::now());
        (at.elapsed() < Self::TTL && token_valid).then(|| auth.clone())
    }

    /// Taken before reading the database; [`CredentialCache::insert`] checks it.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.state().epoch)
    }

    /// Remembers a credential verified by a lookup that started at `ticket`, unless anything
    /// was evicted since (the lookup may have read what the eviction revoked).
    pub fn insert(&self, hash: String, auth: Arc<Authenticated>, ticket: Ticket) {
        let mut state = self.state();
        if state.epoch != ticket.0 {
            return;
        }
        if state.entries.len() >= Self::MAX_ENTRIES {
            state.entries.retain(|_, (at, _)| at.elapsed() < Self::TTL);
        }
        state.entries.insert(hash, (Instant::now(), auth));
    }

    /// Forgets one credential (by hash): a logged-out token.
    pub fn forget(&self, hash: &str) {
        let mut state = self.state();
        state.epoch += 1;
        state.entries.remove(hash);
    }

    /// Forgets every credential of a user.
    pub fn forget_user(&self, user_id: i32) {
        let mut state = self.state();
        state.epoch += 1;
        state.entries.retain(|_, (_, auth)| auth.user.id != user_id);
    }
}

/// The enabled user behind a credential, if any, through `cache`.
pub async fn authenticate_cached(
    db: &impl ConnectionTrait,
    cache: &CredentialCache,
    credential: &Credential,
) -> Result<Option<Arc<Authenticated>>, DbErr> {
    let hash = credential.hash();
    if let Some(hit) = cache.get(&hash) {
        return Ok(Some(hit));
    }
    let ticket = cache.ticket();
    let Some(auth) = authenticate(db, credential).await? else {
        return Ok(None);
    };
    let auth = Arc::new(auth);
    cache.insert(hash, auth.clone(), ticket);
    Ok(Some(auth))
}

/// The enabled user behind a credential, if any.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    credential: &Credential,
) -> Result<Option<Authenticated>, DbErr> {
    match credential {
        Credential::Token(token) => {
            let Some((user, expires_at)) =
                db::api_tokens::find_user(db, &tokens::hash(token)).await?
            else {
                return Ok(None);
            };
            Ok(CurrentUser::from_model(&user).map(|current| Authenticated {
                user,
                current,
                strategy: Strategy::LocalJwt,
                token: Some(token.clone()),
                expires_at: Some(expires_at),
            }))
        }
        Credential::ApiKey(key) => {
            let Some(user) = db::users::find_by_api_key_hash(db, &tokens::hash(key)).await? else {
                return Ok(None);
            };
            Ok(CurrentUser::from_model(&user).map(|current| Authenticated {
                user,
                current,
                strategy: Strategy::ApiKey,
                token: None,
                expires_at: None,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(auth: Option<&str>, cookie: Option<&str>) -> Option<Credential> {
        Credential::from_parts(auth, cookie)
    }

    #[test]
    fn payload_header_forms_are_recognised() {
        assert_eq!(
            parse(Some("JWT abc"), None),
            Some(Credential::Token("abc".into()))
        );
        assert_eq!(
            parse(Some("Bearer abc"), None),
            Some(Credential::Token("abc".into()))
        );
        assert_eq!(
            parse(Some("bearer  abc "), None),
            Some(Credential::Token("abc".into()))
        );
        assert_eq!(
            parse(Some("users API-Key k3y"), None),
            Some(Credential::ApiKey("k3y".into()))
        );
    }

    #[test]
    fn the_cookie_is_used_without_a_header() {
        assert_eq!(
            parse(None, Some("tok")),
            Some(Credential::Token("tok".into()))
        );
        assert_eq!(
            parse(Some("Bearer h"), Some("c")),
            Some(Credential::Token("h".into()))
        );
        assert_eq!(parse(None, Some("  ")), None);
    }

    #[test]
    fn malformed_headers_are_anonymous() {
        for h in [
            "",
            "Bearer",
            "Bearer ",
            "Basic abc",
            "admins API-Key k",
            "users Key k",
            "JWT a b",
        ] {
            assert_eq!(parse(Some(h), None), None, "{h}");
        }
        assert_eq!(
            parse(Some(&format!("Bearer {}", "a".repeat(5000))), None),
            None
        );
    }

    fn authenticated(id: i32, expires_at: Option<DateTime<FixedOffset>>) -> Arc<Authenticated> {
        let now = crate::domain::now();
        let user = users::Model {
            id,
            email: "a@b.io".into(),
            password_hash: "!".into(),
            role: "viewer".into(),
            name: String::new(),
            enable_api_key: true,
            api_key_hash: None,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        let current = CurrentUser::from_model(&user).expect("enabled");
        Arc::new(Authenticated {
            user,
            current,
            strategy: Strategy::ApiKey,
            token: None,
            expires_at,
        })
    }

    #[test]
    fn the_cache_serves_fresh_entries_and_forgets_users() {
        let cache = CredentialCache::default();
        cache.insert("h1".into(), authenticated(1, None), cache.ticket());
        cache.insert("h2".into(), authenticated(2, None), cache.ticket());
        assert!(cache.get("h1").is_some());
        assert!(cache.get("nope").is_none());
        cache.forget_user(1);
        assert!(cache.get("h1").is_none());
        assert!(cache.get("h2").is_some());
        let expired = crate::domain::now() - chrono::Duration::seconds(1);
        cache.insert("h3".into(), authenticated(3, Some(expired)), cache.ticket());
        assert!(
            cache.get("h3").is_none(),
            "an expired token is never served"
        );
    }

    #[test]
    fn forgetting_one_credential_keeps_the_others_of_the_same_user() {
        let cache = CredentialCache::default();
        cache.insert("a".into(), authenticated(1, None), cache.ticket());
        cache.insert("b".into(), authenticated(1, None), cache.ticket());
        cache.forget("a");
        assert!(cache.get("a").is_none());
        assert!(cache.get("b").is_some());
    }

    #[test]
    fn a_lookup_that_raced_an_eviction_is_not_cached() {
        let cache = CredentialCache::default();
        // A request starts reading the database; a logout of that token completes meanwhile.
        let ticket = cache.ticket();
        cache.forget("t");
        cache.insert("t".into(), authenticated(1, None), ticket);
        assert!(cache.get("t").is_none(), "the stale answer was dropped");
        // Lookups that start after the eviction are cached again.
        cache.insert("t".into(), authenticated(1, None), cache.ticket());
        assert!(cache.get("t").is_some());
        let ticket = cache.ticket();
        cache.forget_user(2);
        cache.insert("u".into(), authenticated(1, None), ticket);
        assert!(cache.get("u").is_none());
    }
}
