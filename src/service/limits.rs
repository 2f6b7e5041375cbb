//! Bounds on expensive work. Each argon2id verification holds 19 MiB for
//! tens of milliseconds; without a bound, a burst of login attempts would
//! take all memory and starve every other request.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

#[derive(Debug)]
pub struct HashLimiter {
    permits: Semaphore,
    max_wait: Duration,
}

impl HashLimiter {
    /// `concurrent` hashes at once (one per core is the useful maximum);
    /// a request waits at most `max_wait` for its turn.
    pub fn new(concurrent: usize, max_wait: Duration) -> Self {
        Self {
            permits: Semaphore::new(concurrent.max(1)),
            max_wait,
        }
    }

    /// A turn to hash, or `None` when the queue did not move in time.
    pub async fn acquire(&self) -> Option<SemaphorePermit<'_>> {
        tokio::time::timeout(self.max_wait, self.permits.acquire())
            .await
            .ok()?
            .ok()
    }
}
