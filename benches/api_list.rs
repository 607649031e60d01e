//! Load test of the JSON API's hottest read: `GET /api/agents?limit=10` on SQLite with the
//! demo data, authenticated with an API key, from N concurrent keep-alive connections over
//! loopback for a fixed time. Prints requests/s and latency percentiles.
//!
//! `cargo bench --bench api_list` (release build). Knobs: `BENCH_SECONDS` (10),
//! `BENCH_CONNECTIONS` (64), `BENCH_PATH` (`/api/agents?limit=10`), `BENCH_CLIENT_THREADS` (1).
//! Targets on 2 cores: ≥ 5,000 requests/s, p99 ≤ 20 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aladdin::auth::tokens;
use aladdin::config::Settings;
use aladdin::domain::users::Role;
use aladdin::startup::Application;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not use.
    let seconds: u64 = env_or("BENCH_SECONDS", 10);
    let connections: usize = env_or("BENCH_CONNECTIONS", 64);
    let client_threads: usize = env_or("BENCH_CLIENT_THREADS", 1);
    let path: String = env_or("BENCH_PATH", "/api/agents?limit=10".to_owned());

    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("aladdin-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let db_url = format!("sqlite://{}/aladdin.db?mode=rwc", dir.display());

    // The server: its own runtime and actix workers, as in production.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let (address, key) = server_rt.block_on(async {
        let vars = [
            ("DATABASE_URL", db_url.as_str()),
            ("BIND", "127.0.0.1:0"),
            ("SEED_DEMO", "true"),
        ];
        let settings = Settings::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        })?;
        let app = Application::build(settings).await?;
        let db = app.state().db.clone();
        let user = aladdin::db::users::create_with_password(
            &db,
            "bench@example.com",
            "Bench",
            Role::Viewer,
            "!".into(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let key = tokens::generate();
        aladdin::db::users::set_api_key(&db, user.id, Some(tokens::hash(&key)), true)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run());
        anyhow::Ok((address, key))
    })?;

    // The load: one keep-alive connection per task.
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .enable_all()
        .build()?;
    let url = format!("{address}{path}");
    let result = client_rt.block_on(async move {
        let auth = format!("users API-Key {key}");
        // Check once, and warm up.
        let probe = reqwest::Client::new()
            .get(&url)
            .header("Authorization", &auth)
            .send()
            .await?;
        anyhow::ensure!(probe.status() == 200, "probe answered {}", probe.status());
        let bytes = probe.bytes().await?.len();
        println!("GET {path}: 200, {bytes} bytes per response");
        run(&url, &auth, connections, Duration::from_secs(1)).await?;
        run(&url, &auth, connections, Duration::from_secs(seconds)).await
    })?;
    result.print(connections, seconds);
    drop(client_rt);
    drop(server_rt);
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

struct Outcome {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Outcome {
    fn print(mut self, connections: usize, seconds: u64) {
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        let pct = |p: f64| {
            self.latencies
                .get(((n as f64 * p) as usize).min(n.saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{connections} connections, {seconds} s: {n} requests, {} errors, {:.0} requests/s, p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            self.errors,
            n as f64 / self.elapsed.as_secs_f64(),
            ms(pct(0.50)),
            ms(pct(0.90)),
            ms(pct(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
        );
    }
}

async fn run(
    url: &str,
    auth: &str,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .http1_only()
            .build()?;
        let (url, auth, stop) = (url.to_owned(), auth.to_owned(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut errors = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match client.get(&url).header("Authorization", &auth).send().await {
                    Ok(r) if r.status() == 200 => match r.bytes().await {
                        Ok(_) => latencies.push(t.elapsed()),
                        Err(_) => errors += 1,
                    },
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcome = Outcome {
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        let (latencies, errors) = task.await?;
        outcome.latencies.extend(latencies);
        outcome.errors += errors;
    }
    outcome.elapsed = start.elapsed();
    Ok(outcome)
}
