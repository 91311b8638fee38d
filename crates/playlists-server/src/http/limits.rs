//! Admission limits for held requests.
//!
//! A blocking playlist reload or a hinted-part request holds a connection (and a little
//! memory) until the stream catches up, up to 3 × TARGETDURATION. [`Waiting`] caps how many
//! may be held per stream and in total, so a flood of held requests on one stream cannot take
//! every connection the process can keep; beyond the cap the request is answered 503 at once.

use std::sync::atomic::{AtomicUsize, Ordering};

use http::StatusCode;

use super::error::HttpError;

/// Counts of held requests, per stream slot and in total.
#[derive(Debug)]
pub struct Waiting {
    total: AtomicUsize,
    /// Indexed by the stream's slot (`StreamIdx::index()`): streams never share a counter.
    /// One more at the end counts the requests held for streams that do not exist yet
    /// ([`admit_missing`](Self::admit_missing)).
    per_stream: Box<[AtomicUsize]>,
    max_total: usize,
    max_per_stream: usize,
}

impl Waiting {
    /// Limits for `num_streams` stream slots.
    pub fn new(num_streams: usize, max_per_stream: usize, max_total: usize) -> Self {
        Self {
            total: AtomicUsize::new(0),
            per_stream: (0..=num_streams).map(|_| AtomicUsize::new(0)).collect(),
            max_total,
            max_per_stream,
        }
    }

    /// Admits one more held request on stream slot `index`, or refuses with 503.
    pub fn admit(&self, index: usize) -> Result<WaitPermit<'_>, HttpError> {
        let Some(slot) = self.per_stream.get(index) else {
            return Err(HttpError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("stream slot {index} is out of range"),
            ));
        };
        // Relaxed: these are counters for admission, not a protocol guarding other data; an
        // over-admission by the few requests racing at the limit is harmless.
        if self.total.fetch_add(1, Ordering::Relaxed) >= self.max_total {
            self.total.fetch_sub(1, Ordering::Relaxed);
            return Err(HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "too many waiting requests ({} in total); retry later",
                    self.max_total
                ),
            ));
        }
        if slot.fetch_add(1, Ordering::Relaxed) >= self.max_per_stream {
            slot.fetch_sub(1, Ordering::Relaxed);
            self.total.fetch_sub(1, Ordering::Relaxed);
            return Err(HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "too many waiting requests on this stream ({}); retry later",
                    self.max_per_stream
                ),
            ));
        }
        Ok(WaitPermit {
            waiting: self,
            index,
        })
    }

    /// Admits one more request held for a stream that does not exist yet (after a restart,
    /// until its encoder is back): those share one per-stream limit, whatever names they ask
    /// for, so made-up names cannot take more than one stream's share.
    pub fn admit_missing(&self) -> Result<WaitPermit<'_>, HttpError> {
        self.admit(self.per_stream.len() - 1)
    }

    /// Held requests right now, all streams.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Held requests right now on stream slot `index`.
    pub fn on_stream(&self, index: usize) -> usize {
        self.per_stream
            .get(index)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// One admitted held request; dropping it (answer sent, or client gone) frees its place.
#[derive(Debug)]
pub struct WaitPermit<'a> {
    waiting: &'a Waiting,
    index: usize,
}

impl Drop for WaitPermit<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.waiting.per_stream.get(self.index) {
            slot.fetch_sub(1, Ordering::Relaxed);
        }
        self.waiting.total.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_capped_per_stream_and_in_total() {
        let w = Waiting::new(2, 2, 3);
        let a = w.admit(0).unwrap();
        let _b = w.admit(0).unwrap();
        assert_eq!(
            w.admit(0).unwrap_err().status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let _c = w.admit(1).unwrap();
        assert_eq!(w.total(), 3);
        assert!(w.admit(1).unwrap_err().reason.contains("in total"));
        assert!(w.admit_missing().is_err(), "the total counts them too");
        drop(a);
        assert_eq!(w.on_stream(0), 1);
        let _d = w.admit(1).unwrap();
        assert_eq!(w.total(), 3);
        assert!(w.admit(5).is_err());
    }

    #[test]
    fn requests_for_missing_streams_share_one_stream_limit() {
        let w = Waiting::new(1, 1, 10);
        let _a = w.admit_missing().unwrap();
        assert!(w
            .admit_missing()
            .unwrap_err()
            .reason
            .contains("this stream"));
        let _b = w.admit(0).unwrap();
        assert_eq!(w.total(), 2);
    }
}
