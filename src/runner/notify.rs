//! Cross-instance signals over PostgreSQL `LISTEN`/`NOTIFY` (one channel, [`CHANNEL`]).
//!
//! Every instance relays what its hub publishes as small JSON payloads: `{executionId, from,
//! seq}` when events were stored (never the events themselves: a listener re-reads the rows,
//! once per instance, and only for executions someone watches there), the text deltas
//! themselves (cut to stay far below PostgreSQL's 8000-byte limit), `{executionId, changed}`
//! when a run should look at its row again (cancel requested; the owner applies it at once),
//! and `{queued}` when a run was queued (peers' dispatchers wake instead of waiting for their
//! next poll). A publisher task coalesces what queued up (consecutive stored ranges of one
//! execution become one signal) and sends it in one statement, outside the run's commit path.
//!
//! Nothing is lost if a notification is: watchers of a run that is not executing here re-read
//! the database every second, and the heartbeat applies cancellation requests. SQLite (one
//! instance) has no relay.

use std::sync::Arc;

use sea_orm::sqlx::Connection as _;
use sea_orm::sqlx::postgres::{PgConnection, PgListener, PgPool, PgPoolOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Core;
use super::event::StreamItem;
use crate::db;

/// The PostgreSQL channel every instance listens on.
pub const CHANNEL: &str = "aladdin_executions";

/// Most bytes of text delta in one notification (JSON escaping can grow it up to six times;
/// PostgreSQL refuses payloads of 8000 bytes or more).
const MAX_DELTA_BYTES: usize = 1000;

/// Most signals coalesced into one statement.
const MAX_BATCH: usize = 1000;

/// Something other instances should know.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Signal {
    /// Events of execution `id` up to `seq` are stored.
    Stored { id: i32, seq: i64 },
    /// A live text delta of execution `id`.
    Delta { id: i32, text: String },
    /// Execution `id` should look at its row again (cancel requested).
    Changed(i32),
    /// A run was queued.
    Queued,
}

/// The JSON payload of one notification.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    /// The sending instance (it ignores its own notifications).
    o: String,
    /// A counter: PostgreSQL folds identical payloads sent in one transaction into one.
    n: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution_id: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    changed: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    queued: bool,
}

/// Starts relaying this instance's hub to the others and listening to theirs (PostgreSQL
/// only; nothing on SQLite).
pub(crate) fn spawn(core: &Arc<Core>) -> Vec<JoinHandle<()>> {
    let Some(pool) = pg_pool(core) else {
        return Vec::new();
    };
    let (tx, rx) = mpsc::unbounded_channel();
    core.hub.relay_to(tx);
    vec![
        tokio::spawn(publish(
            pool.clone(),
            core.instance_id.clone(),
            rx,
            core.halt.clone(),
        )),
        tokio::spawn(listen(core.clone(), pool)),
    ]
}

fn pg_pool(core: &Core) -> Option<PgPool> {
    if !db::is_postgres(&core.db) {
        return None;
    }
    Some(core.db.get_postgres_connection_pool().clone())
}

/// Sends the queued signals, coalesced, until the runner halts (what is queued then is still
/// sent). Over a connection of its own, outside the pool: when every pooled connection is
/// busy with runs' writes, signals do not queue behind them (the pool is the fallback while
/// the own connection cannot be opened).
async fn publish(
    pool: PgPool,
    instance: String,
    mut rx: mpsc::UnboundedReceiver<Signal>,
    halt: CancellationToken,
) {
    let mut counter = 0_u64;
    let mut own: Option<PgConnection> = None;
    loop {
        let first = tokio::select! {
            biased;
            signal = rx.recv() => signal,
            () = halt.cancelled() => rx.try_recv().ok(),
        };
        let Some(first) = first else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(signal) => batch.push(signal),
                Err(_) => break,
            }
        }
        let payloads: Vec<String> = coalesce(batch)
            .into_iter()
            .filter_map(|mut p| {
                counter += 1;
                p.o.clone_from(&instance);
                p.n = counter;
                serde_json::to_string(&p).ok()
            })
            .collect();
        // unnest yields its rows in order, so one execution's notifications keep theirs.
        if own.is_none() {
            own = PgConnection::connect_with(&pool.connect_options())
                .await
                .ok();
        }
        let notify = sea_orm::sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(CHANNEL)
            .bind(&payloads);
        let sent = match own.as_mut() {
            Some(conn) => notify.execute(conn).await,
            None => notify.execute(&pool).await,
        };
        if let Err(e) = sent {
            // Opened again for the next signals.
            own = None;
            tracing::warn!(error = %e, signals = payloads.len(), "could not notify the other instances");
        }
    }
}

/// Merges consecutive stored ranges and deltas of one execution, keeping each execution's
/// order; one `queued` at most.
fn coalesce(batch: Vec<Signal>) -> Vec<Payload> {
    let mut out: Vec<Payload> = Vec::new();
    let mut queued = false;
    for signal in batch {
        match signal {
            Signal::Stored { id, seq } => {
                match out.iter_mut().rev().find(|p| p.execution_id == Some(id)) {
                    Some(p) if p.seq.is_some() => {
                        p.seq = p.seq.max(Some(seq));
                        p.from = p.from.min(Some(seq));
                    }
                    _ => out.push(Payload {
                        execution_id: Some(id),
                        from: Some(seq),
                        seq: Some(seq),
                        ..Payload::default()
                    }),
                }
            }
            Signal::Delta { id, text } => {
                for piece in pieces(&text) {
                    match out.iter_mut().rev().find(|p| p.execution_id == Some(id)) {
                        Some(p)
                            if p.delta
                                .as_ref()
                                .is_some_and(|d| d.len() + piece.len() <= MAX_DELTA_BYTES) =>
                        {
                            if let Some(d) = p.delta.as_mut() {
                                d.push_str(piece);
                            }
                        }
                        _ => out.push(Payload {
                            execution_id: Some(id),
                            delta: Some(piece.to_owned()),
                            ..Payload::default()
                        }),
                    }
                }
            }
            Signal::Changed(id) => out.push(Payload {
                execution_id: Some(id),
                changed: true,
                ..Payload::default()
            }),
            Signal::Queued if !queued => {
                queued = true;
                out.push(Payload {
                    queued: true,
                    ..Payload::default()
                });
            }
            Signal::Queued => {}
        }
    }
    out
}

/// `text` cut into pieces of at most [`MAX_DELTA_BYTES`], on character boundaries.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > MAX_DELTA_BYTES {
        let mut cut = MAX_DELTA_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// Listens to the other instances until the runner halts, reconnecting after a failure.
async fn listen(core: Arc<Core>, pool: PgPool) {
    let rereads = Rereads::default();
    loop {
        let listener = tokio::select! {
            l = subscribe(&pool) => l,
            () = core.halt.cancelled() => return,
        };
        let mut listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for the other instances' signals");
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                    () = core.halt.cancelled() => return,
                }
            }
        };
        loop {
            let received = tokio::select! {
                n = listener.recv() => n,
                () = core.halt.cancelled() => return,
            };
            match received {
                Ok(n) => {
                    if let Ok(payload) = serde_json::from_str::<Payload>(n.payload())
                        && payload.o != core.instance_id
                    {
                        apply(&core, &rereads, payload).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection listening for the other instances");
                    break;
                }
            }
        }
    }
}

/// A listener on a connection of its own: a listening connection is held for good, so taking
/// it from the shared pool would leave one connection fewer than the operator configured.
async fn subscribe(pool: &PgPool) -> Result<PgListener, sea_orm::sqlx::Error> {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .connect_lazy_with(pool.connect_options().as_ref().clone());
    let mut listener = PgListener::connect_with(&own).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Acts on another instance's signal. Never waits for a read of stored events: those run
/// beside the listener (one at a time per execution), so a signal is never held up behind
/// the reads the signals before it asked for.
async fn apply(core: &Arc<Core>, rereads: &Rereads, payload: Payload) {
    if payload.queued && !core.options.only_own_runs {
        core.wake.notify_one();
    }
    let Some(id) = payload.execution_id else {
        return;
    };
    if payload.changed {
        if core.is_running_here(id) {
            super::lease::apply_cancel_requests(core).await;
        }
        return;
    }
    if let Some(text) = payload.delta {
        core.hub.deliver_delta(id, &text);
        return;
    }
    let (Some(from), Some(_)) = (payload.from, payload.seq) else {
        return;
    };
    if core.hub.watcher_count(id) == 0 {
        return;
    }
    rereads.want(core, id, from - 1);
}

/// The reads of stored events under way, per execution: `true` when a signal came while one
/// was under way (it reads again when done, after the last event it got).
#[derive(Clone, Default)]
struct Rereads(Arc<std::sync::Mutex<std::collections::HashMap<i32, bool>>>);

impl Rereads {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i32, bool>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Delivers execution `id`'s events after `after` to its watchers here: reads them now, or
    /// once more after the read under way for it (in order, and never one twice).
    fn want(&self, core: &Arc<Core>, id: i32, after: i64) {
        {
            let mut reads = self.lock();
            if let Some(again) = reads.get_mut(&id) {
                *again = true;
                return;
            }
            reads.insert(id, false);
        }
        let (core, reads) = (core.clone(), self.clone());
        tokio::spawn(async move {
            let mut after = after;
            loop {
                match db::executions::events_after(&core.db, id, after).await {
                    Ok(rows) => {
                        for row in &rows {
                            after = after.max(row.seq);
                            core.hub.deliver(id, StreamItem::from_row(row));
                        }
                    }
                    Err(e) => {
                        tracing::warn!(run.id = id, error = %e, "could not read the events another instance stored");
                    }
                }
                // Signals that came meanwhile name events this read may have missed: read
                // again, after the last one delivered.
                let mut pending = reads.lock();
                if !pending.get_mut(&id).is_some_and(std::mem::take) {
                    pending.remove(&id);
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_ranges_merge_per_execution_and_deltas_keep_their_order() {
        let batch = vec![
            Signal::Stored { id: 1, seq: 3 },
            Signal::Stored { id: 2, seq: 1 },
            Signal::Stored { id: 1, seq: 4 },
            Signal::Delta {
                id: 1,
                text: "he".into(),
            },
            Signal::Delta {
                id: 1,
                text: "llo".into(),
            },
            Signal::Stored { id: 1, seq: 5 },
            Signal::Queued,
            Signal::Queued,
        ];
        let out = coalesce(batch);
        let shape: Vec<_> = out
            .iter()
            .map(|p| (p.execution_id, p.from, p.seq, p.delta.clone(), p.queued))
            .collect();
        assert_eq!(
            shape,
            vec![
                (Some(1), Some(3), Some(4), None, false),
                (Some(2), Some(1), Some(1), None, false),
                (Some(1), None, None, Some("hello".into()), false),
                (Some(1), Some(5), Some(5), None, false),
                (None, None, None, None, true),
            ]
        );
    }

    #[test]
    fn long_deltas_are_cut_on_character_boundaries_below_the_limit() {
        let text = "é".repeat(1500);
        let parts = pieces(&text);
        assert!(parts.iter().all(|p| p.len() <= MAX_DELTA_BYTES));
        assert_eq!(parts.concat(), text);
        let out = coalesce(vec![Signal::Delta { id: 9, text }]);
        assert!(out.len() >= 3);
        for p in out {
            let json = serde_json::to_string(&p).expect("json");
            assert!(json.len() < 8000, "{}", json.len());
        }
    }
}
