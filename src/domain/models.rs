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
        f.finish()?;
        Ok(Self {
            model_id,
            provider,
            display_name,
            input_price_per_mtok: input.unwrap_or(0.0),
            output_price_per_mtok: output.unwrap_or(0.0),
            context_window,
        })
    }
}

/// Cost in USD of a call priced by this row.
pub fn cost(m: &Model, input_tokens: u64, output_tokens: u64) -> f64 {
    (input_tokens as f64 * m.input_price_per_mtok + output_tokens as f64 * m.output_price_per_mtok)
        / 1_000_000.0
}
