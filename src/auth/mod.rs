//! Authentication: password hashing, API keys and tokens.

pub mod current_user;
pub mod password;
pub mod tokens;
