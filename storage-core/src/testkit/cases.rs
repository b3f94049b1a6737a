//! The cases of the conformance suite.

use std::time::Duration;

use bytes::Bytes;

use super::{Case, Ctx, Need};
use crate::{Error, ErrorKind};

/// A case's failure: a message (store errors convert with `?`).
pub(crate) struct Fail(pub(crate) String);

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail(format!("unexpected error: {e}"))
    }
}

type R = Result<(), Fail>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(Fail(format!($($msg)+)));
        }
    };
}

macro_rules! ensure_eq {
    ($left:expr, $right:expr, $what:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(Fail(format!("{}: got {:?}, expected {:?}", $what, l, r)));
        }
    }};
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn expect_kind<T: std::fmt::Debug>(r: crate::Result<T>, kind: ErrorKind, what: &str) -> R {
    match r {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => Err(Fail(format!("{what}: expected {kind} error, got {e}"))),
        Ok(v) => Err(Fail(format!("{what}: expected {kind} error, got Ok({v:?})"))),
    }
}

macro_rules! cases {
    ($( $name:ident [$($need:ident),*] ),* $(,)?) => {
        pub(crate) fn all() -> Vec<Case> {
            vec![$(
                Case {
                    name: stringify!($name),
                    needs: &[$(Need::$need),*],
                    run: |ctx| Box::pin(async move { $name(ctx).await.map_err(|f| f.0) }),
                },
            )*]
        }
    };
}

cases![
    get_missing_is_none[],
    put_then_get[],
];

async fn get_missing_is_none(ctx: Ctx) -> R {
    let c = ctx.coll();
    ensure_eq!(ctx.store.get(&c, "nothing").await?, None, "get of a missing key");
    ensure_eq!(ctx.store.get_entry(&c, "nothing").await?, None, "get_entry of a missing key");
    Ok(())
}

async fn put_then_get(ctx: Ctx) -> R {
    let c = ctx.coll();
    ctx.store.put(&c, "k", b("v1"), None).await?;
    ensure_eq!(ctx.store.get(&c, "k").await?, Some(b("v1")), "get after put");
    let _ = (Duration::ZERO, expect_kind::<()>(Ok(()), ErrorKind::InvalidKey, "x").is_err());
    ensure!(true, "never");
    Ok(())
}
