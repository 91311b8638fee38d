//! One RTMP connection's task: the socket, its clocks and limits around an
//! [`RtmpProtocol`], and the ingest session once a publish request is accepted.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant};

use super::media::{MediaSink, Track};
use super::name::publish_name;
use super::protocol::{Event, RtmpProtocol, BAD_NAME, FAILED, REJECTED};
use super::stats::Gauge;
use super::{RtmpError, Shared};
use crate::ingest::sources::rate::{RateLimit, BURST};
use crate::ingest::{Access, IngestErrorKind, IngestSession, Ownership};

/// Bytes read from the socket at once: the most one [`RtmpProtocol::feed`] takes.
const READ_BYTES: usize = 64 * 1024;

/// How long a write to the peer may take. What is sent is a few hundred bytes of answers; a
/// peer that does not read them is stuck or hostile.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `socket` until the peer leaves, breaks a rule or the server shuts down, and counts
/// and logs how it ended. `open` counts the connection until it ends.
pub(super) async fn run(mut socket: TcpStream, peer: SocketAddr, shared: Arc<Shared>, open: Gauge) {
    let result = serve(&mut socket, peer, &shared).await;
    match result {
        Ok(()) => tracing::debug!(%peer, "RTMP connection closed"),
        Err(e) => match e.refusal() {
            Some(reason) => {
                shared.stats.count_refusal(reason);
                tracing::info!(%peer, reason = reason.label(), error = %e, "RTMP connection cut off");
            }
            None => tracing::debug!(%peer, error = %e, "RTMP connection ended"),
        },
    }
    // Closed here, with every answer already written.
    drop(socket);
    drop(open);
}

/// The stream a connection publishes, and its place in the `publishing` gauge.
struct Publishing {
    sink: MediaSink,
    _counted: Gauge,
}

async fn serve(socket: &mut TcpStream, peer: SocketAddr, shared: &Shared) -> Result<(), RtmpError> {
    let config = &shared.config;
    let stall = shared.ingests.config().stall_after;
    let (mut protocol, first) = RtmpProtocol::new(config.max_message_bytes)?;
    send(socket, &first).await?;
    let started = Instant::now();
    // Until the handshake completes: the handshake timeout. Then media must keep coming (a
    // publish request first): every audio or video message moves it on by the stall limit.
    let mut deadline = started + config.handshake_timeout;
    let mut rate = RateLimit::new(config.max_bitrate, started);
    let mut buf = vec![0u8; READ_BYTES];
    let mut out = Vec::new();
    let mut publishing: Option<Publishing> = None;
    let mut received = 0usize;
    loop {
        let n = tokio::select! {
            read = socket.read(&mut buf) => read?,
            () = sleep_until(deadline) => {
                return Err(if protocol.handshake_done() {
                    RtmpError::Stalled(stall)
                } else {
                    RtmpError::HandshakeTimeout(config.handshake_timeout)
                });
            }
            // Dropping the session: the stream enters its grace period, as at any disconnect.
            () = shared.shutdown.wait() => return Ok(()),
        };
        if n == 0 {
            return match publishing.take() {
                Some(p) => {
                    let stream = p.sink.stream().to_owned();
                    let parts = p.sink.finish()?;
                    tracing::info!(%peer, %stream, parts, "RTMP publisher left");
                    Ok(())
                }
                None if !protocol.handshake_done() && received > 0 => Err(RtmpError::Handshake(
                    "the connection ended inside the handshake".into(),
                )),
                None if protocol.in_message() => Err(RtmpError::Truncated),
                None => Ok(()),
            };
        }
        received += n;
        shared.stats.count_bytes(n);
        let now = Instant::now();
        if !rate.take(n, now) {
            return Err(RtmpError::Rate {
                bits_per_sec: config.max_bitrate,
                over: BURST,
            });
        }
        let was_handshaking = !protocol.handshake_done();
        let events = protocol.feed(&buf[..n], &mut out);
        // Sent even when the input was refused: it may hold the refusal.
        send(socket, &out).await?;
        out.clear();
        let events = events?;
        if was_handshaking && protocol.handshake_done() {
            deadline = now + stall;
        }
        let mut queue: VecDeque<Event> = events.into();
        while let Some(event) = queue.pop_front() {
            match event {
                Event::Publish {
                    request_id,
                    app,
                    key,
                } => {
                    let started = match publishing.as_ref() {
                        Some(p) => Err(RtmpError::SecondPublish(p.sink.stream().to_owned())),
                        None => admit(shared, peer, &app, &key).await,
                    };
                    let session = match started {
                        Ok(session) => session,
                        Err(e) => {
                            protocol.refuse(
                                request_id,
                                status_code(&e),
                                &e.to_string(),
                                &mut out,
                            )?;
                            send(socket, &out).await?;
                            return Err(e);
                        }
                    };
                    protocol.accept(request_id, &mut out)?;
                    tracing::info!(%peer, stream = session.stream(), "RTMP publisher accepted");
                    let part_target = Duration::from_millis(
                        shared.ingests.playlists().options().part_target_ms.into(),
                    );
                    publishing = Some(Publishing {
                        sink: MediaSink::new(session, part_target, config.max_message_bytes),
                        _counted: shared.stats.publishing_guard(),
                    });
                    deadline = Instant::now() + stall;
                    // The input that came after the request, held until it was answered.
                    let held = protocol.feed(&[], &mut out);
                    send(socket, &out).await?;
                    out.clear();
                    queue.extend(held?);
                }
                Event::Video { timestamp, data } => {
                    if let Some(p) = publishing.as_mut() {
                        p.sink.push(Track::Video, timestamp, data)?;
                        deadline = Instant::now() + stall;
                    }
                }
                Event::Audio { timestamp, data } => {
                    if let Some(p) = publishing.as_mut() {
                        p.sink.push(Track::Audio, timestamp, data)?;
                        deadline = Instant::now() + stall;
                    }
                }
                Event::PublishFinished => {
                    if let Some(p) = publishing.take() {
                        let stream = p.sink.stream().to_owned();
                        let parts = p.sink.finish()?;
                        tracing::info!(%peer, %stream, parts, "RTMP publisher finished");
                        deadline = Instant::now() + stall;
                    }
                }
            }
        }
    }
}

/// Starts the ingest session a publish request of `app` and `key` names, with the
/// credential it carries; a refused credential is answered late, as for every network
/// source ([`Ingests::admit`](crate::ingest::Ingests::admit)).
async fn admit(
    shared: &Shared,
    peer: SocketAddr,
    app: &str,
    key: &str,
) -> Result<IngestSession, RtmpError> {
    let name = publish_name(app, key)?;
    let access = Access::Remote {
        token: name.token.as_deref(),
        peer: Some(peer.ip().to_canonical()),
    };
    shared
        .ingests
        .admit_run(&name.stream, access, Ownership::Exclusive, name.event)
        .await
        .map_err(RtmpError::Refused)
}

/// The RTMP status code of a refused publish request.
fn status_code(e: &RtmpError) -> &'static str {
    match e {
        RtmpError::Refused(e) => match e.kind() {
            IngestErrorKind::Unauthorized => REJECTED,
            IngestErrorKind::Unavailable | IngestErrorKind::Internal => FAILED,
            _ => BAD_NAME,
        },
        _ => BAD_NAME,
    }
}

/// Writes `bytes`, if any, within [`WRITE_TIMEOUT`].
async fn send(socket: &mut TcpStream, bytes: &[u8]) -> Result<(), RtmpError> {
    if bytes.is_empty() {
        return Ok(());
    }
    tokio::time::timeout(WRITE_TIMEOUT, socket.write_all(bytes))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the peer does not read what is sent",
            )
        })??;
    Ok(())
}
