//! Authentication that knows nothing of HTTP: passwords, API keys and login tokens, the
//! current user and their role, and sign-in rate limits. The admin's cookie sessions and CSRF
//! checks are HTTP machinery and live in [`crate::web`].

pub mod api_credentials;
pub mod current_user;
pub mod password;
pub mod rate_limit;
pub mod tokens;
