//! Structured logging through `tracing`.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber, writing to stderr (stdout is for command output such as
/// `aladdin run --json`): human-readable lines by default, JSON lines when
/// `LOG_FORMAT=json`; the level comes from `RUST_LOG` (default `info`).
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,actix_server=warn"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_target(false).with_writer(std::io::stderr))
            .try_init()
    };
    // A second call (tests start many apps in one process) keeps the first subscriber.
    drop(result);
}
