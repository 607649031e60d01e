//! Several real `aladdin` processes on one fresh PostgreSQL database, each on its own port,
//! with the fake provider in the test process.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aladdin::testing::fake_llm::FakeLlm;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};

use crate::helpers::{DbGuard, fresh_database};

/// One cluster at a time: three processes per test are load enough for a CI machine, and the
/// tests measure latencies.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "correct horse battery";

/// The PostgreSQL server of the tests, or None (then the suite prints a notice and passes).
pub fn postgres() -> Option<String> {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => Some(url),
        _ => {
            eprintln!("scale tests skipped: they need PostgreSQL (set TEST_DATABASE_URL)");
            None
        }
    }
}

/// The binary the instances run: `ALADDIN_BIN` (CI sets it to the release build), else the
/// build cargo made for the tests.
fn binary() -> PathBuf {
    std::env::var_os("ALADDIN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_aladdin")))
}

/// One `aladdin serve` process.
pub struct Instance {
    /// Its name (`INSTANCE_NAME`, and `aladdin-<name>` as PostgreSQL `application_name`).
    pub name: String,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A login token (valid on every instance: they share the signing key).
    pub token: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Instance {
    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM and waits (up to `patience`) for the exit; returns whether it exited 0.
    pub fn terminate(&mut self, patience: Duration) -> Option<bool> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let until = Instant::now() + patience;
        while Instant::now() < until {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// The prefix of its lease owner.
    pub fn owner_prefix(&self) -> String {
        format!("server-{}-", self.name)
    }

    /// What it logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// POST a JSON body with its token.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let reply = reqwest::Client::new()
            .post(format!("{}{path}", self.address))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request sent");
        let status = reply.status().as_u16();
        (status, reply.json().await.unwrap_or(Value::Null))
    }

    /// Queues a run of the demo agent; returns its id.
    pub async fn execute(&self, project: i64, prompt: &str) -> i32 {
        let (status, body) = self
            .post(
                "/api/agents/video-head-001/execute",
                json!({"prompt": prompt, "projectId": project}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        i32::try_from(body["doc"]["id"].as_i64().expect("id")).expect("id")
    }

    /// The raw SSE transcript of a run's events, read until the stream ends.
    pub async fn events_transcript(&self, id: i32, patience: Duration) -> String {
        let mut reply = reqwest::Client::new()
            .get(format!("{}/api/agent-executions/{id}/events", self.address))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("events requested");
        assert_eq!(reply.status(), 200);
        let mut text = String::new();
        let until = tokio::time::Instant::now() + patience;
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(until, reply.chunk()).await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Instances over one database, and the fake provider they call.
pub struct Cluster {
    /// The instances, in start order.
    pub instances: Vec<Instance>,
    /// The fake provider.
    pub fake: FakeLlm,
    /// The test's own connection to the database.
    pub db: DatabaseConnection,
    /// The database URL (without an application name).
    pub url: String,
    /// A project of the demo data.
    pub project: i64,
    vars: HashMap<String, String>,
    dir: PathBuf,
    _guard: DbGuard,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Cluster {
    /// Starts `names.len()` instances with the extra variables `vars`, one after the other
    /// (the first one migrates and seeds).
    pub async fn start(names: &[&str], vars: &[(&str, &str)], fake: FakeLlm) -> Cluster {
        let turn = ONE_AT_A_TIME.lock().await;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (url, guard) = fresh_database().await;
        let dir = std::env::temp_dir().join(format!("aladdin-scale-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("log dir");
        let mut all: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        all.insert("OPENROUTER_BASE_URL".into(), fake.openai_base());
        all.insert("OPENROUTER_API_KEY".into(), "sk-or-test".into());
        let mut cluster = Cluster {
            instances: Vec::new(),
            db: Database::connect(&url).await.expect("test connection"),
            fake,
            url,
            project: 0,
            vars: all,
            dir,
            _guard: guard,
            _turn: turn,
        };
        for name in names {
            cluster.spawn(name).await;
        }
        // The demo budgets hold worst-case reservations for every call in flight; hundreds of
        // concurrent runs would pause on them by design, which is not what these tests prove.
        cluster
            .db
            .execute_raw(Statement::from_string(
                cluster.db.get_database_backend(),
                "UPDATE budgets SET is_active = false",
            ))
            .await
            .expect("demo budgets off");
        let row = cluster
            .db
            .query_one_raw(Statement::from_string(
                cluster.db.get_database_backend(),
                "SELECT id FROM projects ORDER BY id LIMIT 1",
            ))
            .await
            .expect("projects read")
            .expect("a demo project");
        cluster.project = i64::from(row.try_get::<i32>("", "id").expect("id"));
        cluster
    }

    /// Starts one more instance and waits until it answers.
    pub async fn spawn(&mut self, name: &str) -> &Instance {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = self.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .env(
                "DATABASE_URL",
                format!("{}?application_name=aladdin-{name}", self.url),
            )
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("INSTANCE_NAME", name)
            .env("SECRET_KEY", "k".repeat(48))
            .env("ADMIN_EMAIL", EMAIL)
            .env("ADMIN_PASSWORD", PASSWORD)
            .env("SEED_DEMO", "true")
            .env("DATABASE_MAX_CONNECTIONS", "20")
            .env("RUST_LOG", "warn")
            .envs(&self.vars)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        let child = command.spawn().expect("the aladdin binary starts");
        let address = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let up = client
                .get(format!("{address}/healthz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                break;
            }
            assert!(
                Instant::now() < until,
                "instance {name} did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let reply = client
            .post(format!("{address}/api/users/login"))
            .json(&json!({"email": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .expect("login sent");
        let body: Value = reply.json().await.expect("login answer");
        let token = body["token"].as_str().expect("a token").to_owned();
        self.instances.push(Instance {
            name: name.to_owned(),
            address,
            token,
            child: Some(child),
            log,
        });
        self.instances.last().expect("just pushed")
    }

    /// Waits until every run in `ids` has one of `statuses`; panics after `patience`.
    pub async fn wait_for(&self, ids: &[i32], statuses: &[&str], patience: Duration) {
        let until = Instant::now() + patience;
        loop {
            let rows = self.rows(ids).await;
            let left: Vec<_> = rows
                .iter()
                .filter(|(_, status, _, _)| !statuses.contains(&status.as_str()))
                .collect();
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < until,
                "{} runs are not {statuses:?} yet, e.g. {:?}\n{}",
                left.len(),
                left.first(),
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The end of every instance's log.
    pub fn logs(&self) -> String {
        self.instances
            .iter()
            .map(|i| {
                let log = i.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!("--- {}:\n{}", i.name, tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `(id, status, lease_owner, error_code)` of each run in `ids`.
    pub async fn rows(&self, ids: &[i32]) -> Vec<(i32, String, Option<String>, Option<String>)> {
        let list = ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                self.db.get_database_backend(),
                format!(
                    "SELECT id, status, lease_owner, error_code FROM agent_executions \
                     WHERE id IN ({list}) ORDER BY id"
                ),
            ))
            .await
            .expect("executions read");
        rows.iter()
            .map(|r| {
                (
                    r.try_get("", "id").expect("id"),
                    r.try_get("", "status").expect("status"),
                    r.try_get("", "lease_owner").expect("owner"),
                    r.try_get("", "error_code").expect("code"),
                )
            })
            .collect()
    }

    /// The event seqs and types of a run, in order.
    pub async fn events(&self, id: i32) -> Vec<(i64, String)> {
        aladdin::db::executions::events_after(&self.db, id, 0)
            .await
            .expect("events read")
            .into_iter()
            .map(|e| (e.seq, e.r#type))
            .collect()
    }

    /// Provider requests whose body mentions `needle`.
    pub fn requests_mentioning(&self, needle: &str) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.to_string().contains(needle))
            .count()
    }

    /// Cuts instance `name` off the database: terminates its connections again and again for
    /// `during`.
    pub async fn cut_off(&self, name: &str, during: Duration) {
        let until = Instant::now() + during;
        let sql = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'aladdin-{name}'"
        );
        while Instant::now() < until {
            let _ = self
                .db
                .execute_raw(Statement::from_string(
                    self.db.get_database_backend(),
                    sql.clone(),
                ))
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The instance named `name`.
    pub fn instance(&mut self, name: &str) -> &mut Instance {
        self.instances
            .iter_mut()
            .find(|i| i.name == name)
            .expect("a known instance")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            instance.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Asserts that a run's events are numbered 1..=n without a gap or a repeat, and end with
/// exactly one terminal `status` event.
pub fn assert_one_gapless_log(id: i32, events: &[(i64, String)]) {
    let seqs: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
    let expected: Vec<i64> = (1..=i64::try_from(events.len()).expect("len")).collect();
    assert_eq!(seqs, expected, "run {id}: seqs {seqs:?}");
    let finishes = events.iter().filter(|(_, t)| t == "finish").count();
    assert!(finishes >= 1, "run {id} has no finish event: {events:?}");
}
