//! The writer of one execution's event log.
//!
//! A run is the single writer of its events, so the next `seq` is kept in memory (a claimed
//! execution has none yet; the final events are numbered from `MAX(seq)` in the finishing
//! transaction). Events are handed to a write-behind task that stores whatever has queued
//! up in one multi-row INSERT and only then publishes it to the hub — never the other way
//! round, so a watcher that subscribed before reading the database cannot miss an event. Text
//! deltas travel through the same queue, so watchers see them in order with the stored events.
//! The loop does not wait for the database between model calls; [`EventLog::flush`] (called
//! before a run finishes) waits until everything is stored, and a failed write surfaces at the
//! next append.

use std::sync::{Arc, Mutex};

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{mpsc, oneshot};

use super::event::{Event, StreamItem};
use super::hub::Hub;
use crate::db::executions::{self, NewEvent};

/// Most rows in one INSERT (far below the bind-parameter limits of SQLite and PostgreSQL).
const MAX_BATCH: usize = 500;

enum Command {
    Store(Vec<StreamItem>),
    Delta(String),
    Flush(oneshot::Sender<Result<(), String>>),
}

/// The first write error, shared with the write-behind task.
type Failure = Arc<Mutex<Option<String>>>;

/// Appends events to one execution's log and broadcasts them.
pub(crate) struct EventLog {
    execution_id: i32,
    next_seq: i64,
    queue: mpsc::UnboundedSender<Command>,
    failure: Failure,
}

/// Sends live text deltas of one execution (the provider's `on_text` callback).
#[derive(Clone)]
pub(crate) struct DeltaSink(mpsc::UnboundedSender<Command>);

impl DeltaSink {
    /// Queues a delta behind the events already appended.
    pub(crate) fn send(&self, text: &str) {
        let _ = self.0.send(Command::Delta(text.to_owned()));
    }
}

impl EventLog {
    /// A writer for an execution that has no event yet: one just claimed (pending executions
    /// have none; the ones cancelled while pending are never claimed).
    pub(crate) fn fresh(write: DatabaseConnection, hub: Arc<Hub>, execution_id: i32) -> Self {
        Self::starting_at(write, hub, execution_id, 1)
    }

    /// A writer for an execution that already has events (a resumed run): numbering goes on
    /// after the last stored one.
    pub(crate) async fn continuing(
        write: DatabaseConnection,
        hub: Arc<Hub>,
        execution_id: i32,
    ) -> Result<Self, DbErr> {
        let last = executions::max_seq(&write, execution_id).await?;
        Ok(Self::starting_at(write, hub, execution_id, last + 1))
    }

    fn starting_at(
        write: DatabaseConnection,
        hub: Arc<Hub>,
        execution_id: i32,
        next_seq: i64,
    ) -> Self {
        let (queue, commands) = mpsc::unbounded_channel();
        let failure = Failure::default();
        tokio::spawn(write_behind(
            write,
            hub,
            execution_id,
            commands,
            failure.clone(),
        ));
        Self {
            execution_id,
            next_seq,
            queue,
            failure,
        }
    }

    /// The seq the next event gets.
    pub(crate) fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// The execution this log belongs to.
    pub(crate) fn execution_id(&self) -> i32 {
        self.execution_id
    }

    /// The sink for live text deltas.
    pub(crate) fn deltas(&self) -> DeltaSink {
        DeltaSink(self.queue.clone())
    }

    /// Queues one event for storing and broadcasting. Fails if an earlier write failed.
    pub(crate) fn append(&mut self, event: Event) -> Result<(), DbErr> {
        self.append_all(vec![event])
    }

    /// Queues several events, stored together.
    pub(crate) fn append_all(&mut self, events: Vec<Event>) -> Result<(), DbErr> {
        self.check()?;
        let items = events
            .into_iter()
            .map(|event| {
                let item = StreamItem::stored(self.next_seq, event);
                self.next_seq += 1;
                item
            })
            .collect();
        self.queue
            .send(Command::Store(items))
            .map_err(|_| DbErr::Custom("the event writer stopped".into()))
    }

    /// Waits until every queued event is stored and broadcast.
    pub(crate) async fn flush(&self) -> Result<(), DbErr> {
        let (ack, done) = oneshot::channel();
        self.queue
            .send(Command::Flush(ack))
            .map_err(|_| DbErr::Custom("the event writer stopped".into()))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(DbErr::Custom(message)),
            Err(_) => Err(DbErr::Custom("the event writer stopped".into())),
        }
    }

    fn check(&self) -> Result<(), DbErr> {
        match &*self.failure.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(message) => Err(DbErr::Custom(message.clone())),
            None => Ok(()),
        }
    }
}

/// Stores queued events in batches, then publishes them; publishes deltas in queue order.
async fn write_behind(
    db: DatabaseConnection,
    hub: Arc<Hub>,
    execution_id: i32,
    mut commands: mpsc::UnboundedReceiver<Command>,
    failure: Failure,
) {
    let mut batch = Vec::new();
    while let Some(first) = commands.recv().await {
        let mut next = Some(first);
        while let Some(command) = next.take().or_else(|| commands.try_recv().ok()) {
            match command {
                Command::Store(items) => batch.extend(items),
                Command::Delta(text) => {
                    store(&db, &hub, execution_id, &mut batch, &failure).await;
                    hub.publish_delta(execution_id, &text);
                }
                Command::Flush(ack) => {
                    store(&db, &hub, execution_id, &mut batch, &failure).await;
                    let failed = failure.lock().unwrap_or_else(|e| e.into_inner()).clone();
                    let _ = ack.send(failed.map_or(Ok(()), Err));
                }
            }
        }
        store(&db, &hub, execution_id, &mut batch, &failure).await;
    }
}

async fn store(
    db: &DatabaseConnection,
    hub: &Hub,
    execution_id: i32,
    batch: &mut Vec<StreamItem>,
    failure: &Failure,
) {
    if batch.is_empty() {
        return;
    }
    let items = std::mem::take(batch);
    if failure.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
        return;
    }
    for chunk in items.chunks(MAX_BATCH) {
        let rows: Vec<NewEvent> = chunk.iter().map(to_row).collect();
        if let Err(e) = executions::append_events(db, execution_id, &rows).await {
            tracing::error!(run.id = execution_id, error = %e, "could not store execution events");
            *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
            return;
        }
        for item in chunk {
            hub.publish(execution_id, item.clone());
        }
    }
}

/// The stored row of an item.
pub(crate) fn to_row(item: &StreamItem) -> NewEvent {
    NewEvent {
        seq: item.seq.unwrap_or_default(),
        kind: item.event.kind(),
        data: item.event.to_data(),
        created_at: item.created_at.fixed_offset(),
    }
}
