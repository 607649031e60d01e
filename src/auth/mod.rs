//! Authentication: passwords, API keys and tokens, and the admin's sessions, CSRF tokens and
//! sign-in rate limits.

pub mod api_credentials;
pub mod csrf;
pub mod current_user;
pub mod middleware;
pub mod password;
pub mod rate_limit;
pub mod session;
pub mod session_store;
pub mod tokens;
