//! The event stream of one execution, as every adapter consumes it: the stored events after a
//! given seq, then the live ones, without gaps or duplicates, ending after the terminal event.
//!
//! The watcher subscribes to the hub *before* reading the database, and the run stores each
//! event before publishing it; items are then deduplicated by seq. A watcher that lags behind
//! the broadcast, or sees a gap, re-reads the database. Runs not executing in this process
//! (queued, or on another instance) are followed by polling the database once a second.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::BoxStream;
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::Core;
use super::error::RunError;
use super::event::{SharedItem, StreamItem};
use crate::db;
use crate::domain::executions::Status;

/// A stream of an execution's events; ends after its terminal `status` event.
pub type EventStream = BoxStream<'static, Arc<SharedItem>>;

/// How often a watcher of a run that is not executing here re-reads the database.
const POLL: Duration = Duration::from_secs(1);

/// Opens the stream of execution `id` after `after_seq`.
pub(crate) async fn open(
    core: Arc<Core>,
    id: i32,
    after_seq: i64,
) -> Result<EventStream, RunError> {
    let rx = core.hub.subscribe(id);
    let mut state = Watch {
        core,
        id,
        rx: Some(rx),
        last: after_seq.max(0),
        pending: VecDeque::new(),
        end_when_drained: false,
        done: false,
    };
    let row = db::executions::find_by_id(&state.core.db, id)
        .await?
        .ok_or(RunError::ExecutionNotFound(id))?;
    state.catch_up().await?;
    if Status::parse(&row.status).is_none_or(Status::is_terminal) {
        state.end_when_drained = true;
    }
    Ok(Box::pin(futures_util::stream::unfold(state, next)))
}

/// One watcher's position in the stream.
struct Watch {
    core: Arc<Core>,
    id: i32,
    rx: Option<Receiver<Arc<SharedItem>>>,
    /// The last seq handed out (or skipped as already seen by the client).
    last: i64,
    pending: VecDeque<Arc<SharedItem>>,
    end_when_drained: bool,
    done: bool,
}

impl Drop for Watch {
    fn drop(&mut self) {
        drop(self.rx.take());
        self.core.hub.release(self.id);
    }
}

impl Watch {
    /// Queues the stored events after `last`.
    async fn catch_up(&mut self) -> Result<(), sea_orm::DbErr> {
        let rows = db::executions::events_after(&self.core.db, self.id, self.last).await?;
        for row in &rows {
            self.last = self.last.max(row.seq);
            self.pending
                .push_back(SharedItem::new(StreamItem::from_row(row)));
        }
        Ok(())
    }

    /// Catches up, and ends the stream if the run has ended without (or after) a terminal
    /// event being queued. Errors are logged: the next tick tries again.
    async fn resync(&mut self) {
        if let Err(e) = self.catch_up().await {
            tracing::warn!(run.id = self.id, error = %e, "event stream could not read the database");
            return;
        }
        if self.pending.iter().any(|i| i.is_terminal()) {
            return;
        }
        match db::executions::find_by_id(&self.core.db, self.id).await {
            Ok(Some(row)) if Status::parse(&row.status).is_none_or(Status::is_terminal) => {
                self.end_when_drained = true;
            }
            Ok(None) => self.end_when_drained = true,
            _ => {}
        }
    }
}

async fn next(mut st: Watch) -> Option<(Arc<SharedItem>, Watch)> {
    loop {
        if st.done {
            return None;
        }
        if let Some(item) = st.pending.pop_front() {
            st.done = item.is_terminal();
            return Some((item, st));
        }
        if st.end_when_drained {
            return None;
        }
        let rx = st.rx.as_mut()?;
        match tokio::time::timeout(POLL, rx.recv()).await {
            Ok(Ok(item)) => match item.seq {
                None => return Some((item, st)),
                Some(seq) if seq <= st.last => {}
                Some(seq) if seq == st.last + 1 => {
                    st.last = seq;
                    st.pending.push_back(item);
                }
                Some(_) => st.resync().await,
            },
            Ok(Err(RecvError::Lagged(_))) => st.resync().await,
            Ok(Err(RecvError::Closed)) => {
                st.resync().await;
                if !st.end_when_drained && !st.pending.iter().any(|i| i.is_terminal()) {
                    st.rx = Some(st.core.hub.subscribe(st.id));
                }
            }
            Err(_) if !st.core.is_running_here(st.id) => st.resync().await,
            Err(_) => {}
        }
    }
}
