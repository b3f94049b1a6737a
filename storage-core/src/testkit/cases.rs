//! The cases of the conformance suite.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Case, Ctx, Need};
use crate::{Error, ErrorKind};

/// A case's failure: a message (store errors convert with `?`), and whether it proves nothing
/// because real time ran past a TTL the case needed unexpired ([`Live::fail`]): the suite then
/// runs the case again, loudly.
pub(crate) struct Fail {
    pub(crate) msg: String,
    pub(crate) disturbed: bool,
}

impl Fail {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        Fail {
            msg: msg.into(),
            disturbed: false,
        }
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::new(format!("unexpected error: {e}"))
    }
}

/// In real time, the moment just before a write with a short TTL (see [`Ctx::live`]). A check
/// that expects the entry still live and fails when the TTL has run out since that moment
/// proves nothing: the machine stalled (a pause of 300 ms on a loaded 2-core CI machine was
/// seen), and the entry expired honestly. Such a failure is *disturbed*: the suite runs the
/// case again with fresh collections and says so on stderr; a case disturbed on every attempt
/// fails. A failure inside the TTL, and every failure on a manual clock, counts at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Live {
    pub(crate) since: Instant,
    pub(crate) ttl: Duration,
    pub(crate) real_time: bool,
}

impl Live {
    /// The failure `msg` of a check that expected the entry live, read just now.
    pub(crate) fn fail(self, msg: impl Into<String>) -> Fail {
        let msg = msg.into();
        let took = self.since.elapsed();
        if self.real_time && took >= self.ttl {
            Fail {
                msg: format!(
                    "{msg} — but {took:?} had passed since the write with a {:?} ttl (the \
                     machine stalled)",
                    self.ttl
                ),
                disturbed: true,
            }
        } else {
            Fail::new(msg)
        }
    }
}

type R = Result<(), Fail>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Fail::new(format!($($msg)+)));
        }
    };
}

macro_rules! ensure_eq {
    ($left:expr, $right:expr, $what:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(Fail::new(format!(
                "{}: got {:?}, expected {:?}",
                $what, l, r
            )));
        }
    }};
    // A check that needs an entry written at `$live` still unexpired (see `Live`).
    ($left:expr, $right:expr, $what:expr, live: $live:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err($live.fail(format!("{}: got {:?}, expected {:?}", $what, l, r)));
        }
    }};
}

/// `ensure!` for a check that needs an entry written at `$live` still unexpired.
macro_rules! ensure_live {
    ($live:expr, $cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($live.fail(format!($($msg)+)));
        }
    };
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn expect_kind<T: std::fmt::Debug>(r: crate::Result<T>, kind: ErrorKind, what: &str) -> R {
    match r {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => Err(Fail::new(format!("{what}: expected {kind} error, got {e}"))),
        Ok(v) => Err(Fail::new(format!(
            "{what}: expected {kind} error, got Ok({v:?})"
        ))),
    }
}

macro_rules! cases {
    ($( $name:ident [$($need:ident),*] ),* $(,)?) => {
        pub(crate) fn all() -> Vec<Case> {
            vec![$(
                Case {
                    name: stringify!($name),
                    needs: &[$(Need::$need),*],
                    run: |ctx| Box::pin(async move { $name(ctx).await }),
                },
            )*]
        }
    };
}

cases![
    // Single operations.
    get_missing_is_none[],
    put_then_get[],
    put_overwrites[],
    delete_returns_true_then_false[],
    delete_missing_is_false[],
    value_empty_round_trips[],
    value_all_byte_values_round_trip[],
    value_one_mib_round_trips[],
    collections_are_isolated[],
    // TTL.
    entry_without_ttl_reports_none[],
    entry_reports_remaining_ttl[],
    put_without_ttl_clears_ttl[],
    put_with_ttl_replaces_no_ttl[],
    overwrite_replaces_ttl[],
    entry_expires[],
    expired_entry_invisible_to_get_entry[],
    expired_entry_invisible_to_get_many[],
    expired_entry_invisible_to_get_entries[],
    expired_entry_not_deleted_by_delete[],
    ttl_is_never_rounded_down[],
    ttl_zero_rejected_everywhere[],
    ttl_too_large_rejected[],
    ttl_of_a_hundred_years_accepted[],
    // Names.
    empty_collection_rejected[],
    empty_key_rejected[],
    collection_at_max_length_works[],
    collection_one_byte_over_rejected[],
    key_at_max_length_works[],
    key_one_byte_over_rejected[],
    bad_names_rejected_by_every_operation[],
    names_with_double_colon[],
    names_with_slash[],
    names_with_colon[],
    names_with_glob_characters[],
    names_with_braces[],
    names_with_quotes[],
    names_with_nul[],
    names_with_unicode[],
    names_with_dot_dot[],
    names_with_whitespace_and_controls[],
    names_with_backslash_and_percent[],
    names_that_concatenate_alike_never_collide[],
    collection_prefixes_never_leak[],
    error_messages_hide_names_and_values[],
    // Values.
    value_at_max_size_works[SmallMaxValue],
    value_one_byte_over_rejected_nothing_written[SmallMaxValue],
    // Batches.
    get_many_in_input_order_with_holes[],
    get_many_with_duplicates[],
    get_many_empty_is_empty[],
    get_entries_in_order_with_ttls[],
    put_many_then_get_many[],
    put_many_last_duplicate_wins[],
    put_many_with_ttl_expires[],
    put_many_empty_is_noop[],
    put_many_oversized_value_writes_nothing[SmallMaxValue],
    put_many_bad_key_writes_nothing[],
    put_many_bad_ttl_writes_nothing[],
    get_many_bad_key_rejected[],
    delete_many_counts_live_keys[],
    delete_many_counts_duplicates_once[],
    delete_many_empty_is_zero[],
    batch_of_500_round_trips_in_order[RoomFor500],
    concurrent_workers_on_distinct_keys[],
    // Atomic operations.
    put_if_absent_on_absent_key[PutIfAbsent],
    put_if_absent_on_present_key[PutIfAbsent],
    put_if_absent_on_expired_key[PutIfAbsent],
    put_if_absent_with_ttl_expires[PutIfAbsent],
    put_if_absent_validates_first[PutIfAbsent],
    take_present_key[Take],
    take_absent_key[Take],
    take_expired_key[Take],
    take_twice[Take],
    cas_matching_swaps[CompareAndSwap],
    cas_not_matching_keeps_value[CompareAndSwap],
    cas_absent_with_none_inserts[CompareAndSwap],
    cas_absent_with_some_fails[CompareAndSwap],
    cas_present_with_none_fails[CompareAndSwap],
    cas_deletes_with_new_none[CompareAndSwap],
    cas_treats_expired_as_absent[CompareAndSwap],
    cas_sets_ttl[CompareAndSwap],
    cas_without_ttl_clears_ttl[CompareAndSwap],
    touch_sets_ttl[Touch],
    touch_none_clears_ttl[Touch],
    touch_missing_key_is_false[Touch],
    touch_expired_key_is_false[Touch],
    touch_keeps_value[Touch],
    race_take_one_winner[Take],
    race_put_if_absent_one_winner[PutIfAbsent],
    race_compare_and_swap_one_winner[CompareAndSwap],
    // Enumeration and maintenance.
    keys_of_empty_collection[Enumerate],
    keys_lists_every_key[Enumerate],
    keys_paging_returns_each_key_once[Enumerate],
    keys_paging_survives_concurrent_writes[Enumerate],
    keys_skips_expired[Enumerate],
    keys_zero_limit_rejected[Enumerate],
    clear_removes_and_counts[Enumerate],
    clear_leaves_other_collections[Enumerate],
    collections_lists_collections[Enumerate],
    cull_removes_expired_entries[Enumerate, Cull],
    eviction_in_bounded_store[Enumerate, Bounded],
    // Typed collections and sessions on top of the store.
    typed_collection_round_trips[],
    typed_collection_undecodable_is_corrupted[],
    typed_update_counts_every_increment[CompareAndSwap],
    session_scopes_and_ends[],
    session_expires_when_idle[],
    session_access_refreshes_idle_ttl[],
];

/// Cases run last and alone, because they end the store.
pub(crate) fn finals() -> Vec<Case> {
    vec![Case {
        name: "close_is_idempotent",
        needs: &[],
        run: |ctx| Box::pin(async move { close_is_idempotent(ctx).await }),
    }]
}

async fn close_is_idempotent(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v"), None).await?;
    if ctx.caps.enumerate {
        ctx.store.clear(&c).await?;
    }
    ctx.store.close().await?;
    ctx.store.close().await?;
    // After close an operation may fail, but must not panic or hang; if it fails, it says so
    // with a typed error.
    let after = tokio::time::timeout(Duration::from_secs(10), ctx.store.get(&c, "k")).await;
    ensure!(after.is_ok(), "get after close hung for 10 s");
    Ok(())
}

// ---------------------------------------------------------------- single operations

async fn get_missing_is_none(ctx: Ctx) -> R {
    let c = ctx.coll();
    ensure_eq!(
        ctx.store.get(&c, "nothing").await?,
        None,
        "get of a missing key"
    );
    ensure_eq!(
        ctx.store.get_entry(&c, "nothing").await?,
        None,
        "get_entry of a missing key"
    );
    Ok(())
}

async fn put_then_get(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v1"), None).await?;
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(b("v1")),
        "get after put"
    );
    Ok(())
}

async fn put_overwrites(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v1"), None).await?;
    ctx.store.put(&c, "k", b("v2"), None).await?;
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(b("v2")),
        "get after overwrite"
    );
    Ok(())
}

async fn delete_returns_true_then_false(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v"), None).await?;
    ensure_eq!(ctx.store.delete(&c, "k").await?, true, "first delete");
    ensure_eq!(ctx.store.delete(&c, "k").await?, false, "second delete");
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "get after delete");
    Ok(())
}

async fn delete_missing_is_false(ctx: Ctx) -> R {
    let c = ctx.coll();
    ensure_eq!(
        ctx.store.delete(&c, "never").await?,
        false,
        "delete of a missing key"
    );
    Ok(())
}

async fn value_empty_round_trips(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", Bytes::new(), None).await?;
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(Bytes::new()),
        "empty value"
    );
    Ok(())
}

async fn value_all_byte_values_round_trip(ctx: Ctx) -> R {
    let c = ctx.coll();
    let v: Bytes = (0..=255u8)
        .chain((0..=255u8).rev())
        .collect::<Vec<_>>()
        .into();
    ctx.store.put(&c, "k", v.clone(), None).await?;
    ensure_eq!(ctx.store.get(&c, "k").await?, Some(v), "binary value");
    Ok(())
}

async fn value_one_mib_round_trips(ctx: Ctx) -> R {
    let c = ctx.coll();
    let len = (1 << 20).min(ctx.caps.max_value_bytes);
    let v: Bytes = (0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>().into();
    ctx.store.put(&c, "k", v.clone(), None).await?;
    let got = ctx.store.get(&c, "k").await?;
    ensure!(
        got.as_ref() == Some(&v),
        "a {len}-byte value did not round-trip"
    );
    Ok(())
}

async fn collections_are_isolated(ctx: Ctx) -> R {
    let (c1, c2) = (ctx.coll(), ctx.coll());
    ctx.store.put(&c1, "k", b("one"), None).await?;
    ctx.store.put(&c2, "k", b("two"), None).await?;
    ensure_eq!(
        ctx.store.get(&c1, "k").await?,
        Some(b("one")),
        "first collection"
    );
    ensure_eq!(
        ctx.store.get(&c2, "k").await?,
        Some(b("two")),
        "second collection"
    );
    ctx.store.delete(&c1, "k").await?;
    ensure_eq!(
        ctx.store.get(&c2, "k").await?,
        Some(b("two")),
        "second after delete in first"
    );
    Ok(())
}

// ---------------------------------------------------------------- TTL

async fn entry_without_ttl_reports_none(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v"), None).await?;
    let e = ctx
        .store
        .get_entry(&c, "k")
        .await?
        .ok_or(Fail::new("entry missing"))?;
    ensure_eq!(e.value, b("v"), "value");
    ensure_eq!(e.ttl, None, "remaining ttl of an entry without ttl");
    Ok(())
}

fn check_remaining(got: Option<Duration>, set: Duration, slack: Duration) -> R {
    let got = got.ok_or(Fail::new(format!(
        "remaining ttl is None, expected ≈ {set:?}"
    )))?;
    ensure!(
        got <= set + Duration::from_millis(1) && got + slack >= set,
        "remaining ttl {got:?}, expected within {slack:?} below {set:?}"
    );
    Ok(())
}

async fn entry_reports_remaining_ttl(ctx: Ctx) -> R {
    let c = ctx.coll();
    let ttl = Duration::from_secs(60);
    ctx.store.put(&c, "k", b("v"), Some(ttl)).await?;
    let e = ctx
        .store
        .get_entry(&c, "k")
        .await?
        .ok_or(Fail::new("entry missing"))?;
    check_remaining(e.ttl, ttl, Duration::from_secs(5))?;
    if ctx.manual() {
        ctx.pass(Duration::from_secs(20)).await;
        let e = ctx
            .store
            .get_entry(&c, "k")
            .await?
            .ok_or(Fail::new("entry missing later"))?;
        check_remaining(e.ttl, Duration::from_secs(40), Duration::from_millis(2))?;
    }
    Ok(())
}

async fn put_without_ttl_clears_ttl(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v1"), Some(ctx.ttl())).await?;
    ctx.store.put(&c, "k", b("v2"), None).await?;
    let e = ctx
        .store
        .get_entry(&c, "k")
        .await?
        .ok_or(Fail::new("entry missing"))?;
    ensure_eq!(e.ttl, None, "ttl after put without ttl");
    ctx.expire().await;
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(b("v2")),
        "entry after the old ttl"
    );
    Ok(())
}

async fn put_with_ttl_replaces_no_ttl(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v1"), None).await?;
    ctx.store.put(&c, "k", b("v2"), Some(ctx.ttl())).await?;
    ctx.expire().await;
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        None,
        "entry after its new ttl"
    );
    Ok(())
}

async fn overwrite_replaces_ttl(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store
        .put(&c, "k", b("v1"), Some(Duration::from_secs(10)))
        .await?;
    ctx.store
        .put(&c, "k", b("v2"), Some(Duration::from_secs(3600)))
        .await?;
    let e = ctx
        .store
        .get_entry(&c, "k")
        .await?
        .ok_or(Fail::new("entry missing"))?;
    check_remaining(e.ttl, Duration::from_secs(3600), Duration::from_secs(5))?;
    Ok(())
}

async fn entry_expires(ctx: Ctx) -> R {
    let c = ctx.coll();
    let live = ctx.live(ctx.ttl());
    ctx.store.put(&c, "k", b("v"), Some(ctx.ttl())).await?;
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(b("v")),
        "before expiry",
        live: live
    );
    ctx.expire().await;
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "after expiry");
    Ok(())
}

async fn expired_entry_invisible_to_get_entry(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v"), Some(ctx.ttl())).await?;
    ctx.expire().await;
    ensure_eq!(
        ctx.store.get_entry(&c, "k").await?,
        None,
        "get_entry after expiry"
    );
    Ok(())
}

async fn expired_entry_invisible_to_get_many(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "short", b("s"), Some(ctx.ttl())).await?;
    ctx.store.put(&c, "long", b("l"), None).await?;
    ctx.expire().await;
    let got = ctx.store.get_many(&c, &["short", "long"]).await?;
    ensure_eq!(got, vec![None, Some(b("l"))], "get_many after expiry");
    Ok(())
}

async fn expired_entry_invisible_to_get_entries(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "short", b("s"), Some(ctx.ttl())).await?;
    ctx.store.put(&c, "long", b("l"), None).await?;
    ctx.expire().await;
    let got = ctx.store.get_entries(&c, &["short", "long"]).await?;
    ensure!(
        got.len() == 2,
        "get_entries returned {} results for 2 keys",
        got.len()
    );
    ensure!(got[0].is_none(), "expired entry returned by get_entries");
    ensure_eq!(
        got[1].as_ref().map(|e| e.value.clone()),
        Some(b("l")),
        "live entry"
    );
    Ok(())
}

async fn expired_entry_not_deleted_by_delete(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v"), Some(ctx.ttl())).await?;
    ctx.expire().await;
    ensure_eq!(
        ctx.store.delete(&c, "k").await?,
        false,
        "delete of an expired key"
    );
    ensure_eq!(
        ctx.store.delete_many(&c, &["k"]).await?,
        0,
        "delete_many of an expired key"
    );
    Ok(())
}

async fn ttl_is_never_rounded_down(ctx: Ctx) -> R {
    let c = ctx.coll();
    if ctx.manual() {
        // 1.5 s lives through its last millisecond and not one past.
        ctx.store
            .put(&c, "k", b("v"), Some(Duration::from_millis(1500)))
            .await?;
        ctx.pass(Duration::from_millis(1500)).await;
        ensure_eq!(
            ctx.store.get(&c, "k").await?,
            Some(b("v")),
            "at exactly 1.5 s"
        );
        ctx.pass(Duration::from_millis(2)).await;
        ensure_eq!(ctx.store.get(&c, "k").await?, None, "past 1.5 s");
    } else {
        // A 1.5 s TTL still holds at 1.2 s (a backend rounding to whole seconds fails this).
        // The read must also *end* within 1.5 s of the moment before the put, or the failure
        // is a stall, not a rounding (`Live`).
        let ttl = Duration::from_millis(1500);
        let live = ctx.live(ttl);
        ctx.store.put(&c, "k", b("v"), Some(ttl)).await?;
        ctx.pass(Duration::from_millis(1200).saturating_sub(live.since.elapsed()))
            .await;
        ensure_eq!(
            ctx.store.get(&c, "k").await?,
            Some(b("v")),
            "at 1.2 s of a 1.5 s ttl",
            live: live
        );
        ctx.pass(Duration::from_millis(900)).await;
        ensure_eq!(
            ctx.store.get(&c, "k").await?,
            None,
            "at 2.1 s of a 1.5 s ttl"
        );
    }
    Ok(())
}

async fn ttl_zero_rejected_everywhere(ctx: Ctx) -> R {
    let c = ctx.coll();
    let zero = Some(Duration::ZERO);
    expect_kind(
        ctx.store.put(&c, "k", b("v"), zero).await,
        ErrorKind::InvalidTtl,
        "put",
    )?;
    let batch = vec![("k".to_string(), b("v"))];
    expect_kind(
        ctx.store.put_many(&c, batch, zero).await,
        ErrorKind::InvalidTtl,
        "put_many",
    )?;
    if ctx.caps.put_if_absent {
        let r = ctx.store.put_if_absent(&c, "k", b("v"), zero).await;
        expect_kind(r, ErrorKind::InvalidTtl, "put_if_absent")?;
    }
    if ctx.caps.compare_and_swap {
        let r = ctx
            .store
            .compare_and_swap(&c, "k", None, Some(b("v")), zero)
            .await;
        expect_kind(r, ErrorKind::InvalidTtl, "compare_and_swap")?;
    }
    if ctx.caps.touch {
        ctx.store.put(&c, "t", b("v"), None).await?;
        expect_kind(
            ctx.store.touch(&c, "t", zero).await,
            ErrorKind::InvalidTtl,
            "touch",
        )?;
        ensure_eq!(
            ctx.store.get_entry(&c, "t").await?.map(|e| e.ttl),
            Some(None),
            "ttl after bad touch"
        );
    }
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "nothing written");
    Ok(())
}

async fn ttl_too_large_rejected(ctx: Ctx) -> R {
    let c = ctx.coll();
    let huge = Some(crate::rules::MAX_TTL + Duration::from_secs(1));
    expect_kind(
        ctx.store.put(&c, "k", b("v"), huge).await,
        ErrorKind::InvalidTtl,
        "put",
    )?;
    let absurd = Some(Duration::from_secs(u64::MAX));
    expect_kind(
        ctx.store.put(&c, "k", b("v"), absurd).await,
        ErrorKind::InvalidTtl,
        "put u64::MAX s",
    )?;
    let batch = vec![("k".to_string(), b("v"))];
    expect_kind(
        ctx.store.put_many(&c, batch, huge).await,
        ErrorKind::InvalidTtl,
        "put_many",
    )?;
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "nothing written");
    Ok(())
}

async fn ttl_of_a_hundred_years_accepted(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store
        .put(&c, "k", b("v"), Some(crate::rules::MAX_TTL))
        .await?;
    let e = ctx
        .store
        .get_entry(&c, "k")
        .await?
        .ok_or(Fail::new("entry missing"))?;
    check_remaining(e.ttl, crate::rules::MAX_TTL, Duration::from_secs(60))?;
    Ok(())
}

// ---------------------------------------------------------------- names

async fn empty_collection_rejected(ctx: Ctx) -> R {
    expect_kind(
        ctx.store.put("", "k", b("v"), None).await,
        ErrorKind::InvalidKey,
        "put",
    )?;
    expect_kind(ctx.store.get("", "k").await, ErrorKind::InvalidKey, "get")?;
    Ok(())
}

async fn empty_key_rejected(ctx: Ctx) -> R {
    let c = ctx.coll();
    expect_kind(
        ctx.store.put(&c, "", b("v"), None).await,
        ErrorKind::InvalidKey,
        "put",
    )?;
    expect_kind(ctx.store.get(&c, "").await, ErrorKind::InvalidKey, "get")?;
    expect_kind(
        ctx.store.delete(&c, "").await,
        ErrorKind::InvalidKey,
        "delete",
    )?;
    Ok(())
}

fn padded(prefix: &str, len: usize) -> String {
    let mut s = prefix.to_string();
    while s.len() < len {
        s.push(char::from(b'a' + (s.len() % 26) as u8));
    }
    s
}

async fn collection_at_max_length_works(ctx: Ctx) -> R {
    let c = ctx.register(padded(&ctx.coll(), ctx.caps.max_collection_bytes));
    ctx.store.put(&c, "k", b("v"), None).await?;
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(b("v")),
        "collection of max length"
    );
    // A second max-length collection differing only in the last byte stays apart.
    let mut c2 = c.clone();
    c2.pop();
    c2.push('#');
    let c2 = ctx.register(c2);
    ensure_eq!(
        ctx.store.get(&c2, "k").await?,
        None,
        "sibling of a max-length collection"
    );
    Ok(())
}

async fn collection_one_byte_over_rejected(ctx: Ctx) -> R {
    let c = padded(&ctx.coll(), ctx.caps.max_collection_bytes + 1);
    expect_kind(
        ctx.store.put(&c, "k", b("v"), None).await,
        ErrorKind::InvalidKey,
        "put",
    )?;
    expect_kind(ctx.store.get(&c, "k").await, ErrorKind::InvalidKey, "get")?;
    Ok(())
}

async fn key_at_max_length_works(ctx: Ctx) -> R {
    let c = ctx.coll();
    let k = padded("key-", ctx.caps.max_key_bytes);
    let mut k2 = k.clone();
    k2.pop();
    k2.push('#');
    ctx.store.put(&c, &k, b("v"), None).await?;
    ctx.store.put(&c, &k2, b("v2"), None).await?;
    ensure_eq!(
        ctx.store.get(&c, &k).await?,
        Some(b("v")),
        "key of max length"
    );
    ensure_eq!(
        ctx.store.get(&c, &k2).await?,
        Some(b("v2")),
        "sibling key of max length"
    );
    if ctx.caps.enumerate {
        let mut keys = all_keys(&ctx, &c).await?;
        keys.sort();
        let mut want = vec![k, k2];
        want.sort();
        ensure!(
            keys == want,
            "keys() of max-length keys differ from what was written"
        );
    }
    Ok(())
}

async fn key_one_byte_over_rejected(ctx: Ctx) -> R {
    let c = ctx.coll();
    let k = padded("key-", ctx.caps.max_key_bytes + 1);
    expect_kind(
        ctx.store.put(&c, &k, b("v"), None).await,
        ErrorKind::InvalidKey,
        "put",
    )?;
    expect_kind(ctx.store.get(&c, &k).await, ErrorKind::InvalidKey, "get")?;
    Ok(())
}

async fn bad_names_rejected_by_every_operation(ctx: Ctx) -> R {
    let c = ctx.coll();
    let long = padded("k", ctx.caps.max_key_bytes + 1);
    let k = long.as_str();
    expect_kind(
        ctx.store.get_entry(&c, k).await,
        ErrorKind::InvalidKey,
        "get_entry",
    )?;
    expect_kind(
        ctx.store.delete(&c, k).await,
        ErrorKind::InvalidKey,
        "delete",
    )?;
    expect_kind(
        ctx.store.get_many(&c, &["ok", k]).await,
        ErrorKind::InvalidKey,
        "get_many",
    )?;
    expect_kind(
        ctx.store.get_entries(&c, &["ok", k]).await,
        ErrorKind::InvalidKey,
        "get_entries",
    )?;
    expect_kind(
        ctx.store.delete_many(&c, &["ok", k]).await,
        ErrorKind::InvalidKey,
        "delete_many",
    )?;
    if ctx.caps.put_if_absent {
        let r = ctx.store.put_if_absent(&c, k, b("v"), None).await;
        expect_kind(r, ErrorKind::InvalidKey, "put_if_absent")?;
    }
    if ctx.caps.take {
        expect_kind(ctx.store.take(&c, k).await, ErrorKind::InvalidKey, "take")?;
    }
    if ctx.caps.compare_and_swap {
        let r = ctx
            .store
            .compare_and_swap(&c, k, None, Some(b("v")), None)
            .await;
        expect_kind(r, ErrorKind::InvalidKey, "compare_and_swap")?;
    }
    if ctx.caps.touch {
        expect_kind(
            ctx.store.touch(&c, k, None).await,
            ErrorKind::InvalidKey,
            "touch",
        )?;
    }
    if ctx.caps.enumerate {
        expect_kind(
            ctx.store.keys("", None, 10).await,
            ErrorKind::InvalidKey,
            "keys",
        )?;
        expect_kind(ctx.store.clear("").await, ErrorKind::InvalidKey, "clear")?;
    }
    Ok(())
}

/// Collects every key of `c` through `keys()` paging.
async fn all_keys(ctx: &Ctx, c: &str) -> Result<Vec<String>, Fail> {
    Ok(super::all_keys(ctx.store.as_ref(), c, 100).await?)
}

/// Writes and reads back names containing `special`, in the collection and in the key, and
/// checks keys() returns them exactly.
async fn special_names(ctx: Ctx, specials: &[&str]) -> R {
    for (i, special) in specials.iter().enumerate() {
        let c = ctx.coll_with(special);
        let keys = [
            special.to_string(),
            format!("k{i}{special}"),
            format!("{special}k{i}{special}"),
        ];
        for (j, k) in keys.iter().enumerate() {
            ctx.store.put(&c, k, b(&format!("v{j}")), None).await?;
        }
        for (j, k) in keys.iter().enumerate() {
            let got = ctx.store.get(&c, k).await?;
            ensure!(
                got == Some(b(&format!("v{j}"))),
                "name with {special:?}: wrong value for key #{j}"
            );
        }
        if ctx.caps.enumerate {
            let mut listed = all_keys(&ctx, &c).await?;
            listed.sort();
            let mut want = keys.to_vec();
            want.sort();
            want.dedup();
            ensure!(
                listed == want,
                "keys() for names with {special:?}: got {listed:?}, want {want:?}"
            );
            let cols = ctx.store.collections().await?;
            ensure!(
                cols.contains(&c),
                "collections() misses a collection with {special:?}"
            );
        }
        ensure_eq!(
            ctx.store.delete(&c, &keys[0]).await?,
            true,
            format!("delete with {special:?}")
        );
    }
    Ok(())
}

async fn names_with_double_colon(ctx: Ctx) -> R {
    special_names(ctx, &["::", "a::b", "::::"]).await
}
async fn names_with_slash(ctx: Ctx) -> R {
    special_names(ctx, &["/", "a/b/c", "//"]).await
}
async fn names_with_colon(ctx: Ctx) -> R {
    special_names(ctx, &[":", "a:b", ":x:"]).await
}
async fn names_with_glob_characters(ctx: Ctx) -> R {
    special_names(ctx, &["*", "?", "[", "]", "[a-z]", "*?[]", "^$.+|()"]).await
}
async fn names_with_braces(ctx: Ctx) -> R {
    special_names(ctx, &["{", "}", "{tag}", "}{", "{{}}"]).await
}
async fn names_with_quotes(ctx: Ctx) -> R {
    special_names(
        ctx,
        &["'", "\"", "`", "' OR 1=1 --", "\"; DROP TABLE kv; --"],
    )
    .await
}
async fn names_with_nul(ctx: Ctx) -> R {
    special_names(ctx, &["\0", "a\0b", "\0\0"]).await
}
async fn names_with_unicode(ctx: Ctx) -> R {
    special_names(ctx, &["é", "日本語", "🦀", "\u{200b}", "Ω≈ç√"]).await
}
async fn names_with_dot_dot(ctx: Ctx) -> R {
    special_names(ctx, &["..", "../..", "./", "..\\.."]).await
}
async fn names_with_whitespace_and_controls(ctx: Ctx) -> R {
    special_names(ctx, &[" ", "\t", "\n", "\r\n", "a b", "\u{7f}\u{1b}"]).await
}
async fn names_with_backslash_and_percent(ctx: Ctx) -> R {
    special_names(ctx, &["\\", "%", "%25", "\\x00", "%3A", "#", "&=?"]).await
}

async fn names_that_concatenate_alike_never_collide(ctx: Ctx) -> R {
    let base = ctx.coll();
    let pairs: Vec<(String, String)> = [
        ("a:b", "c"),
        ("a", "b:c"),
        ("a::b", "c"),
        ("a", ":b::c"),
        ("a/b", "c"),
        ("a", "b/c"),
        ("a\0b", "c"),
        ("a", "b\0c"),
        ("a{b}", "c"),
        ("a", "{b}c"),
        ("a%3Ab", "c"),
        ("a", "b%3Ac"),
    ]
    .iter()
    .map(|(c, k)| (ctx.register(format!("{base}{c}")), k.to_string()))
    .collect();
    for (i, (c, k)) in pairs.iter().enumerate() {
        ctx.store.put(c, k, b(&i.to_string()), None).await?;
    }
    for (i, (c, k)) in pairs.iter().enumerate() {
        let got = ctx.store.get(c, k).await?;
        ensure!(
            got == Some(b(&i.to_string())),
            "pair #{i} collided with another pair"
        );
    }
    Ok(())
}

async fn collection_prefixes_never_leak(ctx: Ctx) -> R {
    let base = ctx.coll();
    let names = ["", "*", "?", "[a]", "a", "ab", ":", "\\"];
    let colls: Vec<String> = names
        .iter()
        .map(|n| ctx.register(format!("{base}{n}")))
        .collect();
    for (i, c) in colls.iter().enumerate() {
        ctx.store.put(c, &format!("key{i}"), b("v"), None).await?;
    }
    if ctx.caps.enumerate {
        for (i, c) in colls.iter().enumerate() {
            let keys = all_keys(&ctx, c).await?;
            ensure!(
                keys == vec![format!("key{i}")],
                "keys() of collection #{i} leaks others: {keys:?}"
            );
        }
        ensure_eq!(
            ctx.store.clear(&colls[0]).await?,
            1,
            "clear of the bare prefix"
        );
        for c in &colls[1..] {
            ensure!(
                !all_keys(&ctx, c).await?.is_empty(),
                "clear of a prefix removed another collection"
            );
        }
    }
    Ok(())
}

async fn error_messages_hide_names_and_values(ctx: Ctx) -> R {
    let c = ctx.coll();
    let secret_key = padded("SECRET-KEY-", ctx.caps.max_key_bytes + 1);
    let e = ctx
        .store
        .put(&c, &secret_key, b("SECRET-VALUE"), None)
        .await;
    let msg = match e {
        Err(e) => format!("{e} {e:?}"),
        Ok(()) => return Err(Fail::new("an over-long key was accepted")),
    };
    ensure!(
        !msg.contains("SECRET"),
        "an error message contains the key or value: {msg}"
    );
    if ctx.caps.max_value_bytes <= SMALL_MAX_VALUE {
        let v = Bytes::from(padded("SECRET-VALUE-", ctx.caps.max_value_bytes + 1));
        let msg = match ctx.store.put(&c, "k", v, None).await {
            Err(e) => format!("{e} {e:?}"),
            Ok(()) => return Err(Fail::new("an oversized value was accepted")),
        };
        ensure!(
            !msg.contains("SECRET"),
            "an error message contains the value: {msg}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- values

/// Values above this are too big to allocate in a test; such stores skip the size cases.
pub(crate) const SMALL_MAX_VALUE: usize = 64 << 20;

async fn value_at_max_size_works(ctx: Ctx) -> R {
    let c = ctx.coll();
    let v = Bytes::from(vec![0x5a; ctx.caps.max_value_bytes]);
    ctx.store.put(&c, "k", v.clone(), None).await?;
    let got = ctx.store.get(&c, "k").await?;
    ensure!(
        got.as_ref().map(Bytes::len) == Some(v.len()),
        "value of max size did not round-trip"
    );
    ensure!(got == Some(v), "value of max size changed");
    Ok(())
}

async fn value_one_byte_over_rejected_nothing_written(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("before"), None).await?;
    let v = Bytes::from(vec![0x5a; ctx.caps.max_value_bytes + 1]);
    expect_kind(
        ctx.store.put(&c, "k", v.clone(), None).await,
        ErrorKind::ValueTooLarge,
        "put",
    )?;
    expect_kind(
        ctx.store.put(&c, "new", v.clone(), None).await,
        ErrorKind::ValueTooLarge,
        "put new",
    )?;
    if ctx.caps.put_if_absent {
        let r = ctx.store.put_if_absent(&c, "new", v.clone(), None).await;
        expect_kind(r, ErrorKind::ValueTooLarge, "put_if_absent")?;
    }
    if ctx.caps.compare_and_swap {
        let r = ctx
            .store
            .compare_and_swap(&c, "k", Some(b"before"), Some(v), None)
            .await;
        expect_kind(r, ErrorKind::ValueTooLarge, "compare_and_swap")?;
    }
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(b("before")),
        "old value kept"
    );
    ensure_eq!(ctx.store.get(&c, "new").await?, None, "nothing written");
    Ok(())
}

// ---------------------------------------------------------------- batches

async fn get_many_in_input_order_with_holes(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "a", b("1"), None).await?;
    ctx.store.put(&c, "c", b("3"), None).await?;
    let got = ctx.store.get_many(&c, &["c", "b", "a", "zz"]).await?;
    ensure_eq!(
        got,
        vec![Some(b("3")), None, Some(b("1")), None],
        "get_many"
    );
    Ok(())
}

async fn get_many_with_duplicates(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "a", b("1"), None).await?;
    let got = ctx.store.get_many(&c, &["a", "x", "a"]).await?;
    ensure_eq!(
        got,
        vec![Some(b("1")), None, Some(b("1"))],
        "get_many with duplicates"
    );
    Ok(())
}

async fn get_many_empty_is_empty(ctx: Ctx) -> R {
    let c = ctx.coll();
    ensure!(
        ctx.store.get_many(&c, &[]).await?.is_empty(),
        "get_many of nothing"
    );
    ensure!(
        ctx.store.get_entries(&c, &[]).await?.is_empty(),
        "get_entries of nothing"
    );
    Ok(())
}

async fn get_entries_in_order_with_ttls(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store
        .put(&c, "ttl", b("t"), Some(Duration::from_secs(60)))
        .await?;
    ctx.store.put(&c, "forever", b("f"), None).await?;
    let got = ctx
        .store
        .get_entries(&c, &["forever", "missing", "ttl"])
        .await?;
    ensure!(
        got.len() == 3,
        "get_entries returned {} results for 3 keys",
        got.len()
    );
    let f = got[0].as_ref().ok_or(Fail::new("forever missing"))?;
    ensure_eq!((f.value.clone(), f.ttl), (b("f"), None), "forever entry");
    ensure!(got[1].is_none(), "missing key returned");
    let t = got[2].as_ref().ok_or(Fail::new("ttl entry missing"))?;
    ensure_eq!(t.value, b("t"), "ttl entry value");
    check_remaining(t.ttl, Duration::from_secs(60), Duration::from_secs(5))
}

async fn put_many_then_get_many(ctx: Ctx) -> R {
    let c = ctx.coll();
    let entries: Vec<(String, Bytes)> = (0..20)
        .map(|i| (format!("k{i}"), b(&format!("v{i}"))))
        .collect();
    ctx.store.put_many(&c, entries, None).await?;
    let keys: Vec<String> = (0..20).rev().map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got = ctx.store.get_many(&c, &refs).await?;
    let want: Vec<Option<Bytes>> = (0..20).rev().map(|i| Some(b(&format!("v{i}")))).collect();
    ensure_eq!(got, want, "get_many after put_many");
    Ok(())
}

async fn put_many_last_duplicate_wins(ctx: Ctx) -> R {
    let c = ctx.coll();
    let entries = vec![
        ("k".to_string(), b("first")),
        ("other".to_string(), b("o")),
        ("k".to_string(), b("last")),
    ];
    ctx.store.put_many(&c, entries, None).await?;
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(b("last")),
        "duplicate in put_many"
    );
    Ok(())
}

async fn put_many_with_ttl_expires(ctx: Ctx) -> R {
    let c = ctx.coll();
    let entries = vec![("a".to_string(), b("1")), ("b".to_string(), b("2"))];
    let live = ctx.live(ctx.ttl());
    ctx.store.put_many(&c, entries, Some(ctx.ttl())).await?;
    let e = ctx
        .store
        .get_entry(&c, "a")
        .await?
        .ok_or_else(|| live.fail("entry missing"))?;
    ensure!(e.ttl.is_some(), "put_many with ttl stored no ttl");
    ctx.expire().await;
    ensure_eq!(
        ctx.store.get_many(&c, &["a", "b"]).await?,
        vec![None, None],
        "after expiry"
    );
    Ok(())
}

async fn put_many_empty_is_noop(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put_many(&c, Vec::new(), None).await?;
    ensure_eq!(
        ctx.store.delete_many(&c, &[]).await?,
        0,
        "delete_many of nothing"
    );
    Ok(())
}

async fn put_many_oversized_value_writes_nothing(ctx: Ctx) -> R {
    let c = ctx.coll();
    let entries = vec![
        ("a".to_string(), b("small")),
        (
            "b".to_string(),
            Bytes::from(vec![1u8; ctx.caps.max_value_bytes + 1]),
        ),
        ("c".to_string(), b("small")),
    ];
    expect_kind(
        ctx.store.put_many(&c, entries, None).await,
        ErrorKind::ValueTooLarge,
        "put_many",
    )?;
    ensure_eq!(
        ctx.store.get_many(&c, &["a", "b", "c"]).await?,
        vec![None, None, None],
        "nothing written"
    );
    Ok(())
}

async fn put_many_bad_key_writes_nothing(ctx: Ctx) -> R {
    let c = ctx.coll();
    let long = padded("k", ctx.caps.max_key_bytes + 1);
    for bad in [String::new(), long] {
        let entries = vec![
            ("a".to_string(), b("1")),
            (bad, b("2")),
            ("c".to_string(), b("3")),
        ];
        expect_kind(
            ctx.store.put_many(&c, entries, None).await,
            ErrorKind::InvalidKey,
            "put_many",
        )?;
    }
    ensure_eq!(
        ctx.store.get_many(&c, &["a", "c"]).await?,
        vec![None, None],
        "nothing written"
    );
    Ok(())
}

async fn put_many_bad_ttl_writes_nothing(ctx: Ctx) -> R {
    let c = ctx.coll();
    let entries = vec![("a".to_string(), b("1"))];
    let r = ctx.store.put_many(&c, entries, Some(Duration::ZERO)).await;
    expect_kind(r, ErrorKind::InvalidTtl, "put_many")?;
    ensure_eq!(ctx.store.get(&c, "a").await?, None, "nothing written");
    Ok(())
}

async fn get_many_bad_key_rejected(ctx: Ctx) -> R {
    let c = ctx.coll();
    expect_kind(
        ctx.store.get_many(&c, &["a", ""]).await,
        ErrorKind::InvalidKey,
        "get_many",
    )?;
    expect_kind(
        ctx.store.get_many("", &["a"]).await,
        ErrorKind::InvalidKey,
        "get_many bad collection",
    )?;
    Ok(())
}

async fn delete_many_counts_live_keys(ctx: Ctx) -> R {
    let c = ctx.coll();
    let entries: Vec<(String, Bytes)> = ["a", "b", "c"]
        .iter()
        .map(|k| (k.to_string(), b("v")))
        .collect();
    ctx.store.put_many(&c, entries, None).await?;
    ensure_eq!(
        ctx.store
            .delete_many(&c, &["a", "b", "c", "missing"])
            .await?,
        3,
        "delete_many count"
    );
    ensure_eq!(
        ctx.store.get_many(&c, &["a", "b", "c"]).await?,
        vec![None, None, None],
        "after delete_many"
    );
    Ok(())
}

async fn delete_many_counts_duplicates_once(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "a", b("v"), None).await?;
    ctx.store.put(&c, "b", b("v"), None).await?;
    ensure_eq!(
        ctx.store.delete_many(&c, &["a", "a", "b", "a"]).await?,
        2,
        "delete_many with duplicates"
    );
    Ok(())
}

async fn delete_many_empty_is_zero(ctx: Ctx) -> R {
    let c = ctx.coll();
    ensure_eq!(
        ctx.store.delete_many(&c, &[]).await?,
        0,
        "delete_many of nothing"
    );
    Ok(())
}

async fn batch_of_500_round_trips_in_order(ctx: Ctx) -> R {
    let c = ctx.coll();
    let n = 500.min(ctx.caps.max_batch);
    let entries: Vec<(String, Bytes)> = (0..n)
        .map(|i| (format!("key-{i:04}"), b(&format!("value-{i}"))))
        .collect();
    ctx.store
        .put_many(&c, entries, Some(Duration::from_secs(600)))
        .await?;
    let keys: Vec<String> = (0..n)
        .map(|i| format!("key-{:04}", (i * 7919) % n))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let got = ctx.store.get_many(&c, &refs).await?;
    ensure!(
        got.len() == n,
        "get_many returned {} results for {n} keys",
        got.len()
    );
    for (i, v) in got.iter().enumerate() {
        let want = b(&format!("value-{}", (i * 7919) % n));
        ensure!(
            v.as_ref() == Some(&want),
            "result #{i} of a {n}-key get_many is out of order"
        );
    }
    ensure_eq!(
        ctx.store.delete_many(&c, &refs).await?,
        n as u64,
        "delete_many count"
    );
    Ok(())
}

async fn concurrent_workers_on_distinct_keys(ctx: Ctx) -> R {
    let c = ctx.coll();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = ctx.store.clone();
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let k = format!("w{w}-k{i}");
                let v = Bytes::from(format!("w{w}-v{i}"));
                store.put(&c, &k, v.clone(), None).await?;
                if store.get(&c, &k).await? != Some(v) {
                    return Ok::<bool, Error>(false);
                }
                if !store.delete(&c, &k).await? {
                    return Ok(false);
                }
            }
            Ok(true)
        }));
    }
    for t in tasks {
        let ok = t
            .await
            .map_err(|e| Fail::new(format!("worker failed: {e}")))??;
        ensure!(ok, "a worker read back something else than it wrote");
    }
    Ok(())
}

// ---------------------------------------------------------------- atomic operations

async fn put_if_absent_on_absent_key(ctx: Ctx) -> R {
    let c = ctx.coll();
    ensure_eq!(
        ctx.store.put_if_absent(&c, "k", b("v"), None).await?,
        true,
        "put_if_absent on absent"
    );
    ensure_eq!(ctx.store.get(&c, "k").await?, Some(b("v")), "value written");
    Ok(())
}

async fn put_if_absent_on_present_key(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("old"), None).await?;
    ensure_eq!(
        ctx.store.put_if_absent(&c, "k", b("new"), None).await?,
        false,
        "put_if_absent on present"
    );
    ensure_eq!(ctx.store.get(&c, "k").await?, Some(b("old")), "value kept");
    Ok(())
}

async fn put_if_absent_on_expired_key(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("old"), Some(ctx.ttl())).await?;
    ctx.expire().await;
    ensure_eq!(
        ctx.store.put_if_absent(&c, "k", b("new"), None).await?,
        true,
        "put_if_absent on expired"
    );
    let e = ctx
        .store
        .get_entry(&c, "k")
        .await?
        .ok_or(Fail::new("entry missing"))?;
    ensure_eq!(
        (e.value, e.ttl),
        (b("new"), None),
        "new entry without the old ttl"
    );
    Ok(())
}

async fn put_if_absent_with_ttl_expires(ctx: Ctx) -> R {
    let c = ctx.coll();
    ensure!(
        ctx.store
            .put_if_absent(&c, "k", b("v"), Some(ctx.ttl()))
            .await?,
        "put_if_absent failed"
    );
    ctx.expire().await;
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "after expiry");
    Ok(())
}

async fn put_if_absent_validates_first(ctx: Ctx) -> R {
    let c = ctx.coll();
    expect_kind(
        ctx.store.put_if_absent(&c, "", b("v"), None).await,
        ErrorKind::InvalidKey,
        "empty key",
    )?;
    let huge = Some(crate::rules::MAX_TTL * 2);
    expect_kind(
        ctx.store.put_if_absent(&c, "k", b("v"), huge).await,
        ErrorKind::InvalidTtl,
        "huge ttl",
    )?;
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "nothing written");
    Ok(())
}

async fn take_present_key(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v"), None).await?;
    ensure_eq!(ctx.store.take(&c, "k").await?, Some(b("v")), "take");
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "after take");
    Ok(())
}

async fn take_absent_key(ctx: Ctx) -> R {
    let c = ctx.coll();
    ensure_eq!(ctx.store.take(&c, "k").await?, None, "take of absent");
    Ok(())
}

async fn take_expired_key(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v"), Some(ctx.ttl())).await?;
    ctx.expire().await;
    ensure_eq!(ctx.store.take(&c, "k").await?, None, "take of expired");
    Ok(())
}

async fn take_twice(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store
        .put(&c, "k", b("v"), Some(Duration::from_secs(60)))
        .await?;
    ensure_eq!(ctx.store.take(&c, "k").await?, Some(b("v")), "first take");
    ensure_eq!(ctx.store.take(&c, "k").await?, None, "second take");
    Ok(())
}

async fn cas_matching_swaps(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("old"), None).await?;
    let swapped = ctx
        .store
        .compare_and_swap(&c, "k", Some(b"old"), Some(b("new")), None)
        .await?;
    ensure!(swapped, "matching compare_and_swap did not swap");
    ensure_eq!(ctx.store.get(&c, "k").await?, Some(b("new")), "after swap");
    Ok(())
}

async fn cas_not_matching_keeps_value(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("old"), None).await?;
    let swapped = ctx
        .store
        .compare_and_swap(&c, "k", Some(b"other"), Some(b("new")), None)
        .await?;
    ensure!(!swapped, "non-matching compare_and_swap swapped");
    // A prefix of the stored value is not a match either.
    let swapped = ctx
        .store
        .compare_and_swap(&c, "k", Some(b"ol"), Some(b("new")), None)
        .await?;
    ensure!(!swapped, "compare_and_swap matched a prefix");
    ensure_eq!(ctx.store.get(&c, "k").await?, Some(b("old")), "value kept");
    Ok(())
}

async fn cas_absent_with_none_inserts(ctx: Ctx) -> R {
    let c = ctx.coll();
    ensure!(
        ctx.store
            .compare_and_swap(&c, "k", None, Some(b("v")), None)
            .await?,
        "insert by cas failed"
    );
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(b("v")),
        "after insert by cas"
    );
    Ok(())
}

async fn cas_absent_with_some_fails(ctx: Ctx) -> R {
    let c = ctx.coll();
    let swapped = ctx
        .store
        .compare_and_swap(&c, "k", Some(b"v"), Some(b("new")), None)
        .await?;
    ensure!(!swapped, "cas expecting a value swapped an absent key");
    let swapped = ctx
        .store
        .compare_and_swap(&c, "k", Some(b""), Some(b("new")), None)
        .await?;
    ensure!(
        !swapped,
        "cas expecting an empty value swapped an absent key"
    );
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "nothing written");
    Ok(())
}

async fn cas_present_with_none_fails(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", Bytes::new(), None).await?;
    let swapped = ctx
        .store
        .compare_and_swap(&c, "k", None, Some(b("new")), None)
        .await?;
    ensure!(
        !swapped,
        "cas expecting absence swapped a present (empty) value"
    );
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(Bytes::new()),
        "value kept"
    );
    Ok(())
}

async fn cas_deletes_with_new_none(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v"), None).await?;
    ensure!(
        !ctx.store
            .compare_and_swap(&c, "k", Some(b"x"), None, None)
            .await?,
        "delete by wrong cas"
    );
    ensure!(
        ctx.store
            .compare_and_swap(&c, "k", Some(b"v"), None, None)
            .await?,
        "delete by cas failed"
    );
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "after delete by cas");
    Ok(())
}

async fn cas_treats_expired_as_absent(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("old"), Some(ctx.ttl())).await?;
    ctx.expire().await;
    let swapped = ctx
        .store
        .compare_and_swap(&c, "k", Some(b"old"), Some(b("new")), None)
        .await?;
    ensure!(!swapped, "cas matched an expired value");
    ensure!(
        ctx.store
            .compare_and_swap(&c, "k", None, Some(b("new")), None)
            .await?,
        "cas from absent over expired failed"
    );
    ensure_eq!(ctx.store.get(&c, "k").await?, Some(b("new")), "after cas");
    Ok(())
}

async fn cas_sets_ttl(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("old"), None).await?;
    let live = ctx.live(ctx.ttl());
    ensure!(
        ctx.store
            .compare_and_swap(&c, "k", Some(b"old"), Some(b("new")), Some(ctx.ttl()))
            .await?,
        "cas failed"
    );
    let e = ctx
        .store
        .get_entry(&c, "k")
        .await?
        .ok_or_else(|| live.fail("entry missing"))?;
    ensure!(e.ttl.is_some(), "cas with ttl stored no ttl");
    ctx.expire().await;
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "after the cas ttl");
    Ok(())
}

async fn cas_without_ttl_clears_ttl(ctx: Ctx) -> R {
    let c = ctx.coll();
    let live = ctx.live(ctx.ttl());
    ctx.store.put(&c, "k", b("old"), Some(ctx.ttl())).await?;
    ensure_live!(
        live,
        ctx.store
            .compare_and_swap(&c, "k", Some(b"old"), Some(b("new")), None)
            .await?,
        "cas failed"
    );
    ctx.expire().await;
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        Some(b("new")),
        "cas without ttl must clear the ttl"
    );
    Ok(())
}

async fn touch_sets_ttl(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v"), None).await?;
    let live = ctx.live(ctx.ttl());
    ensure!(
        ctx.store.touch(&c, "k", Some(ctx.ttl())).await?,
        "touch of a live key"
    );
    ensure_live!(
        live,
        ctx.store
            .get_entry(&c, "k")
            .await?
            .and_then(|e| e.ttl)
            .is_some(),
        "touch set no ttl"
    );
    ctx.expire().await;
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "after the touched ttl");
    Ok(())
}

async fn touch_none_clears_ttl(ctx: Ctx) -> R {
    let c = ctx.coll();
    let live = ctx.live(ctx.ttl());
    ctx.store.put(&c, "k", b("v"), Some(ctx.ttl())).await?;
    ensure_live!(
        live,
        ctx.store.touch(&c, "k", None).await?,
        "touch of a live key"
    );
    ctx.expire().await;
    let e = ctx
        .store
        .get_entry(&c, "k")
        .await?
        .ok_or(Fail::new("touch(None) did not persist the key"))?;
    ensure_eq!(e.ttl, None, "ttl after touch(None)");
    Ok(())
}

async fn touch_missing_key_is_false(ctx: Ctx) -> R {
    let c = ctx.coll();
    ensure!(
        !ctx.store
            .touch(&c, "k", Some(Duration::from_secs(5)))
            .await?,
        "touch of a missing key"
    );
    ensure_eq!(ctx.store.get(&c, "k").await?, None, "touch created a key");
    Ok(())
}

async fn touch_expired_key_is_false(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v"), Some(ctx.ttl())).await?;
    ctx.expire().await;
    ensure!(
        !ctx.store
            .touch(&c, "k", Some(Duration::from_secs(60)))
            .await?,
        "touch revived an expired key"
    );
    ensure_eq!(
        ctx.store.get(&c, "k").await?,
        None,
        "expired key visible after touch"
    );
    Ok(())
}

async fn touch_keeps_value(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store
        .put(&c, "k", b("v"), Some(Duration::from_secs(30)))
        .await?;
    ensure!(
        ctx.store
            .touch(&c, "k", Some(Duration::from_secs(3600)))
            .await?,
        "touch failed"
    );
    let e = ctx
        .store
        .get_entry(&c, "k")
        .await?
        .ok_or(Fail::new("entry missing"))?;
    ensure_eq!(e.value, b("v"), "value after touch");
    check_remaining(e.ttl, Duration::from_secs(3600), Duration::from_secs(5))
}

const RACERS: usize = 32;

/// Runs `RACERS` tasks started together; returns how many reported a win.
async fn race<F, Fut>(ctx: &Ctx, f: F) -> Result<usize, Fail>
where
    F: Fn(std::sync::Arc<dyn crate::KvStore>, usize) -> Fut,
    Fut: std::future::Future<Output = crate::Result<bool>> + Send + 'static,
{
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(RACERS));
    let mut tasks = Vec::with_capacity(RACERS);
    for i in 0..RACERS {
        let fut = f(ctx.store.clone(), i);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await
            .map_err(|e| Fail::new(format!("racer failed: {e}")))??
        {
            wins += 1;
        }
    }
    Ok(wins)
}

async fn race_take_one_winner(ctx: Ctx) -> R {
    let c = ctx.coll();
    for round in 0..ctx.race_rounds {
        ctx.store
            .put(&c, "k", b(&format!("grant-{round}")), None)
            .await?;
        let wins = race(&ctx, |store, _| {
            let c = c.clone();
            async move { Ok(store.take(&c, "k").await?.is_some()) }
        })
        .await?;
        ensure!(
            wins == 1,
            "round {round}: {wins} of {RACERS} concurrent takes won"
        );
    }
    Ok(())
}

async fn race_put_if_absent_one_winner(ctx: Ctx) -> R {
    let c = ctx.coll();
    for round in 0..ctx.race_rounds {
        let key = format!("k{round}");
        let wins = race(&ctx, |store, i| {
            let (c, key) = (c.clone(), key.clone());
            async move {
                store
                    .put_if_absent(&c, &key, Bytes::from(format!("racer-{i}")), None)
                    .await
            }
        })
        .await?;
        ensure!(
            wins == 1,
            "round {round}: {wins} of {RACERS} concurrent put_if_absent won"
        );
        ctx.store.delete(&c, &key).await?;
    }
    Ok(())
}

async fn race_compare_and_swap_one_winner(ctx: Ctx) -> R {
    let c = ctx.coll();
    let rounds = ctx.race_rounds.min(50);
    for round in 0..rounds {
        let current = format!("state-{round}");
        ctx.store.put(&c, "k", b(&current), None).await?;
        let wins = race(&ctx, |store, i| {
            let (c, current) = (c.clone(), current.clone());
            async move {
                store
                    .compare_and_swap(
                        &c,
                        "k",
                        Some(current.as_bytes()),
                        Some(Bytes::from(format!("racer-{i}"))),
                        None,
                    )
                    .await
            }
        })
        .await?;
        ensure!(
            wins == 1,
            "round {round}: {wins} of {RACERS} concurrent compare_and_swap won"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- enumeration and maintenance

async fn keys_of_empty_collection(ctx: Ctx) -> R {
    let c = ctx.coll();
    let page = ctx.store.keys(&c, None, 10).await?;
    ensure!(
        page.keys.is_empty() && page.next.is_none(),
        "keys() of an empty collection: {page:?}"
    );
    Ok(())
}

async fn keys_lists_every_key(ctx: Ctx) -> R {
    let c = ctx.coll();
    let want: Vec<String> = (0..10).map(|i| format!("key-{i}")).collect();
    let entries = want.iter().map(|k| (k.clone(), b("v"))).collect();
    ctx.store.put_many(&c, entries, None).await?;
    let mut got = all_keys(&ctx, &c).await?;
    got.sort();
    ensure_eq!(got, want, "keys()");
    Ok(())
}

async fn keys_paging_returns_each_key_once(ctx: Ctx) -> R {
    let c = ctx.coll();
    let n = 53;
    let entries = (0..n).map(|i| (format!("key-{i:03}"), b("v"))).collect();
    ctx.store.put_many(&c, entries, None).await?;
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = ctx.store.keys(&c, cursor, 7).await?;
        ensure!(
            page.keys.len() <= 7,
            "a page of limit 7 held {} keys",
            page.keys.len()
        );
        seen.extend(page.keys);
        pages += 1;
        ensure!(pages < 1000, "paging never ended");
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    let total = seen.len();
    seen.sort();
    seen.dedup();
    ensure!(
        total == n && seen.len() == n,
        "paging returned {total} keys ({} distinct) for {n}",
        seen.len()
    );
    Ok(())
}

async fn keys_paging_survives_concurrent_writes(ctx: Ctx) -> R {
    let c = ctx.coll();
    let stable: Vec<String> = (0..40).map(|i| format!("stable-{i:02}")).collect();
    let entries = stable.iter().map(|k| (k.clone(), b("v"))).collect();
    ctx.store.put_many(&c, entries, None).await?;
    let mut seen = Vec::new();
    let mut cursor = None;
    let mut i = 0;
    loop {
        let page = ctx.store.keys(&c, cursor, 6).await?;
        seen.extend(page.keys);
        // Churn between pages: new keys everywhere in the order, and deletions of others.
        ctx.store
            .put(&c, &format!("churn-{i:02}"), b("v"), None)
            .await?;
        ctx.store
            .put(&c, &format!("zzz-{i:02}"), b("v"), None)
            .await?;
        ctx.store
            .delete(&c, &format!("churn-{:02}", i.max(1) - 1))
            .await?;
        i += 1;
        ensure!(i < 1000, "paging never ended");
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    for k in &stable {
        let count = seen.iter().filter(|s| *s == k).count();
        ensure!(count == 1, "a key live throughout was listed {count} times");
    }
    Ok(())
}

async fn keys_skips_expired(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "short", b("v"), Some(ctx.ttl())).await?;
    ctx.store.put(&c, "long", b("v"), None).await?;
    ctx.expire().await;
    ensure_eq!(
        all_keys(&ctx, &c).await?,
        vec!["long".to_string()],
        "keys() after expiry"
    );
    Ok(())
}

async fn keys_zero_limit_rejected(ctx: Ctx) -> R {
    let c = ctx.coll();
    expect_kind(
        ctx.store.keys(&c, None, 0).await,
        ErrorKind::InvalidKey,
        "keys with limit 0",
    )
}

async fn clear_removes_and_counts(ctx: Ctx) -> R {
    let c = ctx.coll();
    let entries = (0..12).map(|i| (format!("k{i}"), b("v"))).collect();
    ctx.store.put_many(&c, entries, None).await?;
    ensure_eq!(ctx.store.clear(&c).await?, 12, "clear count");
    ensure!(
        all_keys(&ctx, &c).await?.is_empty(),
        "keys left after clear"
    );
    ensure_eq!(ctx.store.get(&c, "k3").await?, None, "get after clear");
    ensure_eq!(
        ctx.store.clear(&c).await?,
        0,
        "clear of an empty collection"
    );
    Ok(())
}

async fn clear_leaves_other_collections(ctx: Ctx) -> R {
    let (c1, c2) = (ctx.coll(), ctx.coll());
    ctx.store.put(&c1, "k", b("v"), None).await?;
    ctx.store.put(&c2, "k", b("v"), None).await?;
    ctx.store.clear(&c1).await?;
    ensure_eq!(
        ctx.store.get(&c2, "k").await?,
        Some(b("v")),
        "other collection after clear"
    );
    Ok(())
}

async fn collections_lists_collections(ctx: Ctx) -> R {
    let (c1, c2) = (ctx.coll(), ctx.coll());
    ctx.store.put(&c1, "k", b("v"), None).await?;
    ctx.store.put(&c2, "k", b("v"), None).await?;
    let cols = ctx.store.collections().await?;
    ensure!(
        cols.contains(&c1) && cols.contains(&c2),
        "collections() misses new collections"
    );
    let mut sorted = cols.clone();
    sorted.sort();
    sorted.dedup();
    ensure!(
        sorted.len() == cols.len(),
        "collections() lists a collection twice"
    );
    ctx.store.clear(&c1).await?;
    let cols = ctx.store.collections().await?;
    ensure!(
        !cols.contains(&c1),
        "collections() lists a cleared collection"
    );
    Ok(())
}

async fn cull_removes_expired_entries(ctx: Ctx) -> R {
    let c = ctx.coll();
    let short = (0..3).map(|i| (format!("short-{i}"), b("v"))).collect();
    ctx.store.put_many(&c, short, Some(ctx.ttl())).await?;
    ctx.store.put(&c, "long", b("v"), None).await?;
    ctx.expire().await;
    let removed = ctx.store.cull().await?;
    ensure!(
        removed >= 3,
        "cull removed {removed} entries, expected at least 3"
    );
    ensure_eq!(
        all_keys(&ctx, &c).await?,
        vec!["long".to_string()],
        "keys after cull"
    );
    ensure_eq!(
        ctx.store.get(&c, "long").await?,
        Some(b("v")),
        "live entry after cull"
    );
    Ok(())
}

async fn eviction_in_bounded_store(ctx: Ctx) -> R {
    let bound = ctx.caps.max_entries_per_collection.unwrap_or(0);
    ensure!(bound > 1, "bounded store with a bound of {bound}");
    if bound > 20_000 {
        return Err(Fail::new(format!(
            "bound {bound} too large for the eviction case; use ≤ 20000"
        )));
    }
    let c = ctx.coll();
    for i in 0..bound {
        ctx.store.put(&c, &format!("k{i}"), b("v"), None).await?;
    }
    // Reading k0 makes it the most recently used; k1 is now the least.
    ensure!(
        ctx.store.get(&c, "k0").await?.is_some(),
        "k0 missing before eviction"
    );
    ctx.store.put(&c, "extra", b("v"), None).await?;
    ensure!(
        ctx.store.get(&c, "k0").await?.is_some(),
        "a recently read entry was evicted"
    );
    ensure_eq!(
        ctx.store.get(&c, "k1").await?,
        None,
        "the least recently used entry stayed"
    );
    ensure!(
        ctx.store.get(&c, "extra").await?.is_some(),
        "the new entry is missing"
    );
    let n = all_keys(&ctx, &c).await?.len();
    ensure_eq!(n, bound, "entries after eviction");
    // The bound is per collection: another collection is unaffected.
    let other = ctx.coll();
    ctx.store.put(&other, "k", b("v"), None).await?;
    ensure!(
        ctx.store.get(&c, "extra").await?.is_some(),
        "writing another collection evicted here"
    );
    Ok(())
}

// ---------------------------------------------------------------- typed collections and sessions

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq, Clone)]
struct Doc {
    name: String,
    tags: Vec<String>,
    count: u64,
}

async fn typed_collection_round_trips(ctx: Ctx) -> R {
    let c = ctx.coll();
    let docs: crate::Collection<Doc> = crate::Collection::new(ctx.store.clone(), c);
    let d = Doc {
        name: "ada".into(),
        tags: vec!["x".into()],
        count: 3,
    };
    docs.put("d", &d, None).await?;
    ensure_eq!(docs.get("d").await?, Some(d.clone()), "typed get");
    ensure_eq!(
        docs.get_many(&["d", "none"]).await?,
        vec![Some(d.clone()), None],
        "typed get_many"
    );
    ensure!(docs.delete("d").await?, "typed delete");
    Ok(())
}

async fn typed_collection_undecodable_is_corrupted(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "bad", b("{not json"), None).await?;
    ctx.store.put(&c, "wrong", b("[1,2,3]"), None).await?;
    let docs: crate::Collection<Doc> = crate::Collection::new(ctx.store.clone(), c);
    expect_kind(docs.get("bad").await, ErrorKind::Corrupted, "undecodable")?;
    expect_kind(docs.get("wrong").await, ErrorKind::Corrupted, "wrong shape")?;
    expect_kind(
        docs.get_many(&["bad"]).await,
        ErrorKind::Corrupted,
        "get_many undecodable",
    )?;
    Ok(())
}

async fn typed_update_counts_every_increment(ctx: Ctx) -> R {
    let c = ctx.coll();
    let counters: crate::Collection<u64> = crate::Collection::new(ctx.store.clone(), c);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let counters = counters.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                counters
                    .update("n", None, |n| Some(n.unwrap_or(0) + 1))
                    .await?;
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await
            .map_err(|e| Fail::new(format!("task failed: {e}")))??;
    }
    ensure_eq!(
        counters.get("n").await?,
        Some(80),
        "counter after 80 concurrent increments"
    );
    Ok(())
}

fn session_id(ctx: &Ctx) -> String {
    let c = ctx.coll();
    // The session's data collection is named after its id: clean it up with the case.
    ctx.register(format!("{}{c}", crate::session::SESSION_PREFIX));
    c
}

async fn session_scopes_and_ends(ctx: Ctx) -> R {
    let (id1, id2) = (session_id(&ctx), session_id(&ctx));
    let s1 = ctx.session(&id1, Duration::from_secs(600))?;
    let s2 = ctx.session(&id2, Duration::from_secs(600))?;
    s1.put("cursor", b("one")).await?;
    s2.put("cursor", b("two")).await?;
    ensure_eq!(s1.get("cursor").await?, Some(b("one")), "session 1");
    ensure_eq!(s2.get("cursor").await?, Some(b("two")), "session 2");
    ensure!(s1.is_active().await?, "session 1 not active");
    s1.end().await?;
    ensure_eq!(s1.get("cursor").await?, None, "session 1 after end");
    ensure!(!s1.is_active().await?, "session 1 active after end");
    ensure_eq!(
        s2.get("cursor").await?,
        Some(b("two")),
        "session 2 after session 1 ended"
    );
    s2.end().await?;
    Ok(())
}

async fn session_expires_when_idle(ctx: Ctx) -> R {
    let id = session_id(&ctx);
    let idle = ctx.ttl();
    let s = ctx.session(&id, idle)?;
    s.put("k", b("v")).await?;
    ctx.expire().await;
    ensure_eq!(s.get("k").await?, None, "session entry after idle expiry");
    ensure!(!s.is_active().await?, "session active after idle expiry");
    Ok(())
}

async fn session_access_refreshes_idle_ttl(ctx: Ctx) -> R {
    let id = session_id(&ctx);
    let idle = ctx.ttl() * 2;
    let s = ctx.session(&id, idle)?;
    let mut live = ctx.live(idle);
    s.put("a", b("1")).await?;
    s.put("b", b("2")).await?;
    // Access every 0.6 × idle, three times: 1.8 × idle in all, longer than the idle TTL and
    // than the entries' own TTL; "b" is never read directly. Each access must come within
    // `idle` of the one before it (of the puts, first), or the failure is a stall (`Live`).
    for step in 0..3 {
        ctx.pass(idle.mul_f64(0.6)).await;
        let next = ctx.live(idle);
        ensure_eq!(
            s.get("a").await?,
            Some(b("1")),
            format!("entry a at step {step}"),
            live: live
        );
        live = next;
    }
    ensure_eq!(
        s.get("b").await?,
        Some(b("2")),
        "an entry not accessed directly expired while the session lived",
        live: live
    );
    Ok(())
}

/// The case's own checks, and the suite's retry: a read that stalled past the TTL is disturbed
/// and run again, a TTL rounded down still fails.
#[cfg(test)]
mod ttl_case_tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use async_trait::async_trait;

    use super::*;
    use crate::{Capabilities, Entry, KvStore};

    type Map = HashMap<(String, String), (Bytes, Option<Instant>)>;

    /// A map with expiry on `Instant`s: `round_down` truncates TTLs to whole seconds; each of
    /// the next `stalls` reads sleeps 400 ms first.
    #[derive(Debug, Default)]
    struct Toy {
        map: Mutex<Map>,
        round_down: bool,
        stalls: AtomicUsize,
    }

    #[async_trait]
    impl KvStore for Toy {
        fn capabilities(&self) -> Capabilities {
            Capabilities::default()
        }

        async fn get_entry(&self, c: &str, k: &str) -> crate::Result<Option<Entry>> {
            if self
                .stalls
                .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
            let now = Instant::now();
            let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            Ok(map
                .get(&(c.to_string(), k.to_string()))
                .filter(|(_, at)| at.is_none_or(|at| now <= at))
                .map(|(value, at)| Entry {
                    value: value.clone(),
                    ttl: at.map(|at| at.saturating_duration_since(now)),
                }))
        }

        async fn put(
            &self,
            c: &str,
            k: &str,
            v: Bytes,
            ttl: Option<Duration>,
        ) -> crate::Result<()> {
            let ttl = ttl.map(|t| match self.round_down {
                true => Duration::from_secs(t.as_secs()),
                false => t,
            });
            let at = ttl.map(|t| Instant::now() + t);
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.insert((c.to_string(), k.to_string()), (v, at));
            Ok(())
        }

        async fn delete(&self, c: &str, k: &str) -> crate::Result<bool> {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            Ok(map.remove(&(c.to_string(), k.to_string())).is_some())
        }
    }

    fn ctx(store: Toy) -> Ctx {
        Ctx {
            store: Arc::new(store),
            caps: Capabilities::default(),
            clock: None,
            run_id: "self-test".into(),
            case: "ttl_is_never_rounded_down",
            counter: Arc::new(AtomicU64::new(0)),
            created: Arc::new(Mutex::new(Vec::new())),
            race_rounds: 1,
            short_ttl: Duration::from_millis(500),
        }
    }

    /// The Toy as the only case's store, on real time.
    fn suite_of_the_case() -> super::super::Suite {
        let mut suite = super::super::Suite::new("toy (real time)");
        suite.only = Some("ttl_is_never_rounded_down".into());
        suite
    }

    #[tokio::test]
    async fn a_read_that_stalled_past_the_ttl_is_disturbed_not_failed() {
        let store = Toy {
            stalls: AtomicUsize::new(1),
            ..Toy::default()
        };
        let fail = ttl_is_never_rounded_down(ctx(store)).await.err();
        assert!(fail.is_some_and(|f| f.disturbed));
    }

    #[tokio::test]
    async fn a_ttl_rounded_down_to_whole_seconds_fails_undisturbed() {
        let store = Toy {
            round_down: true,
            ..Toy::default()
        };
        let fail = ttl_is_never_rounded_down(ctx(store)).await.err();
        assert!(fail.is_some_and(|f| !f.disturbed && f.msg.contains("at 1.2 s")));
    }

    #[tokio::test]
    async fn the_suite_runs_a_disturbed_case_again() {
        let store = Toy {
            stalls: AtomicUsize::new(1),
            ..Toy::default()
        };
        let report = suite_of_the_case().run(Arc::new(store)).await;
        assert_eq!(report.passed, ["ttl_is_never_rounded_down"], "{report}");
        assert!(report.failed.is_empty(), "{report}");
    }

    #[tokio::test]
    async fn the_suite_fails_a_case_disturbed_on_every_attempt() {
        let store = Toy {
            stalls: AtomicUsize::new(usize::MAX),
            ..Toy::default()
        };
        let report = suite_of_the_case().run(Arc::new(store)).await;
        assert!(report.passed.is_empty(), "{report}");
        let [(name, why)] = report.failed.as_slice() else {
            panic!("one failure expected: {report}");
        };
        assert_eq!(*name, "ttl_is_never_rounded_down");
        assert!(
            why.contains("disturbed on every one of 3 attempts"),
            "{why}"
        );
    }
}
