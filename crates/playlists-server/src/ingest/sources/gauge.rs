//! [`Gauge`]: one unit of a listening source's gauge (open connections, publishers), held by
//! the connection it counts.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One unit of the gauge `gauge` picks out of the figures `S`, counted while held and given
/// back when dropped, so a connection's task that ends by a panic or a cancellation still
/// leaves the gauge right.
pub struct Gauge<S> {
    stats: Arc<S>,
    gauge: fn(&S) -> &AtomicU64,
}

impl<S> Gauge<S> {
    /// Counts one unit of `gauge` of `stats` until the returned guard drops.
    pub fn new(stats: Arc<S>, gauge: fn(&S) -> &AtomicU64) -> Self {
        gauge(&stats).fetch_add(1, Ordering::Relaxed);
        Self { stats, gauge }
    }
}

impl<S> Drop for Gauge<S> {
    fn drop(&mut self) {
        (self.gauge)(&self.stats).fetch_sub(1, Ordering::Relaxed);
    }
}

impl<S> fmt::Debug for Gauge<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gauge")
            .field("now", &(self.gauge)(&self.stats).load(Ordering::Relaxed))
            .finish()
    }
}
