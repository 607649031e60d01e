//! Budgets around each model call (lifecycle rule 6c): before the call its worst case is
//! reserved against every active budget that matches the run (`db::budgets::reserve`, all or
//! nothing, atomic on both engines); after it the reservation is settled to the actual cost
//! (on SQLite the run's last call is settled by the run's ending, `finish`), or released when
//! the call failed or was stopped. A call that does not fit stops the loop with
//! [`LoopError::Budget`]: the run becomes `paused` (`pausedReason: "budget"`).
//!
//! The worst case is `input × input price + max output × output price`, where the input is
//! estimated from the request's characters (system prompt, messages and tool definitions, as
//! JSON) at one token per 3 characters, an over-estimate for English and code (about 4), and
//! priced at the dearest input rate of the model (cache writes cost more than input on
//! Anthropic); the output bound is the request's `max_tokens`, else 4096 (what the Anthropic
//! client sends; an OpenAI-compatible answer longer than that is settled at its actual cost).
//! A reservation is stored per run (`budget_reservations`), so one held by a process that died
//! mid-call is given back by the recovery that takes the run over (`finish::recover_running`).
//!
//! A model without a price-table row reserves 1 micro-USD, so an exhausted budget still
//! pauses it, and is settled at the provider's own cost when it reports one, else at 0.

use super::agent_loop::{LoopCx, LoopError};
use super::candidates::Candidate;
use super::event::Event;
use super::log::EventLog;
use super::providers::{ChatRequest, Usage};
use crate::db::{
    self,
    budgets::{Reserved, Settlement},
};
use crate::domain::budgets::{RunScope, to_micros, to_usd};
use crate::entities::{budgets, models};

/// Characters per token assumed when estimating a request's input.
const CHARS_PER_TOKEN: usize = 3;
/// The output bound of a request without `max_tokens`.
const DEFAULT_MAX_OUTPUT: u32 = super::providers::anthropic::DEFAULT_MAX_TOKENS;

/// What the loop knows about the run's budgets.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunBudget {
    /// Which budgets match the run.
    pub scope: RunScope,
    /// An admin let this run go on over its budgets (its spend is still counted).
    pub over_budget: bool,
}

/// A reservation held during one model call.
#[derive(Debug)]
pub(crate) struct Hold {
    ids: Vec<i32>,
    amount: i64,
}

/// The worst case of sending `req` (whose tools are `tool_chars` characters long) to a model
/// priced by `price`, in micro-USD (at least 1).
pub(crate) fn worst_case(
    price: Option<&models::Model>,
    req: &ChatRequest,
    tool_chars: usize,
) -> i64 {
    let Some(p) = price else {
        return 1;
    };
    let messages = super::context::json_chars(&req.messages);
    let chars = req.system.chars().count() + messages + tool_chars;
    let input = chars.div_ceil(CHARS_PER_TOKEN) as f64;
    let output = f64::from(req.max_tokens.unwrap_or(DEFAULT_MAX_OUTPUT));
    let input_price = p
        .input_price_per_mtok
        .max(p.cache_write_price_per_mtok.unwrap_or(0.0))
        .max(p.cache_read_price_per_mtok.unwrap_or(0.0));
    // A price per million tokens in USD is a price per token in micro-USD.
    let micros = input * input_price + output * p.output_price_per_mtok;
    // Sub-micro noise of the float product is not rounded up into a whole micro-dollar.
    ((micros - 1e-6).ceil() as i64).max(1)
}

/// What a call's reported usage cost, in micro-USD: the provider's figure, else the price
/// table's, else (no usage reported) the reservation itself, else 0.
fn actual(price: Option<&models::Model>, usage: Option<Usage>, reserved: i64) -> i64 {
    match (usage, price) {
        (
            Some(Usage {
                cost: Some(cost), ..
            }),
            _,
        ) => to_micros(cost),
        (Some(u), Some(p)) => {
            let read = p
                .cache_read_price_per_mtok
                .unwrap_or(p.input_price_per_mtok);
            let write = p
                .cache_write_price_per_mtok
                .unwrap_or(p.input_price_per_mtok);
            let micros = u.input_tokens as f64 * p.input_price_per_mtok
                + u.output_tokens as f64 * p.output_price_per_mtok
                + u.cache_read_tokens as f64 * read
                + u.cache_write_tokens as f64 * write;
            micros.round() as i64
        }
        (None, Some(_)) => reserved,
        (_, None) => 0,
    }
}

/// Reserves the worst case of sending `req` to `candidate`; a budget without room is
/// `LoopError::Budget` (nothing reserved).
pub(crate) async fn reserve(
    cx: &LoopCx<'_>,
    candidate: &Candidate,
    req: &ChatRequest,
) -> Result<Hold, LoopError> {
    let amount = worst_case(candidate.price.as_ref(), req, cx.tool_chars);
    let budget = cx.budget;
    let run = cx.tool_ctx.execution_id;
    match db::budgets::reserve(
        &cx.core.writer,
        run,
        budget.scope,
        amount,
        budget.over_budget,
    )
    .await?
    {
        Reserved::Held { ids, amount } => Ok(Hold { ids, amount }),
        Reserved::Refused(row) => Err(LoopError::Budget(Box::new(row))),
    }
}

/// What `hold` settles to once the call answered with `usage`.
pub(crate) fn spent(candidate: &Candidate, hold: Hold, usage: Option<Usage>) -> Settlement {
    Settlement {
        actual: actual(candidate.price.as_ref(), usage, hold.amount),
        reserved: hold.amount,
        ids: hold.ids,
    }
}

/// Settles a call's reservation to what it cost; `budget_warning` for each budget this call
/// took past its `warnAt` (once per budget and period).
pub(crate) async fn settle(
    cx: &LoopCx<'_>,
    settlement: &Settlement,
    log: &mut EventLog,
) -> Result<(), LoopError> {
    let run = cx.tool_ctx.execution_id;
    let crossed = db::budgets::settle(&cx.core.writer, run, settlement).await?;
    for b in crossed {
        log.append(warning(&b))?;
    }
    Ok(())
}

/// Gives `hold` back (the call failed or was stopped).
pub(crate) async fn release(cx: &LoopCx<'_>, hold: Hold) -> Result<(), LoopError> {
    let run = cx.tool_ctx.execution_id;
    let nothing = Settlement {
        actual: 0,
        reserved: hold.amount,
        ids: hold.ids,
    };
    db::budgets::settle(&cx.core.writer, run, &nothing).await?;
    Ok(())
}

/// `budget_reached` for the budget that had no room.
pub(crate) fn reached(b: &budgets::Model) -> Event {
    Event::BudgetReached {
        budget_id: b.id,
        spent_usd: to_usd(b.spent_micros),
        limit_usd: to_usd(b.limit_micros),
    }
}

/// `budget_warning` for a budget a call took past its `warnAt`.
pub(crate) fn warning(b: &budgets::Model) -> Event {
    Event::BudgetWarning {
        budget_id: b.id,
        spent_usd: to_usd(b.spent_micros),
        limit_usd: to_usd(b.limit_micros),
        warn_at: b.warn_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::now;

    fn price(input: f64, output: f64) -> models::Model {
        models::Model {
            id: 1,
            model_id: "m".into(),
            provider: "openai".into(),
            display_name: "m".into(),
            input_price_per_mtok: input,
            output_price_per_mtok: output,
            context_window: None,
            cache_read_price_per_mtok: None,
            cache_write_price_per_mtok: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    fn request(system: &str) -> ChatRequest {
        ChatRequest {
            model: "m".into(),
            system: system.into(),
            messages: Vec::new(),
            tools: Vec::new(),
            temperature: None,
            max_tokens: None,
            cache_key: None,
        }
    }

    #[test]
    fn the_worst_case_prices_the_estimated_input_and_the_output_bound() {
        // 2 chars of "[]" + 7 of system = 9 chars = 3 tokens at 2 µUSD; 4096 at 1000 µUSD.
        let req = request("abcdefg");
        assert_eq!(
            worst_case(Some(&price(2.0, 1000.0)), &req, 0),
            6 + 4_096_000
        );
        assert_eq!(worst_case(None, &req, 0), 1);
        let capped = ChatRequest {
            max_tokens: Some(10),
            ..request("")
        };
        assert_eq!(worst_case(Some(&price(0.0, 0.15)), &capped, 0), 2);
    }

    #[test]
    fn the_actual_cost_prefers_the_providers_figure() {
        let usage = Usage {
            input_tokens: 10,
            output_tokens: 4096,
            ..Usage::default()
        };
        let p = price(0.0, 1000.0);
        assert_eq!(actual(Some(&p), Some(usage), 7), 4_096_000);
        let costed = Usage {
            cost: Some(0.25),
            ..usage
        };
        assert_eq!(actual(None, Some(costed), 7), 250_000);
        assert_eq!(actual(Some(&p), None, 7), 7);
        assert_eq!(actual(None, Some(usage), 7), 0);
    }
}
