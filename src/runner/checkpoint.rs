//! Durable run state: after every step an execution's `runState` (the provider-neutral
//! messages, the number of model calls made and the run time spent) is stored — the first
//! time whole, then as steps that add only the new messages ([`RunState::extension_of`]) —
//! so a run that stopped — interrupted, timed out, paused — continues from there on the same
//! row, and a new run can start from a finished run's whole conversation
//! (`previousExecution`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::providers::Message;
use crate::db::executions::StateWrite;

/// An execution's checkpoint (`runState`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    /// Model calls made so far (the next step is `step + 1`).
    pub step: u32,
    /// The conversation so far: user, assistant (with tool calls) and tool-result turns.
    pub messages: Vec<Message>,
    /// Run time spent before this point, in milliseconds (the deadline counts from there).
    #[serde(default)]
    pub elapsed_ms: u64,
}

impl RunState {
    /// The stored state; `None` when absent or unreadable.
    pub fn from_stored(v: Option<&Value>) -> Option<Self> {
        v.and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The stored JSON.
    pub fn to_json(&self) -> Value {
        Self::json_of(self.step, &self.messages, self.elapsed_ms)
    }

    /// The stored JSON of a state made of these parts (borrowed: nothing is copied first).
    pub fn json_of(step: u32, messages: &[Message], elapsed_ms: u64) -> Value {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Borrowed<'a> {
            step: u32,
            messages: &'a [Message],
            elapsed_ms: u64,
        }
        serde_json::to_value(Borrowed {
            step,
            messages,
            elapsed_ms,
        })
        .unwrap_or_default()
    }

    /// The write that brings a stored state up to this one when the stored state already
    /// holds the conversation up to `added`: the new step and run time, and `added`
    /// appended to its messages.
    pub fn extension_of(step: u32, added: &[Message], elapsed_ms: u64) -> StateWrite {
        StateWrite::Extend {
            step,
            elapsed_ms,
            messages: added
                .iter()
                .map(|m| serde_json::to_value(m).unwrap_or_default())
                .collect(),
        }
    }

    /// The tool calls of the last assistant turn that have no result yet: the calls a
    /// resumed run still has to make before it asks the model again. Completed calls (those
    /// with a result in the conversation) are never made twice.
    pub fn unanswered_calls(messages: &[Message]) -> Vec<super::providers::ToolCall> {
        let Some(at) = messages
            .iter()
            .rposition(|m| matches!(m, Message::Assistant { .. }))
        else {
            return Vec::new();
        };
        let Message::Assistant { tool_calls, .. } = &messages[at] else {
            return Vec::new();
        };
        let answered: Vec<&str> = messages[at + 1..]
            .iter()
            .filter_map(|m| match m {
                Message::ToolResult { tool_call_id, .. } => Some(tool_call_id.as_str()),
                _ => None,
            })
            .collect();
        tool_calls
            .iter()
            .filter(|c| !answered.contains(&c.id.as_str()))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::runner::providers::ToolCall;

    fn call(id: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: "t".into(),
            input: json!({}),
        }
    }

    #[test]
    fn the_json_form_is_neutral_and_round_trips() {
        let state = RunState {
            step: 1,
            messages: vec![
                Message::User {
                    content: "hi".into(),
                },
                Message::Assistant {
                    text: String::new(),
                    tool_calls: vec![call("a")],
                },
                Message::ToolResult {
                    tool_call_id: "a".into(),
                    tool_name: "t".into(),
                    content: "{}".into(),
                    is_error: false,
                },
            ],
            elapsed_ms: 12,
        };
        let v = state.to_json();
        assert_eq!(v["messages"][0], json!({"role": "user", "content": "hi"}));
        assert_eq!(v["messages"][2]["role"], "tool_result");
        assert_eq!(v["messages"][2]["toolCallId"], "a");
        assert_eq!(v["messages"][1]["toolCalls"][0]["id"], "a");
        assert_eq!(RunState::from_stored(Some(&v)), Some(state));
    }

    #[test]
    fn only_the_calls_without_a_result_are_left() {
        let messages = vec![
            Message::Assistant {
                text: String::new(),
                tool_calls: vec![call("a"), call("b")],
            },
            Message::ToolResult {
                tool_call_id: "a".into(),
                tool_name: "t".into(),
                content: "1".into(),
                is_error: false,
            },
        ];
        let left = RunState::unanswered_calls(&messages);
        assert_eq!(left, vec![call("b")]);
        assert!(RunState::unanswered_calls(&messages[..0]).is_empty());
    }
}
