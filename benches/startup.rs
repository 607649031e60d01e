//! Cold start and idle memory of the release binary on an existing SQLite database.
//!
//! `cargo bench --bench startup` — spawns `aladdin serve` ten times, timing process spawn to
//! the first `GET /healthz` 200, then reads the resident set size of an idle server after 2 s.
//! Targets: start ≤ 100 ms, idle RSS ≤ 30 MB.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const RUNS: usize = 10;

fn main() {
    let bin = env!("CARGO_BIN_EXE_aladdin");
    let dir = std::env::temp_dir().join(format!("aladdin-bench-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let url = format!("sqlite://{}/aladdin.db?mode=rwc", dir.display());

    // An existing database: migrated and seeded once, outside the measurement.
    let status = Command::new(bin)
        .arg("seed")
        .env("DATABASE_URL", &url)
        .stdout(Stdio::null())
        .status()
        .expect("seed runs");
    assert!(status.success(), "seeding failed");

    let mut starts = Vec::new();
    let mut rss = Vec::new();
    for run in 0..RUNS {
        let port = free_port();
        let began = Instant::now();
        let mut child = spawn(bin, &url, port);
        wait_healthy(port, &mut child);
        starts.push(began.elapsed());
        if run < 3 {
            std::thread::sleep(Duration::from_secs(2));
            rss.push(resident_kib(child.id()));
        }
        stop(child);
    }
    starts.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "cold start to first /healthz 200 over {RUNS} runs: median {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(starts[RUNS / 2]),
        ms(starts[0]),
        ms(starts[RUNS - 1])
    );
    rss.sort();
    println!(
        "idle resident memory after 2 s: median {:.1} MiB (samples {:?} KiB)",
        rss[rss.len() / 2] as f64 / 1024.0,
        rss
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn spawn(bin: &str, url: &str, port: u16) -> Child {
    Command::new(bin)
        .arg("serve")
        .env("DATABASE_URL", url)
        .env("BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts")
}

fn wait_healthy(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    panic!("server not healthy after 20 s");
}

fn resident_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}
