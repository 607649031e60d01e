//! Hostile code: each attempt ends in a clear tool error (or harmlessly), never a hang or crash.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::support::*;
use crate::sandbox::{Limits, OVERRUN_GRACE, Sandbox, ToolError};

const TIMEOUT: ToolError = ToolError::Timeout { limit_ms: 200 };
const OOM: ToolError = ToolError::OutOfMemory {
    limit_bytes: 32 << 20,
};

async fn run_ms(source: &str, ms: u64) -> crate::sandbox::ToolRun {
    run_with(source, json!({}), limits_ms(ms)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loops_time_out() {
    for src in [
        "() => { while (true) {} }",
        "() => { for (;;) { try { while (true) {} } catch (e) {} } }",
        "async () => { await null; while (true) {} }",
        "async (_, { payload }) => { await payload.count({ collection: 'x' }); for (;;) {} }",
        "async () => { for (;;) await null; }",
        "() => { const f = () => Promise.resolve().then(f); f(); return new Promise(() => {}) }",
        "() => { [1, 2, 3].sort(() => { while (true) {} }) }",
        "() => JSON.stringify({ toJSON() { for (;;) {} } })",
        "() => ({ toJSON() { for (;;) {} } })",
    ] {
        let r = run_ms(src, 200).await;
        assert_eq!(err(&r), &TIMEOUT, "{src}");
        assert!(
            r.duration < Duration::from_secs(3),
            "{src}: {:?}",
            r.duration
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catastrophic_regex_times_out() {
    let r = run_ms("() => /^(a+)+$/.test('a'.repeat(40) + '!')", 200).await;
    assert_eq!(err(&r), &TIMEOUT);
    assert!(r.duration < Duration::from_secs(3), "{:?}", r.duration);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_bombs_run_out_of_memory() {
    for src in [
        "() => { const a = []; while (true) a.push({ x: a.length }); }",
        "() => { const a = []; while (true) a.push([a.length, 'x' + a.length]); }",
        "() => { globalThis.keep = []; while (true) keep.push({ x: keep.length }); }",
        "() => { let s = 'xy'; while (true) s = s.repeat(2); }",
        "() => { let s = 'xy'; while (true) { s = s + s; s.indexOf('z'); } }",
        "() => { let s = 'xy'; while (true) s = s + s; }",
        "() => { const a = []; while (true) a.push(new Uint8Array(1 << 20)); }",
        "() => { const a = []; while (true) a.push(new ArrayBuffer(1 << 16)); }",
        "() => new Uint8Array(1 << 30).length",
        "() => { try { const a = []; while (true) a.push({}); } catch (e) { throw e } }",
        "async () => { await null; const a = []; while (true) a.push({ a }); }",
    ] {
        // Generous timeout: filling 32 MiB is slow in debug builds.
        let r = run_ms(src, 20_000).await;
        assert_eq!(err(&r), &OOM, "{src}");
        assert!(
            r.duration < Duration::from_secs(15),
            "{src}: {:?}",
            r.duration
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caught_oom_leaves_a_working_realm() {
    // The bomb's array must be unreachable after the catch (QuickJS keeps block-scoped locals
    // of a running function alive), hence the inner function.
    let src = "() => { const bomb = () => { const a = []; while (true) a.push({ i: a.length }); }; \
               try { bomb() } catch (e) { } return [1, 2, 3].map(x => x * 2) }";
    assert_eq!(ok(&run_ms(src, 20_000).await), &json!([2, 4, 6]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_recursion_overflows_the_stack() {
    for src in [
        "() => { const f = (n) => f(n + 1) + 1; return f(0); }",
        "async () => { const f = async (n) => (await f(n + 1)) + 1; return f(0); }",
        "() => { const a = []; let x = a; for (let i = 0; i < 1e5; i++) { x = [x]; } return x; }",
        "() => { const o = {}; o.toString = () => `${o}`; return String(o); }",
    ] {
        let r = run_ms(src, 10_000).await;
        assert_eq!(err(&r), &ToolError::StackOverflow, "{src}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_output_is_refused() {
    let r = run_ms("() => 'x'.repeat(2 << 20)", 5000).await;
    assert_eq!(
        err(&r),
        &ToolError::OutputTooLarge {
            limit_bytes: 1 << 20
        }
    );
    let r = run_ms(
        "() => Array.from({ length: 200000 }, (_, i) => ({ i }))",
        10_000,
    )
    .await;
    assert_eq!(
        err(&r),
        &ToolError::OutputTooLarge {
            limit_bytes: 1 << 20
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_capabilities_are_absent() {
    let src = r#"() => ['require', 'process', 'fetch', 'Deno', 'std', 'os', 'setTimeout',
        'setInterval', 'XMLHttpRequest', 'WebSocket', 'Atomics', 'SharedArrayBuffer',
        'WebAssembly', 'module', 'exports', 'Bun', 'print', 'scriptArgs']
        .filter(n => typeof globalThis[n] !== 'undefined')"#;
    assert_eq!(ok(&run(src).await), &json!([]));
    let r = run("() => require('fs')").await;
    assert!(
        matches!(err(&r), ToolError::Thrown(m) if m.contains("ReferenceError")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_import_fails_without_hanging() {
    for spec in [
        "fs",
        "os",
        "std",
        "./tool.js",
        "data:text/javascript,export default 1",
        "https://example.com/x.js",
    ] {
        let src = format!(
            "async () => {{ try {{ await import('{spec}'); return 'loaded' }} catch (e) {{ return String(e) }} }}"
        );
        let r = run_ms(&src, 1000).await;
        let v = ok(&r).as_str().unwrap_or("").to_string();
        assert!(v.contains("could not load module"), "{spec}: {v}");
    }
    // Un-awaited and uncaught: still a clean error.
    let r = run_ms("() => import('fs')", 1000).await;
    assert!(
        matches!(err(&r), ToolError::Thrown(m) if m.contains("could not load module")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eval_and_function_reach_only_the_realm() {
    // The constructors of our own functions build functions of the same realm, nothing more.
    let src = r#"async () => {
        const g1 = Function('return this')();
        const g2 = (0, eval)('this');
        const g3 = await payload.find.constructor('return this')();
        const g4 = console.log.constructor('return this')();
        const names = Object.getOwnPropertyNames(g1);
        let caller = 'none';
        try { caller = String(payload.find.caller) } catch (e) { caller = e.name }
        return { same: [g1 === globalThis, g2 === globalThis, g3 === globalThis, g4 === globalThis],
                 names, evalWorks: eval('1 + 1'), caller };
    }"#;
    let r = run(src).await;
    let v = ok(&r);
    assert_eq!(v["same"], json!([true, true, true, true]));
    assert_eq!(v["caller"], "TypeError");
    assert_eq!(v["evalWorks"], 2);
    let standard = [
        "Object",
        "Function",
        "Error",
        "EvalError",
        "RangeError",
        "ReferenceError",
        "SyntaxError",
        "TypeError",
        "URIError",
        "InternalError",
        "AggregateError",
        "SuppressedError",
        "Iterator",
        "Array",
        "parseInt",
        "parseFloat",
        "isNaN",
        "isFinite",
        "decodeURI",
        "decodeURIComponent",
        "encodeURI",
        "encodeURIComponent",
        "escape",
        "unescape",
        "Infinity",
        "NaN",
        "undefined",
        "eval",
        "Number",
        "Boolean",
        "String",
        "Math",
        "Reflect",
        "Symbol",
        "DisposableStack",
        "AsyncDisposableStack",
        "globalThis",
        "BigInt",
        "Date",
        "RegExp",
        "JSON",
        "Proxy",
        "Map",
        "Set",
        "WeakMap",
        "WeakSet",
        "ArrayBuffer",
        "Uint8ClampedArray",
        "Int8Array",
        "Uint8Array",
        "Int16Array",
        "Uint16Array",
        "Int32Array",
        "Uint32Array",
        "BigInt64Array",
        "BigUint64Array",
        "Float16Array",
        "Float32Array",
        "Float64Array",
        "DataView",
        "Promise",
        "WeakRef",
        "FinalizationRegistry",
        "DOMException",
        "btoa",
        "atob",
        "performance",
        // ours:
        "console",
        "payload",
    ];
    let extra: Vec<&str> = v["names"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str())
        .filter(|n| !standard.contains(n))
        .collect();
    assert!(extra.is_empty(), "unexpected globals: {extra:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_cannot_be_tampered_with() {
    let src = r#"async (_, ctx) => {
        const orig = payload.find;
        payload.find = () => 'hacked';
        payload.find.call = () => 'hacked';
        delete payload.count;
        ctx.payload.create = null;
        let strict = 'no error';
        try { (function () { 'use strict'; payload.find = null; })(); } catch (e) { strict = e.name; }
        let redefine = 'no error';
        try { Object.defineProperty(globalThis, 'payload', { value: {} }); } catch (e) { redefine = e.name; }
        globalThis.payload = {};
        Object.prototype.polluted = 'yes';
        Array.prototype.map = function () { return 'polluted' };
        JSON.stringify = () => '"hijacked"';
        return { same: payload.find === orig, frozen: Object.isFrozen(payload) && Object.isFrozen(payload.find),
                 count: typeof payload.count, create: typeof ctx.payload.create, strict, redefine };
    }"#;
    let store = store();
    let sandbox = Sandbox::new(2);
    let r = run_in(&sandbox, &store, src, json!({}), Limits::default()).await;
    let v = ok(&r);
    assert_eq!(
        v,
        &json!({ "same": true, "frozen": true, "count": "function", "create": "function",
                           "strict": "TypeError", "redefine": "TypeError" })
    );
    // The next call gets a fresh realm: no pollution, working payload.
    let next = r#"async (_, { payload }) => {
        const c = await payload.create({ collection: 'x', data: { a: 1 } });
        return { polluted: ({}).polluted === undefined, then: ({}).then === undefined,
                 map: [1].map(x => x + 1), leak: typeof globalThis.leaked, id: typeof c.id };
    }"#;
    let r = run_in(&sandbox, &store, next, json!({}), Limits::default()).await;
    assert_eq!(
        ok(&r),
        &json!({ "polluted": true, "then": true, "map": [2], "leak": "undefined", "id": "string" })
    );
    // Making every object a thenable only hurts the tool itself.
    let thenable = "async () => { Object.prototype.then = function () {}; return {} }";
    let r = run_in(&sandbox, &store, thenable, json!({}), Limits::default()).await;
    assert!(
        matches!(err(&r), ToolError::Thrown(m) if m.contains("never settled")),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_state_leaks_between_calls() {
    let sandbox = Sandbox::new(1);
    let store = store();
    let set = "() => { globalThis.leaked = 1; Math.random = () => 4; return 1 }";
    ok(&run_in(&sandbox, &store, set, json!({}), Limits::default()).await);
    let get = "() => [typeof leaked, Math.random() === 4]";
    assert_eq!(
        ok(&run_in(&sandbox, &store, get, json!({}), Limits::default()).await),
        &json!(["undefined", false])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promises_that_never_settle_fail_fast() {
    for src in [
        "async () => { await new Promise(() => {}); }",
        "() => new Promise(() => {})",
        "async () => { await { then() {} }; }",
    ] {
        let r = run_ms(src, 5000).await;
        assert!(
            matches!(err(&r), ToolError::Thrown(m) if m.contains("never settled")),
            "{src}: {r:?}"
        );
        assert!(
            r.duration < Duration::from_secs(2),
            "{src}: {:?}",
            r.duration
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_data_api_is_bounded_by_the_deadline() {
    let src = "async (_, { payload }) => { try { await payload.find({ collection: 'x' }) } catch (e) { return e.message } }";
    let r = Sandbox::new(1)
        .run(src, json!({}), project(), Arc::new(Hanging), limits_ms(200))
        .await;
    assert_eq!(err(&r), &TIMEOUT);
    assert!(r.duration < Duration::from_secs(2), "{:?}", r.duration);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_builtin_overrun_is_reported_at_the_grace_deadline() {
    // `join` does not poll the interrupt handler: the thread overruns, the caller does not.
    let r = run_ms("() => new Array(1e8).join('ab').length", 100).await;
    assert_eq!(err(&r), &ToolError::Timeout { limit_ms: 100 });
    assert!(
        r.duration < Duration::from_millis(100) + OVERRUN_GRACE + Duration::from_millis(700),
        "{:?}",
        r.duration
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomics_wait_cannot_block() {
    let src = "() => typeof Atomics === 'undefined' && typeof SharedArrayBuffer === 'undefined'";
    assert_eq!(ok(&run(src).await), &json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_clamped() {
    let l = Limits {
        timeout: Duration::from_secs(3600),
        stack_bytes: 64 << 20,
        memory_bytes: 0,
        ..Limits::default()
    }
    .normalized();
    assert_eq!(l.timeout, Limits::MAX_TIMEOUT);
    assert_eq!(l.stack_bytes, 1 << 20);
    assert_eq!(l.memory_bytes, 2 << 20);
    assert_eq!(
        Limits::with_timeout_ms(None).timeout,
        Duration::from_secs(5)
    );
    assert_eq!(
        Limits::with_timeout_ms(Some(90_000)).timeout,
        Duration::from_secs(60)
    );
    let small = Limits {
        memory_bytes: 4 << 20,
        ..Limits::default()
    };
    let r = run_with(
        "() => { const a = []; while (true) a.push({}); }",
        json!({}),
        small,
    )
    .await;
    assert_eq!(
        err(&r),
        &ToolError::OutOfMemory {
            limit_bytes: 4 << 20
        }
    );
}
