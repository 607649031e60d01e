//! Authentication: password hashing, API keys and tokens.

pub mod password;
pub mod tokens;
