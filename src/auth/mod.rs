//! Authentication: password hashing, API keys and tokens.

pub mod api_credentials;
pub mod current_user;
pub mod password;
pub mod tokens;
