//! Scale-out, proven: real `aladdin` processes sharing one PostgreSQL database (claims,
//! cross-instance event fan-out and cancel, crash and cut-off recovery, drain). On SQLite (one
//! instance by design) each test prints a notice and passes.

mod cluster;

use std::time::{Duration, Instant};

use aladdin::testing::fake_llm::{FakeLlm, Reply};
use serde_json::json;

use cluster::{Cluster, assert_one_gapless_log, postgres};

const PATIENCE: Duration = Duration::from_secs(120);

fn job(i: usize) -> String {
    format!("job-{i:04}.")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_claim_each_of_300_runs_exactly_once() {
    if postgres().is_none() {
        return;
    }
    // Arrange
    let fake = FakeLlm::start().await;
    for i in 0..300 {
        fake.push_for(job(i), Reply::text(format!("done {i}")));
    }
    let cluster = Cluster::start(&["a", "b", "c"], &[], fake).await;

    // Act: submitted round-robin, 30 at a time
    let mut ids = Vec::new();
    for chunk in (0..300).collect::<Vec<_>>().chunks(30) {
        let sends = chunk.iter().map(|&i| {
            let instance = &cluster.instances[i % 3];
            let prompt = format!("Plan {}", job(i));
            async move { instance.execute(cluster.project, &prompt).await }
        });
        ids.extend(futures_util::future::join_all(sends).await);
    }
    cluster.wait_for(&ids, &["completed"], PATIENCE).await;

    // Assert: one provider request per run, its own answer, a gapless log, several claimers
    for i in 0..300 {
        assert_eq!(cluster.requests_mentioning(&job(i)), 1, "{}", job(i));
    }
    let rows = cluster.rows(&ids).await;
    let mut owners = std::collections::HashSet::new();
    for (id, _, owner, _) in &rows {
        let owner = owner.clone().expect("an owner");
        owners.insert(owner.split('-').nth(1).unwrap_or_default().to_owned());
        assert_one_gapless_log(*id, &cluster.events(*id).await);
    }
    assert!(owners.len() >= 2, "only {owners:?} claimed runs");
    for (i, id) in ids.iter().enumerate() {
        let row = aladdin::db::executions::find_by_id(&cluster.db, *id)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(
            row.output_text.as_deref(),
            Some(format!("done {i}").as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_watcher_on_another_instance_receives_every_event_and_the_text_deltas_live() {
    if postgres().is_none() {
        return;
    }
    // Arrange: the answer comes in 12 chunks after 1.5 s
    let fake = FakeLlm::start().await;
    let text = "The quick brown fox jumps over the lazy dog, twelve times over.";
    fake.push_for(
        "watch-me",
        Reply::text_in_chunks(text, 12).delayed(Duration::from_millis(1500)),
    );
    let cluster = Cluster::start(&["a", "b"], &[], fake).await;
    let id = cluster.instances[0]
        .execute(cluster.project, "watch-me please")
        .await;
    cluster.wait_for(&[id], &["running"], PATIENCE).await;
    let owner = cluster.rows(&[id]).await[0].2.clone().expect("owner");
    let watcher = cluster
        .instances
        .iter()
        .find(|i| !owner.starts_with(&i.owner_prefix()))
        .expect("an instance not running it");

    // Act
    let transcript = watcher.events_transcript(id, PATIENCE).await;

    // Assert: every stored event once, in order, and the deltas adding up to the text
    let stored = cluster.events(id).await;
    assert_one_gapless_log(id, &stored);
    let ids: Vec<i64> = transcript
        .lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let expected: Vec<i64> = stored.iter().map(|(s, _)| *s).collect();
    assert_eq!(ids, expected, "{transcript}");
    let deltas: String = transcript
        .split("\n\n")
        .filter(|block| block.contains("event: text_delta"))
        .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(deltas, text, "{transcript}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_sent_to_another_instance_stops_the_run_at_once() {
    if postgres().is_none() {
        return;
    }
    // Arrange: a run that waits 60 s for its model; heartbeats only every 5 s
    let fake = FakeLlm::start().await;
    fake.push_for(
        "cancel-me",
        Reply::text("too late").delayed(Duration::from_secs(60)),
    );
    let cluster = Cluster::start(&["a", "b", "c"], &[], fake).await;
    let id = cluster.instances[0]
        .execute(cluster.project, "cancel-me now")
        .await;
    cluster.wait_for(&[id], &["running"], PATIENCE).await;
    let owner = cluster.rows(&[id]).await[0].2.clone().expect("owner");
    let other = cluster
        .instances
        .iter()
        .find(|i| !owner.starts_with(&i.owner_prefix()))
        .expect("an instance not running it");

    // Act
    let asked = Instant::now();
    let (status, body) = other
        .post(&format!("/api/agent-executions/{id}/cancel"), json!({}))
        .await;
    assert!(status < 300, "{status} {body}");
    cluster
        .wait_for(&[id], &["cancelled"], Duration::from_secs(2))
        .await;

    // Assert: well before a heartbeat could have done it
    assert!(asked.elapsed() < Duration::from_secs(2));
    let events = cluster.events(id).await;
    assert_one_gapless_log(id, &events);
    assert!(!events.iter().any(|(_, t)| t == "text"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_runs_of_a_killed_instance_are_resumed_by_the_others_within_the_ttl() {
    if postgres().is_none() {
        return;
    }
    // Arrange: 50 runs whose first answer takes 6 s; leases of 3 s; resumption on
    let fake = FakeLlm::start().await;
    for i in 0..50 {
        // The killed instance consumes the first reply; the one that resumes the run, the second.
        fake.push_for(
            job(i),
            Reply::text(format!("first {i}")).delayed(Duration::from_secs(6)),
        );
        fake.push_for(job(i), Reply::text(format!("done {i}")));
    }
    let vars = [
        ("RUNNER_LEASE_TTL_MS", "3000"),
        ("RUNNER_RESUME_INTERRUPTED", "true"),
        ("RUNNER_CONCURRENCY", "64"),
    ];
    let mut cluster = Cluster::start(&["a", "b", "c"], &vars, fake).await;
    let mut ids = Vec::new();
    for i in 0..50 {
        let prompt = format!("Plan {}", job(i));
        ids.push(
            cluster.instances[i % 3]
                .execute(cluster.project, &prompt)
                .await,
        );
    }
    cluster
        .wait_for(&ids, &["running", "completed"], PATIENCE)
        .await;
    // Every run's first request has reached the provider (a run claimed but not yet asking
    // would take the slow first reply after its resumption, and the test would measure that).
    let asked = Instant::now() + PATIENCE;
    while (0..50).any(|i| cluster.requests_mentioning(&job(i)) == 0) {
        assert!(Instant::now() < asked, "not every run asked the provider");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows = cluster.rows(&ids).await;
    let victim = ["a", "b", "c"]
        .into_iter()
        .max_by_key(|name| {
            let prefix = format!("server-{name}-");
            rows.iter()
                .filter(|r| r.2.as_deref().is_some_and(|o| o.starts_with(&prefix)))
                .count()
        })
        .expect("a victim");
    let victim_runs: Vec<i32> = rows
        .iter()
        .filter(|r| r.1 == "running")
        .filter(|r| {
            r.2.as_deref()
                .is_some_and(|o| o.starts_with(&format!("server-{victim}-")))
        })
        .map(|r| r.0)
        .collect();
    assert!(!victim_runs.is_empty());

    // Act
    let killed = Instant::now();
    cluster.instance(victim).kill();
    cluster
        .wait_for(&ids, &["completed"], Duration::from_secs(3 + 5))
        .await;

    // Assert: all done within TTL + 5 s
    assert!(killed.elapsed() < Duration::from_secs(3 + 5));
    for (id, _, owner, _) in cluster.rows(&ids).await {
        assert!(
            !owner
                .unwrap_or_default()
                .starts_with(&format!("server-{victim}-")),
            "run {id} ended under the dead instance's lease"
        );
        let events = cluster.events(id).await;
        assert_one_gapless_log(id, &events);
        let resumed = events.iter().filter(|(_, t)| t == "resume").count();
        assert_eq!(
            resumed,
            usize::from(victim_runs.contains(&id)),
            "run {id}: {events:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_cut_off_from_the_database_stops_calling_the_provider() {
    if postgres().is_none() {
        return;
    }
    // Arrange: every model answer is a tool call taking 300 ms, so runs call the model again
    // and again; leases of 2 s; no resumption
    let fake = FakeLlm::start_with_latency(Duration::from_millis(300)).await;
    for i in 0..400 {
        fake.push(Reply::tool_call(
            format!("c{i}"),
            "getProjectContext",
            json!({}),
        ));
    }
    let vars = [("RUNNER_LEASE_TTL_MS", "2000"), ("AGENT_MAX_STEPS", "100")];
    let cluster = Cluster::start(&["a", "b"], &vars, fake).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let prompt = format!("Plan {}", job(i));
        ids.push(cluster.instances[0].execute(cluster.project, &prompt).await);
    }
    cluster.wait_for(&ids, &["running"], PATIENCE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let on_a: Vec<usize> = cluster
        .rows(&ids)
        .await
        .iter()
        .enumerate()
        .filter(|(_, r)| r.2.as_deref().is_some_and(|o| o.starts_with("server-a-")))
        .map(|(i, _)| i)
        .collect();
    assert!(!on_a.is_empty(), "a runs none of them");

    // Act: a loses its connections for longer than a lease
    cluster.cut_off("a", Duration::from_millis(2500)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let calls =
        |c: &Cluster| -> usize { on_a.iter().map(|&i| c.requests_mentioning(&job(i))).sum() };
    let before = calls(&cluster);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Assert: no more model calls for a's runs, which ended interrupted
    assert_eq!(calls(&cluster), before, "a kept calling the provider");
    let a_ids: Vec<i32> = on_a.iter().map(|&i| ids[i]).collect();
    cluster
        .wait_for(&a_ids, &["failed"], Duration::from_secs(10))
        .await;
    for (id, _, _, code) in cluster.rows(&a_ids).await {
        // Stopped when its lease could not be renewed (`interrupted`), or when a checkpoint
        // could not be written (`internal`), whichever came first.
        assert!(
            matches!(code.as_deref(), Some("interrupted" | "internal")),
            "run {id}: {code:?}"
        );
        assert_one_gapless_log(id, &cluster.events(id).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_finishing_short_runs_and_handing_long_ones_to_a_peer() {
    if postgres().is_none() {
        return;
    }
    // Arrange: a short run (1 s) and a long one (60 s first answer) on a; drain of 8 s
    let fake = FakeLlm::start().await;
    fake.push_for(
        "short-run",
        Reply::text("short done").delayed(Duration::from_secs(1)),
    );
    fake.push_for(
        "long-run",
        Reply::text("long first").delayed(Duration::from_secs(60)),
    );
    fake.push_for("long-run", Reply::text("long done"));
    let vars = [
        ("RUNNER_DRAIN_TIMEOUT_MS", "8000"),
        ("RUNNER_RESUME_INTERRUPTED", "true"),
    ];
    let mut cluster = Cluster::start(&["a"], &vars, fake).await;
    let a = &cluster.instances[0];
    let short = a.execute(cluster.project, "short-run").await;
    let long = a.execute(cluster.project, "long-run").await;
    cluster
        .wait_for(&[short, long], &["running"], PATIENCE)
        .await;

    // Act
    let exited = cluster.instance("a").terminate(Duration::from_secs(30));
    let log = cluster.instances[0].log();
    cluster.spawn("b").await;
    cluster
        .wait_for(&[short, long], &["completed"], PATIENCE)
        .await;

    // Assert
    assert_eq!(exited, Some(true), "a did not exit cleanly: {log}");
    assert!(!log.contains("Tokio context"), "{log}");
    let rows = cluster.rows(&[short, long]).await;
    let short_events = cluster.events(short).await;
    assert!(
        rows[0]
            .2
            .as_deref()
            .is_some_and(|o| o.starts_with("server-a-")),
        "the short run did not finish on a: {rows:?} {short_events:?}"
    );
    assert!(
        rows[1]
            .2
            .as_deref()
            .is_some_and(|o| o.starts_with("server-b-"))
    );
    for id in [short, long] {
        assert_one_gapless_log(id, &cluster.events(id).await);
    }
}
