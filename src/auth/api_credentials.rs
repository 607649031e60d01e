//! Credentials of JSON API requests, the ways Payload accepts them: a login token as
//! `Authorization: JWT <token>` or `Bearer <token>` or in the `payload-token` cookie, and an
//! API key as `Authorization: users API-Key <key>`. Tokens are opaque random strings (not
//! JWTs) stored hashed, so that logout revokes them at once; keys are stored hashed too.

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
}
