//! Typed configuration, read once from environment variables (and an optional `.env` file,
//! loaded by `main`). Every variable is documented here and in the README; a malformed value
//! is a [`ConfigError`] naming the variable.

use std::{env, fmt::Display, str::FromStr, time::Duration};

use secrecy::SecretString;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// HTTP listener and cookies.
    pub server: ServerSettings,
    /// Where the data lives.
    pub database: DatabaseSettings,
    /// Session key and first admin.
    pub auth: AuthSettings,
    /// LLM provider endpoints and keys.
    pub providers: ProviderConfig,
    /// Defaults and limits of the runner.
    pub runner: RunnerSettings,
    /// Limits of the custom tool sandbox.
    pub sandbox: SandboxSettings,
    /// Load the demo data into an empty database on start.
    pub seed_demo: bool,
}

/// HTTP listener settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `BIND`: address to listen on (default `127.0.0.1:3000`; port 0 picks a free port).
    pub bind: String,
    /// `COOKIE_SECURE`: mark cookies `Secure` (set when served over TLS). Default false.
    pub cookie_secure: bool,
    /// `MAX_BODY_BYTES`: request body limit for forms and JSON (default 2 MiB).
    pub max_body_bytes: usize,
    /// `SSE_KEEP_ALIVE_MS`: how often an idle event stream sends a keep-alive comment, so
    /// proxies keep it open and a client that went away is noticed (default 15 000, 10–600 000).
    pub sse_keep_alive: std::time::Duration,
    /// `HTTP_WORKERS`: threads serving HTTP, each with its own event loop (default: the
    /// number of CPUs, 1–256).
    pub workers: usize,
}

/// Database settings.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…` (default `sqlite://data/aladdin.db?mode=rwc`).
    pub url: String,
    /// `DATABASE_MAX_CONNECTIONS`: pool size (default 24 on SQLite, 10 on PostgreSQL).
    pub max_connections: u32,
}

/// The pool size when none is set. A pooled SQLite connection is a thread of this process
/// over the file: readers run side by side under WAL, and a connection stays checked out
/// mostly while work is handed to its thread and back, not while SQLite works. With too few,
/// requests queue for a connection while the CPUs idle (`GET /api/agents` at 64 connections,
/// paired runs: about 40% more requests/s with 24–32 than with 10). A PostgreSQL connection is
/// a server process shared with other instances, so the default stays small there.
fn default_max_connections(url: &str) -> u32 {
    if crate::db::sqlite_url(url) { 24 } else { 10 }
}

/// Authentication settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `SECRET_KEY`: at least 64 bytes used to sign cookies; generated and stored in the
    /// database on first start when unset.
    pub secret_key: Option<SecretString>,
    /// `ADMIN_EMAIL`: the first admin, created on start when no user exists.
    pub admin_email: Option<String>,
    /// `ADMIN_PASSWORD`: the first admin's password.
    pub admin_password: Option<SecretString>,
}

/// Provider configuration as the seed named it.
#[derive(Debug, Clone, Default)]
pub struct ProviderConfig {
    /// `OPENROUTER_BASE_URL`, e.g. `https://openrouter.ai/api/v1`.
    pub openrouter_base_url: Option<String>,
    /// `OPENROUTER_API_KEY`.
    pub openrouter_api_key: Option<SecretString>,
    /// `OPENROUTER_DEFAULT_MODEL`: used by agents whose model is empty.
    pub openrouter_default_model: Option<String>,
    /// `OPENAI_BASE_URL`: any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp).
    pub openai_base_url: Option<String>,
    /// `OPENAI_API_KEY`.
    pub openai_api_key: Option<SecretString>,
    /// `ANTHROPIC_API_KEY` (alias `CODEBUFF_API_KEY`).
    pub anthropic_api_key: Option<SecretString>,
    /// `ANTHROPIC_BASE_URL` (default `https://api.anthropic.com`).
    pub anthropic_base_url: Option<String>,
}

/// Runner defaults and limits.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// `AGENT_MAX_RETRIES`: retries per provider request for agents that leave it empty (default 3).
    pub max_retries: u32,
    /// `AGENT_TIMEOUT`: whole-run deadline in milliseconds (default 300000).
    pub timeout: Duration,
    /// `AGENT_MAX_STEPS`: model calls per run for agents that leave it empty (default 20).
    pub max_steps: u32,
    /// `RUNNER_CONCURRENCY`: executions run at once by this instance (default 16).
    pub concurrency: usize,
    /// `PROVIDER_IDLE_TIMEOUT_MS`: longest silence inside a provider stream (default 60000).
    pub idle_timeout: Duration,
    /// `PROVIDER_CONNECT_TIMEOUT_MS`: connect timeout to providers (default 10000).
    pub connect_timeout: Duration,
}

/// Sandbox limits for custom tools.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// `SANDBOX_WORKERS`: tool calls run at once (default: number of CPUs, at least 2).
    pub workers: usize,
    /// `SANDBOX_MEMORY_MB`: heap limit per tool call in MiB (default 32).
    pub memory_mb: usize,
}

/// A variable that is set but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for {var}: {message}")]
pub struct ConfigError {
    /// The variable's name.
    pub var: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let database_url = env
            .string("DATABASE_URL")
            .unwrap_or_else(|| "sqlite://data/aladdin.db?mode=rwc".into());
        let workers_default = cpus.max(2);
        Ok(Self {
            server: ServerSettings {
                bind: env
                    .string("BIND")
                    .unwrap_or_else(|| "127.0.0.1:3000".into()),
                cookie_secure: env.parse("COOKIE_SECURE", false)?,
                max_body_bytes: env.parse("MAX_BODY_BYTES", 2 * 1024 * 1024)?,
                sse_keep_alive: std::time::Duration::from_millis(env.ranged(
                    "SSE_KEEP_ALIVE_MS",
                    15_000,
                    10,
                    600_000,
                )?),
                workers: env.ranged("HTTP_WORKERS", cpus, 1, 256)?,
            },
            database: DatabaseSettings {
                max_connections: env.ranged(
                    "DATABASE_MAX_CONNECTIONS",
                    default_max_connections(&database_url),
                    1,
                    10_000,
                )?,
                url: database_url,
            },
            auth: AuthSettings {
                secret_key: env.secret_key()?,
                admin_email: env.string("ADMIN_EMAIL"),
                admin_password: env.string("ADMIN_PASSWORD").map(SecretString::from),
            },
            providers: ProviderConfig {
                openrouter_base_url: env.url("OPENROUTER_BASE_URL")?,
                openrouter_api_key: env.string("OPENROUTER_API_KEY").map(SecretString::from),
                openrouter_default_model: env.string("OPENROUTER_DEFAULT_MODEL"),
                openai_base_url: env.url("OPENAI_BASE_URL")?,
                openai_api_key: env.string("OPENAI_API_KEY").map(SecretString::from),
                anthropic_api_key: env
                    .string("ANTHROPIC_API_KEY")
                    .or_else(|| env.string("CODEBUFF_API_KEY"))
                    .map(SecretString::from),
                anthropic_base_url: env.url("ANTHROPIC_BASE_URL")?,
            },
            runner: RunnerSettings {
                max_retries: env.ranged("AGENT_MAX_RETRIES", 3, 0, 10)?,
                timeout: Duration::from_millis(env.ranged(
                    "AGENT_TIMEOUT",
                    300_000,
                    1,
                    86_400_000,
                )?),
                max_steps: env.ranged("AGENT_MAX_STEPS", 20, 1, 100)?,
                concurrency: env.ranged("RUNNER_CONCURRENCY", 16, 1, 10_000)?,
                idle_timeout: Duration::from_millis(env.ranged(
                    "PROVIDER_IDLE_TIMEOUT_MS",
                    60_000,
                    1,
                    3_600_000,
                )?),
                connect_timeout: Duration::from_millis(env.ranged(
                    "PROVIDER_CONNECT_TIMEOUT_MS",
                    10_000,
                    1,
                    600_000,
                )?),
            },
            sandbox: SandboxSettings {
                workers: env.ranged("SANDBOX_WORKERS", workers_default, 1, 256)?,
                memory_mb: env.ranged("SANDBOX_MEMORY_MB", 32, 4, 1024)?,
            },
            seed_demo: env.parse("SEED_DEMO", true)?,
        })
    }

    /// True when the database is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database.url.starts_with("postgres")
    }
}

/// Typed access to the variables, each error naming its variable.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// A set, non-empty variable.
    fn string(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn parse<T: FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: Display,
    {
        match self.string(var) {
            None => Ok(default),
            Some(raw) => parse_value(var, &raw),
        }
    }

    fn ranged<T>(&self, var: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display + Copy,
        T::Err: Display,
    {
        let value = self.parse(var, default)?;
        if value < min || value > max {
            return Err(ConfigError {
                var,
                message: format!("{value} is out of range ({min}..={max})"),
            });
        }
        Ok(value)
    }

    fn url(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        match self.string(var) {
            Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                Err(ConfigError {
                    var,
                    message: format!("`{url}` is not an http:// or https:// URL"),
                })
            }
            other => Ok(other.map(|u| u.trim_end_matches('/').to_owned())),
        }
    }

    fn secret_key(&self) -> Result<Option<SecretString>, ConfigError> {
        match self.string("SECRET_KEY") {
            Some(key) if key.len() < 32 => Err(ConfigError {
                var: "SECRET_KEY",
                message: "must be at least 32 characters long".into(),
            }),
            other => Ok(other.map(SecretString::from)),
        }
    }
}

fn parse_value<T: FromStr>(var: &'static str, raw: &str) -> Result<T, ConfigError>
where
    T::Err: Display,
{
    let normalized = match raw.to_ascii_lowercase().as_str() {
        "yes" | "on" | "1" if std::any::type_name::<T>() == "bool" => "true".to_owned(),
        "no" | "off" | "0" if std::any::type_name::<T>() == "bool" => "false".to_owned(),
        _ => raw.to_owned(),
    };
    normalized.parse().map_err(|e: T::Err| ConfigError {
        var,
        message: format!("`{raw}`: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.server.bind, "127.0.0.1:3000");
        assert_eq!(s.database.url, "sqlite://data/aladdin.db?mode=rwc");
        assert_eq!(s.runner.timeout, Duration::from_millis(300_000));
        assert_eq!(s.runner.max_steps, 20);
    }

    #[test]
    fn the_pool_size_depends_on_the_database_unless_set() {
        let pool = |vars: &[(&str, &str)]| settings(vars).map(|s| s.database.max_connections);
        assert_eq!(pool(&[]).ok(), Some(24));
        assert_eq!(
            pool(&[("DATABASE_URL", "postgres://u@localhost/db")]).ok(),
            Some(10)
        );
        assert_eq!(pool(&[("DATABASE_MAX_CONNECTIONS", "4")]).ok(), Some(4));
        assert_eq!(
            pool(&[("DATABASE_MAX_CONNECTIONS", "0")])
                .err()
                .map(|e| e.var),
            Some("DATABASE_MAX_CONNECTIONS")
        );
    }

    #[test]
    fn http_workers_default_to_the_cpus() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(settings(&[]).ok().map(|s| s.server.workers), Some(cpus));
        assert_eq!(
            settings(&[("HTTP_WORKERS", "3")])
                .ok()
                .map(|s| s.server.workers),
            Some(3)
        );
        assert_eq!(
            settings(&[("HTTP_WORKERS", "0")]).err().map(|e| e.var),
            Some("HTTP_WORKERS")
        );
    }

    #[test]
    fn a_malformed_number_names_its_variable() {
        let err = settings(&[("AGENT_TIMEOUT", "five")]).unwrap_err();
        assert_eq!(err.var, "AGENT_TIMEOUT");
        assert!(
            err.to_string()
                .starts_with("invalid value for AGENT_TIMEOUT")
        );
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let err = settings(&[("AGENT_MAX_STEPS", "0")]).unwrap_err();
        assert_eq!(err.var, "AGENT_MAX_STEPS");
    }

    #[test]
    fn codebuff_key_is_an_alias_for_anthropic() {
        let s = settings(&[("CODEBUFF_API_KEY", "sk-x")]).expect("valid");
        assert!(s.providers.anthropic_api_key.is_some());
    }

    #[test]
    fn booleans_accept_common_spellings_and_refuse_others() {
        assert!(
            settings(&[("COOKIE_SECURE", "yes")])
                .expect("valid")
                .server
                .cookie_secure
        );
        assert_eq!(
            settings(&[("SEED_DEMO", "maybe")]).unwrap_err().var,
            "SEED_DEMO"
        );
    }

    #[test]
    fn provider_urls_must_be_http() {
        let err = settings(&[("OPENROUTER_BASE_URL", "openrouter.ai")]).unwrap_err();
        assert_eq!(err.var, "OPENROUTER_BASE_URL");
    }
}
