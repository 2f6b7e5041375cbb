//! Group commit for the hot write paths (token issue, refresh rotation, code
//! redemption, audit rows).
//!
//! Callers hand a closure to a writer thread and block until its batch has
//! committed. The thread takes every job waiting in the queue, runs each one
//! in its own savepoint inside one transaction, and commits once. Under load
//! one commit then covers many requests: SQLite appends each changed page to
//! its WAL once per batch instead of once per request, and PostgreSQL
//! flushes its WAL once per batch. A job that fails rolls back only its own
//! savepoint; the batch still commits. The result reaches the caller only
//! after the commit, so nothing is reported done that could still be lost.
//!
//! Jobs run one after another, so a batch behaves exactly as if its jobs had
//! committed one by one in queue order: conditional updates (a code used
//! once, a refresh token retired once) keep their meaning.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use diesel::Connection;
use diesel::result::Error as DieselError;

use super::{Conn, Store, StoreError, StoreResult};

/// The most jobs one transaction takes; bounds how long a batch holds the
/// SQLite write lock.
const MAX_BATCH: usize = 128;

/// Runs one job in the open transaction (or, given no connection, skips it);
/// returns what delivers its result once the commit outcome is known.
type Job = Box<dyn FnOnce(Option<&mut Conn>) -> Completion + Send>;
type Completion = Box<dyn FnOnce(Option<&BatchFailure>) + Send>;

/// Why a whole batch failed, handed to every job in it.
#[derive(Debug, Clone)]
struct BatchFailure {
    unavailable: bool,
    message: String,
}

/// The queue in front of the writer threads.
pub(super) struct Writer {
    queue: Sender<Job>,
}

impl Writer {
    /// Starts `threads` writers draining one queue. `store` is what they
    /// write through; it must not itself hold a writer.
    pub(super) fn start(store: Store, threads: usize) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..threads.max(1) {
            let (store, jobs) = (store.clone(), jobs.clone());
            std::thread::Builder::new()
                .name(format!("db-writer-{i}"))
                .spawn(move || run(&store, &jobs))?;
        }
        Ok(Self { queue })
    }

    /// Queues `f` and waits for its batch to commit.
    pub(super) fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&mut Conn) -> Result<T, DieselError> + Send + 'static,
        T: Send + 'static,
    {
        let (done, outcome) = mpsc::sync_channel::<StoreResult<T>>(1);
        self.queue.send(job(f, done)).map_err(|_| writer_gone())?;
        outcome.recv().unwrap_or_else(|_| Err(writer_gone()))
    }
}

fn job<T, F>(f: F, done: SyncSender<StoreResult<T>>) -> Job
where
    F: FnOnce(&mut Conn) -> Result<T, DieselError> + Send + 'static,
    T: Send + 'static,
{
    Box::new(move |conn: Option<&mut Conn>| {
        // A nested transaction is a savepoint: a failing job undoes only
        // its own statements.
        let result = conn.map(|conn| conn.transaction(f));
        Box::new(move |failure: Option<&BatchFailure>| {
            let outcome = match failure {
                Some(f) => Err(StoreError::Batch {
                    unavailable: f.unavailable,
                    message: f.message.clone(),
                }),
                None => match result {
                    Some(result) => result.map_err(StoreError::from),
                    None => Err(writer_gone()),
                },
            };
            // The caller may have gone; nothing to do then.
            let _ = done.send(outcome);
        })
    })
}

fn writer_gone() -> StoreError {
    StoreError::Batch {
        unavailable: true,
        message: "the database writer stopped".into(),
    }
}

/// A writer thread: until every queue handle is dropped, take a batch, run
/// it, deliver the outcome.
fn run(store: &Store, jobs: &Mutex<Receiver<Job>>) {
    loop {
        let batch = {
            let jobs = jobs.lock().unwrap_or_else(|e| e.into_inner());
            let Ok(first) = jobs.recv() else { return };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        // A panicking job must not take the writer down with it; its
        // callers see the dropped channel as an error.
        let _ = catch_unwind(AssertUnwindSafe(|| commit(store, batch)));
    }
}

fn commit(store: &Store, batch: Vec<Job>) {
    let mut completions = Vec::with_capacity(batch.len());
    let outcome = match store.write_conn() {
        Ok(mut conn) => conn
            .transaction(|conn| {
                for job in batch {
                    completions.push(job(Some(&mut *conn)));
                }
                Ok::<_, DieselError>(())
            })
            .map_err(StoreError::from),
        Err(e) => {
            completions.extend(batch.into_iter().map(|job| job(None)));
            Err(e)
        }
    };
    let failure = outcome.err().map(|e| BatchFailure {
        unavailable: e.is_unavailable(),
        message: e.to_string(),
    });
    // An outage is logged once by the pool; any other failure here.
    if let Some(f) = failure.as_ref().filter(|f| !f.unavailable) {
        tracing::warn!(error = %f.message, jobs = completions.len(), "write batch failed");
    }
    for complete in completions {
        complete(failure.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use diesel::prelude::*;

    use super::super::schema::server_secrets;
    use super::*;

    fn insert(name: String) -> impl FnOnce(&mut Conn) -> Result<usize, DieselError> {
        move |conn| {
            diesel::insert_into(server_secrets::table)
                .values((server_secrets::name.eq(name), server_secrets::value.eq("v")))
                .execute(conn)
        }
    }

    /// Many writers at once: every job's own outcome comes back, a failing
    /// job (a duplicate key) undoes only itself, and what succeeded is there.
    #[test]
    fn a_failing_job_does_not_sink_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("w.db");
        let store = Store::open(url.to_str().unwrap(), 4, Duration::from_secs(5)).unwrap();
        store.write(insert("taken".into())).unwrap();
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let name = if i % 4 == 0 {
                        "taken".to_owned()
                    } else {
                        format!("n{i}")
                    };
                    store.write(insert(name))
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let outcome = h.join().unwrap();
            match i % 4 {
                0 => assert!(
                    matches!(outcome, Err(StoreError::Query(ref e)) if super::super::is_unique_violation(e))
                ),
                _ => assert_eq!(outcome.unwrap(), 1),
            }
        }
        let mut conn = store.conn().unwrap();
        let rows: i64 = server_secrets::table
            .count()
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(rows, 1 + 30);
    }
}
