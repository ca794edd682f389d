//! Progress reporting for long work (counting, merging). The engine calls a sink; the Python layer
//! turns it into a progress bar or nothing (`--quiet`).

/// Receives `(phase, done, total)` updates. `total` is 0 when unknown.
pub trait Progress: Send + Sync {
    fn update(&self, phase: &str, done: u64, total: u64);
}

/// A sink that ignores everything.
pub struct Silent;

impl Progress for Silent {
    fn update(&self, _phase: &str, _done: u64, _total: u64) {}
}
