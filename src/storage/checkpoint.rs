//! Checkpoints of the SQLite write-ahead log, on a thread of their own.
//!
//! A commit appends the pages it changed to the WAL; a checkpoint copies
//! them back into the database file and syncs both files. Left to SQLite,
//! the commit that takes the WAL past 1,000 pages runs the checkpoint
//! itself, before it returns, while the writer waits: under a refresh load
//! that was a dozen checkpoints a second, each with two `fsync`s (about
//! 3 ms each here), and every queued commit waiting behind them.
//!
//! Here automatic checkpoints wait for 10,000 pages (a safety net for a
//! second process writing the same file, or this thread failing), and this thread
//! copies the WAL back four times a second:
//! 1. passive checkpoints while writers carry on, each copying what the
//!    commits added during the one before, until few pages are left; each
//!    page is copied once per pass however often it changed;
//! 2. a last one holding this process's writer lock, so that no commit
//!    adds pages meanwhile. The WAL is then wholly copied and the next
//!    commit starts it again from the beginning.
//!
//! Writers wait only for that last step (a few hundred pages). Without it
//! the WAL never starts again under a steady write load (new pages always
//! arrive before a checkpoint is done) and grows without bound: 1.8 GB in
//! eight seconds of refreshes, measured. With it, the WAL file stays as
//! long as the most a quarter of a second of writes has needed: up to
//! about 100 MB under the refresh benchmark, a few MB under ordinary load
//! (SQLite shrinks it only when the last connection closes).
//!
//! A reader still using older pages can keep a round from finishing; the
//! next round tries again. When the last connection closes, SQLite copies
//! what is left and removes the WAL, as before.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Integer;

/// How often the WAL is copied back.
const INTERVAL: Duration = Duration::from_millis(250);

/// What one checkpoint did, in WAL frames (pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Checkpoint {
    /// 1 when it could not start (another checkpoint was running).
    #[diesel(sql_type = Integer)]
    pub busy: i32,
    /// Frames in the WAL.
    #[diesel(sql_type = Integer)]
    pub log: i32,
    /// Frames now copied into the database file.
    #[diesel(sql_type = Integer)]
    pub checkpointed: i32,
}

type Reply = SyncSender<QueryResult<Checkpoint>>;

/// The running checkpoint thread; it checkpoints once more and stops when
/// this is dropped.
pub(super) struct Checkpointer {
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "held so that the thread stops with the store")
    )]
    requests: Mutex<Sender<Reply>>,
}

/// This process's SQLite writer lock (see `Store`).
pub(super) type WriterLock = Arc<Mutex<()>>;

impl Checkpointer {
    /// Starts the thread for the database at `path`, whose writers in
    /// this process take `writers` first.
    pub(super) fn start(path: &str, writers: WriterLock) -> std::io::Result<Self> {
        let (requests, received) = channel::<Reply>();
        let path = path.to_owned();
        std::thread::Builder::new()
            .name("db-checkpoint".into())
            .spawn(move || run(&path, &writers, &received))?;
        Ok(Self {
            requests: Mutex::new(requests),
        })
    }

    /// Checkpoints now and reports what it did; `None` if the thread is
    /// gone.
    #[cfg(test)]
    pub(super) fn now(&self) -> Option<QueryResult<Checkpoint>> {
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.requests.lock().ok()?.send(reply).ok()?;
        answer.recv().ok()
    }
}

fn run(path: &str, writers: &Mutex<()>, requests: &Receiver<Reply>) {
    let mut conn = None;
    let mut failing = false;
    loop {
        let request = requests.recv_timeout(INTERVAL);
        let outcome = copy_back(path, &mut conn, writers);
        match &outcome {
            Ok(_) if failing => {
                failing = false;
                tracing::info!("WAL checkpoints work again");
            }
            Ok(_) => {}
            Err(e) => {
                // Opened afresh for the next try; logged once per failure.
                conn = None;
                if !failing {
                    failing = true;
                    tracing::warn!(error = %e, "WAL checkpoint failed; the WAL grows until one succeeds");
                }
            }
        }
        match request {
            Ok(reply) => {
                let _ = reply.send(outcome);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Frames a round may leave to its last step, which writers wait for.
const LAST_STEP_FRAMES: i32 = 256;
/// Passes while writers carry on, at most, before the last step.
const MAX_PASSES: usize = 4;

/// One round: passive checkpoints while writers carry on, each copying what
/// commits added during the one before, until few frames are left (or
/// after `MAX_PASSES`); then the rest with this process's writers held,
/// unless nothing at all was added (an idle database).
fn copy_back(
    path: &str,
    conn: &mut Option<SqliteConnection>,
    writers: &Mutex<()>,
) -> QueryResult<Checkpoint> {
    let mut last = checkpoint(path, conn)?;
    let mut added = 0;
    for _ in 1..MAX_PASSES {
        let next = checkpoint(path, conn)?;
        // `log` is the WAL's length when a pass starts; it went down if
        // the WAL started again meanwhile.
        added = next.log - last.log;
        last = next;
        if added < LAST_STEP_FRAMES {
            break;
        }
    }
    if added == 0 && last.checkpointed == last.log {
        return Ok(last);
    }
    let _writers = writers.lock().unwrap_or_else(|e| e.into_inner());
    checkpoint(path, conn)
}

fn checkpoint(path: &str, conn: &mut Option<SqliteConnection>) -> QueryResult<Checkpoint> {
    let conn = match conn {
        Some(conn) => conn,
        None => conn.insert(
            SqliteConnection::establish(path)
                .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?,
        ),
    };
    diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Store;

    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = Integer)]
        wal_autocheckpoint: i32,
    }

    fn event(i: usize) -> crate::storage::audit::AuditRecord {
        crate::storage::audit::AuditRecord {
            id: format!("event-{i}"),
            at: 0,
            kind: "test".into(),
            outcome: "success".into(),
            actor_user_id: None,
            subject_user_id: None,
            client_id: None,
            source_ip: None,
            detail: Some("x".repeat(500)),
        }
    }

    fn open(dir: &tempfile::TempDir) -> Store {
        let path = dir.path().join("wal.db").display().to_string();
        Store::open(&path, 2, Duration::from_secs(5)).unwrap()
    }

    /// Commits leave the WAL to the checkpoint thread, which copies all of
    /// it back.
    #[test]
    fn the_checkpoint_thread_copies_what_commits_leave_in_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let setting: Setting = diesel::sql_query("PRAGMA wal_autocheckpoint")
            .get_result(&mut *store.conn().unwrap())
            .unwrap();
        assert_eq!(setting.wal_autocheckpoint, 10_000);
        // Opening migrated the database; copy that out of the way first.
        store.checkpoint_now().unwrap().unwrap();
        // Past SQLite's default threshold of 1,000 pages, short of the net: nothing was
        // copied back by a commit.
        for i in 0..500 {
            store.insert_audit(event(i)).unwrap();
        }
        let done = store.checkpoint_now().unwrap().unwrap();
        assert_eq!(done.busy, 0);
        assert!(done.log > 1000, "{done:?}");
        assert_eq!(done.checkpointed, done.log, "{done:?}");
    }

    /// While commits keep coming, the WAL is still wholly copied now and
    /// then, so that it starts again from the beginning instead of growing
    /// for as long as the load lasts.
    #[test]
    fn the_wal_starts_again_under_a_steady_write_load() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let stop = Arc::new(AtomicBool::new(false));
        let committed = Arc::new(AtomicUsize::new(0));
        let writing = {
            let (store, stop, committed) = (store.clone(), stop.clone(), committed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = committed.load(Ordering::Relaxed);
                    store.insert_audit(event(i)).unwrap();
                    committed.store(i + 1, Ordering::Relaxed);
                }
            })
        };
        // The WAL's length at each round, with commits between any two:
        // it only grows unless it starts again.
        let lengths: Vec<i32> = (0..8)
            .map(|_| {
                let enough = committed.load(Ordering::Relaxed) + 50;
                while committed.load(Ordering::Relaxed) < enough {
                    std::thread::yield_now();
                }
                store.checkpoint_now().unwrap().unwrap().log
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        writing.join().unwrap();
        assert!(lengths.windows(2).any(|w| w[1] < w[0]), "{lengths:?}");
    }
}
