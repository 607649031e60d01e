//! Host side of the objects a tool sees: captured `console` output and the `payload` calls.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value};
use tokio::runtime::Handle;

use super::{DataApi, DataOp};

/// The JavaScript evaluated before the tool: builds the frozen `console` and `payload` objects.
pub(crate) const PRELUDE: &str = include_str!("prelude.js");

/// Console output captured during one call, capped at `cap` bytes.
#[derive(Debug)]
pub(crate) struct Console {
    buf: String,
    cap: usize,
    truncated: bool,
}

/// Console shared between the JS thread and [`super::Sandbox::run`] (which still reports what
/// was captured when it gives up on an overrunning thread).
pub(crate) type SharedConsole = Arc<Mutex<Console>>;

impl Console {
    pub(crate) fn shared(cap: usize) -> SharedConsole {
        Arc::new(Mutex::new(Console {
            buf: String::new(),
            cap,
            truncated: false,
        }))
    }

    /// Appends one line (`[level] ` prefix except for `log`), truncating at the cap.
    pub(crate) fn push(&mut self, level: &str, line: &str) {
        if self.truncated {
            return;
        }
        let prefix = match level {
            "log" => String::new(),
            other => format!("[{other}] "),
        };
        let needed = prefix.len() + line.len() + 1;
        if self.buf.len() + needed <= self.cap {
            self.buf.push_str(&prefix);
            self.buf.push_str(line);
            self.buf.push('\n');
            return;
        }
        let mut room = self.cap.saturating_sub(self.buf.len());
        for part in [prefix.as_str(), line] {
            let cut = floor_char_boundary(part, room);
            self.buf.push_str(&part[..cut]);
            room -= cut;
        }
        self.buf.push_str(&format!(
            "\n[console output truncated at {} bytes]\n",
            self.cap
        ));
        self.truncated = true;
    }

    /// The captured text so far.
    pub(crate) fn text(&self) -> String {
        self.buf.clone()
    }
}

/// Locks a shared console, surviving a poisoned mutex (the data is plain text).
pub(crate) fn console_text(console: &SharedConsole) -> String {
    console.lock().unwrap_or_else(|e| e.into_inner()).text()
}

pub(crate) fn console_push(console: &SharedConsole, level: &str, line: &str) {
    console
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(level, line);
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// What the native `hostCall` needs: the data API and the tokio runtime that drives it.
pub(crate) struct Host {
    pub(crate) api: Arc<dyn DataApi>,
    pub(crate) handle: Handle,
    pub(crate) deadline: Instant,
}

impl Host {
    /// Runs `payload.<method>(args)` synchronously on the tool's thread: parses the arguments,
    /// blocks on the data API future (bounded by the deadline) and returns the result as JSON.
    /// `Err` is the message of the Error the script's promise rejects with.
    pub(crate) fn call(&self, method: &str, args_json: &str) -> Result<String, String> {
        let op = parse_op(method, args_json)?;
        let fut = self.api.call(op);
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let result = self
            .handle
            .block_on(async move { tokio::time::timeout_at(deadline, fut).await });
        match result {
            Err(_) => Err(format!(
                "payload.{method} did not finish before the tool's time limit"
            )),
            Ok(Err(message)) => Err(message),
            Ok(Ok(value)) => serde_json::to_string(&value)
                .map_err(|e| format!("payload.{method} returned an unusable value: {e}")),
        }
    }
}

/// Turns `payload.<method>(args)` into a [`DataOp`], with messages for tool authors.
pub(crate) fn parse_op(method: &str, args_json: &str) -> Result<DataOp, String> {
    let usage = |what: &str| {
        format!(
            "payload.{method}: {what} (call it as payload.{method}({{ collection: 'slug', ... }}))"
        )
    };
    let args: Value =
        serde_json::from_str(args_json).map_err(|_| usage("arguments must be plain JSON"))?;
    let Value::Object(mut args) = args else {
        return Err(usage("expects one argument object"));
    };
    let collection = match args.remove("collection") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(usage("`collection` is required"));
        }
        Some(_) => return Err(usage("`collection` must be a string")),
    };
    let op = match method {
        "find" => DataOp::Find {
            collection,
            r#where: object_opt(&mut args, "where", method)?,
            limit: u64_opt(&mut args, "limit", method)?,
            page: u64_opt(&mut args, "page", method)?,
            sort: string_opt(&mut args, "sort", method)?,
        },
        "findByID" => DataOp::FindById {
            collection,
            id: id_req(&mut args, method)?,
        },
        "create" => DataOp::Create {
            collection,
            data: data_req(&mut args, method)?,
        },
        "update" => DataOp::Update {
            collection,
            id: id_req(&mut args, method)?,
            data: data_req(&mut args, method)?,
        },
        "delete" => DataOp::Delete {
            collection,
            id: id_req(&mut args, method)?,
        },
        "count" => DataOp::Count {
            collection,
            r#where: object_opt(&mut args, "where", method)?,
        },
        other => return Err(format!("payload.{other} is not a supported operation")),
    };
    Ok(op)
}

fn object_opt(
    args: &mut Map<String, Value>,
    key: &str,
    method: &str,
) -> Result<Option<Value>, String> {
    match args.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(_) => Err(format!("payload.{method}: `{key}` must be an object")),
    }
}

fn u64_opt(args: &mut Map<String, Value>, key: &str, method: &str) -> Result<Option<u64>, String> {
    match args.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 9e15)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| format!("payload.{method}: `{key}` must be a non-negative integer")),
        Some(_) => Err(format!(
            "payload.{method}: `{key}` must be a non-negative integer"
        )),
    }
}

fn string_opt(
    args: &mut Map<String, Value>,
    key: &str,
    method: &str,
) -> Result<Option<String>, String> {
    match args.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("payload.{method}: `{key}` must be a string")),
    }
}

fn id_req(args: &mut Map<String, Value>, method: &str) -> Result<Value, String> {
    match args.remove("id") {
        Some(v @ (Value::String(_) | Value::Number(_))) => Ok(v),
        None | Some(Value::Null) => Err(format!("payload.{method}: `id` is required")),
        Some(_) => Err(format!(
            "payload.{method}: `id` must be a string or a number"
        )),
    }
}

fn data_req(args: &mut Map<String, Value>, method: &str) -> Result<Value, String> {
    match args.remove("data") {
        Some(v @ Value::Object(_)) => Ok(v),
        None | Some(Value::Null) => Err(format!("payload.{method}: `data` is required")),
        Some(_) => Err(format!("payload.{method}: `data` must be an object")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_api_arguments() {
        let op = parse_op(
            "find",
            r#"{"collection":"world-rules","where":{"a":{"equals":1}},"limit":10,"page":2,"sort":"-createdAt"}"#,
        );
        assert_eq!(
            op,
            Ok(DataOp::Find {
                collection: "world-rules".into(),
                r#where: Some(serde_json::json!({"a": {"equals": 1}})),
                limit: Some(10),
                page: Some(2),
                sort: Some("-createdAt".into()),
            })
        );
        let err = parse_op("create", r#"{"data":{}}"#).unwrap_err();
        assert!(err.contains("`collection` is required"), "{err}");
        let err = parse_op("update", r#"{"collection":"x","id":1}"#).unwrap_err();
        assert!(err.contains("`data` is required"), "{err}");
        let err = parse_op("find", "null").unwrap_err();
        assert!(err.contains("one argument object"), "{err}");
        let err = parse_op("find", r#"{"collection":"x","limit":-1}"#).unwrap_err();
        assert!(err.contains("non-negative integer"), "{err}");
    }

    #[test]
    fn console_truncates_on_char_boundary() {
        let console = Console::shared(10);
        console_push(&console, "log", "héllo");
        console_push(&console, "warn", "ééééé");
        console_push(&console, "log", "dropped");
        let text = console_text(&console);
        assert!(text.starts_with("héllo\n[wa"), "{text}");
        assert!(
            text.contains("[console output truncated at 10 bytes]"),
            "{text}"
        );
        assert!(!text.contains("dropped"));
    }
}
