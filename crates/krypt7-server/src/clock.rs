//! Time, injectable so that tests can move it (e.g. to prove the 48-hour purge).

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

/// Unix seconds, from the system clock plus an offset that only tests change.
#[derive(Clone, Default)]
pub struct Clock(Arc<AtomicI64>);

impl Clock {
    pub fn now(&self) -> i64 {
        let sys = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        sys + self.0.load(Ordering::Relaxed)
    }

    /// Moves this server's clock forward (tests).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::Relaxed);
    }
}
