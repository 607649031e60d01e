//! Load test of the JSON API's hottest read: `GET /api/agents?limit=10` on SQLite with the
//! demo data, authenticated with an API key, from N concurrent keep-alive connections over
//! loopback for a fixed time. Prints requests/s and latency percentiles.
//!
//! The load comes from a lean HTTP/1.1 client in the manner of `wrk`: each connection writes
//! the same request, reads the status line and headers, then exactly `Content-Length` bytes
//! of body; anything but a complete 200 counts as an error. The client shares the two cores
//! with the server, so it must cost as little as possible (a full client such as reqwest
//! takes about an eighth of the machine here). The first response is checked in full with
//! reqwest: status and a non-empty list envelope.
//!
//! `cargo bench --bench api_list` (release build). Knobs: `BENCH_SECONDS` (10),
//! `BENCH_CONNECTIONS` (64), `BENCH_PATH` (`/api/agents?limit=10`), `BENCH_CLIENT_THREADS` (1);
//! server settings such as `DATABASE_MAX_CONNECTIONS` or `HTTP_WORKERS` from the environment.
//! Targets on 2 cores: ≥ 5,000 requests/s, p99 ≤ 20 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aladdin::auth::tokens;
use aladdin::config::Settings;
use aladdin::domain::users::Role;
use aladdin::startup::Application;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
        // Any other server setting (DATABASE_MAX_CONNECTIONS, …) comes from the environment.
        let settings = Settings::from_lookup(|k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| std::env::var(k).ok())
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
    let host = address.trim_start_matches("http://").to_owned();
    let result = client_rt.block_on(async move {
        let auth = format!("users API-Key {key}");
        // Check once, and warm up.
        let probe = reqwest::Client::new()
            .get(&url)
            .header("Authorization", &auth)
            .send()
            .await?;
        anyhow::ensure!(probe.status() == 200, "probe answered {}", probe.status());
        let body = probe.bytes().await?;
        let doc: serde_json::Value = serde_json::from_slice(&body)?;
        anyhow::ensure!(
            doc["docs"].as_array().is_some_and(|d| !d.is_empty()) && doc["totalDocs"].is_u64(),
            "probe answered an unexpected body: {doc}"
        );
        println!("GET {path}: 200, {} bytes per response", body.len());
        let request = Arc::new(
            format!(
                "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nAccept: application/json\r\n\r\n"
            )
            .into_bytes(),
        );
        run(&host, &request, connections, Duration::from_secs(1)).await?;
        run(&host, &request, connections, Duration::from_secs(seconds)).await
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
    host: &str,
    request: &Arc<Vec<u8>>,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Outcome> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (host, request, stop) = (host.to_owned(), request.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(4096);
            let mut errors = 0usize;
            let mut connection: Option<Connection> = None;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let conn = match connection.as_mut() {
                    Some(conn) => conn,
                    None => match TcpStream::connect(&host).await {
                        Ok(stream) => {
                            let _ = stream.set_nodelay(true);
                            connection.insert(Connection::new(stream))
                        }
                        Err(_) => {
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                };
                match conn.exchange(&request).await {
                    Ok(200) => latencies.push(t.elapsed()),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        connection = None;
                    }
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

/// One keep-alive HTTP/1.1 connection of the load client.
struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Connection {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Sends the request and reads one whole response; returns its status.
    async fn exchange(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.write_all(request).await?;
        self.buf.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(invalid)?;
        let status = head
            .get(9..12)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| invalid("no status line"))?;
        let length = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .ok_or_else(|| invalid("no Content-Length"))?;
        while self.buf.len() < head_end + length {
            self.fill().await?;
        }
        if self.buf.len() != head_end + length {
            return Err(invalid("more bytes than one response"));
        }
        Ok(status)
    }

    async fn fill(&mut self) -> std::io::Result<()> {
        self.buf.reserve(64 * 1024);
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn invalid(what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}
