//! Token usage and cost of a run (lifecycle rule 7): usage is summed over the
//! provider's reports; the cost is the provider's own figure when every call reported one
//! (OpenRouter `usage.cost`), else the models price table, else unknown — and the source is
//! recorded with it. A run whose provider reported no usage at all has an unknown cost, never
//! a made-up zero.

use std::collections::BTreeMap;

use super::event::{ModelUsage, TokenUsage};
use super::providers::Usage;
use crate::domain::models;
use crate::entities::models as model_rows;

/// The cost was reported by the provider for every call.
pub const SOURCE_PROVIDER: &str = "provider";
/// The cost was computed from the models price table.
pub const SOURCE_PRICE_TABLE: &str = "price_table";
/// Neither: the cost is unknown.
pub const SOURCE_UNKNOWN: &str = "unknown";

/// The usage reports of a run's model calls, one per successful call, with the model that
/// answered it. This is the one place a run's spend is counted, per model: fallbacks,
/// routing and (later) budgets all read it from here.
#[derive(Debug, Clone, Default)]
pub struct Meter {
    calls: Vec<(String, Option<Usage>)>,
}

impl Meter {
    /// Records one successful call of `model` and what it reported.
    pub fn record(&mut self, model: &str, usage: Option<Usage>) {
        self.calls.push((model.to_owned(), usage));
    }

    /// Number of successful model calls.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// The models that answered, in the order of their first call.
    pub fn models(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for (model, _) in &self.calls {
            if !seen.contains(&model.as_str()) {
                seen.push(model);
            }
        }
        seen
    }

    /// Totals and cost, per model and overall; `price` gives the price-table row of a model.
    ///
    /// Per model, the cost is the provider's own figure when every call of that model
    /// reported one, else the price table's (each kind of token at its own price), else
    /// unknown. The run's cost is the sum when every model's is known; its source is
    /// `provider` when every model's cost came from the provider.
    pub fn summarize<'a>(
        &self,
        price: impl Fn(&str) -> Option<&'a model_rows::Model>,
    ) -> TokenUsage {
        if self.calls.is_empty() {
            return TokenUsage::default();
        }
        let mut by_model = BTreeMap::new();
        for model in self.models() {
            let calls: Vec<Option<Usage>> = self
                .calls
                .iter()
                .filter(|(m, _)| m == model)
                .map(|(_, u)| *u)
                .collect();
            by_model.insert(model.to_owned(), model_usage(&calls, price(model)));
        }
        let sum = |f: fn(&ModelUsage) -> u64| by_model.values().map(f).sum::<u64>();
        let costs: Option<Vec<f64>> = by_model.values().map(|m| m.estimated_cost).collect();
        let sources: Vec<&str> = by_model
            .values()
            .filter_map(|m| m.cost_source.as_deref())
            .collect();
        let (estimated_cost, source) = match costs {
            Some(costs) if sources.iter().all(|s| *s == SOURCE_PROVIDER) => {
                (Some(costs.iter().sum()), SOURCE_PROVIDER)
            }
            Some(costs) => (Some(costs.iter().sum()), SOURCE_PRICE_TABLE),
            None => (None, SOURCE_UNKNOWN),
        };
        TokenUsage {
            input_tokens: sum(|m| m.input_tokens),
            output_tokens: sum(|m| m.output_tokens),
            cache_read_tokens: sum(|m| m.cache_read_tokens),
            cache_write_tokens: sum(|m| m.cache_write_tokens),
            total_tokens: sum(|m| m.total_tokens),
            estimated_cost,
            cost_source: Some(source.to_owned()),
            by_model,
        }
    }
}

/// The usage and cost of one model's calls.
fn model_usage(calls: &[Option<Usage>], price: Option<&model_rows::Model>) -> ModelUsage {
    let reported: Vec<Usage> = calls.iter().flatten().copied().collect();
    let sum = |f: fn(&Usage) -> u64| reported.iter().map(f).sum::<u64>();
    let input_tokens = sum(|u| u.input_tokens);
    let output_tokens = sum(|u| u.output_tokens);
    let cache_read_tokens = sum(|u| u.cache_read_tokens);
    let cache_write_tokens = sum(|u| u.cache_write_tokens);
    let fully_costed = calls.iter().all(|u| u.is_some_and(|u| u.cost.is_some()));
    let (estimated_cost, source) = if reported.is_empty() {
        (None, SOURCE_UNKNOWN)
    } else if fully_costed {
        (
            Some(reported.iter().filter_map(|u| u.cost).sum()),
            SOURCE_PROVIDER,
        )
    } else if let Some(price) = price {
        let tokens = models::Tokens {
            input: input_tokens,
            output: output_tokens,
            cache_read: cache_read_tokens,
            cache_write: cache_write_tokens,
        };
        (Some(models::cost(price, tokens)), SOURCE_PRICE_TABLE)
    } else {
        (None, SOURCE_UNKNOWN)
    };
    ModelUsage {
        calls: u32::try_from(calls.len()).unwrap_or(u32::MAX),
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        total_tokens: input_tokens + output_tokens + cache_read_tokens + cache_write_tokens,
        estimated_cost,
        cost_source: Some(source.to_owned()),
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
            ..Usage::default()
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
            cache_read_price_per_mtok: Some(0.3),
            cache_write_price_per_mtok: Some(3.75),
            created_at: ts,
            updated_at: ts,
        }
    }

    #[test]
    fn provider_costs_are_summed_when_every_call_reports_one() {
        let row = price();
        let mut meter = Meter::default();
        meter.record("m", usage(100, 10, Some(0.25)));
        meter.record("m", usage(200, 20, Some(0.5)));
        let total = meter.summarize(|_| Some(&row));
        assert_eq!(
            (total.input_tokens, total.output_tokens, total.total_tokens),
            (300, 30, 330)
        );
        assert_eq!(total.estimated_cost, Some(0.75));
        assert_eq!(total.cost_source.as_deref(), Some(SOURCE_PROVIDER));
    }

    #[test]
    fn the_price_table_prices_runs_with_a_call_without_cost() {
        let row = price();
        let mut meter = Meter::default();
        meter.record("m", usage(1_000_000, 0, Some(1.0)));
        meter.record("m", usage(0, 1_000_000, None));
        let total = meter.summarize(|_| Some(&row));
        assert_eq!(total.estimated_cost, Some(18.0));
        assert_eq!(total.cost_source.as_deref(), Some(SOURCE_PRICE_TABLE));
        let unknown = meter.summarize(|_| None);
        assert_eq!(
            (unknown.estimated_cost, unknown.cost_source.as_deref()),
            (None, Some(SOURCE_UNKNOWN))
        );
    }

    #[test]
    fn no_reported_usage_means_an_unknown_cost_and_no_calls_no_cost_at_all() {
        let row = price();
        let mut meter = Meter::default();
        assert_eq!(meter.summarize(|_| Some(&row)), TokenUsage::default());
        meter.record("m", None);
        let total = meter.summarize(|_| Some(&row));
        assert_eq!((total.total_tokens, total.estimated_cost), (0, None));
        assert_eq!(total.cost_source.as_deref(), Some(SOURCE_UNKNOWN));
        meter.record("m", usage(1_000_000, 0, None));
        assert_eq!(meter.summarize(|_| Some(&row)).estimated_cost, Some(3.0));
    }

    #[test]
    fn cache_reads_and_writes_are_priced_at_their_own_rates() {
        // 1M uncached in at $3, 2M cache reads at $0.30, 1M cache writes at $3.75, 1M out at $15
        let row = price();
        let mut meter = Meter::default();
        meter.record(
            "m",
            Some(Usage {
                input_tokens: 1_000_000,
                cache_read_tokens: 2_000_000,
                cache_write_tokens: 1_000_000,
                output_tokens: 1_000_000,
                cost: None,
            }),
        );
        let total = meter.summarize(|_| Some(&row));
        assert_eq!(total.estimated_cost, Some(3.0 + 0.6 + 3.75 + 15.0));
        assert_eq!(
            (
                total.cache_read_tokens,
                total.cache_write_tokens,
                total.total_tokens
            ),
            (2_000_000, 1_000_000, 5_000_000)
        );
    }

    #[test]
    fn usage_is_split_per_model_and_each_model_priced_by_its_own_row() {
        let (a, mut b) = (price(), price());
        b.input_price_per_mtok = 1.0;
        b.output_price_per_mtok = 2.0;
        let mut meter = Meter::default();
        meter.record("a", usage(1_000_000, 0, None));
        meter.record("b", usage(1_000_000, 1_000_000, None));
        meter.record("b", usage(0, 1_000_000, None));
        let total = meter.summarize(|m| if m == "a" { Some(&a) } else { Some(&b) });
        assert_eq!(meter.models(), ["a", "b"]);
        assert_eq!(total.by_model["a"].estimated_cost, Some(3.0));
        assert_eq!(total.by_model["b"].estimated_cost, Some(5.0));
        assert_eq!(total.by_model["b"].calls, 2);
        assert_eq!(total.by_model["b"].output_tokens, 2_000_000);
        assert_eq!(total.estimated_cost, Some(8.0));
        let one_unpriced = meter.summarize(|m| (m == "a").then_some(&a));
        assert_eq!(one_unpriced.estimated_cost, None);
        assert_eq!(one_unpriced.by_model["a"].estimated_cost, Some(3.0));
    }
}
