//! The writer of one execution's event log. A run is the single writer of its events, so the
//! next `seq` is kept in memory (read once from `MAX(seq)`); each event is stored, then
//! published to the hub — never the other way round, so a watcher that read the database
//! after subscribing cannot miss an event.

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};

use super::event::{Event, StreamItem};
use super::hub::Hub;
use crate::db::executions::{self, NewEvent};

/// Appends events to one execution's log and broadcasts them.
pub(crate) struct EventLog {
    db: DatabaseConnection,
    hub: Arc<Hub>,
    execution_id: i32,
    next_seq: i64,
}

impl EventLog {
    /// A writer continuing after the events already stored.
    pub(crate) async fn open(
        db: DatabaseConnection,
        hub: Arc<Hub>,
        execution_id: i32,
    ) -> Result<Self, DbErr> {
        let last = executions::max_seq(&db, execution_id).await?;
        Ok(Self {
            db,
            hub,
            execution_id,
            next_seq: last + 1,
        })
    }

    /// The execution this log belongs to.
    pub(crate) fn execution_id(&self) -> i32 {
        self.execution_id
    }

    /// Numbers `event` with the next seq (the seq is used even if storing it fails later).
    pub(crate) fn number(&mut self, event: Event) -> StreamItem {
        let item = StreamItem::stored(self.next_seq, event);
        self.next_seq += 1;
        item
    }

    /// Stores one event, then broadcasts it.
    pub(crate) async fn append(&mut self, event: Event) -> Result<(), DbErr> {
        let item = self.number(event);
        executions::append_events(&self.db, self.execution_id, &[to_row(&item)]).await?;
        self.hub.publish(self.execution_id, item);
        Ok(())
    }

    /// Stores several events in one statement, then broadcasts them.
    pub(crate) async fn append_all(&mut self, events: Vec<Event>) -> Result<(), DbErr> {
        let items: Vec<StreamItem> = events.into_iter().map(|e| self.number(e)).collect();
        let rows: Vec<NewEvent> = items.iter().map(to_row).collect();
        executions::append_events(&self.db, self.execution_id, &rows).await?;
        self.publish(items);
        Ok(())
    }

    /// Broadcasts items stored by the caller (the final ones, written with the row update).
    pub(crate) fn publish(&self, items: Vec<StreamItem>) {
        for item in items {
            self.hub.publish(self.execution_id, item);
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
