//! Where password hashing runs. Each argon2id computation holds 19 MiB for
//! tens of milliseconds. Run on the general blocking pool, a burst of logins
//! would hash on hundreds of threads at once and leave a 19 MiB arena behind
//! in each; here a fixed set of threads (one per core) does all hashing, so
//! memory stays bounded, and a full queue is refused at once (503) instead
//! of piling up.

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
                .spawn(move || work(&receiver));
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
