//! The models a run may use, in order: its model (chosen by a routing rule, else the
//! agent's, else the department's) and then its fallback models, each routed to a provider
//! client with its price-table row (prices and context window) looked up once.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbErr};

use super::providers::{NoProvider, Provider, ProviderRouter};
use crate::db;
use crate::entities::models;

/// One model of the chain.
pub(crate) struct Candidate {
    /// The model id as configured (the key of `tokenUsage.byModel`, and of its breaker).
    pub model: String,
    /// The id sent to the provider.
    pub id: String,
    /// The client.
    pub provider: Arc<dyn Provider>,
    /// Its price-table row, if the table knows it.
    pub price: Option<models::Model>,
}

impl Candidate {
    /// The context window in tokens, when the price table gives one.
    pub fn context_window(&self) -> Option<u64> {
        self.price
            .as_ref()
            .and_then(|p| p.context_window)
            .and_then(|n| u64::try_from(n).ok())
            .filter(|n| *n > 0)
    }
}

/// The chain of a run.
pub(crate) struct Chain {
    /// At least one model.
    pub candidates: Vec<Candidate>,
}

impl Chain {
    /// Routes `primary` and `fallbacks`. An unroutable primary is the run's error; an
    /// unroutable fallback is left out with a warning (returned).
    ///
    /// Prices in `known` (a parent's, handed to its children) are not read again.
    pub async fn build(
        db: &impl ConnectionTrait,
        router: &ProviderRouter,
        primary: &str,
        fallbacks: &[String],
        known: &[KnownPrice],
    ) -> Result<Result<(Self, Vec<String>), NoProvider>, DbErr> {
        let (provider, id) = match router.resolve(primary) {
            Ok(route) => route,
            Err(no_provider) => return Ok(Err(no_provider)),
        };
        // An empty model means the server default: key it by the id actually used.
        let primary = if primary.trim().is_empty() {
            id.clone()
        } else {
            primary.trim().to_owned()
        };
        let mut candidates = vec![Candidate {
            price: price(db, &primary, &id, known).await?,
            model: primary,
            id,
            provider,
        }];
        let mut warnings = Vec::new();
        for model in fallbacks {
            if candidates.iter().any(|c| &c.model == model) {
                continue;
            }
            match router.resolve(model) {
                Ok((provider, id)) => candidates.push(Candidate {
                    price: price(db, model, &id, known).await?,
                    model: model.clone(),
                    id,
                    provider,
                }),
                Err(e) => warnings.push(format!("Fallback model {model} is left out: {e}.")),
            }
        }
        Ok(Ok((Self { candidates }, warnings)))
    }

    /// The models of the chain with their price rows, to hand to child runs.
    pub fn known_prices(&self) -> Vec<KnownPrice> {
        self.candidates
            .iter()
            .map(|c| KnownPrice {
                model: c.model.clone(),
                id: c.id.clone(),
                price: c.price.clone(),
            })
            .collect()
    }

    /// The price-table row of `model`.
    pub fn price(&self, model: &str) -> Option<&models::Model> {
        self.candidates
            .iter()
            .find(|c| c.model == model)
            .and_then(|c| c.price.as_ref())
    }
}

/// A model's price row as a run looked it up (see [`Chain::known_prices`]).
#[derive(Debug, Clone)]
pub(crate) struct KnownPrice {
    model: String,
    id: String,
    price: Option<models::Model>,
}

/// The price row of a model: by its configured id, else by the id sent to the provider.
async fn price(
    db: &impl ConnectionTrait,
    model: &str,
    id: &str,
    known: &[KnownPrice],
) -> Result<Option<models::Model>, DbErr> {
    if let Some(k) = known.iter().find(|k| k.model == model && k.id == id) {
        return Ok(k.price.clone());
    }
    match db::models::find_price(db, model).await? {
        Some(row) => Ok(Some(row)),
        None if id != model => db::models::find_price(db, id).await,
        None => Ok(None),
    }
}
