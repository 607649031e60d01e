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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn infinite_loops_time_out() {
    for src in [
        "() => { while (true) {} }",
        "() => { for (;;) { try { while (true) {} } catch (e) {} } }",
        "async () => { await null; while (true) {} }",
        "async (_, { payload }) => { await payload.count({ collection: 'x' }); for (;;) {} }",
        "async () => { for (;;) await null; }",
        "async (_, { payload }) => { for (;;) await payload.count({ collection: 'x' }); }",
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
async fn an_endless_chain_of_promises_runs_out_of_memory_or_time() {
    // Each promise waits for the next, so the chain grows until the memory limit stops the job
    // that would schedule the next one: that is out of memory, not a promise that "never
    // settled".
    const CHAIN: &str =
        "() => { const f = () => Promise.resolve().then(f); f(); return new Promise(() => {}) }";
    let r = run(CHAIN).await;
    assert_eq!(err(&r), &OOM);
    // Under a short deadline, whichever limit comes first.
    let r = run_ms(CHAIN, 200).await;
    assert!([TIMEOUT, OOM].contains(err(&r)), "{:?}", err(&r));
    assert!(r.duration < Duration::from_secs(3), "{:?}", r.duration);
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
