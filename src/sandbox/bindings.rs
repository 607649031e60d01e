//! The objects a tool sees besides the standard built-ins: `console` and `payload`, built from
//! native functions (no JavaScript is parsed per call), frozen and installed as read-only,
//! non-configurable globals.

use std::rc::Rc;

use rquickjs::function::{Opt, Rest};
use rquickjs::{Coerced, Ctx, Exception, FromJs, Function, Object, Value};

use super::api::{self, Host, SharedConsole};

/// Names a tool must never find, removed should an engine version ever define them.
const REMOVED_GLOBALS: &[&str] = &[
    "require",
    "process",
    "fetch",
    "Deno",
    "Bun",
    "std",
    "os",
    "setTimeout",
    "setInterval",
    "clearTimeout",
    "clearInterval",
    "queueMicrotask",
    "Atomics",
    "SharedArrayBuffer",
    "WebAssembly",
    "navigator",
    "gc",
    "scriptArgs",
    "print",
];

const CONSOLE_LEVELS: &[&str] = &["log", "info", "warn", "error", "debug"];
const PAYLOAD_METHODS: &[&str] = &["find", "findByID", "create", "update", "delete", "count"];

/// Installs `console` and `payload` on the realm's global object; returns `payload`.
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    console: &SharedConsole,
    host: Host,
) -> rquickjs::Result<Object<'js>> {
    let globals = ctx.globals();
    for name in REMOVED_GLOBALS {
        globals.remove(*name)?;
    }
    let object: Object = globals.get("Object")?;
    let freeze: Function = object.get("freeze")?;
    let define: Function = object.get("defineProperty")?;

    let console_obj = Object::new(ctx.clone())?;
    for level in CONSOLE_LEVELS {
        let f = console_fn(ctx, level, console.clone())?;
        freeze.call::<_, Value>((f.clone(),))?;
        console_obj.set(*level, f)?;
    }
    freeze.call::<_, Value>((console_obj.clone(),))?;

    let host = Rc::new(host);
    let payload = Object::new(ctx.clone())?;
    for method in PAYLOAD_METHODS {
        let f = payload_fn(ctx, method, host.clone())?;
        freeze.call::<_, Value>((f.clone(),))?;
        payload.set(*method, f)?;
    }
    freeze.call::<_, Value>((payload.clone(),))?;

    for (name, value) in [("console", console_obj), ("payload", payload.clone())] {
        let descriptor = Object::new(ctx.clone())?;
        descriptor.set("value", value)?;
        descriptor.set("writable", false)?;
        descriptor.set("enumerable", false)?;
        descriptor.set("configurable", false)?;
        define.call::<_, Value>((globals.clone(), name, descriptor))?;
    }
    Ok(payload)
}

/// `console.<level>(...args)`: formats like a terminal and appends one line.
fn console_fn<'js>(
    ctx: &Ctx<'js>,
    level: &'static str,
    console: SharedConsole,
) -> rquickjs::Result<Function<'js>> {
    Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Rest<Value<'js>>| {
        let mut line = String::new();
        for (i, arg) in args.0.into_iter().enumerate() {
            if i > 0 {
                line.push(' ');
            }
            line.push_str(&show(&ctx, arg));
        }
        // Formatting may run script code (toJSON, toString) that logs too: lock only now.
        api::console_push(&console, level, &line);
    })?
    .with_name(level)
}

/// One console argument as text: strings as they are, objects as JSON, errors with their
/// stack, anything else through `String(v)`.
fn show<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> String {
    if let Some(s) = v.as_string() {
        return s.to_string().unwrap_or_default();
    }
    if let Some(sym) = v.as_symbol() {
        let description = sym
            .description()
            .ok()
            .and_then(|d| d.as_string().and_then(|s| s.to_string().ok()))
            .unwrap_or_default();
        return format!("Symbol({description})");
    }
    if v.is_object() && !v.is_error() && !v.is_function() {
        match ctx.json_stringify(v.clone()) {
            Ok(Some(s)) => return s.to_string().unwrap_or_default(),
            Ok(None) => {}
            Err(_) => {
                let _ = ctx.catch();
            }
        }
    }
    let mut text = match Coerced::<String>::from_js(ctx, v.clone()) {
        Ok(s) => s.0,
        Err(_) => {
            let _ = ctx.catch();
            return "[unprintable]".into();
        }
    };
    if let Some(stack) = v
        .as_object()
        .filter(|_| v.is_error())
        .and_then(|o| o.get::<_, Option<String>>("stack").ok().flatten())
        .filter(|s| !s.is_empty())
    {
        text.push('\n');
        text.push_str(stack.trim_end());
    }
    text
}

/// `payload.<method>(args)`: returns a Promise settled with the data API's answer.
fn payload_fn<'js>(
    ctx: &Ctx<'js>,
    method: &'static str,
    host: Rc<Host>,
) -> rquickjs::Result<Function<'js>> {
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, args: Opt<Value<'js>>| -> rquickjs::Result<Value<'js>> {
            let (promise, resolve, reject) = ctx.promise()?;
            match call(&ctx, &host, method, args.0)? {
                Ok(value) => resolve.call::<_, ()>((value,))?,
                Err(error) => reject.call::<_, ()>((error,))?,
            }
            Ok(promise.into_value())
        },
    )?
    .with_name(method)
}

/// Runs one data call. The outer `Err` propagates (interrupts, allocation failures); the
/// inner one is the value the promise rejects with.
fn call<'js>(
    ctx: &Ctx<'js>,
    host: &Host,
    method: &str,
    args: Option<Value<'js>>,
) -> rquickjs::Result<Result<Value<'js>, Value<'js>>> {
    let args_json = match args {
        None => None,
        Some(v) => match ctx.json_stringify(v) {
            Ok(s) => s.map(|s| s.to_string()).transpose()?,
            Err(rquickjs::Error::Exception) => {
                let thrown = ctx.catch();
                if thrown.is_uncatchable_error() {
                    return Err(ctx.throw(thrown));
                }
                return Ok(Err(thrown));
            }
            Err(e) => return Err(e),
        },
    };
    let answer = host.call(method, args_json.as_deref().unwrap_or("null"));
    Ok(match answer {
        Ok(json) => Ok(ctx.json_parse(json)?),
        Err(message) => Err(Exception::from_message(ctx.clone(), &message)?.into_value()),
    })
}
