//! argon2id hashing, always off the async threads.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use secrecy::{ExposeSecret, SecretString};

/// Why a password check failed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Wrong password (or unknown user).
    #[error("invalid credentials")]
    Invalid,
    /// Hashing failed or the task panicked.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A hash verified against when the user does not exist, so that unknown emails take as
/// long to answer as wrong passwords.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$gZiV/M1gPc22ElAH/Jh1Hw$CWOrkoo7oJBQ/iyh7uJ0LO2aLEfrHwTWllSAxT0zRno";

/// Hashes a password with argon2id on a blocking thread.
pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
    })
    .await?
}

/// Verifies a password against a stored hash (or the dummy hash when `hash` is None).
pub async fn verify(password: SecretString, hash: Option<String>) -> Result<(), PasswordError> {
    let known = hash.is_some();
    let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), hash.as_str())
            .map_err(|_| PasswordError::Invalid)
    })
    .await
    .map_err(|e| PasswordError::Unexpected(e.into()))??;
    if known {
        Ok(())
    } else {
        Err(PasswordError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let h = hash(SecretString::from("correct horse"))
            .await
            .expect("hash");
        assert!(
            verify(SecretString::from("correct horse"), Some(h.clone()))
                .await
                .is_ok()
        );
        assert!(matches!(
            verify(SecretString::from("wrong"), Some(h)).await,
            Err(PasswordError::Invalid)
        ));
    }

    #[tokio::test]
    async fn unknown_users_are_refused_after_the_dummy_check() {
        assert!(matches!(
            verify(SecretString::from("x"), None).await,
            Err(PasswordError::Invalid)
        ));
    }
}
