//! Where password hashing runs. Each argon2id computation holds 19 MiB for
//! tens of milliseconds. Run on the general blocking pool, a burst of logins
//! would hash on hundreds of threads at once and leave a 19 MiB arena behind
//! in each; here a fixed set of threads (one per core) does all hashing, so
//! memory stays bounded, and a full queue is refused at once (503) instead
//! of piling up.
//!
//! The hashing threads run at the lowest CPU priority (SCHED_IDLE on
//! Linux): they use every cycle nothing else wants, but a request that
//! arrives meanwhile (a JWKS fetch, a token refresh) takes the core at once
//! instead of waiting for a hash to finish its time slice. A login burst
//! then slows logins, never the rest of the service.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Debug)]
pub struct HashPool {
    sender: SyncSender<Job>,
    max_wait: Duration,
}

impl HashPool {
    /// `threads` hashing threads; at most `queue` jobs waiting; a caller
    /// gives up after `max_wait`.
    pub fn new(threads: usize, queue: usize, max_wait: Duration) -> Self {
        let (sender, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..threads.max(1) {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hash-{i}"))
                .spawn(move || {
                    lowest_priority();
                    work(&receiver)
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a hashing thread");
            }
        }
        Self { sender, max_wait }
    }

    /// Runs `f` on a hashing thread. `None` when the queue is full or the
    /// answer does not come in time: the caller answers 503.
    pub async fn run<R, F>(&self, f: F) -> Option<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        match self.sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => return None,
        }
        tokio::time::timeout(self.max_wait, rx).await.ok()?.ok()
    }
}

/// Puts the calling thread in the idle scheduling class (see the module
/// notes). Unprivileged and per thread; where it fails the thread simply
/// keeps normal priority.
#[allow(unsafe_code)]
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler with pid 0 changes only the calling
        // thread and reads `param` only during the call.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if rc != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "hashing threads keep normal priority"
            );
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
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}
