//! Parts of one job shared between the calling thread and the rayon pool.
//!
//! `par_iter` from a thread outside the pool (a Python call, the CLI's main thread) hands the
//! whole job to the pool and puts the caller to sleep: the job waits for one worker to wake,
//! that worker for a second to steal from it, and the caller for a last wake-up at the end. On
//! a virtual machine whose cores have been idle a wake-up can take milliseconds: in the first
//! call of a process, instrumented runs on a megabyte of base64 saw the second worker start its
//! first part 0.5-4 ms after the first.
//!
//! [`share_out`] instead runs parts on the calling thread at once, while `threads - 1` helper
//! jobs go to the pool; every thread claims the next part from a shared counter until none is
//! left. The caller then waits only for parts that helpers have claimed and are running, never
//! for a helper that has not started: one that starts late finds nothing to claim and returns
//! at once. So the call takes as long as the work on the threads that are actually running, and
//! a pool whose workers are busy elsewhere (or blocked, say, on the GIL) cannot stall it.
//!
//! A helper may outlive the call (it can start after the last part is done), so its job owns
//! the shared state; the work function it points to is only called for a claimed part, while
//! the caller is still waiting for that part.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the caller spins for the helpers' last parts before it sleeps (a wake-up from sleep
/// costs more than this on a busy machine; a part of a long text takes a millisecond or more).
const SPIN: Duration = Duration::from_micros(100);

/// `work(k)` for every `k` in `0..parts`, in order, computed by the calling thread and up to
/// `rayon::current_num_threads() - 1` helpers on the current pool (see the module docs). A panic
/// in any part is resumed on the calling thread once the claimed parts are done.
pub fn share_out<T, F>(parts: usize, work: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> T + Sync,
{
    let helpers = rayon::current_num_threads()
        .saturating_sub(1)
        .min(parts.saturating_sub(1));
    if helpers == 0 {
        return (0..parts).map(work).collect();
    }
    let work: &(dyn Fn(usize) -> T + Sync) = &work;
    // SAFETY: only the lifetime is erased. `Shared::run_parts` calls `work` for a part it has
    // claimed, and this function returns only after every claimed part is done (`wait_all`), so
    // no call outlives `work`.
    let work: Work<T> = Work(unsafe { std::mem::transmute::<_, *const WorkFn<T>>(work) });
    let shared = Arc::new(Shared {
        parts,
        work,
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        results: (0..parts).map(|_| Mutex::new(None)).collect(),
        sleep: Mutex::new(()),
        woken: Condvar::new(),
    });
    for _ in 0..helpers {
        let shared = Arc::clone(&shared);
        rayon::spawn(move || shared.run_parts());
    }
    shared.run_parts();
    shared.wait_all();
    shared
        .results
        .iter()
        .map(|slot| match lock(slot).take() {
            Some(Ok(value)) => value,
            Some(Err(panic)) => resume_unwind(panic),
            None => unreachable!("every part is done before the results are read"),
        })
        .collect()
}

type WorkFn<T> = dyn Fn(usize) -> T + Sync + 'static;

/// The work function of one [`share_out`] call, its lifetime erased.
struct Work<T>(*const WorkFn<T>);

// SAFETY: the function is `Sync`, so it may be called from any thread; see `share_out` for why
// it is alive whenever it is called.
unsafe impl<T> Send for Work<T> {}
unsafe impl<T> Sync for Work<T> {}

type Outcome<T> = std::thread::Result<T>;

struct Shared<T> {
    parts: usize,
    work: Work<T>,
    /// The next part to claim (it passes `parts` once all are claimed).
    next: AtomicUsize,
    /// Parts finished.
    done: AtomicUsize,
    results: Vec<Mutex<Option<Outcome<T>>>>,
    sleep: Mutex<()>,
    woken: Condvar,
}

impl<T> Shared<T> {
    /// Claim and run parts until none is left.
    fn run_parts(&self) {
        loop {
            let k = self.next.fetch_add(1, Ordering::AcqRel);
            if k >= self.parts {
                return;
            }
            // SAFETY: part `k` is claimed and not done, so `share_out` is still waiting and
            // the function behind the pointer is alive.
            let work = unsafe { &*self.work.0 };
            let outcome = catch_unwind(AssertUnwindSafe(|| work(k)));
            *lock(&self.results[k]) = Some(outcome);
            if self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.parts {
                let _sleeping = lock(&self.sleep);
                self.woken.notify_all();
            }
        }
    }

    /// Return once every part is done: spin a little, then sleep until the last one ends.
    fn wait_all(&self) {
        let start = Instant::now();
        while !self.all_done() {
            if start.elapsed() < SPIN {
                std::hint::spin_loop();
                continue;
            }
            let mut guard = lock(&self.sleep);
            while !self.all_done() {
                guard = self.woken.wait(guard).unwrap_or_else(|e| e.into_inner());
            }
        }
    }

    fn all_done(&self) -> bool {
        self.done.load(Ordering::Acquire) == self.parts
    }
}

/// A lock that a panic elsewhere cannot poison for good (parts catch their own panics).
fn lock<V>(m: &Mutex<V>) -> MutexGuard<'_, V> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
    }

    #[test]
    fn parts_come_back_in_order_from_inside_and_outside_a_pool() {
        let text: Vec<u64> = (0..10_000).collect();
        let sum_of = |k: usize| text[k * 100..(k + 1) * 100].iter().sum::<u64>();
        let want: Vec<u64> = (0..100).map(sum_of).collect();
        assert_eq!(share_out(100, sum_of), want);
        for threads in [1, 2, 4] {
            assert_eq!(pool(threads).install(|| share_out(100, sum_of)), want);
        }
        assert!(share_out(0, sum_of).is_empty());
    }

    #[test]
    fn a_busy_pool_does_not_stall_the_caller() {
        // Every worker of the global pool is held until the call is over, so no helper job can
        // start: called from outside the pool, the caller does every part. (Waiting for the
        // helpers would hang, so the call runs under a deadline.)
        let workers = rayon::current_num_threads();
        let started = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(AtomicBool::new(false));
        for _ in 0..workers {
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            rayon::spawn(move || {
                started.fetch_add(1, Ordering::AcqRel);
                while !release.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
            });
        }
        while started.load(Ordering::Acquire) < workers {
            std::thread::yield_now();
        }
        let (sent, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sent.send(share_out(16, |k| k * k));
        });
        let got = received.recv_timeout(Duration::from_secs(20));
        release.store(true, Ordering::Release);
        let got = got.expect("share_out returned while the pool was busy");
        assert_eq!(got, (0..16).map(|k| k * k).collect::<Vec<_>>());
    }

    #[test]
    fn a_panic_in_a_part_reaches_the_caller() {
        let caught = catch_unwind(|| {
            pool(2).install(|| share_out(8, |k| if k == 5 { panic!("part five") } else { k }))
        });
        let message = caught.expect_err("the panic is resumed");
        assert_eq!(message.downcast_ref::<&str>(), Some(&"part five"));
    }
}
