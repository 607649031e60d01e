//! Retries of one provider request (lifecycle rule 6): transient errors (429, 5xx,
//! connect and idle timeouts, dropped streams) are retried with exponential backoff and full
//! jitter, or after the provider's `Retry-After`; each retry is a `retry` event and one atomic
//! increment of the execution's `retry_count`. Client errors fail at once.

use std::time::{Duration, Instant};

use super::agent_loop::{LoopCx, LoopError};
use super::event::Event;
use super::log::EventLog;
use super::providers::{ChatRequest, ChatResponse, ProviderError};
use crate::{db, telemetry_metrics};

/// Exponential backoff with full jitter: attempt `n` (0-based) waits a uniformly random time
/// in `0..=min(cap, base · 2ⁿ)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first delay.
    pub base: Duration,
    /// Largest delay.
    pub cap: Duration,
}

impl Default for Backoff {
    /// 500 ms base, 30 s cap.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
        }
    }
}

impl Backoff {
    /// The ceiling of attempt `attempt`'s delay.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The delay before retry `attempt` (0-based): the provider's `Retry-After` when it sent
    /// one, else a random fraction of [`Backoff::ceiling`].
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait;
        }
        let ceiling = u64::try_from(self.ceiling(attempt).as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::random_range(0..=ceiling))
    }
}

/// Sends `req`, retrying transient failures; streams text deltas to the hub as they arrive.
pub(crate) async fn call_model(
    cx: &LoopCx<'_>,
    req: &ChatRequest,
    log: &mut EventLog,
) -> Result<ChatResponse, LoopError> {
    let execution_id = log.execution_id();
    let deltas = log.deltas();
    let on_text = move |text: &str| deltas.send(text);
    let mut attempt = 0u32;
    loop {
        let started = Instant::now();
        let result = cx.interrupts.race(cx.provider.stream(req, &on_text)).await;
        let elapsed = started.elapsed();
        cx.core.stats.record(elapsed);
        let error = match result? {
            Ok(response) => {
                let usage = response.usage.unwrap_or_default();
                telemetry_metrics::record_provider_call(
                    cx.provider.name(),
                    &req.model,
                    elapsed,
                    usage.input_tokens,
                    usage.output_tokens,
                );
                return Ok(response);
            }
            Err(error) => error,
        };
        telemetry_metrics::record_provider_error(cx.provider.name(), &req.model, error.code());
        if !error.is_transient() || attempt >= cx.max_retries {
            return Err(LoopError::Provider {
                error,
                attempts: attempt + 1,
            });
        }
        let delay = cx.core.options.backoff.delay(attempt, error.retry_after());
        if delay > cx.interrupts.remaining() {
            // Waiting would only end in a timeout; the provider's answer is the truer error.
            return Err(LoopError::Provider {
                error: beyond_deadline(error, delay),
                attempts: attempt + 1,
            });
        }
        attempt += 1;
        log.append(Event::Retry {
            attempt,
            delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            reason: error.to_string(),
        })?;
        db::executions::increment_retry_count(&cx.core.writer, execution_id).await?;
        cx.interrupts.race(tokio::time::sleep(delay)).await?;
    }
}

/// The error to report when the provider asks for a wait longer than the run has left.
fn beyond_deadline(error: ProviderError, delay: Duration) -> ProviderError {
    match error {
        ProviderError::Http {
            status,
            message,
            retry_after,
        } => ProviderError::Http {
            status,
            message: format!(
                "{message} (the provider asked to wait {} s, past the run's deadline)",
                delay.as_secs()
            ),
            retry_after,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let backoff = Backoff::default();
        assert_eq!(backoff.ceiling(0), Duration::from_millis(500));
        assert_eq!(backoff.ceiling(3), Duration::from_secs(4));
        assert_eq!(backoff.ceiling(10), Duration::from_secs(30));
        assert_eq!(backoff.ceiling(200), Duration::from_secs(30));
    }

    #[test]
    fn delays_are_jittered_below_the_ceiling_and_retry_after_wins() {
        let backoff = Backoff::default();
        for attempt in 0..6 {
            assert!(backoff.delay(attempt, None) <= backoff.ceiling(attempt));
        }
        let asked = Some(Duration::from_secs(2));
        assert_eq!(backoff.delay(0, asked), Duration::from_secs(2));
    }
}
