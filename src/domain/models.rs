//! The model price table.

use serde_json::Value;

use super::fields::Fields;
use crate::entities::models::Model;
use crate::error::AppError;

/// A validated price-table row.
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// Model id as agents name it, e.g. `anthropic/claude-sonnet-4.5`.
    pub model_id: String,
    /// `openrouter`, `anthropic`, `openai`, …
    pub provider: String,
    /// Display name.
    pub display_name: String,
    /// USD per million input tokens.
    pub input_price_per_mtok: f64,
    /// USD per million output tokens.
    pub output_price_per_mtok: f64,
    /// Context window in tokens.
    pub context_window: Option<i32>,
    /// USD per million prompt tokens read from the cache (null: the input price).
    pub cache_read_price_per_mtok: Option<f64>,
    /// USD per million prompt tokens written to the cache (null: the input price).
    pub cache_write_price_per_mtok: Option<f64>,
}

impl ModelInput {
    /// Parses and validates a price-table row.
    pub fn from_json(doc: &Value) -> Result<Self, AppError> {
        let mut f = Fields::new(doc)?;
        let model_id = f.string("modelId", true, 200);
        let provider = f.string("provider", true, 50);
        let display_name = f.string("displayName", false, 200);
        let input = f.number_opt(
            "inputPricePerMTok",
            f.raw("inputPricePerMTok"),
            0.0,
            10_000.0,
        );
        let output = f.number_opt(
            "outputPricePerMTok",
            f.raw("outputPricePerMTok"),
            0.0,
            10_000.0,
        );
        for (name, value) in [("inputPricePerMTok", input), ("outputPricePerMTok", output)] {
            if value.is_none() && f.raw(name).is_null() {
                f.error(name, "This field is required.");
            }
        }
        let context_window = f.int("contextWindow", 1, 100_000_000).map(|n| n as i32);
        let cache_read = f.number_opt(
            "cacheReadPricePerMTok",
            f.raw("cacheReadPricePerMTok"),
            0.0,
            10_000.0,
        );
        let cache_write = f.number_opt(
            "cacheWritePricePerMTok",
            f.raw("cacheWritePricePerMTok"),
            0.0,
            10_000.0,
        );
        f.finish()?;
        Ok(Self {
            model_id,
            provider,
            display_name,
            input_price_per_mtok: input.unwrap_or(0.0),
            output_price_per_mtok: output.unwrap_or(0.0),
            context_window,
            cache_read_price_per_mtok: cache_read,
            cache_write_price_per_mtok: cache_write,
        })
    }
}

/// The token counts a price applies to; the three prompt counts do not overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Prompt tokens neither read from nor written to the cache.
    pub input: u64,
    /// Generated tokens.
    pub output: u64,
    /// Prompt tokens read from the cache.
    pub cache_read: u64,
    /// Prompt tokens written to the cache.
    pub cache_write: u64,
}

/// Cost in USD of tokens priced by this row. Cache reads and writes without a price of
/// their own are priced as input.
pub fn cost(m: &Model, tokens: Tokens) -> f64 {
    let read = m
        .cache_read_price_per_mtok
        .unwrap_or(m.input_price_per_mtok);
    let write = m
        .cache_write_price_per_mtok
        .unwrap_or(m.input_price_per_mtok);
    (tokens.input as f64 * m.input_price_per_mtok
        + tokens.output as f64 * m.output_price_per_mtok
        + tokens.cache_read as f64 * read
        + tokens.cache_write as f64 * write)
        / 1_000_000.0
}

/// What the cache saved: cache reads priced as input, minus what they and the cache
/// writes cost (writes cost more than input on Anthropic, so this can be negative).
pub fn cache_savings(m: &Model, cache_read: u64, cache_write: u64) -> f64 {
    let read = m
        .cache_read_price_per_mtok
        .unwrap_or(m.input_price_per_mtok);
    let write = m
        .cache_write_price_per_mtok
        .unwrap_or(m.input_price_per_mtok);
    (cache_read as f64 * (m.input_price_per_mtok - read)
        - cache_write as f64 * (write - m.input_price_per_mtok))
        / 1_000_000.0
}
