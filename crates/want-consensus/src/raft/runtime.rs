//! The async runtime openraft runs on: tokio, exactly as [`openraft::TokioRuntime`], except that
//! its random numbers (election timeouts) come from a seeded generator on threads where a
//! deterministic simulation installed one ([`seed_thread_rng`]); elsewhere from
//! `rand::thread_rng()`, as before. [`blocking`] runs the consensus layer's blocking work (log
//! writes, block applies) on tokio's blocking threads — or in place on a simulation's thread,
//! so that no wall-clock race orders its events.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use openraft::{AsyncRuntime, OptionalSend, TokioRuntime};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

thread_local! {
    /// The seeded generator of a simulation running on this thread, if any.
    static SEEDED: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Makes openraft's random draws on this thread come from a generator seeded with `seed`
/// (`None`: back to the operating system's thread generator).
/// A simulation also runs [`blocking`] work in place on this thread while it is seeded.
pub fn seed_thread_rng(seed: Option<u64>) {
    SEEDED.with(|s| *s.borrow_mut() = seed.map(StdRng::seed_from_u64));
}

/// Whether a simulation seeded this thread.
fn simulated() -> bool {
    SEEDED.with(|s| s.borrow().is_some())
}

/// Runs blocking work (disk writes, block execution) off the async threads and waits for it:
/// on tokio's blocking pool normally; in place on a seeded simulation thread, whose paused
/// clock does not advance meanwhile, so that the order of events depends on the seed alone.
/// The error says why the blocking thread failed (it panicked or the runtime shut down).
pub async fn blocking<T, F>(f: F) -> Result<T, String>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if simulated() {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| e.to_string())
}

/// openraft's random number generator: the thread's seeded one if a simulation installed it,
/// else `rand::thread_rng()`.
#[derive(Clone, Debug)]
pub struct ConsensusRng {
    os: rand::rngs::ThreadRng,
}

impl ConsensusRng {
    fn with<T>(&mut self, f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        let mut f = Some(f);
        let seeded = SEEDED.with(|s| {
            s.borrow_mut()
                .as_mut()
                .map(|rng| (f.take().expect("invariant: called once"))(rng))
        });
        match seeded {
            Some(v) => v,
            None => (f.take().expect("invariant: not called yet"))(&mut self.os),
        }
    }
}

impl RngCore for ConsensusRng {
    fn next_u32(&mut self) -> u32 {
        self.with(|r| r.next_u32())
    }
    fn next_u64(&mut self) -> u64 {
        self.with(|r| r.next_u64())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.with(|r| r.fill_bytes(dest))
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.with(|r| r.try_fill_bytes(dest))
    }
}

/// [`openraft::TokioRuntime`] with [`ConsensusRng`] (see the module documentation).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConsensusRuntime;

impl AsyncRuntime for ConsensusRuntime {
    type JoinError = <TokioRuntime as AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::JoinHandle<T>;
    type Sleep = <TokioRuntime as AsyncRuntime>::Sleep;
    type Instant = <TokioRuntime as AsyncRuntime>::Instant;
    type TimeoutError = <TokioRuntime as AsyncRuntime>::TimeoutError;
    type Timeout<R, T: Future<Output = R> + OptionalSend> =
        <TokioRuntime as AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = ConsensusRng;
    type OneshotSender<T: OptionalSend> = <TokioRuntime as AsyncRuntime>::OneshotSender<T>;
    type OneshotReceiverError = <TokioRuntime as AsyncRuntime>::OneshotReceiverError;
    type OneshotReceiver<T: OptionalSend> = <TokioRuntime as AsyncRuntime>::OneshotReceiver<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        TokioRuntime::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        TokioRuntime::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        TokioRuntime::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        TokioRuntime::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        ConsensusRng {
            os: rand::thread_rng(),
        }
    }

    fn oneshot<T>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>)
    where
        T: OptionalSend,
    {
        TokioRuntime::oneshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn a_seeded_thread_draws_the_same_numbers_and_an_unseeded_one_still_draws() {
        seed_thread_rng(Some(42));
        let a: Vec<u64> = (0..8)
            .map(|_| ConsensusRuntime::thread_rng().gen_range(150..300))
            .collect();
        seed_thread_rng(Some(42));
        let b: Vec<u64> = (0..8)
            .map(|_| ConsensusRuntime::thread_rng().gen_range(150..300))
            .collect();
        assert_eq!(a, b);
        seed_thread_rng(None);
        let c = ConsensusRuntime::thread_rng().gen_range(150..300u64);
        assert!((150..300).contains(&c));
    }
}
