//! [`NameTable`]: a bounded, append-only table from collection names to values, read without
//! locks.
//!
//! The hot paths of [`Namespace`](crate::Namespace) (the prefixed name of a collection) and
//! [`Statistics`](crate::Statistics) (the counters of a collection) look a name up on every
//! call. A `RwLock<HashMap>` costs two contended atomic operations per lookup; this table costs
//! one hash and one acquire load: open addressing with linear probing over a power-of-two array
//! of [`OnceLock`] slots, each set once and never cleared, so a found value can be borrowed for
//! as long as the table lives (which is what lets `Namespace` hand the inner store a `&str`
//! without allocating).
//!
//! At most `max` names get a slot (the table has at least twice as many slots, so a probe
//! always ends at the name or at an empty slot); past that, [`NameTable::get_or_insert_with`]
//! gives `None` and the caller takes its slow path.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

type Slot<V> = OnceLock<Box<(Box<str>, V)>>;

/// See the [module docs](self).
pub(crate) struct NameTable<V> {
    slots: Box<[Slot<V>]>,
    mask: usize,
    /// Slots taken or reserved.
    len: AtomicUsize,
    max: usize,
    hasher: hashbrown::DefaultHashBuilder,
}

impl<V> std::fmt::Debug for NameTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameTable")
            .field("names", &self.len())
            .field("max", &self.max)
            .finish()
    }
}

impl<V> NameTable<V> {
    /// A table for at most `max` names.
    pub(crate) fn new(max: usize) -> Self {
        let size = max.saturating_mul(2).max(2).next_power_of_two();
        NameTable {
            slots: (0..size).map(|_| OnceLock::new()).collect(),
            mask: size - 1,
            len: AtomicUsize::new(0),
            max,
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    /// The probe sequence of `name`: every slot once, starting at its hash.
    fn probe(&self, name: &str) -> impl Iterator<Item = &Slot<V>> {
        let start = self.hasher.hash_one(name) as usize;
        (0..self.slots.len()).map(move |i| &self.slots[(start + i) & self.mask])
    }

    /// The value of `name`, if it has a slot.
    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        for slot in self.probe(name) {
            match slot.get() {
                Some(entry) if &*entry.0 == name => return Some(&entry.1),
                Some(_) => continue,
                // Names take the first empty slot of their probe sequence: not here.
                None => return None,
            }
        }
        None
    }

    /// The value of `name`, given a slot with `make()` if it has none and the table is not
    /// full; `None` when it is full.
    pub(crate) fn get_or_insert_with(&self, name: &str, make: impl FnOnce() -> V) -> Option<&V> {
        let mut make = Some(make);
        let mut spare: Option<V> = None;
        for slot in self.probe(name) {
            if let Some(entry) = slot.get() {
                if &*entry.0 == name {
                    return Some(&entry.1);
                }
                continue;
            }
            // An empty slot: reserve room, then race for it.
            if !self.reserve() {
                return None;
            }
            let value = match (spare.take(), make.take()) {
                (Some(v), _) => v,
                (None, Some(make)) => make(),
                // Unreachable: a lost race always leaves a spare value.
                (None, None) => return None,
            };
            match slot.set(Box::new((name.into(), value))) {
                Ok(()) => return slot.get().map(|entry| &entry.1),
                Err(lost) => {
                    self.len.fetch_sub(1, Ordering::Relaxed);
                    spare = Some(lost.1);
                    // The winner may have inserted the same name.
                    match slot.get() {
                        Some(entry) if &*entry.0 == name => return Some(&entry.1),
                        _ => continue,
                    }
                }
            }
        }
        None
    }

    fn reserve(&self) -> bool {
        self.len
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }

    /// How many names can get a slot.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Names with a slot.
    pub(crate) fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.get().is_some()).count()
    }

    /// Every name with its value, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.slots
            .iter()
            .filter_map(OnceLock::get)
            .map(|entry| (&*entry.0, &entry.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn finds_what_it_inserted_and_stops_at_max() {
        let t = NameTable::new(3);
        assert_eq!(t.get("a"), None);
        assert_eq!(t.get_or_insert_with("a", || 1), Some(&1));
        assert_eq!(t.get_or_insert_with("a", || 99), Some(&1));
        assert_eq!(t.get_or_insert_with("b", || 2), Some(&2));
        assert_eq!(t.get_or_insert_with("c", || 3), Some(&3));
        assert_eq!(t.get_or_insert_with("d", || 4), None, "full at 3");
        assert_eq!(t.get("d"), None);
        assert_eq!(
            (t.get("a"), t.get("b"), t.get("c")),
            (Some(&1), Some(&2), Some(&3))
        );
        assert_eq!(t.len(), 3);
        let mut all: Vec<_> = t.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        all.sort();
        assert_eq!(all, [("a".into(), 1), ("b".into(), 2), ("c".into(), 3)]);
    }

    #[test]
    fn zero_capacity_holds_nothing() {
        let t = NameTable::new(0);
        assert_eq!(t.get_or_insert_with("a", || 1), None);
        assert_eq!(t.get("a"), None);
    }

    #[test]
    fn concurrent_inserts_give_one_slot_per_name() {
        let t = Arc::new(NameTable::<usize>::new(64));
        let handles: Vec<_> = (0..4)
            .map(|thread| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for round in 0..200 {
                        let name = format!("c{}", (round * 7 + thread) % 80);
                        if let Some(v) = t.get_or_insert_with(&name, || round) {
                            // Once given, a name's value never changes.
                            assert_eq!(t.get(&name), Some(v));
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let mut names: Vec<&str> = t.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 64, "exactly max names got a slot");
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 64, "no name has two slots");
    }
}
