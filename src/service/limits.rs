//! Where password hashing runs. Each argon2id computation holds 19 MiB for
//! tens of milliseconds. Run on the general blocking pool, a burst of logins
//! would hash on hundreds of threads at once and leave a 19 MiB arena behind
//! in each; here a fixed pool does all hashing, so memory stays bounded, and
//! a full queue is refused at once (503) instead of piling up.
//!
//! The pool has two kinds of thread. Requests that hash (login, password
//! re-entry, password change) run on "login" threads at normal priority:
//! they read and write the database like any request. The argon2id
//! computation itself is handed to "hash" threads (one per core) that run
//! at the lowest CPU priority an unprivileged thread can give itself
//! (Linux: the batch class at nice 19, about 1.5% of a core's weight
//! against one normal thread): they use every cycle nothing else wants,
//! but a request arriving meanwhile (a JWKS fetch, a token refresh) gets
//! the core within a fraction of a millisecond instead of waiting for a
//! hash to finish its time slice (JWKS p99 under a login load: 0.4-0.8 ms,
//! see BENCHMARKS.md). A login burst then slows logins, never the rest of
//! the service.
//!
//! Not the idle class (SCHED_IDLE), though it ranks lower still: the
//! scheduler counts a core running only idle-class work as free, so every
//! wake-up of a request thread went to the core busy hashing rather than
//! the one its waker was leaving, an inter-processor interrupt each time.
//! Measured over three login runs each: 4-5 rescheduling interrupts per
//! login instead of 7-10, and the cores never idle (0.01 ms per login
//! instead of 0.08-0.13), at the same JWKS latency. Only the pure computation runs at that priority: a
//! starved thread holding a database lock or connection would stall
//! everyone waiting for it.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

thread_local! {
    /// On a login thread: where [`argon2`] sends its computation.
    static HASHERS: RefCell<Option<Sender<Job>>> = const { RefCell::new(None) };
    /// On a login thread, during a job: set once its caller stopped waiting.
    static GONE: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Whether the request the current login-thread job runs for has stopped
/// waiting for it (it timed out with a 503, or the client went away). Work
/// after the password check that only matters to that response can then be
/// skipped. Always false elsewhere.
pub fn caller_gone() -> bool {
    GONE.with(|g| {
        g.borrow()
            .as_ref()
            .is_some_and(|g| g.load(Ordering::Acquire))
    })
}

/// Marks the job's caller gone when the waiting future ends, however it
/// ends (after the answer it no longer matters).
struct Waiting(Arc<AtomicBool>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Login threads per hash thread: while one waits on its hash, others
/// read before theirs or write after, and the hash threads should never run
/// out of work for want of a login thread (with two per core, the cores
/// stood idle 1.8% of a login run).
pub const LOGIN_THREADS_PER_CORE: usize = 4;

#[derive(Debug)]
pub struct HashPool {
    sender: SyncSender<Job>,
    max_wait: Duration,
}

impl HashPool {
    /// `cores` hash threads and [`LOGIN_THREADS_PER_CORE`] times as many
    /// login threads. At most `queue` requests waiting; a caller gives up
    /// after `max_wait`.
    pub fn new(cores: usize, queue: usize, max_wait: Duration) -> Self {
        let (hash_jobs, hash_receiver) = channel::<Job>();
        let hash_receiver = Arc::new(Mutex::new(hash_receiver));
        for i in 0..cores.max(1) {
            let receiver = hash_receiver.clone();
            spawn(format!("hash-{i}"), move || {
                lowest_priority();
                work(&receiver)
            });
        }
        let (sender, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..cores.max(1) * LOGIN_THREADS_PER_CORE {
            let (receiver, hash_jobs) = (receiver.clone(), hash_jobs.clone());
            spawn(format!("login-{i}"), move || {
                HASHERS.with(|h| *h.borrow_mut() = Some(hash_jobs));
                work(&receiver)
            });
        }
        Self { sender, max_wait }
    }

    /// Runs `f` on a login thread, where [`argon2`] hashes at low priority.
    /// `None` when the queue is full or the answer does not come in time:
    /// the caller answers 503.
    pub async fn run<R, F>(&self, f: F) -> Option<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let waiting = Waiting(Arc::new(AtomicBool::new(false)));
        let gone = waiting.0.clone();
        let job: Job = Box::new(move || {
            GONE.with(|g| *g.borrow_mut() = Some(gone));
            let answer = f();
            GONE.with(|g| *g.borrow_mut() = None);
            let _ = tx.send(answer);
        });
        match self.sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => return None,
        }
        let answer = tokio::time::timeout(self.max_wait, rx).await.ok()?.ok();
        drop(waiting);
        answer
    }
}

/// Runs an argon2id computation: on a login thread, on the low-priority
/// hash threads (waiting for it); anywhere else (the command line) right
/// here.
pub fn argon2<R, F>(f: F) -> super::Result<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let Some(hashers) = HASHERS.with(|h| h.borrow().clone()) else {
        return Ok(f());
    };
    let (tx, rx) = sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    if let Err(unsent) = hashers.send(job) {
        // The hash threads are gone (shutting down): hash here instead.
        (unsent.0)();
    }
    rx.recv().map_err(|_| super::Error::TaskFailed)
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name).spawn(f) {
        tracing::error!(error = %e, "cannot start a hashing thread");
    }
}

/// Puts the calling thread in the batch class at nice 19 (see the module
/// notes). Unprivileged and per thread; where it fails the thread simply
/// keeps normal priority.
#[allow(unsafe_code)]
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        let warn = |consequence: &str| {
            let error = std::io::Error::last_os_error();
            tracing::warn!(error = %error, "hashing threads {consequence}");
        };
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: with id 0 both calls change only the calling thread (on
        // Linux a thread is its own task); `param` is read during the call.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
            warn("stay out of the batch class");
        }
        // SAFETY: as above.
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) } != 0 {
            warn("keep their nice value");
        }
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        let job = match receiver.lock() {
            Ok(r) => r.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            // A panicking job must not take the thread with it; its caller
            // sees the dropped answer channel as a failure.
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's scheduling policy and nice value, from /proc
    /// (fields 41 and 19).
    #[cfg(target_os = "linux")]
    fn policy() -> (i32, i32) {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        // Fields from the third on.
        let field = |n: usize| after_name.split(' ').nth(n - 3).unwrap().parse().unwrap();
        (field(41), field(19))
    }

    fn thread_name() -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    /// Requests run on login threads; only the computation they hand to
    /// `argon2` runs on the low-priority hash threads.
    #[tokio::test]
    async fn only_the_computation_runs_on_hash_threads() {
        let pool = HashPool::new(1, 4, Duration::from_secs(5));
        let (outer, inner) = pool
            .run(|| (thread_name(), argon2(thread_name).unwrap()))
            .await
            .unwrap();
        assert!(outer.starts_with("login-"), "{outer}");
        assert!(inner.starts_with("hash-"), "{inner}");
        // The hash threads really run at the lowest priority, the login
        // threads not.
        #[cfg(target_os = "linux")]
        {
            let (outer, inner) = pool
                .run(|| (policy(), argon2(policy).unwrap()))
                .await
                .unwrap();
            // Login threads keep what the process runs at.
            assert_eq!(outer, policy());
            assert_eq!(outer.0, libc::SCHED_OTHER);
            assert_eq!(inner, (libc::SCHED_BATCH, 19));
        }
        // Elsewhere (the command line) it runs in place.
        assert_eq!(argon2(thread_name).unwrap(), thread_name());
    }

    /// A job learns that its caller gave up (here: timed out), and not
    /// before.
    #[tokio::test]
    async fn a_job_knows_when_its_caller_has_gone() {
        let pool = HashPool::new(1, 4, Duration::from_secs(5));
        assert!(pool.run(caller_gone).await == Some(false));
        assert!(!caller_gone(), "not on a login thread");
        let pool = HashPool::new(1, 4, Duration::from_millis(20));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (seen, saw) = std::sync::mpsc::channel::<bool>();
        let answer = pool.run(move || {
            let _ = wait.recv();
            let _ = seen.send(caller_gone());
        });
        assert!(answer.await.is_none(), "timed out");
        release.send(()).unwrap();
        assert!(saw.recv().unwrap());
    }

    #[tokio::test]
    async fn a_panicking_job_leaves_the_pool_working() {
        let pool = HashPool::new(1, 4, Duration::from_secs(5));
        for _ in 0..3 {
            let answer: Option<u8> = pool.run(|| panic!("boom")).await;
            assert!(answer.is_none());
        }
        assert_eq!(pool.run(|| 7).await, Some(7));
    }
}
