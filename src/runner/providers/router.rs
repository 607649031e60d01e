//! Provider settings and the routing of model ids to provider clients.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::Provider;
use super::anthropic::AnthropicProvider;
use super::openai::{Flavor, OpenAiProvider};

/// Base URL used when only `OPENROUTER_API_KEY` is set.
pub const OPENROUTER_DEFAULT_BASE_URL: &str = "https://openrouter.ai/api/v1";
/// Base URL used when only `OPENAI_API_KEY` is set.
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
/// Base URL used when `ANTHROPIC_BASE_URL` is not set.
pub const ANTHROPIC_DEFAULT_BASE_URL: &str = "https://api.anthropic.com";

/// Provider configuration, read from the environment variables of the same names.
/// Empty strings count as unset. Keys are secrets: redacted in `Debug`, never logged.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// `OPENROUTER_BASE_URL`; defaults to [`OPENROUTER_DEFAULT_BASE_URL`] when a key is set.
    pub openrouter_base_url: Option<String>,
    /// `OPENROUTER_API_KEY`; OpenRouter is used only when this is set.
    pub openrouter_api_key: Option<SecretString>,
    /// `OPENROUTER_DEFAULT_MODEL`: the model for agents that name none.
    pub openrouter_default_model: Option<String>,
    /// `OPENAI_BASE_URL`: any OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp).
    pub openai_base_url: Option<String>,
    /// `OPENAI_API_KEY`: optional for local servers; alone, it means api.openai.com.
    pub openai_api_key: Option<SecretString>,
    /// `ANTHROPIC_API_KEY` (alias `CODEBUFF_API_KEY`): enables Anthropic direct.
    pub anthropic_api_key: Option<SecretString>,
    /// `ANTHROPIC_BASE_URL`; defaults to [`ANTHROPIC_DEFAULT_BASE_URL`].
    pub anthropic_base_url: Option<String>,
    /// Longest silence tolerated on a response, headers included, before giving up.
    pub idle_timeout: Duration,
    /// Connect timeout, applied by [`ProviderSettings::http_client`].
    pub connect_timeout: Duration,
}

impl Default for ProviderSettings {
    /// No provider configured; 120 s idle timeout, 10 s connect timeout.
    fn default() -> Self {
        Self {
            openrouter_base_url: None,
            openrouter_api_key: None,
            openrouter_default_model: None,
            openai_base_url: None,
            openai_api_key: None,
            anthropic_api_key: None,
            anthropic_base_url: None,
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl ProviderSettings {
    /// An HTTP client suited to provider calls: `connect_timeout`, TCP keep-alive and a
    /// user agent. Needs a rustls crypto provider installed (see `main`).
    pub fn http_client(&self) -> reqwest::Result<reqwest::Client> {
        reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .tcp_keepalive(Duration::from_secs(30))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("aladdin/", env!("CARGO_PKG_VERSION")))
            .build()
    }
}

/// No provider is configured for a model; the run fails with code `no_provider`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NoProvider {
    /// The model id that could not be routed (empty when the agent named none).
    pub model: String,
    message: String,
}

impl NoProvider {
    /// The execution error code.
    pub fn code(&self) -> &'static str {
        "no_provider"
    }
}

/// Which client a model id goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    OpenRouter,
    OpenAi,
    Anthropic,
}

/// Picks a provider client for a model id. The clients are built once and shared.
///
/// Routing, first configured choice wins ("OpenRouter" needs `OPENROUTER_API_KEY`,
/// "OpenAI-compatible" needs `OPENAI_BASE_URL` or `OPENAI_API_KEY`, "Anthropic" needs
/// `ANTHROPIC_API_KEY`):
///
/// | model id                          | 1st                    | 2nd                                   | 3rd                    |
/// |-----------------------------------|------------------------|---------------------------------------|------------------------|
/// | empty                             | `OPENROUTER_DEFAULT_MODEL`, then routed as below |              |                        |
/// | `anthropic/claude-sonnet-4.5`     | OpenRouter, as is      | Anthropic, as `claude-sonnet-4-5`¹    | OpenAI-compatible, as is |
/// | other `vendor/model`              | OpenRouter, as is      | OpenAI-compatible, as is (vLLM ids)   |                        |
/// | bare `claude-…`                   | Anthropic, as is       | OpenRouter, as `anthropic/claude-…`   | OpenAI-compatible, as is |
/// | other bare ids (`gpt-4o`, `llama3.1:8b`) | OpenAI-compatible, as is | OpenRouter, as is         |                        |
///
/// ¹ OpenRouter's dotted versions become dashes and a `:variant` suffix is dropped. Ids the
/// Anthropic API does not know fail with its own 404 message.
pub struct ProviderRouter {
    openrouter: Option<Arc<dyn Provider>>,
    openai: Option<Arc<dyn Provider>>,
    anthropic: Option<Arc<dyn Provider>>,
    default_model: Option<String>,
}

impl std::fmt::Debug for ProviderRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderRouter")
            .field("configured", &self.configured())
            .field("default_model", &self.default_model)
            .finish()
    }
}

impl ProviderRouter {
    /// Builds one client per configured provider, all sharing `http`
    /// (normally [`ProviderSettings::http_client`]).
    pub fn new(settings: ProviderSettings, http: reqwest::Client) -> Self {
        let url = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let key = |k: Option<SecretString>| k.filter(|k| !k.expose_secret().trim().is_empty());
        let (idle, connect) = (settings.idle_timeout, settings.connect_timeout);

        let openrouter = key(settings.openrouter_api_key).map(|api_key| {
            let base = url(settings.openrouter_base_url);
            let base = base.as_deref().unwrap_or(OPENROUTER_DEFAULT_BASE_URL);
            let client = OpenAiProvider::new(Flavor::OpenRouter, http.clone(), base, Some(api_key), idle, connect);
            Arc::new(client) as Arc<dyn Provider>
        });
        let openai_key = key(settings.openai_api_key);
        let openai = match url(settings.openai_base_url) {
            Some(base) => Some(base),
            None => openai_key.as_ref().map(|_| OPENAI_DEFAULT_BASE_URL.to_owned()),
        }
        .map(|base| {
            let client = OpenAiProvider::new(Flavor::Compatible, http.clone(), &base, openai_key, idle, connect);
            Arc::new(client) as Arc<dyn Provider>
        });
        let anthropic = key(settings.anthropic_api_key).map(|api_key| {
            let base = url(settings.anthropic_base_url);
            let base = base.as_deref().unwrap_or(ANTHROPIC_DEFAULT_BASE_URL);
            Arc::new(AnthropicProvider::new(http.clone(), base, api_key, idle, connect)) as Arc<dyn Provider>
        });
        Self {
            openrouter,
            openai,
            anthropic,
            default_model: url(settings.openrouter_default_model),
        }
    }

    /// Names of the configured providers, for the start-up log.
    pub fn configured(&self) -> Vec<&'static str> {
        [&self.openrouter, &self.openai, &self.anthropic]
            .into_iter()
            .flatten()
            .map(|p| p.name())
            .collect()
    }

    /// The client for `model` and the model id to send to it (see the table above).
    pub fn resolve(&self, model: &str) -> Result<(Arc<dyn Provider>, String), NoProvider> {
        let model = model.trim();
        let model = match (model.is_empty(), &self.default_model) {
            (false, _) => model,
            (true, Some(default)) => default.as_str(),
            (true, None) => {
                return Err(NoProvider {
                    model: String::new(),
                    message: "no model set: give the agent a model or set OPENROUTER_DEFAULT_MODEL".into(),
                });
            }
        };
        for (target, id) in candidates(model) {
            let client = match target {
                Target::OpenRouter => &self.openrouter,
                Target::OpenAi => &self.openai,
                Target::Anthropic => &self.anthropic,
            };
            if let Some(client) = client {
                return Ok((Arc::clone(client), id));
            }
        }
        Err(NoProvider {
            model: model.to_owned(),
            message: format!("no provider configured for model '{model}': set {}", hint(model)),
        })
    }
}

/// The targets for `model` in order of preference, each with the id to send.
fn candidates(model: &str) -> Vec<(Target, String)> {
    let as_is = || model.to_owned();
    if let Some(rest) = model.strip_prefix("anthropic/") {
        let direct = rest.split(':').next().unwrap_or(rest).replace('.', "-");
        vec![(Target::OpenRouter, as_is()), (Target::Anthropic, direct), (Target::OpenAi, as_is())]
    } else if model.contains('/') {
        vec![(Target::OpenRouter, as_is()), (Target::OpenAi, as_is())]
    } else if model.starts_with("claude-") {
        let routed = format!("anthropic/{model}");
        vec![(Target::Anthropic, as_is()), (Target::OpenRouter, routed), (Target::OpenAi, as_is())]
    } else {
        vec![(Target::OpenAi, as_is()), (Target::OpenRouter, as_is())]
    }
}

/// The variables that would make `model` routable, for the [`NoProvider`] message.
fn hint(model: &str) -> &'static str {
    if model.starts_with("anthropic/") || model.starts_with("claude-") {
        "ANTHROPIC_API_KEY, or OPENROUTER_API_KEY (and OPENROUTER_BASE_URL unless it is openrouter.ai)"
    } else if model.contains('/') {
        "OPENROUTER_API_KEY (and OPENROUTER_BASE_URL unless it is openrouter.ai), \
         or OPENAI_BASE_URL for an OpenAI-compatible server"
    } else {
        "OPENAI_BASE_URL (plus OPENAI_API_KEY if the server needs one), or OPENROUTER_API_KEY"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A router with the given providers configured, and the provider/id each model gets.
    fn routes(openrouter: bool, openai: bool, anthropic: bool, models: &[&str]) -> Vec<String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = || Some(SecretString::from("k"));
        let settings = ProviderSettings {
            openrouter_api_key: if openrouter { key() } else { None },
            openai_base_url: openai.then(|| "http://localhost:11434/v1".to_owned()),
            anthropic_api_key: if anthropic { key() } else { None },
            openrouter_default_model: Some("openai/gpt-4o-mini".into()),
            ..ProviderSettings::default()
        };
        let router = ProviderRouter::new(settings, reqwest::Client::new());
        models
            .iter()
            .map(|m| match router.resolve(m) {
                Ok((p, id)) => format!("{} {id}", p.name()),
                Err(e) => format!("{}: {e}", e.code()),
            })
            .collect()
    }

    const MODELS: &[&str] = &[
        "",
        "anthropic/claude-sonnet-4.5",
        "meta-llama/llama-3.1-8b",
        "claude-3-5-sonnet-20241022",
        "llama3.1:8b",
    ];

    #[test]
    fn everything_configured_prefers_openrouter_for_slashed_ids_and_direct_for_bare_ones() {
        assert_eq!(
            routes(true, true, true, MODELS),
            [
                "openrouter openai/gpt-4o-mini",
                "openrouter anthropic/claude-sonnet-4.5",
                "openrouter meta-llama/llama-3.1-8b",
                "anthropic claude-3-5-sonnet-20241022",
                "openai llama3.1:8b",
            ]
        );
    }

    #[test]
    fn openrouter_alone_takes_everything_and_prefixes_bare_claude_ids() {
        assert_eq!(
            routes(true, false, false, MODELS)[3..],
            ["openrouter anthropic/claude-3-5-sonnet-20241022", "openrouter llama3.1:8b"]
        );
    }

    #[test]
    fn anthropic_alone_takes_claude_ids_in_both_spellings() {
        let got = routes(false, false, true, &["anthropic/claude-sonnet-4.5:thinking", "claude-x", "gpt-4o"]);
        assert_eq!(got[..2], ["anthropic claude-sonnet-4-5", "anthropic claude-x"]);
        assert!(got[2].starts_with("no_provider: no provider configured for model 'gpt-4o': set OPENAI_BASE_URL"));
    }

    #[test]
    fn an_openai_compatible_server_alone_takes_every_id_as_is() {
        assert_eq!(
            routes(false, true, false, MODELS)[1..],
            [
                "openai anthropic/claude-sonnet-4.5",
                "openai meta-llama/llama-3.1-8b",
                "openai claude-3-5-sonnet-20241022",
                "openai llama3.1:8b",
            ]
        );
    }

    #[test]
    fn nothing_configured_names_the_variables_to_set() {
        let got = routes(false, false, false, MODELS);
        assert_eq!(
            got[1],
            "no_provider: no provider configured for model 'anthropic/claude-sonnet-4.5': set \
             ANTHROPIC_API_KEY, or OPENROUTER_API_KEY (and OPENROUTER_BASE_URL unless it is openrouter.ai)"
        );
        assert!(got[2].contains("OPENAI_BASE_URL for an OpenAI-compatible server"));
    }

    #[test]
    fn an_empty_model_without_a_default_says_so() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let settings = ProviderSettings {
            openrouter_api_key: Some(SecretString::from("k")),
            openrouter_default_model: Some("  ".into()),
            ..ProviderSettings::default()
        };
        let router = ProviderRouter::new(settings, reqwest::Client::new());
        let err = router.resolve("").err().expect("no model to route");
        assert!(err.to_string().contains("OPENROUTER_DEFAULT_MODEL"));
        assert_eq!(router.configured(), ["openrouter"]);
    }

    #[test]
    fn keys_never_show_in_debug_output() {
        let settings = ProviderSettings {
            anthropic_api_key: Some(SecretString::from("sk-ant-very-secret")),
            ..ProviderSettings::default()
        };
        assert!(!format!("{settings:?}").contains("very-secret"));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let router = ProviderRouter::new(settings, reqwest::Client::new());
        assert!(!format!("{router:?}").contains("very-secret"));
        let (provider, _) = router.resolve("claude-x").expect("anthropic is configured");
        assert_eq!(provider.name(), "anthropic");
    }
}
