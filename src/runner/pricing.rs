//! Token usage and cost of a run (lifecycle rule 7): usage is summed over the
//! provider's reports; the cost is the provider's own figure when every call reported one
//! (OpenRouter `usage.cost`), else the models price table, else unknown — and the source is
//! recorded with it. A run whose provider reported no usage at all has an unknown cost, never
//! a made-up zero.

use sea_orm::{ConnectionTrait, DbErr};

use super::event::TokenUsage;
use super::providers::Usage;
use crate::db;
use crate::domain::models;
use crate::entities::models as model_rows;

/// The cost was reported by the provider for every call.
pub const SOURCE_PROVIDER: &str = "provider";
/// The cost was computed from the models price table.
pub const SOURCE_PRICE_TABLE: &str = "price_table";
/// Neither: the cost is unknown.
pub const SOURCE_UNKNOWN: &str = "unknown";

/// The usage reports of a run's model calls, one per successful call.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    calls: Vec<Option<Usage>>,
}

impl Meter {
    /// Records one successful model call and what it reported.
    pub fn record(&mut self, usage: Option<Usage>) {
        self.calls.push(usage);
    }

    /// Number of successful model calls.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// True when every call reported a cost, so the price table is not needed.
    pub fn fully_costed(&self) -> bool {
        self.calls
            .iter()
            .all(|u| u.is_some_and(|u| u.cost.is_some()))
    }

    /// Totals and cost; `price` is the models table row of the run's model, if any.
    pub fn summarize(&self, price: Option<&model_rows::Model>) -> TokenUsage {
        if self.calls.is_empty() {
            return TokenUsage::default();
        }
        let reported = self.calls.iter().flatten();
        let input_tokens: u64 = reported.clone().map(|u| u.input_tokens).sum();
        let output_tokens: u64 = reported.clone().map(|u| u.output_tokens).sum();
        let any_usage = self.calls.iter().any(Option::is_some);
        let (estimated_cost, source) = if !any_usage {
            (None, SOURCE_UNKNOWN)
        } else if self.fully_costed() {
            (Some(reported.filter_map(|u| u.cost).sum()), SOURCE_PROVIDER)
        } else if let Some(price) = price {
            (
                Some(models::cost(price, input_tokens, output_tokens)),
                SOURCE_PRICE_TABLE,
            )
        } else {
            (None, SOURCE_UNKNOWN)
        };
        TokenUsage {
            input_tokens,
            output_tokens,
            total_tokens: input_tokens + output_tokens,
            estimated_cost,
            cost_source: Some(source.to_owned()),
        }
    }

    /// [`Meter::summarize`] with the price of the first of `model_ids` the table knows,
    /// looked up only when the provider's own figures do not suffice.
    pub async fn token_usage(
        &self,
        db: &impl ConnectionTrait,
        model_ids: &[&str],
    ) -> Result<TokenUsage, DbErr> {
        let mut price = None;
        if !self.calls.is_empty() && !self.fully_costed() {
            for id in model_ids.iter().filter(|id| !id.is_empty()) {
                price = db::models::find_price(db, id).await?;
                if price.is_some() {
                    break;
                }
            }
        }
        Ok(self.summarize(price.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64, cost: Option<f64>) -> Option<Usage> {
        Some(Usage {
            input_tokens: input,
            output_tokens: output,
            cost,
        })
    }

    fn price() -> model_rows::Model {
        let ts = crate::domain::now();
        model_rows::Model {
            id: 1,
            model_id: "m".into(),
            provider: "openrouter".into(),
            display_name: "M".into(),
            input_price_per_mtok: 3.0,
            output_price_per_mtok: 15.0,
            context_window: None,
            created_at: ts,
            updated_at: ts,
        }
    }

    #[test]
    fn provider_costs_are_summed_when_every_call_reports_one() {
        let mut meter = Meter::default();
        meter.record(usage(100, 10, Some(0.25)));
        meter.record(usage(200, 20, Some(0.5)));
        let total = meter.summarize(Some(&price()));
        assert_eq!(
            (total.input_tokens, total.output_tokens, total.total_tokens),
            (300, 30, 330)
        );
        assert_eq!(total.estimated_cost, Some(0.75));
        assert_eq!(total.cost_source.as_deref(), Some(SOURCE_PROVIDER));
    }

    #[test]
    fn the_price_table_prices_runs_with_a_call_without_cost() {
        let mut meter = Meter::default();
        meter.record(usage(1_000_000, 0, Some(1.0)));
        meter.record(usage(0, 1_000_000, None));
        let total = meter.summarize(Some(&price()));
        assert_eq!(total.estimated_cost, Some(18.0));
        assert_eq!(total.cost_source.as_deref(), Some(SOURCE_PRICE_TABLE));
        let unknown = meter.summarize(None);
        assert_eq!(
            (unknown.estimated_cost, unknown.cost_source.as_deref()),
            (None, Some(SOURCE_UNKNOWN))
        );
    }

    #[test]
    fn no_reported_usage_means_an_unknown_cost_and_no_calls_no_cost_at_all() {
        let mut meter = Meter::default();
        assert_eq!(meter.summarize(Some(&price())), TokenUsage::default());
        meter.record(None);
        let total = meter.summarize(Some(&price()));
        assert_eq!((total.total_tokens, total.estimated_cost), (0, None));
        assert_eq!(total.cost_source.as_deref(), Some(SOURCE_UNKNOWN));
        meter.record(usage(1_000_000, 0, None));
        assert_eq!(meter.summarize(Some(&price())).estimated_cost, Some(3.0));
    }
}
