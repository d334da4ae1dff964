//! Password hashing (argon2id) on a few threads of its own, with a bounded queue.
//!
//! One check costs tens of milliseconds of CPU and 19 MiB of memory. Run on the request
//! threads without a bound, 200 concurrent logins took the server from 150 MB to over
//! 1 GB (never given back), starved every other route and timed out the database pool.
//! Here a fixed number of threads each reuse one working memory
//! ([`daas_common::password::Memory`]), so hashing holds at most that many times 19 MiB
//! and leaves the other CPUs to the other routes; a check that would wait behind a full
//! queue is refused at once ([`HashError::Busy`]: 503 with `Retry-After`) rather than
//! piling up.

use std::sync::{
    mpsc::{sync_channel, Receiver, SyncSender, TrySendError},
    Arc, Mutex,
};

use daas_common::password::{self, Memory, PasswordError};

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Why a password could not be checked or hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing thread is busy and the queue is full.
    #[error("too many passwords are being checked at once")]
    Busy,
    /// The password cannot be hashed (empty).
    #[error(transparent)]
    Password(#[from] PasswordError),
}

/// How many seconds a client refused with [`HashError::Busy`] should wait.
pub const BUSY_RETRY_SECONDS: u64 = 1;

/// The pool of hashing threads.
#[derive(Clone)]
pub struct Hasher {
    jobs: SyncSender<Job>,
}

impl Hasher {
    /// `workers` threads (0: half the CPUs, at least one) and room for `queue` waiting
    /// checks (0: 8 per thread).
    pub fn new(workers: usize, queue: usize) -> Hasher {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = if workers == 0 { (cpus / 2).max(1) } else { workers };
        let queue = if queue == 0 { 8 * workers } else { queue };
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("daas-password-{i}")).spawn(move || work(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "auth: a password hashing thread could not start");
            }
        }
        Hasher { jobs }
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&mut Memory) -> T + Send + 'static) -> Result<T, HashError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(f(memory));
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(HashError::Busy),
            // No thread could start: nothing will ever answer.
            Err(TrySendError::Disconnected(_)) => return Err(HashError::Busy),
        }
        // A job that panicked dropped its sender: its thread lives on, the caller is told.
        answer.await.map_err(|_| HashError::Busy)
    }

    /// Whether `password` matches the stored hash.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<bool, HashError> {
        let (password, stored) = (password.to_string(), stored.to_string());
        self.run(move |memory| password::verify_in(&password, &stored, memory)).await
    }

    /// The argon2id hash of a new password.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = password.to_string();
        Ok(self.run(move |memory| password::hash_in(&password, memory)).await??)
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    let mut memory = Memory::default();
    loop {
        // The lock is held only while waiting for the next job, not while hashing.
        let job = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(job) = job else { return };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut memory))).is_err() {
            tracing::error!("auth: a password check panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_run_on_the_pool_and_a_full_queue_is_refused_at_once() {
        let hasher = Hasher::new(1, 1);
        let stored = hasher.hash("pw").await.unwrap();
        assert!(hasher.verify("pw", &stored).await.unwrap());
        assert!(!hasher.verify("other", &stored).await.unwrap());
        assert!(matches!(hasher.hash("").await, Err(HashError::Password(PasswordError::Empty))));

        // One thread, one queued: of many checks sent at once, some are refused, and
        // every one that was taken gives the right answer.
        let checks: Vec<_> = (0..20).map(|_| hasher.verify("pw", &stored)).collect();
        let answers = futures::future::join_all(checks).await;
        let busy = answers.iter().filter(|a| matches!(a, Err(HashError::Busy))).count();
        assert!(busy > 0, "a full queue refuses");
        assert!(answers.iter().all(|a| matches!(a, Ok(true) | Err(HashError::Busy))));
        assert!(hasher.verify("pw", &stored).await.unwrap(), "the pool serves again once the queue drains");
    }
}
