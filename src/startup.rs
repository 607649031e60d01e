//! Building the application: database, migrations, first-start data, HTTP server.
//! `main` and the tests call the same [`Application::build`].

use std::{net::TcpListener, sync::Arc};

use actix_web::{App, HttpServer, dev::Server, web::Data};
use anyhow::Context as _;
use migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;
use tracing_actix_web::TracingLogger;

use crate::{
    auth::rate_limit::LoginLimiter,
    bootstrap,
    config::Settings,
    db,
    runner::{Runner, RunnerOptions},
    state::AppState,
    web,
};

/// A built, not yet running, server.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

impl Application {
    /// Binds the listener (`BIND` with port 0 picks a free port, as tests do), then connects,
    /// migrates and prepares first-start data. The listener comes first so that an address
    /// in use stops the start before the database is touched.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
        let port = listener.local_addr()?.port();
        let db = connect_and_migrate(&settings).await?;
        bootstrap::prepare(&db, &settings).await?;
        let cookie_key = web::session::cookie_key(&db, settings.auth.secret_key.as_ref()).await?;
        let settings = Arc::new(settings);
        let runner = start_runner(&db, &settings).await?;
        let login_limiter = Arc::new(LoginLimiter::shared(db.clone()));
        let state = AppState {
            db,
            settings,
            cookie_key,
            login_limiter,
            runner,
            api: Default::default(),
        };
        let server = serve(listener, state.clone())?;
        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (tests use its database handle).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT/SIGTERM, then drains: the runner stops claiming and lets its runs
    /// finish for `RUNNER_DRAIN_TIMEOUT_MS` (handing back the rest), then the server stops
    /// accepting and finishes in-flight requests, then the queued trace spans are exported.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown_signal().await;
        tracing::info!("shutdown requested; draining runs and in-flight requests");
        // The runs drain first while the server still answers (new runs are refused): database
        // connections opened by request handlers belong to the server's worker runtimes, which
        // end with the server, and a run still writing through one would fail.
        self.state.runner.clone().shutdown().await;
        handle.stop(true).await;
        let served = server.await.map_err(std::io::Error::other);
        // The last spans (the drained runs', the last requests') go out before the exit.
        self.state.runner.traces().shutdown().await;
        tracing::info!("runner and server stopped");
        served?
    }

    /// Serves until the server is stopped or dropped, without handling signals (tests).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Builds the runner, fails the executions a dead process left running, and starts the
/// workers.
async fn start_runner(
    db: &DatabaseConnection,
    settings: &Arc<Settings>,
) -> anyhow::Result<Arc<Runner>> {
    let runner = Runner::new(
        db.clone(),
        settings.clone(),
        RunnerOptions::from_settings(settings),
    )
    .await
    .context("cannot build the runner")?;
    let recovered = runner
        .recover_interrupted()
        .await
        .context("cannot recover interrupted executions")?;
    if recovered > 0 {
        tracing::warn!(
            recovered,
            "executions left running by a previous process were marked failed"
        );
    }
    runner.start();
    tokio::spawn(crate::runner::evals::sweep(db.clone()));
    tracing::info!(providers = ?runner.providers(), "runner started");
    Ok(Arc::new(runner))
}

/// Connects to the database and applies every pending migration.
pub async fn connect_and_migrate(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let db = db::connect(&settings.database.url, settings.database.max_connections).await?;
    Migrator::up(&db, None)
        .await
        .context("cannot apply the database migrations")?;
    Ok(db)
}

fn serve(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    let data = Data::new(state.clone());
    let workers = state.settings.server.workers;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(
                crate::web::request_metrics::track_requests,
            ))
            .wrap(actix_web::middleware::from_fn(
                crate::web::traces::trace_requests,
            ))
            .wrap(TracingLogger::default())
            .app_data(data.clone())
            .configure(|cfg| web::configure(cfg, &state))
    })
    .workers(workers)
    // Live streams write small frames one after another: without it, each waits for the
    // client to acknowledge the one before (Nagle), up to its delayed-ACK timer (40 ms).
    .tcp_nodelay(true)
    .disable_signals()
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
