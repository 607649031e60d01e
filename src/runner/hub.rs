//! Live fan-out of an execution's events inside this process.
//!
//! One tokio broadcast channel per execution, created when the first watcher subscribes and
//! removed when the run ends or the last watcher leaves. Publishing to an execution nobody
//! watches costs a map lookup. The local run task feeds it through [`Hub::publish`], which on
//! PostgreSQL also relays a small signal to the other instances (`runner::notify`); their
//! `LISTEN` task feeds their hub through [`Hub::deliver`], which relays nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::{broadcast, mpsc};

use super::event::{Event, SharedItem, StreamItem};
use super::notify::Signal;

/// Items buffered per execution before a slow watcher lags (it then re-reads the database).
pub const DEFAULT_CAPACITY: usize = 1024;

/// In-process broadcast of execution events, keyed by execution id.
#[derive(Debug)]
pub struct Hub {
    channels: Mutex<HashMap<i32, broadcast::Sender<Arc<SharedItem>>>>,
    capacity: usize,
    relay: OnceLock<mpsc::UnboundedSender<Signal>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl Hub {
    /// A hub buffering `capacity` items per execution.
    pub fn new(capacity: usize) -> Self {
        Self {
            channels: Mutex::new(HashMap::new()),
            capacity: capacity.max(16),
            relay: OnceLock::new(),
        }
    }

    /// Relays what is published here to the other instances from now on (set once).
    pub(crate) fn relay_to(&self, relay: mpsc::UnboundedSender<Signal>) {
        let _ = self.relay.set(relay);
    }

    /// Sends `signal` to the other instances, if they are relayed to.
    pub(crate) fn signal(&self, signal: Signal) {
        if let Some(relay) = self.relay.get() {
            let _ = relay.send(signal);
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i32, broadcast::Sender<Arc<SharedItem>>>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts receiving the live items of `execution_id`. Call [`Hub::release`] after
    /// dropping the receiver.
    pub fn subscribe(&self, execution_id: i32) -> broadcast::Receiver<Arc<SharedItem>> {
        self.lock()
            .entry(execution_id)
            .or_insert_with(|| broadcast::channel(self.capacity).0)
            .subscribe()
    }

    /// Sends `item` to the watchers of `execution_id`, if any. A terminal item closes the
    /// channel after delivery: watchers still receive everything sent before it.
    pub fn publish(&self, execution_id: i32, item: StreamItem) {
        if let Some(seq) = item.seq {
            self.signal(Signal::Stored {
                id: execution_id,
                seq,
            });
        }
        self.deliver(execution_id, item);
    }

    /// Sends `item` to the watchers of `execution_id` in this process only (an event of a
    /// run on another instance).
    pub fn deliver(&self, execution_id: i32, item: StreamItem) {
        let mut channels = self.lock();
        let terminal = item.is_terminal();
        if let Some(tx) = channels.get(&execution_id) {
            // No receiver left is not an error: the entry is cleaned up below or on release.
            let _ = tx.send(SharedItem::new(item));
        }
        if terminal {
            channels.remove(&execution_id);
        }
    }

    /// Sends a live-only text delta (never stored) to the watchers of `execution_id`.
    pub fn publish_delta(&self, execution_id: i32, text: &str) {
        if self.relay.get().is_some() {
            self.signal(Signal::Delta {
                id: execution_id,
                text: text.to_owned(),
            });
        }
        self.deliver_delta(execution_id, text);
    }

    /// Sends a live-only text delta to the watchers of `execution_id` in this process only.
    pub fn deliver_delta(&self, execution_id: i32, text: &str) {
        let channels = self.lock();
        if let Some(tx) = channels.get(&execution_id)
            && tx.receiver_count() > 0
        {
            let _ = tx.send(SharedItem::new(StreamItem::live(Event::TextDelta {
                text: text.to_owned(),
            })));
        }
    }

    /// Removes the channel of `execution_id` when no receiver is left.
    pub fn release(&self, execution_id: i32) {
        let mut channels = self.lock();
        if channels
            .get(&execution_id)
            .is_some_and(|tx| tx.receiver_count() == 0)
        {
            channels.remove(&execution_id);
        }
    }

    /// Number of watchers subscribed to `execution_id` right now (for metrics and tests: it
    /// drops when a client that went away has been let go).
    pub fn watcher_count(&self, execution_id: i32) -> usize {
        self.lock()
            .get(&execution_id)
            .map_or(0, broadcast::Sender::receiver_count)
    }

    /// Number of executions with a live channel (for metrics and tests).
    pub fn channel_count(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::executions::Status;

    #[tokio::test]
    async fn watchers_get_items_until_the_terminal_one_and_the_channel_goes_away() {
        let hub = Hub::default();
        hub.publish(
            1,
            StreamItem::stored(
                1,
                Event::Text {
                    text: "lost".into(),
                },
            ),
        );
        assert_eq!(hub.channel_count(), 0, "publishing creates nothing");
        let mut rx = hub.subscribe(1);
        hub.publish_delta(1, "he");
        hub.publish(
            1,
            StreamItem::stored(
                2,
                Event::Status {
                    status: Status::Completed,
                },
            ),
        );
        assert_eq!(
            hub.channel_count(),
            0,
            "the terminal item closes the channel"
        );
        assert_eq!(rx.recv().await.expect("delta").kind(), "text_delta");
        assert!(rx.recv().await.expect("terminal").is_terminal());
        assert!(rx.recv().await.is_err(), "closed after the terminal item");
    }

    #[test]
    fn release_removes_only_unwatched_channels() {
        let hub = Hub::default();
        let a = hub.subscribe(7);
        let b = hub.subscribe(7);
        assert_eq!(hub.watcher_count(7), 2);
        drop(a);
        hub.release(7);
        assert_eq!(hub.channel_count(), 1);
        assert_eq!(hub.watcher_count(7), 1);
        drop(b);
        hub.release(7);
        assert_eq!(hub.channel_count(), 0);
    }
}
