//! Pool isolation: runaway tools use their workers only; everything else keeps going.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::support::*;
use crate::sandbox::{Sandbox, ToolError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trivial_call_completes_while_runaways_burn() {
    let sandbox = Sandbox::new(4);
    let store = store();
    let runaways: Vec<_> = (0..8)
        .map(|_| {
            let sandbox = sandbox.clone();
            let api = Arc::new(store.api("p1"));
            tokio::spawn(async move {
                sandbox
                    .run(
                        "() => { while (true) {} }",
                        json!({}),
                        project(),
                        api,
                        limits_ms(400),
                    )
                    .await
            })
        })
        .collect();
    // The async threads stay responsive meanwhile (the /healthz analogue).
    let ticker = tokio::spawn(async {
        let mut worst = Duration::ZERO;
        for _ in 0..40 {
            let t = Instant::now();
            tokio::time::sleep(Duration::from_millis(10)).await;
            worst = worst.max(t.elapsed().saturating_sub(Duration::from_millis(10)));
        }
        worst
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = run_in(
        &sandbox,
        &store,
        "(i) => i.n * 2",
        json!({ "n": 21 }),
        limits_ms(5000),
    )
    .await;
    assert_eq!(ok(&r), &json!(42), "queued behind the runaways, then ran");
    // Each runaway either ran and hit its limit, or waited longer than its limit for a
    // worker (4 workers, 8 runaways of 400 ms) and was refused.
    let mut timeouts = 0;
    for h in runaways {
        match err(&h.await.expect("runaway task")) {
            ToolError::Timeout { limit_ms: 400 } => timeouts += 1,
            ToolError::Busy => {}
            e => panic!("{e:?}"),
        }
    }
    assert!(timeouts >= 4, "{timeouts}");
    let worst = ticker.await.expect("ticker");
    println!("worst async tick delay while 8 runaways ran: {worst:?}");
    assert!(
        worst < Duration::from_millis(500),
        "async threads starved: {worst:?}"
    );
    assert_eq!(sandbox.idle_workers(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_pool_answers_busy() {
    let sandbox = Sandbox::new(1);
    let store = store();
    let hog = {
        let sandbox = sandbox.clone();
        let api = Arc::new(store.api("p1"));
        tokio::spawn(async move {
            sandbox
                .run(
                    "() => { for (;;) {} }",
                    json!({}),
                    project(),
                    api,
                    limits_ms(1500),
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = run_in(&sandbox, &store, "() => 1", json!({}), limits_ms(100)).await;
    assert_eq!(err(&r), &ToolError::Busy);
    assert_eq!(
        err(&hog.await.expect("hog")),
        &ToolError::Timeout { limit_ms: 1500 }
    );
    assert_eq!(
        ok(&run_in(&sandbox, &store, "() => 1", json!({}), limits_ms(100)).await),
        &json!(1)
    );
}
