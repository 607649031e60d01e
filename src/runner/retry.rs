//! Retries of one provider request (lifecycle rule 6): transient errors (429, 5xx,
//! connect and idle timeouts, dropped streams) are retried with exponential backoff and full
//! jitter, or after the provider's `Retry-After`; each retry is a `retry` event and one atomic
//! increment of the execution's `retry_count`. Client errors fail at once.
//!
//! Fallbacks (lifecycle rule 6a): once a model's retries are spent on a transient error, or
//! at once on a context-window overflow, the same step goes to the next model of the chain
//! (`fallback` event); a model whose circuit breaker is open is skipped the same way.

use std::time::{Duration, Instant};

use sea_orm::DbErr;

use super::agent_loop::{LoopCx, LoopError, LoopState};
use super::breaker::{Admission, Transition};
use super::budget;
use super::candidates::Candidate;
use super::context;
use super::control::Stop;
use super::event::Event;
use super::log::EventLog;
use super::providers::{ChatRequest, ChatResponse, ProviderError};
use super::spans;
use crate::db::{self, budgets::Settlement};
use crate::telemetry_metrics::{self, CallTokens};

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

/// Sends the loop's next request, retrying transient failures, and moving to the next model
/// of the chain when a model's retries are spent on a fallback reason (or it overflows its
/// context window, or its circuit breaker is open). Text deltas go to the hub as they arrive.
/// Returns the answer with its reservation, for the caller to settle.
pub(crate) async fn call_model(
    cx: &LoopCx<'_>,
    st: &mut LoopState,
    log: &mut EventLog,
) -> Result<(ChatResponse, Settlement), LoopError> {
    loop {
        let candidate = &cx.chain.candidates[st.current];
        let next = cx.chain.candidates.get(st.current + 1);
        let probe = match cx.core.breakers.admit(&candidate.model) {
            Admission::Closed => false,
            Admission::Probe => {
                log.append(breaker_event(cx, &candidate.model, "half_open"))?;
                true
            }
            Admission::Open(remaining) => match next {
                Some(next) => {
                    fallback(log, &candidate.model, &next.model, "circuit_open")?;
                    st.current += 1;
                    continue;
                }
                None => {
                    return Err(LoopError::CircuitOpen {
                        model: candidate.model.clone(),
                        remaining,
                    });
                }
            },
        };
        fit_window(cx, candidate, st, log)?;
        st.request.model.clone_from(&candidate.id);
        let hold = match budget::reserve(cx, candidate, &st.request).await {
            Ok(hold) => hold,
            Err(e) => {
                if probe {
                    cx.core.breakers.release_probe(&candidate.model);
                }
                return Err(e);
            }
        };
        let result = attempts(cx, candidate, &st.request, log, probe).await;
        let failed = match result {
            Ok(response) => {
                let settlement = budget::spent(candidate, hold, response.usage);
                return Ok((response, settlement));
            }
            Err(failed) => {
                budget::release(cx, hold).await?;
                failed
            }
        };
        let failed = match failed {
            Failed::Loop(e) => return Err(e),
            Failed::Provider { error, attempts } => (error, attempts),
        };
        let (error, attempts) = failed;
        match (error.fallback_reason(), next) {
            (Some(reason), Some(next)) => {
                fallback(log, &candidate.model, &next.model, reason)?;
                st.current += 1;
            }
            _ => return Err(LoopError::Provider { error, attempts }),
        }
    }
}

/// How the attempts on one model ended without an answer.
enum Failed {
    /// The provider's last error, and the requests sent.
    Provider { error: ProviderError, attempts: u32 },
    /// Deadline, cancellation, database.
    Loop(LoopError),
}

impl From<Stop> for Failed {
    fn from(stop: Stop) -> Self {
        Failed::Loop(LoopError::Stop(stop))
    }
}

impl From<DbErr> for Failed {
    fn from(e: DbErr) -> Self {
        Failed::Loop(LoopError::Db(e))
    }
}

/// Sends `req` to one model, retrying transient failures while its breaker stays closed.
async fn attempts(
    cx: &LoopCx<'_>,
    candidate: &Candidate,
    req: &ChatRequest,
    log: &mut EventLog,
    probe: bool,
) -> Result<ChatResponse, Failed> {
    let execution_id = log.execution_id();
    let deltas = log.deltas();
    let on_text = move |text: &str| deltas.send(text);
    let provider = candidate.provider.as_ref();
    let breakers = &cx.core.breakers;
    let mut attempt = 0u32;
    loop {
        let started = Instant::now();
        let span = spans::chat(cx.core, provider, req);
        let result = match cx.interrupts.race(provider.stream(req, &on_text)).await {
            Ok(result) => result,
            Err(stop) => {
                spans::stopped(span, stop);
                if probe {
                    breakers.release_probe(&candidate.model);
                }
                return Err(Failed::Loop(LoopError::Stop(stop)));
            }
        };
        let elapsed = started.elapsed();
        cx.core.stats.record(elapsed);
        let error = match result {
            Ok(response) => {
                spans::chat_answered(cx.core, span, req, &response);
                let usage = response.usage.unwrap_or_default();
                telemetry_metrics::record_provider_call(
                    provider.name(),
                    &req.model,
                    elapsed,
                    CallTokens {
                        input: usage.input_tokens,
                        output: usage.output_tokens,
                        cache_read: usage.cache_read_tokens,
                        cache_write: usage.cache_write_tokens,
                    },
                );
                if breakers.success(&candidate.model) == Some(Transition::Closed) {
                    log.append(breaker_event(cx, &candidate.model, "closed"))?;
                }
                return Ok(response);
            }
            Err(error) => {
                spans::chat_failed(span, &error);
                error
            }
        };
        telemetry_metrics::record_provider_error(provider.name(), &req.model, error.code());
        let attempts = attempt + 1;
        if !error.is_transient() {
            // The model answered: a client error says nothing about its health.
            if breakers.success(&candidate.model) == Some(Transition::Closed) {
                log.append(breaker_event(cx, &candidate.model, "closed"))?;
            }
            return Err(Failed::Provider { error, attempts });
        }
        if breakers.failure(&candidate.model) == Some(Transition::Opened) {
            telemetry_metrics::record_breaker_trip(&candidate.model);
            log.append(breaker_event(cx, &candidate.model, "open"))?;
        }
        // An open breaker (this failure, or other runs' failures) ends the retries.
        if !breakers.is_closed(&candidate.model) || attempt >= cx.max_retries {
            return Err(Failed::Provider { error, attempts });
        }
        let delay = cx.core.options.backoff.delay(attempt, error.retry_after());
        if delay > cx.interrupts.remaining() {
            // Waiting would only end in a timeout; the provider's answer is the truer error.
            return Err(Failed::Provider {
                error: beyond_deadline(error, delay),
                attempts,
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

/// Logs a `fallback` event and counts it.
fn fallback(log: &mut EventLog, from: &str, to: &str, reason: &str) -> Result<(), DbErr> {
    telemetry_metrics::record_fallback(from, to, reason);
    log.append(Event::Fallback {
        from_model: from.to_owned(),
        to_model: to.to_owned(),
        reason: reason.to_owned(),
    })
}

fn breaker_event(cx: &LoopCx<'_>, model: &str, state: &str) -> Event {
    let breakers = &cx.core.breakers;
    Event::Breaker {
        model: model.to_owned(),
        state: state.to_owned(),
        failures: breakers.failures,
        cooldown_ms: u64::try_from(breakers.cooldown.as_millis()).unwrap_or(u64::MAX),
    }
}

/// Trims the conversation to the model's context window; a `warning` says so.
fn fit_window(
    cx: &LoopCx<'_>,
    candidate: &Candidate,
    st: &mut LoopState,
    log: &mut EventLog,
) -> Result<(), DbErr> {
    let Some(window) = candidate.context_window() else {
        return Ok(());
    };
    let Some(trimmed) = context::trim_to_window(&mut st.request, window, cx.tool_chars) else {
        return Ok(());
    };
    st.rewritten();
    log.append(Event::Warning {
        message: format!(
            "The conversation was trimmed to fit {}'s context window of {window} tokens: \
             {} earlier messages were left out (about {} → {} tokens, estimated at {} \
             characters per token).",
            candidate.model,
            trimmed.messages,
            trimmed.before,
            trimmed.after,
            context::CHARS_PER_TOKEN
        ),
    })
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
