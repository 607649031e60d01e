//! Typed configuration, read once from environment variables (and an optional `.env` file,
//! loaded by `main`). Every variable is documented here and in the README; a malformed value
//! is a [`ConfigError`] naming the variable.
//!
//! Everything that can be checked without side effects is checked here, before anything else
//! happens: the binary exits with one line naming the variable before it opens the database,
//! creates a file or loads demo data.

use std::{env, fmt::Display, net::SocketAddr, str::FromStr, time::Duration};

use secrecy::{ExposeSecret, SecretString};

use crate::domain::users::UserInput;

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
    /// Log filter and format.
    pub log: LogSettings,
    /// OpenTelemetry traces (off unless an OTLP endpoint is set).
    pub traces: TraceSettings,
}

/// OpenTelemetry trace export (OTLP over HTTP, protobuf). The standard `OTEL_*` variables are
/// read here like every other setting, so a bad value stops the start with one line.
#[derive(Debug, Clone, Default)]
pub struct TraceSettings {
    /// Where spans are sent: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` appended. `None`: traces are off (no
    /// exporter, no background thread, no spans built).
    pub endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`: `key=value`
    /// pairs separated by commas, values percent-decoded (e.g. an API key for the collector).
    pub headers: Vec<(String, SecretString)>,
    /// `OTEL_SERVICE_NAME`: the `service.name` resource attribute (default `aladdin`).
    pub service_name: String,
    /// `OTEL_GENAI_CAPTURE_CONTENT`: add prompts, completions and tool arguments and results
    /// to the spans (default false: they may hold personal or secret data).
    pub capture_content: bool,
}

/// Logging settings.
#[derive(Debug, Clone)]
pub struct LogSettings {
    /// `RUST_LOG`: a tracing `EnvFilter` (default `info`, quieter for the SQL and HTTP
    /// libraries).
    pub filter: String,
    /// `LOG_FORMAT`: `json` for one JSON object per line, `text` (the default) for
    /// human-readable lines.
    pub json: bool,
}

/// The log filter when `RUST_LOG` is unset.
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,sea_orm=warn,actix_server=warn";

/// HTTP listener settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `BIND`: `host:port` to listen on (default `127.0.0.1:3000`; port 0 picks a free port).
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
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…` (default `sqlite://data/aladdin.db?mode=rwc`),
    /// parsed as the database driver will parse it.
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
    /// `SECRET_KEY`: at least 32 bytes used to sign cookies; generated and stored in the
    /// database on first start when unset.
    pub secret_key: Option<SecretString>,
    /// `ADMIN_EMAIL`: the first admin, created on start when no user exists (a valid
    /// address, lower-cased; set together with `ADMIN_PASSWORD`).
    pub admin_email: Option<String>,
    /// `ADMIN_PASSWORD`: the first admin's password (at least 8 characters).
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
    /// `AGENT_MAX_FANOUT`: most children one `spawn_agents` call may start (default 8).
    pub max_fanout: usize,
    /// `AGENT_MAX_DEPTH`: deepest level a spawned child may run at; top-level runs are at
    /// depth 0 (default 3).
    pub max_depth: i32,
    /// `PROVIDER_IDLE_TIMEOUT_MS`: longest silence inside a provider stream (default 60000).
    pub idle_timeout: Duration,
    /// `PROVIDER_CONNECT_TIMEOUT_MS`: connect timeout to providers (default 10000).
    pub connect_timeout: Duration,
    /// `MODEL_BREAKER_FAILURES`: consecutive failed requests to a model (any run of this
    /// instance) that open its circuit breaker (default 5, 1–1000).
    pub breaker_failures: u32,
    /// `MODEL_BREAKER_COOLDOWN_MS`: how long an open breaker skips its model before one run
    /// probes it again (default 60000, 0–86400000).
    pub breaker_cooldown: Duration,
    /// `MCP_ALLOW_STDIO`: whether MCP servers may be started as local commands (stdio
    /// transport; default false: a command runs on this machine).
    pub mcp_allow_stdio: bool,
    /// `APPROVAL_WEBHOOK_URL`: receives a JSON POST for every approval request (retried with
    /// backoff; a failure never blocks the run). Unset: no webhook.
    pub approval_webhook_url: Option<String>,
    /// `EVAL_CONCURRENCY`: cases of one eval run executed at once (default 12, 1–1000; each
    /// case is an ordinary execution and takes a `RUNNER_CONCURRENCY` slot while it runs).
    pub eval_concurrency: usize,
    /// `EVAL_JUDGE_AGENT`: agentId of the judge for datasets that name none (default unset:
    /// a rubric case of such a dataset fails with a reason saying so).
    pub eval_judge_agent: Option<String>,
    /// `EVAL_OPTIMIZER_AGENT`: agentId of the agent that writes prompt proposals (default
    /// `prompt-optimizer-001`, the demo optimizer).
    pub eval_optimizer_agent: String,
    /// `RUNNER_LEASE_TTL_MS`: how long a run's lease lasts without renewal (default 15000,
    /// 1000–600000); renewed every third of it. A peer recovers the runs of an instance that
    /// stopped renewing once their lease has expired.
    pub lease_ttl: Duration,
    /// `RUNNER_DRAIN_TIMEOUT_MS`: on SIGTERM, how long running executions may go on finishing
    /// before they are handed back (default 10000, 0–3600000).
    pub drain_timeout: Duration,
    /// `RUNNER_RESUME_INTERRUPTED`: continue interrupted runs (a crashed or cut-off instance's,
    /// those left at the end of a drain) from their checkpoint instead of leaving them
    /// `failed`/`interrupted` (default false).
    pub resume_interrupted: bool,
    /// `INSTANCE_NAME`: this instance's name in the lease owner of its runs
    /// (`server-<name>-<random>`), so an operator sees which instance runs what (letters,
    /// digits, `-`, `_`; at most 40).
    pub instance_name: Option<String>,
}

/// Sandbox limits for custom tools.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// `SANDBOX_WORKERS`: tool calls run at once (default: number of CPUs, at least 2).
    pub workers: usize,
    /// `SANDBOX_MEMORY_MB`: heap limit per tool call in MiB (default 32).
    pub memory_mb: usize,
}

/// A variable that is set but cannot be used. Displayed on one line, whatever the message.
#[derive(Debug, thiserror::Error)]
#[error("invalid value for {var}: {}", one_line(.message))]
pub struct ConfigError {
    /// The variable's name.
    pub var: &'static str,
    /// What is wrong with it.
    pub message: String,
}

/// `message` with its line breaks (a driver's multi-line error) folded into spaces.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
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
        let database_url = env.database_url()?;
        let workers_default = cpus.max(2);
        let (admin_email, admin_password) = env.first_admin()?;
        Ok(Self {
            server: ServerSettings {
                bind: env.bind()?,
                cookie_secure: env.parse("COOKIE_SECURE", false)?,
                max_body_bytes: env.ranged("MAX_BODY_BYTES", 2 * 1024 * 1024, 1024, 1 << 30)?,
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
                admin_email,
                admin_password,
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
                max_fanout: env.ranged("AGENT_MAX_FANOUT", 8, 1, 100)?,
                max_depth: env.ranged("AGENT_MAX_DEPTH", 3, 0, 10)?,
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
                breaker_failures: env.ranged("MODEL_BREAKER_FAILURES", 5, 1, 1000)?,
                breaker_cooldown: Duration::from_millis(env.ranged(
                    "MODEL_BREAKER_COOLDOWN_MS",
                    60_000,
                    0,
                    86_400_000,
                )?),
                mcp_allow_stdio: env.parse("MCP_ALLOW_STDIO", false)?,
                approval_webhook_url: env.url("APPROVAL_WEBHOOK_URL")?,
                eval_concurrency: env.ranged("EVAL_CONCURRENCY", 12, 1, 1000)?,
                eval_judge_agent: env.string("EVAL_JUDGE_AGENT"),
                eval_optimizer_agent: env
                    .string("EVAL_OPTIMIZER_AGENT")
                    .unwrap_or_else(|| "prompt-optimizer-001".into()),
                lease_ttl: Duration::from_millis(env.ranged(
                    "RUNNER_LEASE_TTL_MS",
                    15_000,
                    1_000,
                    600_000,
                )?),
                drain_timeout: Duration::from_millis(env.ranged(
                    "RUNNER_DRAIN_TIMEOUT_MS",
                    10_000,
                    0,
                    3_600_000,
                )?),
                resume_interrupted: env.parse("RUNNER_RESUME_INTERRUPTED", false)?,
                instance_name: env.instance_name()?,
            },
            sandbox: SandboxSettings {
                workers: env.ranged("SANDBOX_WORKERS", workers_default, 1, 256)?,
                memory_mb: env.ranged("SANDBOX_MEMORY_MB", 32, 4, 1024)?,
            },
            seed_demo: env.parse("SEED_DEMO", true)?,
            log: env.log()?,
            traces: env.traces()?,
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
        let Some(url) = self.string(var) else {
            return Ok(None);
        };
        let error = |why: &str| ConfigError {
            var,
            message: format!("`{url}` is not an http:// or https:// URL{why}"),
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(error(""));
        }
        match reqwest::Url::parse(&url) {
            Ok(parsed) if parsed.host_str().is_some_and(|h| !h.is_empty()) => {
                Ok(Some(url.trim_end_matches('/').to_owned()))
            }
            Ok(_) => Err(error(" (it names no host)")),
            Err(e) => Err(error(&format!(" ({e})"))),
        }
    }

    /// `INSTANCE_NAME`: a short name made of letters, digits, `-` and `_`.
    fn instance_name(&self) -> Result<Option<String>, ConfigError> {
        let Some(name) = self.string("INSTANCE_NAME") else {
            return Ok(None);
        };
        let fits = name.len() <= 40
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !fits {
            return Err(ConfigError {
                var: "INSTANCE_NAME",
                message: format!("`{name}` must be at most 40 letters, digits, `-` or `_`"),
            });
        }
        Ok(Some(name))
    }

    /// `BIND`: an IP address and port, or a host name and port (`localhost:3000`).
    fn bind(&self) -> Result<String, ConfigError> {
        let Some(bind) = self.string("BIND") else {
            return Ok("127.0.0.1:3000".into());
        };
        if bind.parse::<SocketAddr>().is_ok() {
            return Ok(bind);
        }
        let host_name = |host: &str| {
            !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        };
        match bind.rsplit_once(':') {
            Some((host, port)) if host_name(host) && port.parse::<u16>().is_ok() => Ok(bind),
            _ => Err(ConfigError {
                var: "BIND",
                message: format!(
                    "`{bind}` is not a host and port such as 127.0.0.1:3000 or 0.0.0.0:3000"
                ),
            }),
        }
    }

    /// `DATABASE_URL`: SQLite or PostgreSQL, parsed by the driver that will use it (without
    /// connecting), so that a typo is reported before anything is opened or created.
    fn database_url(&self) -> Result<String, ConfigError> {
        use sea_orm::sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions};

        let Some(url) = self.string("DATABASE_URL") else {
            return Ok("sqlite://data/aladdin.db?mode=rwc".into());
        };
        let error = |message: String| ConfigError {
            var: "DATABASE_URL",
            message: format!("`{}` {message}", crate::db::redact_url(&url)),
        };
        if crate::db::sqlite_url(&url) {
            let options = SqliteConnectOptions::from_str(&url)
                .map_err(|e| error(format!("is not a usable SQLite URL: {e}")))?;
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            if !in_memory && options.get_filename().as_os_str().is_empty() {
                return Err(error("names no database file".into()));
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(&url)
                .map_err(|e| error(format!("is not a usable PostgreSQL URL: {e}")))?;
        } else {
            return Err(error("is neither a sqlite:// nor a postgres:// URL".into()));
        }
        Ok(url)
    }

    /// `ADMIN_EMAIL` and `ADMIN_PASSWORD`: both or neither, validated as the user form
    /// validates them (a valid address; a password of at least 8 characters).
    fn first_admin(&self) -> Result<(Option<String>, Option<SecretString>), ConfigError> {
        let (email, password) = match (self.string("ADMIN_EMAIL"), self.string("ADMIN_PASSWORD")) {
            (None, None) => return Ok((None, None)),
            (Some(_), None) => {
                return Err(ConfigError {
                    var: "ADMIN_PASSWORD",
                    message: "must be set when ADMIN_EMAIL is".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError {
                    var: "ADMIN_EMAIL",
                    message: "must be set when ADMIN_PASSWORD is".into(),
                });
            }
            (Some(email), Some(password)) => (email, SecretString::from(password)),
        };
        let doc = serde_json::json!({
            "email": email,
            "name": "Administrator",
            "role": "admin",
            "password": password.expose_secret(),
        });
        match UserInput::from_json(&doc, true) {
            Ok(input) => Ok((Some(input.email), Some(password))),
            Err(crate::error::AppError::Validation(errors)) => {
                let (field, message) = errors
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| ("email".into(), "is invalid".into()));
                // Never echo the password.
                let (var, message) = if field == "password" {
                    ("ADMIN_PASSWORD", message)
                } else {
                    ("ADMIN_EMAIL", format!("`{email}`: {message}"))
                };
                Err(ConfigError { var, message })
            }
            Err(other) => Err(ConfigError {
                var: "ADMIN_EMAIL",
                message: other.to_string(),
            }),
        }
    }

    /// The OpenTelemetry trace settings: the OTLP endpoint and headers, the service name and
    /// whether content is captured.
    fn traces(&self) -> Result<TraceSettings, ConfigError> {
        let endpoint = match self.url("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")? {
            Some(url) => Some(url),
            None => self
                .url("OTEL_EXPORTER_OTLP_ENDPOINT")?
                .map(|base| format!("{base}/v1/traces")),
        };
        let headers = match self.string("OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
            Some(raw) => otlp_headers("OTEL_EXPORTER_OTLP_TRACES_HEADERS", &raw)?,
            None => match self.string("OTEL_EXPORTER_OTLP_HEADERS") {
                Some(raw) => otlp_headers("OTEL_EXPORTER_OTLP_HEADERS", &raw)?,
                None => Vec::new(),
            },
        };
        Ok(TraceSettings {
            endpoint,
            headers,
            service_name: self
                .string("OTEL_SERVICE_NAME")
                .unwrap_or_else(|| "aladdin".into()),
            capture_content: self.parse("OTEL_GENAI_CAPTURE_CONTENT", false)?,
        })
    }

    /// `RUST_LOG` (a tracing filter) and `LOG_FORMAT` (`text` or `json`).
    fn log(&self) -> Result<LogSettings, ConfigError> {
        let filter = match self.string("RUST_LOG") {
            None => DEFAULT_LOG_FILTER.to_owned(),
            Some(filter) => {
                tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| ConfigError {
                    var: "RUST_LOG",
                    message: format!("`{filter}`: {e}"),
                })?;
                filter
            }
        };
        let json = match self.string("LOG_FORMAT").map(|f| f.to_ascii_lowercase()) {
            None => false,
            Some(format) if format == "text" => false,
            Some(format) if format == "json" => true,
            Some(format) => {
                return Err(ConfigError {
                    var: "LOG_FORMAT",
                    message: format!("`{format}` is neither `text` nor `json`"),
                });
            }
        };
        Ok(LogSettings { filter, json })
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

/// OTLP headers (`key1=value1,key2=value2`, values percent-decoded) as the OpenTelemetry
/// specification writes them; each must make a valid HTTP header. Values are never echoed.
fn otlp_headers(var: &'static str, raw: &str) -> Result<Vec<(String, SecretString)>, ConfigError> {
    let mut headers = Vec::new();
    for (n, pair) in raw.split(',').enumerate() {
        if pair.trim().is_empty() {
            continue;
        }
        let error = |message: String| ConfigError { var, message };
        let Some((key, value)) = pair.split_once('=') else {
            return Err(error(format!("entry {} is not key=value", n + 1)));
        };
        let key = key.trim();
        let value = percent_decode(value.trim()).ok_or_else(|| {
            error(format!(
                "the value of `{key}` is not valid percent-encoding"
            ))
        })?;
        if http::HeaderName::from_bytes(key.as_bytes()).is_err() {
            return Err(error(format!("`{key}` is not a valid header name")));
        }
        if http::HeaderValue::from_str(&value).is_err() {
            return Err(error(format!(
                "the value of `{key}` is not a valid header value"
            )));
        }
        headers.push((key.to_owned(), SecretString::from(value)));
    }
    Ok(headers)
}

/// `%XX` sequences decoded (UTF-8); `None` when one is malformed.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
    fn breaker_settings_have_defaults_and_ranges() {
        let runner = settings(&[]).map(|s| s.runner).expect("defaults");
        assert_eq!(runner.breaker_failures, 5);
        assert_eq!(runner.breaker_cooldown, Duration::from_secs(60));
        let set = settings(&[
            ("MODEL_BREAKER_FAILURES", "2"),
            ("MODEL_BREAKER_COOLDOWN_MS", "0"),
        ])
        .map(|s| s.runner)
        .expect("valid");
        assert_eq!(
            (set.breaker_failures, set.breaker_cooldown),
            (2, Duration::ZERO)
        );
        for (var, value) in [
            ("MODEL_BREAKER_FAILURES", "0"),
            ("MODEL_BREAKER_FAILURES", "many"),
            ("MODEL_BREAKER_COOLDOWN_MS", "-1"),
        ] {
            assert_eq!(settings(&[(var, value)]).err().map(|e| e.var), Some(var));
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let err = settings(&[("AGENT_MAX_STEPS", "0")]).unwrap_err();
        assert_eq!(err.var, "AGENT_MAX_STEPS");
        let err = settings(&[("AGENT_MAX_FANOUT", "0")]).unwrap_err();
        assert_eq!(err.var, "AGENT_MAX_FANOUT");
        let err = settings(&[("AGENT_MAX_DEPTH", "eleven")]).unwrap_err();
        assert_eq!(err.var, "AGENT_MAX_DEPTH");
        let s = settings(&[]).expect("defaults");
        assert_eq!((s.runner.max_fanout, s.runner.max_depth), (8, 3));
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

    #[test]
    fn bind_must_be_a_host_and_port() {
        for good in [
            "0.0.0.0:3000",
            "127.0.0.1:0",
            "[::1]:8080",
            "localhost:3000",
            "app.internal:80",
        ] {
            assert_eq!(
                settings(&[("BIND", good)])
                    .map(|s| s.server.bind)
                    .ok()
                    .as_deref(),
                Some(good),
                "{good}"
            );
        }
        for bad in [
            "3000",
            "localhost",
            "127.0.0.1:",
            "127.0.0.1:99999",
            "0.0.0.0:http",
            "a b:80",
            ":80",
        ] {
            let err = settings(&[("BIND", bad)]).err().map(|e| e.var);
            assert_eq!(err, Some("BIND"), "{bad}");
        }
    }

    #[test]
    fn the_database_url_must_be_sqlite_or_postgres_and_parse() {
        for good in [
            "sqlite://data/aladdin.db?mode=rwc",
            "sqlite::memory:",
            "sqlite://relative.db",
            "postgres://u:p@localhost:5432/db",
            "postgresql://u@db.internal/aladdin?sslmode=require",
        ] {
            assert!(settings(&[("DATABASE_URL", good)]).is_ok(), "{good}");
        }
        for bad in [
            "mysql://u@localhost/db",
            "data/aladdin.db",
            "sqlite://data/a.db?mode=sideways",
            "sqlite://data/a.db?colour=blue",
            "sqlite://",
            "postgres://u@localhost:notaport/db",
            "postgres://u@local host/db",
        ] {
            let err = settings(&[("DATABASE_URL", bad)]).err();
            assert_eq!(err.as_ref().map(|e| e.var), Some("DATABASE_URL"), "{bad}");
        }
    }

    #[test]
    fn a_database_password_is_never_shown() {
        let err = settings(&[("DATABASE_URL", "postgres://u:hunter2@localhost:x/db")])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.starts_with("invalid value for DATABASE_URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn the_first_admin_needs_both_variables_a_valid_email_and_a_long_password() {
        let admin = |vars: &[(&str, &str)]| settings(vars).map_err(|e| e.var);
        let ok = admin(&[
            ("ADMIN_EMAIL", "Boss@Example.com"),
            ("ADMIN_PASSWORD", "long enough"),
        ])
        .expect("valid");
        assert_eq!(ok.auth.admin_email.as_deref(), Some("boss@example.com"));
        assert_eq!(
            admin(&[("ADMIN_EMAIL", "boss@example.com")]).err(),
            Some("ADMIN_PASSWORD")
        );
        assert_eq!(
            admin(&[("ADMIN_PASSWORD", "long enough")]).err(),
            Some("ADMIN_EMAIL")
        );
        assert_eq!(
            admin(&[
                ("ADMIN_EMAIL", "not an email"),
                ("ADMIN_PASSWORD", "long enough")
            ])
            .err(),
            Some("ADMIN_EMAIL")
        );
        let short = settings(&[("ADMIN_EMAIL", "a@b.io"), ("ADMIN_PASSWORD", "secret7")])
            .expect_err("refused");
        assert_eq!(short.var, "ADMIN_PASSWORD");
        assert!(!short.to_string().contains("secret7"), "{short}");
    }

    #[test]
    fn the_log_filter_and_format_are_checked() {
        let s =
            settings(&[("RUST_LOG", "debug,sqlx=warn"), ("LOG_FORMAT", "JSON")]).expect("valid");
        assert_eq!(
            (s.log.filter.as_str(), s.log.json),
            ("debug,sqlx=warn", true)
        );
        assert!(!settings(&[]).expect("valid").log.json);
        assert_eq!(
            settings(&[("LOG_FORMAT", "xml")]).err().map(|e| e.var),
            Some("LOG_FORMAT")
        );
        assert_eq!(
            settings(&[("RUST_LOG", "aladdin=loudest")])
                .err()
                .map(|e| e.var),
            Some("RUST_LOG")
        );
    }

    #[test]
    fn provider_urls_need_a_host_and_body_limits_a_sane_size() {
        assert_eq!(
            settings(&[("OPENAI_BASE_URL", "http://")])
                .err()
                .map(|e| e.var),
            Some("OPENAI_BASE_URL")
        );
        assert_eq!(
            settings(&[("OPENAI_BASE_URL", "http://localhost:11434/v1/")])
                .ok()
                .and_then(|s| s.providers.openai_base_url),
            Some("http://localhost:11434/v1".to_owned())
        );
        assert_eq!(
            settings(&[("MAX_BODY_BYTES", "0")]).err().map(|e| e.var),
            Some("MAX_BODY_BYTES")
        );
    }

    #[test]
    fn traces_are_off_unless_an_endpoint_is_set_and_their_variables_are_checked() {
        let off = settings(&[]).expect("defaults");
        assert_eq!(off.traces.endpoint, None);
        assert_eq!(off.traces.service_name, "aladdin");
        assert!(!off.traces.capture_content);

        let on = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=a%20b, x-team=core"),
            ("OTEL_SERVICE_NAME", "aladdin-eu"),
            ("OTEL_GENAI_CAPTURE_CONTENT", "true"),
        ])
        .expect("valid");
        assert_eq!(
            on.traces.endpoint.as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        let headers: Vec<(&str, &str)> = on
            .traces
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose_secret()))
            .collect();
        assert_eq!(headers, [("x-api-key", "a b"), ("x-team", "core")]);
        assert_eq!(on.traces.service_name, "aladdin-eu");
        assert!(on.traces.capture_content);

        let signal = settings(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://traces.example/otlp",
            ),
        ])
        .expect("valid");
        assert_eq!(
            signal.traces.endpoint.as_deref(),
            Some("https://traces.example/otlp"),
            "the signal's own endpoint is used as given"
        );

        for (var, value, says) in [
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "collector:4318",
                "not an http",
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue", "not key=value"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad header=1", "header name"),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "k=%zz", "percent"),
            ("OTEL_GENAI_CAPTURE_CONTENT", "perhaps", "perhaps"),
        ] {
            let err = settings(&[(var, value)]).expect_err(value);
            assert_eq!(err.var, var);
            assert!(err.to_string().contains(says), "{err}");
        }
    }

    #[test]
    fn errors_are_one_line() {
        let err = ConfigError {
            var: "X",
            message: "first\nsecond\r\n  third".into(),
        };
        assert_eq!(err.to_string(), "invalid value for X: first second third");
    }
}
