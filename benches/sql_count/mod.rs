//! Counts the SQL statements the application sends: every statement is a DEBUG event of
//! `sqlx::query`; this layer counts them while counting is on, and costs one check otherwise.
//! BEGIN and COMMIT are not statements sqlx logs, so transactions are not counted here.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};

static COUNTING: AtomicBool = AtomicBool::new(false);
static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static PRINT: AtomicBool = AtomicBool::new(false);

struct Count;

impl<S: Subscriber> Layer<S> for Count {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.target() == "sqlx::query" {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>, _: Context<'_, S>) -> bool {
        meta.target() == "sqlx::query" && COUNTING.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        if PRINT.load(Ordering::Relaxed) {
            let mut text = String::new();
            event.record(
                &mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                    if field.name() == "db.statement" || field.name() == "summary" {
                        text.push_str(&format!("{value:?} "));
                    }
                },
            );
            eprintln!("SQL {}", text.chars().take(160).collect::<String>());
        }
    }
}

/// Installs the counter (once, before anything connects).
pub fn install() {
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Count));
    PRINT.store(
        std::env::var_os("BENCH_PRINT_SQL").is_some(),
        Ordering::Relaxed,
    );
}

/// Statements sent while `work` runs (counting is off outside it, so timed runs are not
/// disturbed).
pub async fn statements<T>(work: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = STATEMENTS.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let out = work.await;
    COUNTING.store(false, Ordering::Relaxed);
    (out, STATEMENTS.load(Ordering::Relaxed) - before)
}
