//! Group commit for the hot write paths (token issue, refresh rotation, code
//! redemption, audit rows).
//!
//! Callers hand a closure to a writer thread and block until it has
//! committed. The thread takes every job waiting in the queue, runs them one
//! after another in one transaction, and commits once. Under load one commit
//! then covers many requests: SQLite appends each changed page to its WAL
//! once per batch instead of once per request, and PostgreSQL flushes its
//! WAL once per batch. The result reaches the caller only after the commit,
//! so nothing is reported done before the database has accepted it (as
//! durable as its settings make a commit: on SQLite, WAL with
//! `synchronous = NORMAL` survives a crash of the process, not of the
//! machine's power).
//!
//! A caller that finds nothing queued and a writer idle does not wait for
//! the thread: it takes the writer's connection and commits its job itself,
//! a batch of one.
//! Handing the job over costs two thread wake-ups (the writer's, then the
//! caller's), and on a busy machine each is a context switch or an
//! inter-processor interrupt; that was a large share of what a login costs
//! outside hashing. Once writes contend, callers find every writer busy,
//! queue, and are committed together as before; while anything is queued,
//! callers queue behind it rather than overtake it.
//!
//! Jobs run one after another, so a batch behaves exactly as if its jobs had
//! committed one by one in queue order: conditional updates (a code used
//! once, a refresh token retired once) keep their meaning. A job whose
//! statements fail (rare: a constraint, a lost connection) must not take the
//! others down, so the batch is then rolled back and every job runs again
//! in a transaction of its own. That is cheaper than a savepoint around every
//! job, which would cost two more statements per job on the common path, and
//! it is why a job may run more than once: it must do nothing but its
//! statements.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};

use diesel::connection::SimpleConnection;
use diesel::r2d2::ManageConnection;
use diesel::result::Error as DieselError;

use super::backend::Manager;
use super::{Conn, Store, StoreError, StoreResult, query_unavailable};

/// The most jobs one transaction takes; bounds how long a batch holds the
/// SQLite write lock.
const MAX_BATCH: usize = 128;

/// A queued write and the caller waiting for it.
trait Job: Send {
    /// Runs the job's statements in the open transaction and keeps their
    /// result.
    fn run(&mut self, conn: &mut Conn) -> Ran;
    /// Hands the caller its result, or the failure of its transaction.
    fn finish(self: Box<Self>, failure: Option<&StoreError>);
}

/// How a job's statements went.
enum Ran {
    Ok,
    /// Its own failure (a constraint, a panic): the job keeps the error.
    Failed,
    /// The database went away or timed out: the whole batch fails with it.
    Unavailable(StoreError),
}

struct Pending<T, F> {
    f: F,
    result: Option<Result<T, DieselError>>,
    done: Reply<T>,
}

/// Where a job's outcome goes: a thread blocked on it, or a task awaiting
/// it (which holds no thread while the batch commits).
enum Reply<T> {
    Blocking(SyncSender<StoreResult<T>>),
    Async(tokio::sync::oneshot::Sender<StoreResult<T>>),
}

impl<T, F> Job for Pending<T, F>
where
    F: FnMut(&mut Conn) -> Result<T, DieselError> + Send,
    T: Send,
{
    fn run(&mut self, conn: &mut Conn) -> Ran {
        // A panic fails this job alone, like any other error of its own.
        let result = catch_unwind(AssertUnwindSafe(|| (self.f)(conn))).unwrap_or_else(|_| {
            Err(DieselError::QueryBuilderError(
                "a database write panicked".into(),
            ))
        });
        let ran = match &result {
            Ok(_) => Ran::Ok,
            Err(e) => unavailable(e).map_or(Ran::Failed, Ran::Unavailable),
        };
        self.result = Some(result);
        ran
    }

    fn finish(self: Box<Self>, failure: Option<&StoreError>) {
        let outcome = match (failure, self.result) {
            (Some(e), _) => Err(StoreError::Write {
                unavailable: e.is_unavailable(),
                // Not wrapped twice in "database write failed".
                message: match e {
                    StoreError::Write { message, .. } => message.clone(),
                    other => other.to_string(),
                },
            }),
            (None, Some(result)) => result.map_err(StoreError::from),
            (None, None) => Err(writer_gone()),
        };
        // The caller may have gone; nothing to do then.
        let _ = match self.done {
            Reply::Blocking(done) => done.send(outcome).ok(),
            Reply::Async(done) => done.send(outcome).ok(),
        };
    }
}

/// The error as a batch failure, when it means the database is away or
/// overloaded rather than this job wrong.
fn unavailable(e: &DieselError) -> Option<StoreError> {
    query_unavailable(e).then(|| StoreError::Write {
        unavailable: true,
        message: e.to_string(),
    })
}

type Queue = Box<dyn Job>;

/// The queue in front of the writer threads, and the writers themselves
/// (each a connection), for callers that find one idle.
pub(super) struct Writer {
    queue: Sender<Queue>,
    /// Jobs sent and not yet taken into a batch.
    queued: Arc<AtomicUsize>,
    writers: Vec<Arc<Mutex<Thread>>>,
}

impl Writer {
    /// Starts `threads` writers draining one queue, each with a connection
    /// of its own (its page cache stays warm: it is the only one writing).
    /// `store` supplies the SQLite writer lock and outage reporting; it must
    /// not itself hold a writer.
    pub(super) fn start(store: Store, manager: Manager, threads: usize) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Queue>();
        let jobs = Arc::new(Mutex::new(jobs));
        let manager = Arc::new(manager);
        let queued = Arc::new(AtomicUsize::new(0));
        let mut writers = Vec::new();
        for i in 0..threads.max(1) {
            let writer = Arc::new(Mutex::new(Thread {
                store: store.clone(),
                manager: manager.clone(),
                conn: None,
            }));
            writers.push(writer.clone());
            let (jobs, queued) = (jobs.clone(), queued.clone());
            std::thread::Builder::new()
                .name(format!("db-writer-{i}"))
                .spawn(move || serve(&writer, &jobs, &queued))?;
        }
        Ok(Self {
            queue,
            queued,
            writers,
        })
    }

    /// Commits `f` on an idle writer's connection right here when nothing
    /// is queued, or queues it and waits until it has committed.
    pub(super) fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnMut(&mut Conn) -> Result<T, DieselError> + Send + 'static,
        T: Send + 'static,
    {
        let (done, outcome) = mpsc::sync_channel::<StoreResult<T>>(1);
        let job = pending(f, Reply::Blocking(done));
        let idle = match self.queued.load(Ordering::Acquire) {
            0 => self.writers.iter().find_map(|w| w.try_lock().ok()),
            _ => None,
        };
        match idle {
            Some(mut idle) => idle.commit_guarded(vec![job]),
            None => self.send(job)?,
        }
        outcome.recv().unwrap_or_else(|_| Err(writer_gone()))
    }

    /// Queues `f`; the returned future resolves once it has committed.
    /// Queuing never blocks, so an async task can hand over a write
    /// without a blocking thread waiting for the commit on its behalf.
    pub(super) fn write_async<T, F>(&self, f: F) -> impl Future<Output = StoreResult<T>> + use<T, F>
    where
        F: FnMut(&mut Conn) -> Result<T, DieselError> + Send + 'static,
        T: Send + 'static,
    {
        let (done, outcome) = tokio::sync::oneshot::channel::<StoreResult<T>>();
        let queued = self.send(pending(f, Reply::Async(done)));
        async move {
            queued?;
            outcome.await.unwrap_or_else(|_| Err(writer_gone()))
        }
    }

    fn send(&self, job: Queue) -> StoreResult<()> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        self.queue.send(job).map_err(|_| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            writer_gone()
        })
    }
}

/// `f` as a job whose outcome goes to `done`.
fn pending<T, F>(f: F, done: Reply<T>) -> Queue
where
    F: FnMut(&mut Conn) -> Result<T, DieselError> + Send + 'static,
    T: Send + 'static,
{
    Box::new(Pending {
        f,
        result: None,
        done,
    })
}

fn writer_gone() -> StoreError {
    StoreError::Write {
        unavailable: true,
        message: "the database writer stopped".into(),
    }
}

/// A writer's connection, used by its thread for queued batches and by
/// callers that find it idle.
struct Thread {
    store: Store,
    manager: Arc<Manager>,
    conn: Option<Conn>,
}

/// A writer thread, until every queue handle is dropped: take a batch,
/// run it on the writer's connection, deliver the outcome.
fn serve(writer: &Mutex<Thread>, jobs: &Mutex<Receiver<Queue>>, queued: &AtomicUsize) {
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
        let mut writer = writer.lock().unwrap_or_else(|e| e.into_inner());
        // Counted out only once this thread holds its writer, so that no
        // caller slips in ahead of the batch meanwhile.
        queued.fetch_sub(batch.len(), Ordering::AcqRel);
        writer.commit_guarded(batch);
    }
}

impl Thread {
    fn commit_guarded(&mut self, batch: Vec<Queue>) {
        // A panicking job must not take the writer down with it; its
        // callers see the dropped channel as an error.
        if catch_unwind(AssertUnwindSafe(|| self.commit(batch))).is_err() {
            self.conn = None;
        }
    }

    fn commit(&mut self, mut batch: Vec<Queue>) {
        // A connection that died while idle (a database restart) fails at
        // BEGIN, before any job ran: reconnect and try once more. After
        // BEGIN nothing is retried: a COMMIT whose answer was lost may have
        // taken effect, and running the jobs again would apply them twice
        // (a refresh would then see its own rotation as reuse).
        let had_conn = self.conn.is_some();
        let mut outcome = self.execute(&mut batch);
        if matches!(outcome, Outcome::NotBegun(_)) && had_conn && self.conn.is_none() {
            outcome = self.execute(&mut batch);
        }
        match outcome {
            Outcome::Done(failures) => {
                for (job, failure) in batch.into_iter().zip(failures) {
                    job.finish(failure.as_ref());
                }
            }
            Outcome::NotBegun(e) | Outcome::Failed(e) => {
                // An outage is logged once by the store; anything else here.
                if !e.is_unavailable() {
                    tracing::warn!(error = %e, jobs = batch.len(), "write batch failed");
                }
                for job in batch {
                    job.finish(Some(&e));
                }
            }
        }
    }

    /// Runs the batch in one transaction, or job by job if one of them fails
    /// on its own.
    fn execute(&mut self, batch: &mut [Queue]) -> Outcome {
        let _guard = self.store.sqlite_write_lock();
        let conn = match &mut self.conn {
            Some(conn) => conn,
            slot => match self.manager.connect() {
                Ok(conn) => {
                    self.store.reachable();
                    slot.insert(conn)
                }
                Err(e) => {
                    self.store.unreachable(&e);
                    return Outcome::NotBegun(StoreError::Write {
                        unavailable: true,
                        message: format!("cannot connect: {e}"),
                    });
                }
            },
        };
        let outcome = match begin(conn) {
            Err(e) => Outcome::NotBegun(e),
            Ok(()) => together(conn, batch),
        };
        let lost = match &outcome {
            Outcome::NotBegun(e) | Outcome::Failed(e) => e.is_unavailable(),
            Outcome::Done(_) => false,
        };
        if lost {
            // Whatever state it is in, it is not trusted again.
            self.conn = None;
        }
        outcome
    }
}

/// How a batch ended.
enum Outcome {
    /// Every job committed, or each ran in its own transaction and carries
    /// its own result (`Some` failure for a job whose commit failed).
    Done(Vec<Option<StoreError>>),
    /// The transaction could not even begin; no job ran. Safe to retry.
    NotBegun(StoreError),
    /// The batch failed after it began: rolled back, or (a failed COMMIT)
    /// of unknown outcome. Never retried.
    Failed(StoreError),
}

/// Opens the writer transaction. On SQLite `BEGIN IMMEDIATE` takes the
/// write lock at once, waiting for it under `busy_timeout`; a deferred
/// transaction that reads first would instead fail at its first write
/// whenever another connection (the CLI, another process) holds the lock.
/// The transaction is managed here, not by diesel: jobs run plain
/// statements and never open transactions of their own.
fn begin(conn: &mut Conn) -> StoreResult<()> {
    let sql = match conn {
        Conn::Sqlite(_) => "BEGIN IMMEDIATE",
        Conn::Postgresql(_) => "BEGIN",
    };
    Ok(conn.batch_execute(sql)?)
}

fn rollback(conn: &mut Conn) {
    // A failed rollback leaves a connection the next BEGIN will reject;
    // that failure is reported then.
    let _ = conn.batch_execute("ROLLBACK");
}

/// All jobs, one commit.
fn together(conn: &mut Conn, batch: &mut [Queue]) -> Outcome {
    for job in batch.iter_mut() {
        match job.run(conn) {
            Ran::Ok => {}
            Ran::Unavailable(e) => {
                rollback(conn);
                return Outcome::Failed(e);
            }
            Ran::Failed if batch.len() == 1 => {
                // Alone already: it keeps its own error.
                rollback(conn);
                return Outcome::Done(vec![None]);
            }
            Ran::Failed => {
                rollback(conn);
                // Nothing was committed: each job runs again on its own.
                let failures = batch.iter_mut().map(|job| alone(conn, job.as_mut()));
                return Outcome::Done(failures.collect());
            }
        }
    }
    match conn.batch_execute("COMMIT") {
        Ok(()) => Outcome::Done(batch.iter().map(|_| None).collect()),
        Err(e) => {
            rollback(conn);
            Outcome::Failed(e.into())
        }
    }
}

/// Runs one job in a transaction of its own. A job whose statements fail
/// keeps their error as its result; only a failed BEGIN or COMMIT, or a
/// lost database, is returned.
fn alone(conn: &mut Conn, job: &mut dyn Job) -> Option<StoreError> {
    if let Err(e) = begin(conn) {
        return Some(e);
    }
    match job.run(conn) {
        Ran::Ok => conn.batch_execute("COMMIT").err().map(|e| {
            rollback(conn);
            e.into()
        }),
        Ran::Failed => {
            rollback(conn);
            None
        }
        Ran::Unavailable(e) => {
            rollback(conn);
            Some(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use diesel::prelude::*;

    use super::super::schema::server_secrets;
    use super::*;

    fn insert(name: String) -> impl FnMut(&mut Conn) -> Result<usize, DieselError> {
        move |conn| {
            diesel::insert_into(server_secrets::table)
                .values((
                    server_secrets::name.eq(&name),
                    server_secrets::value.eq("v"),
                ))
                .execute(conn)
        }
    }

    /// A store on a fresh SQLite file (kept while the directory lives).
    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("w.db");
        let store = Store::open(url.to_str().unwrap(), 4, Duration::from_secs(5)).unwrap();
        (dir, store)
    }

    /// Which thread a write ran on.
    fn write_on(store: &Store, name: &str) -> std::thread::ThreadId {
        let mut insert = insert(name.into());
        store
            .write(move |conn| insert(conn).map(|_| std::thread::current().id()))
            .unwrap()
    }

    /// A write while the writer is idle commits on the caller's thread,
    /// with no hand-off; the writer thread only serves the queue.
    #[test]
    fn an_idle_writer_commits_on_the_callers_thread() {
        let (_dir, store) = store();
        let ran_on = write_on(&store, "alone");
        assert_eq!(ran_on, std::thread::current().id());
        let mut conn = store.conn().unwrap();
        let rows: i64 = server_secrets::table
            .count()
            .get_result(&mut *conn)
            .unwrap();
        assert_eq!(rows, 1);
    }

    /// While anything is queued, a write queues behind it instead of
    /// overtaking it on an idle writer.
    #[test]
    fn a_write_does_not_overtake_queued_ones() {
        let (_dir, store) = store();
        let writer = store.writer.clone().unwrap();
        // As if a job were queued and its batch not yet taken.
        writer.queued.fetch_add(1, Ordering::AcqRel);
        let ran_on = write_on(&store, "behind");
        writer.queued.fetch_sub(1, Ordering::AcqRel);
        assert_ne!(ran_on, std::thread::current().id());
    }

    /// A job that fails alone is not run a second time on its own: it
    /// already was.
    #[test]
    fn a_job_failing_alone_runs_once() {
        let (_dir, store) = store();
        store.write(insert("taken".into())).unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = runs.clone();
        let mut duplicate = insert("taken".into());
        let outcome = store.write(move |conn| {
            counted.fetch_add(1, Ordering::SeqCst);
            duplicate(conn)
        });
        assert!(
            matches!(outcome, Err(StoreError::Query(ref e)) if super::super::is_unique_violation(e))
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    /// Many writers at once: every job's own outcome comes back, a failing
    /// job (a duplicate key) undoes only itself, and what succeeded is there.
    #[test]
    fn a_failing_job_does_not_sink_its_batch() {
        let (_dir, store) = store();
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
