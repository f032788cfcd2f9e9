//! The `dl_revocations` table: one row per revocation, read back as the state document. The
//! events that write it (in `sessions`, `users`, `files`, `links`) insert their record with
//! `insert_record!` inside the transaction that makes the change itself.

use super::{Pool, on_pool};

/// What a record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A person: every link with `sgen` below the record's generation.
    Sub,
    /// An object path: every link with `ogen` below the record's generation.
    Obj,
    /// A session's opaque id: every link minted from it.
    Sid,
    /// One link.
    Jti,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sub => "sub",
            Kind::Obj => "obj",
            Kind::Sid => "sid",
            Kind::Jti => "jti",
        }
    }

    fn parse(kind: &str) -> Option<Self> {
        Some(match kind {
            "sub" => Kind::Sub,
            "obj" => Kind::Obj,
            "sid" => Kind::Sid,
            "jti" => Kind::Jti,
            _ => return None,
        })
    }
}

/// When a record is made and until when it is kept (`now + retain`).
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub now: i64,
    pub until: i64,
}

/// Inserts one record on the transaction `$tx`: `insert_record!(tx, Kind::Sid, &sid, 0, stamp)`.
macro_rules! insert_record {
    ($tx:expr, $kind:expr, $key:expr, $gen:expr, $stamp:expr) => {
        sqlx::query(
            "INSERT INTO dl_revocations (kind, key, gen, created_at, until_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind($kind.as_str())
        .bind($key)
        .bind($gen)
        .bind($stamp.now)
        .bind($stamp.until)
        .execute(&mut *$tx)
        .await
    };
}
pub(crate) use insert_record;

/// A live record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub key: String,
    pub gen_: i64,
}

/// The number of the newest revocation ever made (0 when none) and every record still kept at
/// `now`.
pub async fn live(pool: &Pool, now: i64) -> sqlx::Result<(i64, Vec<Record>)> {
    let (seq, rows): (i64, Vec<(String, String, i64)>) = on_pool!(pool, |p| {
        let mut conn = p.acquire().await?;
        // seq first: a record committed in between is in the rows, and a later seq makes the
        // next poll answer at once; the other order could hand out a seq without its record.
        let seq = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM dl_revocations")
            .fetch_one(&mut *conn)
            .await?;
        let rows = sqlx::query_as(
            "SELECT kind, key, gen FROM dl_revocations WHERE until_at > $1 ORDER BY seq",
        )
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        (seq, rows)
    });
    let records = rows
        .into_iter()
        .filter_map(|(kind, key, gen_)| {
            Some(Record {
                kind: Kind::parse(&kind)?,
                key,
                gen_,
            })
        })
        .collect();
    Ok((seq, records))
}

/// What changes whenever a record is added or swept: `(MAX(seq), COUNT(*))`. The count also
/// moves when a record with a lower seq commits after a higher one (PostgreSQL), which MAX alone
/// would miss.
pub async fn version(pool: &Pool) -> sqlx::Result<(i64, i64)> {
    on_pool!(pool, |p| {
        sqlx::query_as("SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM dl_revocations")
            .fetch_one(p)
            .await
    })
}

/// Deletes the records no longer kept, except the newest one: `MAX(seq)` is the state's `seq`
/// and must never go down.
pub async fn delete_ended(pool: &Pool, now: i64) -> sqlx::Result<u64> {
    Ok(on_pool!(pool, |p| {
        sqlx::query(
            "DELETE FROM dl_revocations WHERE until_at <= $1
             AND seq < (SELECT MAX(seq) FROM dl_revocations)",
        )
        .bind(now)
        .execute(p)
        .await?
        .rows_affected()
    }))
}

#[cfg(test)]
mod tests {
    use super::{Kind, Record, Stamp, delete_ended, live, version};
    use crate::db::{self, Pool, on_pool};

    async fn sqlite() -> (tempfile::TempDir, Pool) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("app.db").display());
        let pool = db::open(&url).await.unwrap();
        (dir, pool)
    }

    async fn record(pool: &Pool, kind: Kind, key: &str, gen_: i64, stamp: Stamp) {
        on_pool!(pool, |p| {
            let mut tx = p.begin().await.unwrap();
            insert_record!(tx, kind, key, gen_, stamp).unwrap();
            tx.commit().await.unwrap();
        });
    }

    #[tokio::test]
    async fn ended_records_leave_the_state_and_the_sweep_never_lowers_seq() {
        let (_dir, pool) = sqlite().await;
        assert_eq!(live(&pool, 0).await.unwrap(), (0, vec![]));
        record(
            &pool,
            Kind::Sid,
            "s1",
            0,
            Stamp {
                now: 100,
                until: 200,
            },
        )
        .await;
        record(
            &pool,
            Kind::Sub,
            "u1",
            2,
            Stamp {
                now: 150,
                until: 250,
            },
        )
        .await;
        let sub = Record {
            kind: Kind::Sub,
            key: "u1".into(),
            gen_: 2,
        };
        assert_eq!(live(&pool, 199).await.unwrap().1.len(), 2);
        assert_eq!(live(&pool, 200).await.unwrap(), (2, vec![sub.clone()]));
        assert_eq!(live(&pool, 250).await.unwrap(), (2, vec![]));
        // Both ended; the newest row stays so MAX(seq) stays 2 ...
        assert_eq!(delete_ended(&pool, 300).await.unwrap(), 1);
        assert_eq!(version(&pool).await.unwrap(), (2, 1));
        assert_eq!(live(&pool, 300).await.unwrap(), (2, vec![]));
        // ... and the next record is 3, never a reused number.
        record(
            &pool,
            Kind::Jti,
            "j",
            0,
            Stamp {
                now: 300,
                until: 400,
            },
        )
        .await;
        assert_eq!(live(&pool, 300).await.unwrap().0, 3);
        assert_eq!(delete_ended(&pool, 300).await.unwrap(), 1);
        assert_eq!(version(&pool).await.unwrap(), (3, 1));
    }
}
