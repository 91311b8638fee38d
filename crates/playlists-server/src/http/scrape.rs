//! `GET /metrics`: every figure of the server in the Prometheus text format (version 0.0.4),
//! encoded by the `prometheus-client` crate.
//!
//! The figures live where they are counted: request counters in the per-thread shards of
//! [`Metrics`](super::Metrics), stream positions in the library, held requests in
//! [`Waiting`](super::Waiting), publish delays and refused ingest attempts in the ingest
//! layer, the RTMP and SRT sources' figures in their [`RtmpStats`] and [`SrtStats`]. None of them is a metric object of
//! the crate (a shared `Counter` would put every event loop back on one cache line), so a
//! scrape registers one [`Collector`] that reads them all at that moment and hands each to
//! the crate's encoder as a constant.
//!
//! The 0.0.4 text format (not OpenMetrics) keeps the output as it was before the crate: the
//! same series, `# HELP`/`# TYPE` lines named like the series, no `# EOF`; every scraper and
//! script that read it reads it unchanged.

use std::sync::Arc;

use http::StatusCode;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::error::HttpError;
use super::AppState;
use crate::ingest::sources::rtmp::RtmpStats;
use crate::ingest::sources::srt::SrtStats;
use crate::ingest::PUBLISH_DELAY_BUCKETS_US;
use crate::recording::archive::ArchiveStats;
use crate::recording::{Recordings, StopReason};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Renders every metric of `state` in the Prometheus text format (version 0.0.4).
///
/// # Errors
/// None in practice (the text goes into a `String`); an encoder error would be a 500.
pub fn render(state: &Arc<AppState>) -> Result<String, HttpError> {
    // A registry per scrape: the collector reads the server's state, which holds the
    // counters, so a registry kept in that state would own the state it reads. Scrapes are
    // rare; registering one boxed collector costs nothing next to encoding.
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(Arc::clone(state))));
    let mut out = String::with_capacity(4096);
    prometheus_text::encode(&mut out, &registry).map_err(|_| {
        HttpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics could not be encoded",
        )
    })?;
    Ok(out)
}

/// The collector of one scrape: reads the figures of its state when encoded.
#[derive(Debug)]
struct Scrape(Arc<AppState>);

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> std::fmt::Result {
        let state = &*self.0;
        let m = &state.metrics;
        requests(state, &mut enc)?;
        gauge(
            &mut enc,
            "playlists_http_waiting_requests",
            "Blocking playlist and hinted part requests held right now.",
            state.waiting.total() as u64,
        )?;
        counter(
            &mut enc,
            "playlists_http_response_bytes",
            "Response body bytes handed to connections.",
            m.bytes_out(),
        )?;
        if let Some(arena) = state.parts.arena() {
            let a = arena.stats();
            counter(
                &mut enc,
                "playlists_http_sendfile_bytes",
                "Bytes sent with sendfile (not copied into sockets): parts from the part arena, and recorded segments and init sections from their files.",
                a.sent_bytes,
            )?;
            gauge(
                &mut enc,
                "playlists_part_arena_blocks",
                "Blocks of the part arena holding live parts.",
                a.blocks_in_use,
            )?;
            gauge(
                &mut enc,
                "playlists_part_arena_block_bytes",
                "Bytes per block of the part arena.",
                a.block_bytes,
            )?;
            counter(
                &mut enc,
                "playlists_part_arena_heap_fallbacks",
                "Parts stored on the heap instead: larger than half a block, or the arena full.",
                a.heap_fallbacks,
            )?;
        }
        counter(
            &mut enc,
            "playlists_http_connections",
            "Connections accepted.",
            m.connections(),
        )?;
        gauge(
            &mut enc,
            "playlists_http_connections_open",
            "Connections accepted and not yet ended.",
            m.connections_open(),
        )?;
        counter(
            &mut enc,
            "playlists_http_connection_errors",
            "Connections that ended with an error.",
            m.connection_errors(),
        )?;
        streams(state, &mut enc)?;
        if let Some(ingests) = &state.ingests {
            counter(
                &mut enc,
                "playlists_ingest_auth_failures",
                "Network ingest attempts refused for a missing or wrong credential.",
                ingests.auth_failures().total(),
            )?;
        }
        if let Some(rtmp) = &state.rtmp {
            rtmp_figures(rtmp, &mut enc)?;
        }
        if let Some(srt) = &state.srt {
            srt_figures(srt, &mut enc)?;
        }
        if let Some(recordings) = &state.recordings {
            recording_figures(recordings, &mut enc)?;
        }
        publish_delays(state, &mut enc)
    }
}

/// `playlists_http_requests_total{route,status}`: the shards summed, series that are still 0
/// left out.
fn requests(state: &AppState, enc: &mut DescriptorEncoder) -> std::fmt::Result {
    let counter = ConstCounter::new(0u64);
    let mut family = enc.encode_descriptor(
        "playlists_http_requests",
        "HTTP requests answered, by route and status.",
        None,
        counter.metric_type(),
    )?;
    for (route, status, n) in state.metrics.request_counts() {
        // Statuses are counted as valid codes; a label is its three digits.
        let status = status.and_then(|s| StatusCode::from_u16(s).ok());
        let labels = [
            ("route", route.label()),
            (
                "status",
                status.as_ref().map_or("other", StatusCode::as_str),
            ),
        ];
        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The per-stream figures, one series per stream the library lists.
fn streams(state: &AppState, enc: &mut DescriptorEncoder) -> std::fmt::Result {
    let streams = state.playlists.list();
    gauge(
        enc,
        "playlists_streams_live",
        "Streams publishing (not ended).",
        streams.iter().filter(|s| !s.ended).count() as u64,
    )?;
    let per_stream: [(&str, MetricType, &str); 5] = [
        (
            "playlists_stream_parts_published",
            MetricType::Counter,
            "Parts published on the stream since it started.",
        ),
        (
            "playlists_stream_bytes_published",
            MetricType::Counter,
            "Part bytes published on the stream since it started.",
        ),
        (
            "playlists_stream_last_msn",
            MetricType::Gauge,
            "Media sequence number of the newest part.",
        ),
        (
            "playlists_stream_last_part",
            MetricType::Gauge,
            "Index of the newest part in its segment.",
        ),
        (
            "playlists_stream_waiting_requests",
            MetricType::Gauge,
            "Requests held on the stream right now.",
        ),
    ];
    for (i, (name, kind, help)) in per_stream.into_iter().enumerate() {
        let mut family = enc.encode_descriptor(name, help, None, kind)?;
        for s in &streams {
            let value = match i {
                0 => Some(s.parts_published),
                1 => Some(s.bytes_published),
                2 => s.last.map(|p| p.msn),
                3 => s.last.map(|p| u64::from(p.part)),
                _ => state
                    .playlists
                    .stream(&s.name)
                    .map(|r| state.waiting.on_stream(r.idx().index()) as u64),
            };
            let Some(v) = value else { continue };
            let labels = [("stream", s.name.as_str())];
            let series = family.encode_family(&labels)?;
            match kind {
                MetricType::Counter => ConstCounter::new(v).encode(series)?,
                _ => ConstGauge::new(v).encode(series)?,
            }
        }
    }
    Ok(())
}

/// The RTMP source's figures: connections, publishers, bytes, refusals by reason.
fn rtmp_figures(rtmp: &RtmpStats, enc: &mut DescriptorEncoder) -> std::fmt::Result {
    counter(
        enc,
        "playlists_rtmp_connections",
        "RTMP connections accepted.",
        rtmp.connections(),
    )?;
    gauge(
        enc,
        "playlists_rtmp_connections_open",
        "RTMP connections open now.",
        rtmp.open(),
    )?;
    gauge(
        enc,
        "playlists_rtmp_publishing",
        "RTMP connections publishing a stream now.",
        rtmp.publishing(),
    )?;
    counter(
        enc,
        "playlists_rtmp_received_bytes",
        "Bytes received from RTMP peers.",
        rtmp.bytes_received(),
    )?;
    let refusals = ConstCounter::new(0u64);
    let mut family = enc.encode_descriptor(
        "playlists_rtmp_refusals",
        "RTMP connections cut off or requests refused, by reason.",
        None,
        refusals.metric_type(),
    )?;
    for (reason, n) in rtmp.refusals() {
        let labels = [("reason", reason.label())];
        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The SRT source's figures: connection requests, publishers, bytes, refusals by reason.
fn srt_figures(srt: &SrtStats, enc: &mut DescriptorEncoder) -> std::fmt::Result {
    counter(
        enc,
        "playlists_srt_connections",
        "SRT connection requests.",
        srt.connections(),
    )?;
    gauge(
        enc,
        "playlists_srt_connections_open",
        "SRT connection requests being checked or served now.",
        srt.open(),
    )?;
    gauge(
        enc,
        "playlists_srt_publishing",
        "SRT connections publishing a stream now.",
        srt.publishing(),
    )?;
    counter(
        enc,
        "playlists_srt_received_bytes",
        "MPEG-TS bytes received from SRT callers.",
        srt.bytes_received(),
    )?;
    counter(
        enc,
        "playlists_srt_packets_retransmitted",
        "SRT data packets received again from callers after a loss (recovered losses).",
        srt.packets_retransmitted(),
    )?;
    counter(
        enc,
        "playlists_srt_packets_dropped",
        "SRT data packets discarded: too late (an unrecovered loss, or a needless retransmission), too early, or no buffer room.",
        srt.packets_dropped(),
    )?;
    let refusals = ConstCounter::new(0u64);
    let mut family = enc.encode_descriptor(
        "playlists_srt_refusals",
        "SRT callers refused or cut off, by reason (garbage: datagrams that are not SRT).",
        None,
        refusals.metric_type(),
    )?;
    for (reason, n) in srt.refusals() {
        let labels = [("reason", reason.label())];
        ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The recorder's figures: what it wrote, what it holds, what stopped and what retention
/// removed.
fn recording_figures(recordings: &Recordings, enc: &mut DescriptorEncoder) -> std::fmt::Result {
    let stats = &recordings.stats;
    counter(
        enc,
        "playlists_recording_segments",
        "Segments written to recordings.",
        stats.segments(),
    )?;
    counter(
        enc,
        "playlists_recording_written_bytes",
        "Bytes written to recordings: segments, init sections and index lines.",
        stats.bytes_written(),
    )?;
    let (count, bytes) = {
        let catalog = recordings.read();
        (catalog.recordings.len() as u64, catalog.bytes())
    };
    gauge(
        enc,
        "playlists_recordings",
        "Recordings held, growing or ended.",
        count,
    )?;
    gauge(
        enc,
        "playlists_recording_disk_bytes",
        "Bytes the recordings take on disk (segments and init sections).",
        bytes,
    )?;
    counter(
        enc,
        "playlists_recordings_deleted",
        "Recordings removed by retention.",
        stats.deleted(),
    )?;
    let stopped = ConstCounter::new(0u64);
    let mut family = enc.encode_descriptor(
        "playlists_recordings_stopped",
        "Recordings stopped early, by reason (disk_full, write_error, behind: a segment dropped because the disk fell behind); the live streams went on.",
        None,
        stopped.metric_type(),
    )?;
    for reason in StopReason::ALL {
        let labels = [("reason", reason.label())];
        ConstCounter::new(stats.stopped(reason)).encode(family.encode_family(&labels)?)?;
    }
    if let Some(archive) = recordings.archive() {
        archive_figures(&archive.stats, enc)?;
    }
    Ok(())
}

/// The archive's figures: uploads done, failed and waiting, and files served from it.
fn archive_figures(stats: &ArchiveStats, enc: &mut DescriptorEncoder) -> std::fmt::Result {
    counter(
        enc,
        "playlists_archive_uploaded",
        "Recording files uploaded to the archive.",
        stats.uploaded(),
    )?;
    counter(
        enc,
        "playlists_archive_uploaded_bytes",
        "Bytes uploaded to the archive.",
        stats.uploaded_bytes(),
    )?;
    counter(
        enc,
        "playlists_archive_upload_failures",
        "Upload attempts that failed; each is retried with backoff.",
        stats.failures(),
    )?;
    gauge(
        enc,
        "playlists_archive_pending",
        "Recording files waiting on the local disk for their upload.",
        stats.pending(),
    )?;
    counter(
        enc,
        "playlists_archive_served",
        "Recording files served from the archive (no longer on the local disk).",
        stats.served(),
    )
}

/// The ingest-to-publish histogram of every stream with ingest state, and its maximum.
fn publish_delays(state: &AppState, enc: &mut DescriptorEncoder) -> std::fmt::Result {
    let delays = state
        .ingests
        .as_ref()
        .map(|i| i.publish_delays())
        .unwrap_or_default();
    let mut family = enc.encode_descriptor(
        "playlists_ingest_publish_delay_seconds",
        "From the arrival of the input that completed a part to its publication.",
        None,
        MetricType::Histogram,
    )?;
    for (stream, d) in &delays {
        // The encoder takes per-bucket counts and adds them up; the last count of the
        // snapshot (above every bound) only shows in the `+Inf` bucket, i.e. the total.
        let buckets: Vec<(f64, u64)> = PUBLISH_DELAY_BUCKETS_US
            .iter()
            .zip(&d.buckets)
            .map(|(&us, &n)| (seconds(us), n))
            .collect();
        let labels = [("stream", stream.as_str())];
        family
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(
                seconds(d.sum_us),
                d.buckets.iter().sum(),
                &buckets,
                None,
            )?;
    }
    let mut family = enc.encode_descriptor(
        "playlists_ingest_publish_delay_max_seconds",
        "The longest ingest-to-publish delay so far.",
        None,
        MetricType::Gauge,
    )?;
    for (stream, d) in &delays {
        let labels = [("stream", stream.as_str())];
        ConstGauge::new(seconds(d.max_us)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn seconds(us: u64) -> f64 {
    us as f64 / 1e6
}

/// An unlabelled counter; `name` without the `_total` the encoder appends.
fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

/// An unlabelled gauge.
fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}
