//! The read pool: every API read that scans, walks or decodes stored data (blocks, sync pages,
//! trace queries, lineage, verification, blobs, the event stream's replay) runs here, on
//! `[node.http] reads_max` threads of its own, never on the async workers and never on the
//! threads that apply blocks (consensus applies them through `spawn_blocking`, which never
//! waits for this pool). A read that finds every thread busy waits at most [`READ_WAIT_MS`],
//! then is answered `503 busy`; waits and refusals are counted in `/metrics`. Parallel work a
//! read starts (rayon's `par_iter`) runs on the same threads, not on the global pool execution
//! verifies signatures with.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::error::{codes, NodeError};
use crate::metrics::Metrics;

/// How long a read waits for a free thread of the pool before it is answered `503 busy`, in
/// milliseconds.
pub const READ_WAIT_MS: u64 = 2_000;
/// Most threads `[node.http] reads_max` may ask for.
pub const READS_MAX_LIMIT: usize = 256;

/// The default `[node.http] reads_max`: the machine's cores (at least one).
pub fn reads_max_default() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, READS_MAX_LIMIT)
}

/// A bounded pool of reader threads (see the module's documentation).
pub struct ReadPool {
    /// One permit per thread: a read holds one from before it is queued until it returns.
    permits: Arc<Semaphore>,
    threads: rayon::ThreadPool,
    size: usize,
    wait: Duration,
}

/// Every permit of the pool, held (tests: a saturated pool without slow reads).
pub struct ReadsHeld(#[allow(dead_code)] OwnedSemaphorePermit);

impl ReadPool {
    /// A pool of `size` threads (`want-read-N`); a read waits at most `wait` for one.
    pub fn new(size: usize, wait: Duration) -> Result<ReadPool, NodeError> {
        if size == 0 || size > READS_MAX_LIMIT {
            return Err(NodeError::Config(format!(
                "http.reads_max = {size} must be between 1 and {READS_MAX_LIMIT}"
            )));
        }
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(size)
            .thread_name(|i| format!("want-read-{i}"))
            .panic_handler(|_| {
                tracing::error!(target: "http::reads", "a read panicked; its request was answered internal_error");
            })
            .build()
            .map_err(|e| NodeError::Io(format!("starting the read pool: {e}")))?;
        Ok(ReadPool {
            permits: Arc::new(Semaphore::new(size)),
            threads,
            size,
            wait,
        })
    }

    /// Threads in the pool (`http.reads_max`).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `f` on a thread of the pool and returns what it returned; `503 busy` when no thread
    /// freed up within the pool's wait.
    pub async fn run<T: Send + 'static>(
        &self,
        metrics: &Metrics,
        f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let shutting_down =
            || NodeError::rejected(codes::SHUTTING_DOWN, "the node is shutting down");
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return Err(shutting_down()),
            Err(TryAcquireError::NoPermits) => {
                metrics.reads_waited.inc();
                match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) => return Err(shutting_down()),
                    Err(_) => {
                        metrics.reads_busy.inc();
                        return Err(NodeError::rejected(
                            codes::BUSY,
                            format!(
                                "this node is busy: its {} reader threads (http.reads_max) stayed taken for {} ms; retry in a moment, or ask another node",
                                self.size,
                                self.wait.as_millis()
                            ),
                        ));
                    }
                }
            }
        };
        let (tx, rx) = oneshot::channel();
        let running = metrics.reads_running.clone();
        running.inc();
        self.threads.spawn(move || {
            // Declared first, so dropped last: the caller hears of the read (its answer, or on a
            // panic the closed channel) only once the permit and the gauge are released.
            let tx = tx;
            // Dropped on return and on a panic alike: the permit frees its thread.
            let permit = permit;
            let running = RunningGuard(running);
            let result = f();
            drop(running);
            drop(permit);
            let _ = tx.send(result);
        });
        rx.await.map_err(|_| {
            NodeError::Io("the read failed (it panicked); see the node's log".into())
        })?
    }

    /// Takes every thread of the pool until the returned value is dropped (`None` while a read
    /// holds one): for tests of a saturated pool that need no slow read.
    pub fn hold_all_for_test(&self) -> Option<ReadsHeld> {
        let n = u32::try_from(self.size).ok()?;
        self.permits
            .clone()
            .try_acquire_many_owned(n)
            .ok()
            .map(ReadsHeld)
    }
}

/// Counts a read as running until it returns (or panics).
struct RunningGuard(prometheus_client::metrics::gauge::Gauge);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_waiting_past_the_bound_is_answered_busy_and_counted() {
        let metrics = Metrics::new();
        let pool = ReadPool::new(1, Duration::from_millis(50)).unwrap();
        let held = pool.hold_all_for_test().expect("an idle pool is held");
        let e = pool.run(&metrics, || Ok(1)).await.unwrap_err();
        assert_eq!(e.code(), codes::BUSY);
        assert_eq!(e.http_status(), 503);
        assert_eq!(metrics.reads_waited.get(), 1);
        assert_eq!(metrics.reads_busy.get(), 1);
        drop(held);
        assert_eq!(pool.run(&metrics, || Ok(7)).await.unwrap(), 7);
        assert_eq!(metrics.reads_busy.get(), 1);
        assert_eq!(metrics.reads_running.get(), 0);
    }

    #[tokio::test]
    async fn a_read_that_panics_is_an_error_and_frees_its_thread() {
        let metrics = Metrics::new();
        let pool = ReadPool::new(1, Duration::from_millis(50)).unwrap();
        let e = pool
            .run(&metrics, || -> Result<(), NodeError> { panic!("boom") })
            .await
            .unwrap_err();
        assert_eq!(e.code(), codes::INTERNAL);
        assert_eq!(pool.run(&metrics, || Ok(2)).await.unwrap(), 2);
        assert_eq!(metrics.reads_running.get(), 0);
    }

    #[tokio::test]
    async fn parallel_work_of_a_read_runs_on_the_pool_threads() {
        use rayon::prelude::*;
        let metrics = Metrics::new();
        let pool = ReadPool::new(2, Duration::from_millis(50)).unwrap();
        let names = pool
            .run(&metrics, || {
                Ok((0..64)
                    .into_par_iter()
                    .map(|_| std::thread::current().name().unwrap_or("").to_string())
                    .collect::<Vec<_>>())
            })
            .await
            .unwrap();
        assert!(
            names.iter().all(|n| n.starts_with("want-read-")),
            "{names:?}"
        );
    }

    #[test]
    fn a_pool_without_threads_or_with_too_many_is_refused() {
        assert!(ReadPool::new(0, Duration::from_millis(1)).is_err());
        assert!(ReadPool::new(READS_MAX_LIMIT + 1, Duration::from_millis(1)).is_err());
    }
}
