//! In-process single-flight: N concurrent identical misses run the handler once.
//!
//! The first caller of a key becomes the **leader**: it registers a `watch` channel under the
//! key, runs the handler, publishes the result on the channel, stores it and unregisters.
//! Callers arriving meanwhile **wait** on the channel and share the published result (errors
//! included) — those arriving while it is being stored get it at once. Publishing comes before
//! the store's round trip, so a leader cancelled while storing has already answered its
//! waiters. If the leader panics or is cancelled before publishing, its guard unregisters the
//! key and drops the channel: the waiters see it closed and start over (look up the store,
//! then one of them leads). Nobody waits on a leader that no longer exists.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

type Slot<T, E> = watch::Sender<Option<Result<T, E>>>;

/// The registry of in-flight computations, keyed by full cache key.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl fmt::Debug for Flights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flights")
            .field("in_flight", &self.map.lock().len())
            .finish()
    }
}

/// What a caller does for a key.
pub(crate) enum Role<'a, T, E> {
    /// Run the handler and publish.
    Lead(Leader<'a, T, E>),
    /// Wait for the leader's result.
    Wait(watch::Receiver<Option<Result<T, E>>>),
    /// A flight of another result type holds the key (same params asked for two types):
    /// compute without coalescing.
    Alone,
}

impl Flights {
    /// Joins the flight of `key`, or starts one.
    pub(crate) fn join<T, E>(&self, key: &str) -> Role<'_, T, E>
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        let mut map = self.map.lock();
        if let Some(existing) = map.get(key) {
            return match existing.clone().downcast::<Slot<T, E>>() {
                Ok(slot) => Role::Wait(slot.subscribe()),
                Err(_) => Role::Alone,
            };
        }
        let slot: Arc<Slot<T, E>> = Arc::new(watch::Sender::new(None));
        map.insert(key.to_string(), slot.clone());
        Role::Lead(Leader {
            flights: self,
            key: key.to_string(),
            slot,
        })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().len()
    }
}

/// The leader of one flight. Dropping it (normally after [`publish`](Leader::publish), or by a
/// panic or cancellation) unregisters the flight.
pub(crate) struct Leader<'a, T, E> {
    flights: &'a Flights,
    key: String,
    slot: Arc<Slot<T, E>>,
}

impl<T: Clone, E: Clone> Leader<'_, T, E> {
    /// Publishes the result to every waiter, and to callers joining until the leader is
    /// dropped.
    pub(crate) fn publish(&self, outcome: &Result<T, E>) {
        self.slot.send_replace(Some(outcome.clone()));
    }
}

impl<T, E> Drop for Leader<'_, T, E> {
    fn drop(&mut self) {
        let mut map = self.flights.map.lock();
        let ours = map.get(&self.key).is_some_and(|entry| {
            std::ptr::eq(
                Arc::as_ptr(entry) as *const (),
                Arc::as_ptr(&self.slot) as *const (),
            )
        });
        if ours {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_get_the_leaders_result() {
        let f = Flights::default();
        let Role::Lead(leader) = f.join::<u32, ()>("k") else {
            panic!("first caller leads")
        };
        let Role::Wait(mut rx) = f.join::<u32, ()>("k") else {
            panic!("second caller waits")
        };
        assert!(matches!(f.join::<String, ()>("k"), Role::Alone));
        leader.publish(&Ok(7));
        let got = *rx.wait_for(Option::is_some).await.unwrap();
        assert_eq!(got, Some(Ok(7)));
        // Published but not yet dropped (storing): a late caller gets the result at once.
        let Role::Wait(late) = f.join::<u32, ()>("k") else {
            panic!("late caller waits")
        };
        assert_eq!(*late.borrow(), Some(Ok(7)));
        drop(leader);
        assert_eq!(f.len(), 0);
    }

    #[tokio::test]
    async fn abandoned_leader_releases_waiters() {
        let f = Flights::default();
        let Role::Lead(leader) = f.join::<u32, ()>("k") else {
            panic!()
        };
        let Role::Wait(mut rx) = f.join::<u32, ()>("k") else {
            panic!()
        };
        drop(leader);
        assert!(rx.wait_for(Option::is_some).await.is_err());
        assert!(matches!(f.join::<u32, ()>("k"), Role::Lead(_)));
    }
}
