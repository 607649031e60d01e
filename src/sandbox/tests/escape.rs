//! Escape attempts: host capabilities, eval/Function tricks, tampering with `payload`,
//! state leaking between calls.

use serde_json::json;

use super::support::*;
use crate::sandbox::{Limits, Sandbox, ToolError};

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
async fn atomics_wait_cannot_block() {
    let src = "() => typeof Atomics === 'undefined' && typeof SharedArrayBuffer === 'undefined'";
    assert_eq!(ok(&run(src).await), &json!(true));
}
