//! Measurements, not assertions. Run in release:
//! `cargo test --release --lib sandbox::tests::bench -- --ignored --nocapture --test-threads 1`

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::support::*;
use crate::sandbox::api::Console;
use crate::sandbox::engine::{self, Job};
use crate::sandbox::{Limits, Sandbox};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: n={} median={:?} p90={:?} p99={:?} max={:?}",
        samples.len(),
        percentile(&samples, 0.5),
        percentile(&samples, 0.9),
        percentile(&samples, 0.99),
        percentile(&samples, 1.0),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run in release with --ignored --nocapture"]
async fn trivial_call_latency() {
    const N: usize = 1000;
    let src = "(input) => ({ ok: true, n: input.n })";
    let sandbox = Sandbox::default();
    let store = store();
    let api = Arc::new(store.api("p1"));
    for _ in 0..50 {
        sandbox
            .run(
                src,
                json!({ "n": 1 }),
                project(),
                api.clone(),
                Limits::default(),
            )
            .await;
    }
    let mut full = Vec::with_capacity(N);
    for i in 0..N {
        let t = Instant::now();
        let r = sandbox
            .run(
                src,
                json!({ "n": i }),
                project(),
                api.clone(),
                Limits::default(),
            )
            .await;
        full.push(t.elapsed());
        assert!(r.result.is_ok());
    }
    report(
        "Sandbox::run trivial tool (permit + spawn_blocking + runtime + realm + bindings + compile + call + JSON)",
        full,
    );

    let handle = tokio::runtime::Handle::current();
    let api2 = api.clone();
    let engine_only = tokio::task::spawn_blocking(move || {
        let mut samples = Vec::with_capacity(N);
        for i in 0..N {
            let job = Job {
                source: src.to_owned(),
                input_json: format!("{{\"n\":{i}}}"),
                project_json: project().to_string(),
                api: api2.clone(),
                handle: handle.clone(),
                limits: Limits::default(),
                deadline: Instant::now() + Duration::from_secs(5),
                console: Console::shared(1024),
            };
            let t = Instant::now();
            let r = engine::execute(job);
            samples.push(t.elapsed());
            assert!(r.is_ok());
        }
        samples
    })
    .await
    .expect("engine loop");
    report("engine::execute on one thread (no pool hop)", engine_only);

    let payload_src =
        "async (i, { payload }) => (await payload.count({ collection: 'x' })).totalDocs";
    let mut with_payload = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        let r = sandbox
            .run(
                payload_src,
                json!({}),
                project(),
                api.clone(),
                Limits::default(),
            )
            .await;
        with_payload.push(t.elapsed());
        assert!(r.result.is_ok());
    }
    report(
        "Sandbox::run async tool awaiting one payload call",
        with_payload,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run in release with --ignored --nocapture"]
async fn async_latency_while_runaways_burn() {
    let sandbox = Sandbox::default();
    let store = store();
    println!("pool workers: {}", sandbox.workers());
    let runaways: Vec<_> = (0..20)
        .map(|_| {
            let sandbox = sandbox.clone();
            let api = Arc::new(store.api("p1"));
            tokio::spawn(async move {
                sandbox
                    .run(
                        "() => { for (;;) {} }",
                        json!({}),
                        project(),
                        api,
                        limits_ms(2000),
                    )
                    .await
            })
        })
        .collect();
    // A 1 ms timer on the async threads, like a /healthz handler: how late does it fire?
    let mut delays = Vec::new();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let t = Instant::now();
        tokio::time::sleep(Duration::from_millis(1)).await;
        delays.push(t.elapsed().saturating_sub(Duration::from_millis(1)));
    }
    let mut timeouts = 0;
    let mut busy = 0;
    for h in runaways {
        match h.await.expect("runaway").result {
            Err(crate::sandbox::ToolError::Timeout { .. }) => timeouts += 1,
            Err(crate::sandbox::ToolError::Busy) => busy += 1,
            other => panic!("{other:?}"),
        }
    }
    println!("20 runaways: {timeouts} timed out, {busy} refused as busy");
    report("async timer lateness while 20 runaway tools burn", delays);
}
