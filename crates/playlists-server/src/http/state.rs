//! [`AppState`]: everything a request handler reads, shared by every connection.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use playlists::Playlists;
use tokio::time::Instant;

use super::limits::Waiting;
use super::metrics::Metrics;
use super::{HttpError, HttpOptions};
use crate::ingest::sources::rtmp::RtmpStats;
use crate::ingest::sources::srt::SrtStats;
use crate::ingest::Ingests;
use crate::part_store::PartStore;
use crate::shutdown::Shutdown;

/// Everything a request handler reads: shared by every connection as `Arc<AppState>`.
#[derive(Debug)]
pub struct AppState {
    /// The streams served. Sources publish into it concurrently; handlers only read and wait.
    pub playlists: Arc<Playlists>,
    /// Wire behaviour; fixed for the server's life.
    pub opts: HttpOptions,
    /// Counters for `/metrics`; every handler writes them, the scrape reads them.
    pub metrics: Metrics,
    /// Held-request admission; playlist and part handlers take a permit before they wait.
    pub waiting: Waiting,
    /// Begun by [`serve`](super::serve) when it stops accepting; held requests and HTTP
    /// ingest sessions watch it. The binary shares it with its other sources
    /// ([`AppState::with_shutdown`]).
    pub shutdown: Shutdown,
    /// Where parts are stored: delivery sends slices of its arena with `sendfile`
    /// ([`AppState::with_parts`]; the heap by default).
    pub parts: PartStore,
    /// The ingest layer, when this server takes `PUT`/`POST /ingest/...`
    /// ([`AppState::with_ingest`]); `None`: those paths answer 404.
    pub ingests: Option<Arc<Ingests>>,
    /// The RTMP source's figures, exported by `/metrics` ([`AppState::with_rtmp`]); `None`
    /// without an RTMP listener.
    pub rtmp: Option<Arc<RtmpStats>>,
    /// The SRT source's figures, exported by `/metrics` ([`AppState::with_srt`]); `None`
    /// without an SRT listener.
    pub srt: Option<Arc<SrtStats>>,
    /// The recordings served under `/recordings` ([`AppState::with_recordings`]); `None`:
    /// this origin does not record, and those paths answer 404.
    pub recordings: Option<Arc<crate::recording::Recordings>>,
    /// Pre-rendered `Cache-Control` values (App. B.1 [docs/conformance.md R27]), so handlers do not
    /// format per request.
    pub(super) cache: CacheControls,
    /// When this state was made (the server started): [`HttpOptions::restart_hold`] counts
    /// from it.
    pub(super) started: Instant,
    /// Per stream slot, the media type of its parts (`video/mp4` or `audio/mp4`) with the
    /// generation it was computed for; see `media::content_type`.
    pub(super) media_types: Box<[AtomicU64]>,
    /// HTTP ingest requests being read. Their connections are encoders', not players': the
    /// drain after a hand-over ([`Shutdown::hand_over`]) waits for every other connection.
    pub(super) ingest_requests: AtomicUsize,
    /// The process this one took over from, asked for media not found here while it drains
    /// ([`AppState::with_predecessor`]).
    pub(super) predecessor: Option<super::predecessor::PredecessorLink>,
}

/// `Cache-Control` header values derived from TARGETDURATION (App. B.1 [docs/conformance.md R27]).
#[derive(Debug)]
pub(super) struct CacheControls {
    /// Parts, segments, init: [`HttpOptions::media_max_age`].
    pub(super) media: HeaderValue,
    /// The values for each target duration a stream may have, from `lowest` on: one entry
    /// for a fixed target duration, one per second up to the maximum for measured ones
    /// (at most [`playlists::MAX_MEASURED_TARGET_DURATION_S`]).
    by_td: Box<[TdControls]>,
    lowest: u32,
    /// What a stream is expected to measure (`segment_min_ms` rounded; the fixed value when
    /// fixed), for answers about no stream in particular: a 404's lifetime, the multivariant
    /// playlist.
    nominal: u32,
}

/// The cache lifetimes of a stream whose target duration is `target_duration`.
#[derive(Debug)]
pub(super) struct TdControls {
    /// Blocking playlist 200: 6 × TD (the same URL always gets the same bytes).
    pub(super) blocking: HeaderValue,
    /// Non-blocking playlist 200: ½ TD.
    pub(super) live: HeaderValue,
    /// TARGETDURATION, for error lifetimes and the hold limit.
    pub(super) target_duration: Duration,
}

impl CacheControls {
    fn new(library: &playlists::Options, opts: &HttpOptions) -> Self {
        // Leaked once per state (a few dozen bytes per target duration): a static header value
        // is cloned without touching a shared reference count, and both worker threads clone
        // these into every response. The texts are digits and ASCII, always valid header
        // values.
        let value = |s: String| HeaderValue::from_static(Box::leak(s.into_boxed_str()));
        let (lowest, highest, nominal) = match library.target_duration {
            playlists::TargetDuration::Fixed(s) => (s, s, s),
            playlists::TargetDuration::Measured { max_s } => {
                let expected = library.segment_min_ms.div_ceil(1000).min(u64::from(max_s));
                (1, max_s, u32::try_from(expected).unwrap_or(max_s).max(1))
            }
        };
        let by_td = (lowest..=highest)
            .map(|td| {
                let td = u64::from(td);
                TdControls {
                    blocking: value(format!("public, max-age={}", 6 * td)),
                    // ½ TD rounded down, but never 0 (which some caches read as "do not cache").
                    live: value(format!("public, max-age={}", (td / 2).max(1))),
                    target_duration: Duration::from_secs(td),
                }
            })
            .collect();
        Self {
            media: value(format!(
                "public, max-age={}, immutable",
                opts.media_max_age.as_secs()
            )),
            by_td,
            lowest,
            nominal,
        }
    }

    /// The values for a stream whose target duration is `td`; `None` (not measured yet) gets
    /// the nominal one.
    pub(super) fn for_td(&self, td: Option<u32>) -> &TdControls {
        let td = td.unwrap_or(self.nominal);
        let i = td.saturating_sub(self.lowest) as usize;
        &self.by_td[i.min(self.by_td.len() - 1)]
    }

    /// The values for answers about no stream in particular.
    pub(super) fn nominal(&self) -> &TdControls {
        self.for_td(None)
    }
}

impl AppState {
    /// State for serving `playlists` with `opts`: delivery only, parts on the heap, no
    /// ingest paths, a shutdown signal of its own. The `with_*` methods add the rest.
    pub fn new(playlists: Arc<Playlists>, opts: HttpOptions) -> Self {
        let num = playlists.options().num_playlists;
        let cache = CacheControls::new(playlists.options(), &opts);
        Self {
            ingests: None,
            rtmp: None,
            srt: None,
            recordings: None,
            parts: PartStore::heap(),
            waiting: Waiting::new(num, opts.max_waiting_per_stream, opts.max_waiting_total),
            started: Instant::now(),
            media_types: (0..num).map(|_| AtomicU64::new(0)).collect(),
            ingest_requests: AtomicUsize::new(0),
            predecessor: None,
            playlists,
            opts,
            metrics: Metrics::default(),
            shutdown: Shutdown::default(),
            cache,
        }
    }

    /// Sends parts from `parts` (the store ingest writes into): with an arena, plain-TCP
    /// connections send them with `sendfile`.
    pub fn with_parts(mut self, parts: PartStore) -> Self {
        self.parts = parts;
        self
    }

    /// Takes `PUT`/`POST /ingest/{stream}` into `ingests` (the HTTP push source).
    pub fn with_ingest(mut self, ingests: Arc<Ingests>) -> Self {
        self.ingests = Some(ingests);
        self
    }

    /// Exports the RTMP listener's figures in `/metrics`.
    pub fn with_rtmp(mut self, stats: Arc<RtmpStats>) -> Self {
        self.rtmp = Some(stats);
        self
    }

    /// Serves `recordings` under `/recordings` and lists them on the page and in `/metrics`.
    pub fn with_recordings(mut self, recordings: Arc<crate::recording::Recordings>) -> Self {
        self.recordings = Some(recordings);
        self
    }

    /// Exports the SRT listener's figures in `/metrics`.
    pub fn with_srt(mut self, stats: Arc<SrtStats>) -> Self {
        self.srt = Some(stats);
        self
    }

    /// Asks the process this one took over from ([`crate::upgrade`]) for the parts,
    /// segments and init sections not found here, while it still answers.
    pub fn with_predecessor(mut self, link: super::predecessor::PredecessorLink) -> Self {
        self.predecessor = Some(link);
        self
    }

    /// Uses `shutdown` (shared with the binary's sources) instead of a signal of its own.
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// 3 × TARGETDURATION of a stream whose target duration is `td`: how long a held request
    /// waits before 503 (§6.2.5.2 [docs/conformance.md R10]). A stream still measuring its
    /// target duration may take up to the maximum for its first segment, so its requests may
    /// wait 3 × the maximum.
    pub fn hold_limit(&self, td: Option<u32>) -> Duration {
        match td {
            Some(_) => 3 * self.cache.for_td(td).target_duration,
            None => {
                3 * Duration::from_secs(u64::from(self.playlists.options().target_duration.max_s()))
            }
        }
    }

    /// Holds `wait` (a blocking reload, a hinted part or a stream's first playlist, waiting
    /// until [`hold_deadline`](Self::hold_deadline)): its library errors become HTTP errors,
    /// the deadline a 503 that names the limit reached, and shutdown a 503 at once.
    ///
    /// Held requests are the only ones that wait, so this single deadline is also the
    /// request timeout: a burst of thousands of woken requests then has one timer each to
    /// clear, not two.
    pub(crate) async fn hold<T>(
        &self,
        limit: Duration,
        wait: impl std::future::Future<Output = playlists::Result<T>>,
    ) -> Result<T, HttpError> {
        let by_request_timeout = self.opts.request_timeout < limit;
        tokio::select! {
            // §6.2.5.2 [docs/conformance.md R10]: the library's WaitTimeout maps to 503.
            result = wait => result.map_err(|e| match e {
                playlists::Error::WaitTimeout(_) if by_request_timeout => request_timed_out(self),
                e => e.into(),
            }),
            () = self.shutdown.wait() => Err(super::held::shutting_down()),
        }
    }

    /// Whether a request for a stream that does not exist is held until it starts
    /// ([`HttpOptions::restart_hold`]): the server started less than that long ago.
    pub(crate) fn holds_missing_streams(&self) -> bool {
        self.started.elapsed() < self.opts.restart_hold
    }

    /// Whether the only connections left are encoders' (HTTP ingest requests being read).
    pub(crate) fn only_encoders_connected(&self) -> bool {
        self.metrics.connections_open() <= self.ingest_requests.load(Ordering::Acquire) as u64
    }

    /// Counts an HTTP ingest request until the returned guard drops.
    pub(super) fn ingest_request(&self) -> IngestRequest<'_> {
        self.ingest_requests.fetch_add(1, Ordering::AcqRel);
        IngestRequest(&self.ingest_requests)
    }

    /// When a request held from `since` for at most `limit` must be answered: the earlier of
    /// the limit and the request timeout (503 either way).
    pub(crate) fn hold_deadline(&self, since: Instant, limit: Duration) -> Instant {
        since + limit.min(self.opts.request_timeout)
    }
}

/// An HTTP ingest request in flight ([`AppState::ingest_request`]).
pub(super) struct IngestRequest<'a>(&'a AtomicUsize);

impl Drop for IngestRequest<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// 503 for a response not ready within [`HttpOptions::request_timeout`].
fn request_timed_out(state: &AppState) -> HttpError {
    HttpError::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "no response within the request timeout ({:?})",
            state.opts.request_timeout
        ),
    )
}
