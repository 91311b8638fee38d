//! One SRT caller's task: its stream id and credential checked, then accepted (or rejected
//! with a code), then its payloads read with their clocks and limits into a [`MediaSink`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use srt_protocol::options::KeySize;
use srt_protocol::settings::KeySettings;
use srt_tokio::{ConnectionRequest, SrtSocket};
use tokio::time::{sleep_until, Instant};

use super::media::MediaSink;
use super::stats::{Gauge, Losses};
use super::stream_id::{self, Request};
use super::{Shared, SrtError};
use crate::ingest::sources::rate::{RateLimit, BURST};
use crate::ingest::{Access, IngestSession, Ownership};
use crate::packager::PackagerConfig;

/// How long closing a connection may take (SRT's shutdown is one packet; a caller that does
/// not take it is gone).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Checks `request` and serves it until the caller leaves, breaks a rule or the server
/// shuts down; counts and logs how it ended. `open` counts it until it ends.
pub(super) async fn run(request: ConnectionRequest, shared: Arc<Shared>, open: Gauge) {
    let peer = request.remote();
    let result = serve(request, peer, &shared).await;
    log_end(&shared, peer, result);
    drop(open);
}

/// Refuses `request` for `e` (counted and logged), without looking at it further.
pub(super) async fn refuse(request: ConnectionRequest, e: SrtError, shared: Arc<Shared>) {
    let peer = request.remote();
    let _ = request.reject(e.reject_reason()).await;
    log_end(&shared, peer, Err(e));
}

fn log_end(shared: &Shared, peer: SocketAddr, result: Result<(), SrtError>) {
    match result {
        Ok(()) => tracing::debug!(%peer, "SRT connection closed"),
        Err(e) => match e.refusal() {
            Some(reason) => {
                shared.stats.count_refusal(reason);
                tracing::info!(%peer, reason = reason.label(), error = %e, "SRT caller refused or cut off");
            }
            None => tracing::debug!(%peer, error = %e, "SRT connection ended"),
        },
    }
}

async fn serve(
    request: ConnectionRequest,
    peer: SocketAddr,
    shared: &Shared,
) -> Result<(), SrtError> {
    let config = &shared.config;
    let started = Instant::now();
    let (session, key) = match check(&request, peer, shared).await {
        Ok(admitted) => admitted,
        Err(e) => {
            let _ = request.reject(e.reject_reason()).await;
            return Err(e);
        }
    };
    let stream = session.stream().to_owned();
    // A wrong passphrase fails here: SRT compares the keys and answers the caller itself.
    let accepted = tokio::time::timeout(config.handshake_timeout, request.accept(key)).await;
    let mut socket = match accepted {
        Ok(Ok(socket)) => socket,
        Ok(Err(e)) => return Err(SrtError::Handshake(e)),
        Err(_) => return Err(SrtError::HandshakeTimeout(config.handshake_timeout)),
    };
    tracing::info!(%peer, %stream, "SRT publisher accepted");
    let part_target =
        Duration::from_millis(shared.ingests.playlists().options().part_target_ms.into());
    let demux = (shared.new_demux)(PackagerConfig {
        part_target,
        max_frame_bytes: config.max_frame_bytes,
    });
    let publishing = Publishing {
        sink: MediaSink::new(session, demux),
        _counted: shared.stats.publishing_guard(),
    };
    let result = receive(&mut socket, publishing, started, shared).await;
    // Tells the caller the connection is over (it reconnects, or reports the end).
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close()).await;
    if let Ok(parts) = &result {
        tracing::info!(%peer, %stream, parts, "SRT publisher left");
    }
    result.map(|_| ())
}

/// The stream a connection publishes, and its place in the `publishing` gauge.
struct Publishing {
    sink: MediaSink,
    _counted: Gauge,
}

/// Checks what `request` asks for and admits it: the session to publish into and the
/// passphrase to accept it with.
async fn check(
    request: &ConnectionRequest,
    peer: SocketAddr,
    shared: &Shared,
) -> Result<(IngestSession, Option<KeySettings>), SrtError> {
    let stream_id = request.stream_id().map(|id| id.as_str());
    let name = match stream_id::parse(stream_id)? {
        Request::Publish(name) => name,
        Request::Play(resource) => return Err(SrtError::Play(resource)),
    };
    // Checked before admission, so that a caller that cannot connect does not take the
    // stream; a wrong passphrase is only found by the handshake, after it.
    let encrypts = request.key_size() != KeySize::Unspecified;
    let key = match (&shared.config.passphrase, encrypts) {
        (Some(passphrase), true) => Some(KeySettings {
            key_size: request.key_size(),
            passphrase: passphrase
                .0
                .clone()
                .try_into()
                .map_err(|_| SrtError::Unsecure("the passphrase is not one SRT takes"))?,
        }),
        (Some(_), false) => return Err(SrtError::Unsecure("this listener asks for a passphrase")),
        (None, true) => return Err(SrtError::Unsecure("this listener takes no passphrase")),
        (None, false) => None,
    };
    let access = Access::Remote {
        token: name.token.as_deref(),
        peer: Some(peer.ip().to_canonical()),
    };
    let session = shared
        .ingests
        .admit_run(&name.stream, access, Ownership::Exclusive, name.event)
        .await
        .map_err(SrtError::Refused)?;
    Ok((session, key))
}

/// Reads payloads into the sink until the caller leaves (the parts published) or breaks a
/// rule. The first must come within the handshake timeout of the request, each next within
/// the stall limit.
async fn receive(
    socket: &mut SrtSocket,
    mut publishing: Publishing,
    started: Instant,
    shared: &Shared,
) -> Result<u64, SrtError> {
    let config = &shared.config;
    let stall = shared.ingests.config().stall_after;
    let mut deadline = started + config.handshake_timeout;
    let mut first = true;
    let mut rate = RateLimit::new(config.max_bitrate, started);
    // SRT's own figures for this connection, counted as they grow.
    let mut figures = socket.statistics().clone();
    let mut losses = Losses::default();
    loop {
        let next = tokio::select! {
            next = socket.next() => next,
            Some(now) = figures.next() => {
                let now = Losses {
                    retransmitted: now.rx_retransmit_data,
                    dropped: now.rx_dropped_data,
                };
                shared.stats.count_losses(losses, now);
                losses = now;
                continue;
            }
            () = sleep_until(deadline) => {
                return Err(if first {
                    SrtError::HandshakeTimeout(config.handshake_timeout)
                } else {
                    SrtError::Stalled(stall)
                });
            }
            // Dropping the session: the stream enters its grace period, as at any disconnect.
            () = shared.shutdown.wait() => return Ok(0),
        };
        let data = match next {
            Some(Ok((_, data))) => data,
            Some(Err(e)) => return Err(SrtError::Io(e)),
            None => return publishing.sink.finish(),
        };
        let now = Instant::now();
        shared.stats.count_bytes(data.len());
        if !rate.take(data.len(), now) {
            return Err(SrtError::Rate {
                bits_per_sec: config.max_bitrate,
                over: BURST,
            });
        }
        publishing.sink.push(&data)?;
        first = false;
        deadline = now + stall;
    }
}
