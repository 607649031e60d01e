//! The writer of one execution's event log.
//!
//! A run is the single writer of its events, so the next `seq` is kept in memory (a claimed
//! execution has none yet; the final events are numbered from `MAX(seq)` in the finishing
//! transaction). Events are handed to a write-behind task that stores whatever has queued
//! up in one multi-row INSERT and only then publishes it to the hub — never the other way
//! round, so a watcher that subscribed before reading the database cannot miss an event. Text
//! deltas travel through the same queue, so watchers see them in order with the stored events.
//! The loop does not wait for the database between model calls; [`EventLog::flush`] waits
//! until everything is stored, and a failed write surfaces at the next append.
//!
//! Writes to the execution row that go with the log travel through the same queue: the run's
//! checkpoint (`runState`, lifecycle rule 8a) and the versions of its tools. Only the latest
//! value of each is written, by one UPDATE after the INSERT of the events queued before it, so
//! a stored checkpoint never runs ahead of the stored events. [`EventLog::stored`] waits until
//! a given checkpoint is stored (the loop's durability points are in `agent_loop`), and
//! [`EventLog::close`] hands whatever is still queued to the run's finishing transaction
//! instead of writing it separately.

use std::sync::{Arc, Mutex};

use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::event::{Event, StreamItem};
use super::hub::Hub;
use crate::db::executions::{self, NewEvent, RowUpdate, StateWrite};

/// Most rows in one INSERT (far below the bind-parameter limits of SQLite and PostgreSQL).
const MAX_BATCH: usize = 500;

enum Command {
    Store(Vec<StreamItem>),
    Row(RowUpdate),
    Delta(String),
    Flush(oneshot::Sender<Result<(), String>>),
    Close(oneshot::Sender<Unstored>),
}

/// What a closed log had not stored yet: the finishing transaction stores it.
#[derive(Debug, Default)]
pub(crate) struct Unstored {
    /// Events, numbered, in order (their seqs run up to the log's `next_seq`).
    pub items: Vec<StreamItem>,
    /// The latest row values not stored yet.
    pub row: RowUpdate,
    /// The first write error, if a write failed (then nothing more is stored).
    pub failure: Option<String>,
}

/// The first write error, shared with the write-behind task.
type Failure = Arc<Mutex<Option<String>>>;

/// Appends events to one execution's log and broadcasts them.
pub(crate) struct EventLog {
    execution_id: i32,
    next_seq: i64,
    queue: mpsc::UnboundedSender<Command>,
    failure: Failure,
    /// Checkpoints queued so far.
    checkpoints: u64,
    /// Steps (checkpoints that extend the stored one) were queued since the last replacing
    /// checkpoint.
    steps_since_replace: bool,
    /// Checkpoints stored so far (the write-behind task counts them).
    stored: watch::Receiver<u64>,
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
        let mut log = Self::starting_at(write, hub, execution_id, last + 1);
        // Its earlier attempts may have stored steps: its first whole checkpoint replaces them.
        log.steps_since_replace = true;
        Ok(log)
    }

    fn starting_at(
        write: DatabaseConnection,
        hub: Arc<Hub>,
        execution_id: i32,
        next_seq: i64,
    ) -> Self {
        let (queue, commands) = mpsc::unbounded_channel();
        let failure = Failure::default();
        let (stored_tx, stored) = watch::channel(0);
        tokio::spawn(write_behind(
            Writer {
                db: write,
                hub,
                execution_id,
                failure: failure.clone(),
                stored: stored_tx,
            },
            commands,
        ));
        Self {
            execution_id,
            next_seq,
            queue,
            failure,
            checkpoints: 0,
            steps_since_replace: false,
            stored,
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

    /// Queues the run's checkpoint, stored after the events appended before it; returns its
    /// number for [`EventLog::stored`]. Fails if an earlier write failed.
    /// Fenced: stored only while `owner` holds the run's lease (else the log fails with
    /// [`super::lease::lost`]).
    pub(crate) fn checkpoint(&mut self, mut state: StateWrite, owner: &str) -> Result<u64, DbErr> {
        self.check()?;
        self.checkpoints += 1;
        match &mut state {
            StateWrite::Replace { drop_steps, .. } => {
                *drop_steps = std::mem::take(&mut self.steps_since_replace);
            }
            StateWrite::Extend { .. } => self.steps_since_replace = true,
        }
        self.send(Command::Row(RowUpdate {
            run_state: Some(state),
            owner: Some(owner.to_owned()),
            ..RowUpdate::default()
        }))?;
        Ok(self.checkpoints)
    }

    /// Queues the versions of the run's custom tools (`toolVersions`).
    pub(crate) fn stamp_tool_versions(&mut self, versions: Value) -> Result<(), DbErr> {
        self.check()?;
        self.send(Command::Row(RowUpdate {
            tool_versions: Some(versions),
            ..RowUpdate::default()
        }))
    }

    /// Waits until checkpoint number `n` (or a later one) is stored. Returns at once when it
    /// is; fails if a write failed.
    pub(crate) async fn stored(&mut self, n: u64) -> Result<(), DbErr> {
        if *self.stored.borrow() < n {
            let waited = self
                .stored
                .wait_for(|stored| *stored >= n)
                .await
                .map(|_| ());
            // The writer stops only after a failure (or when the log is dropped).
            if waited.is_err() {
                self.check()?;
                return Err(DbErr::Custom("the event writer stopped".into()));
            }
        }
        self.check()
    }

    fn send(&self, command: Command) -> Result<(), DbErr> {
        self.queue
            .send(command)
            .map_err(|_| DbErr::Custom("the event writer stopped".into()))
    }

    /// Stops the writer and returns what it has not stored yet, for the finishing
    /// transaction to store with the run's last events (one write instead of two).
    pub(crate) async fn close(self) -> Unstored {
        let (ack, done) = oneshot::channel();
        if self.queue.send(Command::Close(ack)).is_err() {
            return Unstored {
                failure: Some("the event writer stopped".into()),
                ..Unstored::default()
            };
        }
        done.await.unwrap_or_else(|_| Unstored {
            failure: Some("the event writer stopped".into()),
            ..Unstored::default()
        })
    }

    /// Waits until every queued event and row update is stored and broadcast: what a status
    /// change that does not end the run (a waiting status) must do first. Ending a run needs
    /// no flush: [`EventLog::close`] hands the rest to the finishing transaction.
    #[allow(dead_code)]
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

/// The write-behind task's side of one log.
struct Writer {
    db: DatabaseConnection,
    hub: Arc<Hub>,
    execution_id: i32,
    failure: Failure,
    /// Checkpoints stored so far.
    stored: watch::Sender<u64>,
}

/// What has queued up since the last write.
#[derive(Default)]
struct Pending {
    items: Vec<StreamItem>,
    row: RowUpdate,
    /// Checkpoints among the row updates.
    checkpoints: u64,
}

/// Stores queued events in batches, then publishes them; publishes deltas in queue order.
async fn write_behind(w: Writer, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut pending = Pending::default();
    let mut queued_checkpoints = 0;
    while let Some(first) = commands.recv().await {
        let mut next = Some(first);
        while let Some(command) = next.take().or_else(|| commands.try_recv().ok()) {
            match command {
                Command::Store(items) => pending.items.extend(items),
                Command::Row(update) => {
                    if update.run_state.is_some() {
                        queued_checkpoints += 1;
                        pending.checkpoints = queued_checkpoints;
                    }
                    pending.row.merge(update);
                }
                Command::Delta(text) => {
                    w.store(&mut pending).await;
                    w.hub.publish_delta(w.execution_id, &text);
                }
                Command::Flush(ack) => {
                    w.store(&mut pending).await;
                    let _ = ack.send(w.failed().map_or(Ok(()), Err));
                }
                Command::Close(ack) => {
                    let _ = ack.send(Unstored {
                        items: std::mem::take(&mut pending.items),
                        row: std::mem::take(&mut pending.row),
                        failure: w.failed(),
                    });
                    return;
                }
            }
        }
        w.store(&mut pending).await;
    }
}

impl Writer {
    fn failed(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fail(&self, e: &DbErr) {
        tracing::error!(run.id = self.execution_id, error = %e, "could not store execution events");
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
        // Wakes whoever waits for a checkpoint: they find the failure.
        self.stored.send_replace(u64::MAX);
    }

    /// Stores the events queued up (in one INSERT per `MAX_BATCH`), publishes them, then
    /// writes the row update that came with them.
    async fn store(&self, pending: &mut Pending) {
        let items = std::mem::take(&mut pending.items);
        let row = std::mem::take(&mut pending.row);
        if self.failed().is_some() {
            return;
        }
        // Every chunk but the last alone; the last with the row update (one round trip).
        let mut chunks = items.chunks(MAX_BATCH).peekable();
        let mut row = Some(row);
        while let Some(chunk) = chunks.next() {
            let rows: Vec<NewEvent> = chunk.iter().map(to_row).collect();
            let update = if chunks.peek().is_none() {
                row.take().unwrap_or_default()
            } else {
                RowUpdate::default()
            };
            match executions::store_log(&self.db, self.execution_id, &rows, update).await {
                Ok(true) => {}
                Ok(false) => return self.fail(&super::lease::lost()),
                Err(e) => return self.fail(&e),
            }
            for item in chunk {
                self.hub.publish(self.execution_id, item.clone());
            }
        }
        if let Some(row) = row.filter(|r| !r.is_empty()) {
            match executions::update_run_row(&self.db, self.execution_id, row).await {
                Ok(true) => {}
                Ok(false) => return self.fail(&super::lease::lost()),
                Err(e) => return self.fail(&e),
            }
        }
        if pending.checkpoints > *self.stored.borrow() {
            self.stored.send_replace(pending.checkpoints);
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
