//! The fake LLM HTTP server (OpenAI and Anthropic wire formats, scripted per test).
//! It lives in the library so bench binaries can use it too; see `aladdin::testing`.

pub use aladdin::testing::fake_llm::*;
