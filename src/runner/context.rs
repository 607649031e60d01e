//! Keeping the conversation within the model's context window (`models.contextWindow`):
//! the oldest earlier turns are left out first; the system prompt, the tools, the prompt of
//! this run and everything after it are always kept.
//!
//! Tokens are estimated, not counted: one token per 4 characters of JSON-encoded text
//! (system prompt, tool schemas and messages), the usual figure for English text and code
//! with BPE tokenizers. Room is kept for the answer: the request's output cap, or 4,096
//! tokens, at most a quarter of the window.

use super::providers::{ChatRequest, Message, ToolSpec};

/// Characters per estimated token.
pub const CHARS_PER_TOKEN: usize = 4;
/// Output room when the request sets no cap.
const DEFAULT_OUTPUT_ROOM: u64 = 4096;

/// Characters of `tools` as sent: names, descriptions and JSON schemas. A run's tools do not
/// change, so the loop counts them once (`LoopCx::tool_chars`), not at every model call.
pub fn tool_chars(tools: &[ToolSpec]) -> usize {
    tools
        .iter()
        .map(|t| t.name.len() + t.description.chars().count() + json_chars(&t.input_schema))
        .sum()
}

/// Characters of `value` as compact JSON, counted as it is written out, without building
/// the text.
pub fn json_chars(value: &impl serde::Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            // Every byte but a UTF-8 continuation byte starts a character.
            self.0 += buf.iter().filter(|&&b| (b as i8) >= -0x40).count();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing into a counter cannot fail, nor can serializing a JSON value.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Estimated prompt tokens of `req`, whose tools are `tool_chars` characters long.
pub fn estimate_tokens(req: &ChatRequest, tool_chars: usize) -> u64 {
    let mut chars = req.system.chars().count() + tool_chars;
    chars += req.messages.iter().map(message_chars).sum::<usize>();
    u64::try_from(chars.div_ceil(CHARS_PER_TOKEN)).unwrap_or(u64::MAX)
}

fn message_chars(m: &Message) -> usize {
    match m {
        Message::User { content } => content.chars().count() + 8,
        Message::Assistant { text, tool_calls } => {
            text.chars().count()
                + 8
                + tool_calls
                    .iter()
                    .map(|c| c.id.len() + c.name.len() + json_chars(&c.input))
                    .sum::<usize>()
        }
        Message::ToolResult {
            tool_call_id,
            content,
            ..
        } => tool_call_id.len() + content.chars().count() + 8,
    }
}

/// What a trim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trimmed {
    /// Messages left out.
    pub messages: usize,
    /// Estimated prompt tokens before.
    pub before: u64,
    /// Estimated prompt tokens after.
    pub after: u64,
}

/// Leaves out the oldest earlier turns (a user message and what followed it, up to the
/// next user message) until the estimate fits `window`, never the last user message and
/// what follows it. `None` when nothing had to go.
pub fn trim_to_window(req: &mut ChatRequest, window: u64, tool_chars: usize) -> Option<Trimmed> {
    let room = req
        .max_tokens
        .map_or(DEFAULT_OUTPUT_ROOM, u64::from)
        .min(window / 4);
    let budget = window.saturating_sub(room);
    let before = estimate_tokens(req, tool_chars);
    if before <= budget {
        return None;
    }
    let last_user = req
        .messages
        .iter()
        .rposition(|m| matches!(m, Message::User { .. }))
        .unwrap_or(0);
    let mut cut = 0;
    let mut estimate = before;
    while estimate > budget && cut < last_user {
        // The end of the oldest remaining turn: the next user message after `cut`.
        let next = req.messages[cut + 1..=last_user]
            .iter()
            .position(|m| matches!(m, Message::User { .. }))
            .map_or(last_user, |i| cut + 1 + i);
        let dropped: usize = req.messages[cut..next].iter().map(message_chars).sum();
        estimate = estimate.saturating_sub(u64::try_from(dropped / CHARS_PER_TOKEN).unwrap_or(0));
        cut = next;
    }
    if cut == 0 {
        return None;
    }
    req.messages.drain(..cut);
    Some(Trimmed {
        messages: cut,
        before,
        after: estimate_tokens(req, tool_chars),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(n: usize, len: usize) -> [Message; 2] {
        [
            Message::User {
                content: format!("q{n} {}", "x".repeat(len)),
            },
            Message::Assistant {
                text: format!("a{n}"),
                tool_calls: Vec::new(),
            },
        ]
    }

    fn request(history: usize) -> ChatRequest {
        let mut messages: Vec<Message> = (0..history).flat_map(|n| turn(n, 4000)).collect();
        messages.push(Message::User {
            content: "now".into(),
        });
        ChatRequest {
            model: "m".into(),
            system: "s".repeat(400),
            messages,
            tools: Vec::new(),
            temperature: None,
            max_tokens: Some(100),
            cache_key: None,
        }
    }

    #[test]
    fn the_oldest_turns_go_first_and_the_current_prompt_stays() {
        let mut req = request(5);
        // Five 1,000-token turns, a 100-token system prompt: a 3,000-token window keeps two.
        let trimmed = trim_to_window(&mut req, 3_000, 0).expect("trimmed");
        assert_eq!(trimmed.messages, 6);
        assert!(
            trimmed.after <= 2_900 && trimmed.before > 5_000,
            "{trimmed:?}"
        );
        assert!(matches!(&req.messages[0], Message::User { content } if content.starts_with("q3")));
        assert!(matches!(req.messages.last(), Some(Message::User { content }) if content == "now"));
        assert_eq!(req.system.len(), 400);
    }

    #[test]
    fn a_conversation_that_fits_is_left_alone() {
        let mut req = request(2);
        assert_eq!(trim_to_window(&mut req, 200_000, 0), None);
        assert_eq!(req.messages.len(), 5);
        let mut tiny = request(0);
        assert_eq!(trim_to_window(&mut tiny, 10, 0), None);
    }
}
