//! Structured logging through `tracing`.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::LogSettings;

/// Installs the global subscriber, writing to stderr (stdout is for command output such as
/// `aladdin run --json`): human-readable lines by default, JSON lines when
/// `LOG_FORMAT=json`; the level comes from `RUST_LOG` (default `info`). Both were checked
/// with the rest of the configuration.
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::new(&log.filter);
    let json = log.json;
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
