//! Synthetic encoders: the built-in demo clip (8 s of 200 ms CMAF parts, about 230 kbit/s)
//! pushed in real time over HTTP ingest, one long chunked `PUT` per stream, as ffmpeg does.
//!
//! Each encoder sends the init section and then part `i` of the endless looped stream when its
//! media time comes (the demo's own pacing, [`DemoClip::part`]), so the origin sees what it
//! would from a real encoder: parts arriving one by one, each completed by the chunk that
//! carries its last byte. A clip instead of a real encoder because a thousand ffmpeg
//! processes do not fit on the machines this runs on, and the origin's work per part does not
//! depend on the pixels.
//!
//! An upload that fails (the origin went away, or answered with an error) is started again
//! after a pause, on a new connection, with the init section first and then the part that is
//! due by then: like an encoder that reconnects, it does not send what it could not deliver
//! while it was away, and its timestamps go on.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http_body_util::channel::Channel;
use hyper_util::rt::TokioIo;
use playlists_server::ingest::sources::demo::DemoClip;
use tokio::net::TcpStream;

/// What the encoders did, for the report.
#[derive(Debug, Default)]
pub(crate) struct PushStats {
    /// Parts written to an upload.
    pub(crate) parts: AtomicU64,
    /// Bytes written to uploads.
    pub(crate) bytes: AtomicU64,
    /// Uploads started again after one failed.
    pub(crate) reconnects: AtomicU64,
    /// Parts due while an encoder had no upload (not sent, as a live encoder would not).
    pub(crate) skipped_parts: AtomicU64,
}

/// Where and how an encoder publishes.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `host:port` of the origin (or the tier in front of it).
    pub(crate) authority: String,
    /// The ingest path, e.g. `/ingest/load17`.
    pub(crate) path: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub(crate) token: Option<String>,
}

/// Pushes `clip` to `target` in real time from `start` until `until`, reconnecting after
/// failures. Parts are due at `start` + their media end time.
pub(crate) async fn encoder(
    target: Target,
    clip: Arc<DemoClip>,
    stats: Arc<PushStats>,
    start: Instant,
    until: Instant,
) {
    tokio::time::sleep_until(start.into()).await;
    let mut next = 0u64;
    while Instant::now() < until {
        match upload(&target, &clip, &stats, start, until, &mut next).await {
            Ok(()) => break,
            Err(e) => {
                log_failure(&target.path, &e);
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
                // The parts that fell due meanwhile are gone, as from a live encoder.
                let due = due_index(&clip, start.elapsed());
                if due > next {
                    stats.skipped_parts.fetch_add(due - next, Ordering::Relaxed);
                    next = due;
                }
            }
        }
    }
}

/// The first part whose end lies after `elapsed` (the one being "encoded" now).
fn due_index(clip: &DemoClip, elapsed: Duration) -> u64 {
    let per_loop = clip.parts_per_loop();
    let loop_ns = clip.loop_duration().as_nanos().max(1);
    let mut index = (elapsed.as_nanos() / loop_ns) as u64 * per_loop;
    while clip.part(index).is_ok_and(|(_, end)| end <= elapsed) {
        index += 1;
    }
    index
}

/// One upload: connect, `PUT` with a streamed body, the init section, then parts until
/// `until` (then the body ends and the origin's answer is awaited).
async fn upload(
    target: &Target,
    clip: &DemoClip,
    stats: &PushStats,
    start: Instant,
    until: Instant,
    next: &mut u64,
) -> Result<()> {
    let tcp = TcpStream::connect(&target.authority)
        .await
        .with_context(|| format!("connect {}", target.authority))?;
    tcp.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    let driver = tokio::spawn(conn);
    // Two chunks in flight at most: a part waits in this process only while the origin is
    // slower than real time, which the report must show rather than hide in a buffer.
    let (mut body, channel) = Channel::<Bytes, Infallible>::new(2);
    let mut request = hyper::Request::put(&target.path)
        .header(http::header::HOST, &target.authority)
        .header(http::header::CONTENT_TYPE, "video/mp4");
    if let Some(token) = &target.token {
        request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = tokio::spawn(sender.send_request(request.body(channel)?));
    let init = clip.movie().init.bytes.clone();
    let sent = async {
        body.send_data(init.clone())
            .await
            .map_err(|_| anyhow!("the upload closed"))?;
        stats.bytes.fetch_add(init.len() as u64, Ordering::Relaxed);
        loop {
            let (bytes, end) = clip.part(*next).map_err(|e| anyhow!("clip: {e}"))?;
            let at = start + end;
            if at > until {
                return Ok::<(), anyhow::Error>(());
            }
            tokio::time::sleep_until(at.into()).await;
            let len = bytes.len() as u64;
            body.send_data(bytes)
                .await
                .map_err(|_| anyhow!("the upload closed"))?;
            *next += 1;
            stats.parts.fetch_add(1, Ordering::Relaxed);
            stats.bytes.fetch_add(len, Ordering::Relaxed);
        }
    };
    // The origin may answer (an error) before the body ends: stop sending then.
    let mut response = response;
    let outcome = tokio::select! {
        sent = sent => sent.map(|()| None),
        answered = &mut response => Ok(Some(answered)),
    };
    drop(body);
    let answered = match outcome? {
        Some(answered) => answered,
        None => tokio::time::timeout(Duration::from_secs(10), response)
            .await
            .context("no answer within 10 s of the body's end")?,
    };
    driver.abort();
    let response = answered.context("upload task")?.context("upload")?;
    if !response.status().is_success() {
        return Err(anyhow!("{} answered {}", target.path, response.status()));
    }
    Ok(())
}

/// Upload failures go to stderr once per encoder and failure, so that stdout stays JSON lines.
fn log_failure(path: &str, e: &anyhow::Error) {
    eprintln!("loadgen: upload {path}: {e:#}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_due_part_is_the_one_being_encoded() {
        let clip = DemoClip::builtin().unwrap();
        assert_eq!(due_index(&clip, Duration::ZERO), 0);
        assert_eq!(due_index(&clip, Duration::from_millis(199)), 0);
        assert_eq!(due_index(&clip, Duration::from_millis(200)), 1);
        // Across loops: 8 s per loop of 40 parts.
        assert_eq!(due_index(&clip, Duration::from_millis(8_250)), 41);
    }
}
