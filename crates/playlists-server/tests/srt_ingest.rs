//! SRT publishing end to end, over loopback, with real ffmpeg (libsrt): H.264 and HEVC with
//! AAC served frame for frame, through 5 % datagram loss each way, and across a reconnect.
//! Refused and hostile callers are `srt_refusals.rs`.

mod common;
mod origin;
mod srt_support;

use srt_support::*;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use playlists_server::ingest::IngestConfig;

#[tokio::test]
async fn ffmpeg_publishes_h264_and_hevc_with_every_frame_served() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    let server = server_with(quick(), ending_soon()).await;
    for (codec, name, stream, stream_id) in [
        (
            "libx264",
            "h264",
            "live/avc",
            format!("publish:live/avc?token={TOKEN}"),
        ),
        (
            "libx265",
            "hevc",
            "live/hevc",
            format!("#!::r=live/hevc,m=publish,token={TOKEN}"),
        ),
    ] {
        ffmpeg_publish(codec, 4, &srt_url_whole(server.srt, &stream_id))
            .await
            .unwrap_or_else(|e| panic!("{codec}: {e}"));
        let sent = reference(codec, 4).await;
        let got = served(&server, stream).await;
        assert_eq!(got, sent, "{codec}: every frame ffmpeg sent, and no other");
        assert!(got.iter().any(|s| s.1 == name), "{got:?}");
    }
    for reason in ["media", "stalled", "rate", "handshake"] {
        assert_eq!(server.refusals(reason).await, 0, "{reason}");
    }
    assert!(server.metric("playlists_srt_received_bytes_total").await > 100_000);
    server.other_stream_served().await;
}

/// Datagrams a [`relay`] forwarded and dropped, each way.
#[derive(Debug, Default)]
struct RelayCounts {
    forwarded: [std::sync::atomic::AtomicU64; 2],
    dropped: [std::sync::atomic::AtomicU64; 2],
}

/// A UDP relay on loopback between one caller and `server` that drops `per_mille` of the
/// datagrams in each direction, chosen by a generator seeded with `seed` (the same drops at
/// every run). Returns the address callers call and the counts.
async fn relay(server: SocketAddr, per_mille: u64, seed: u64) -> (SocketAddr, Arc<RelayCounts>) {
    use std::sync::atomic::Ordering::Relaxed;
    let front = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let back = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    back.connect(server).await.unwrap();
    let addr = front.local_addr().unwrap();
    let counts = Arc::new(RelayCounts::default());
    let task_counts = Arc::clone(&counts);
    tokio::spawn(async move {
        // xorshift64*: a few lines for a reproducible drop pattern, no dependency.
        let mut state = seed.max(1);
        let mut drop_next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d) % 1000 < per_mille
        };
        let mut caller = None;
        let (mut up, mut down) = (vec![0u8; 2048], vec![0u8; 2048]);
        loop {
            let (way, n) = tokio::select! {
                r = front.recv_from(&mut up) => {
                    let Ok((n, from)) = r else { return };
                    caller = Some(from);
                    (0, n)
                }
                r = back.recv(&mut down) => {
                    let Ok(n) = r else { return };
                    (1, n)
                }
            };
            if drop_next() {
                task_counts.dropped[way].fetch_add(1, Relaxed);
                continue;
            }
            task_counts.forwarded[way].fetch_add(1, Relaxed);
            let _ = match (way, caller) {
                (0, _) => back.send(&up[..n]).await,
                (_, Some(to)) => front.send_to(&down[..n], to).await,
                (_, None) => Ok(0),
            };
        }
    });
    (addr, counts)
}

/// 5 % of the datagrams lost each way, 200 ms of SRT latency: SRT's retransmissions recover
/// every loss, and every frame ffmpeg sent is served.
#[tokio::test]
async fn every_frame_arrives_through_five_percent_loss() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    use std::sync::atomic::Ordering::Relaxed;
    let server = server_with(quick(), ending_soon()).await;
    let (addr, counts) = relay(server.srt, 50, 0x5e7_1055).await;
    let id = format!("publish:live/lossy?token={TOKEN}");
    ffmpeg_publish("libx264", 6, &srt_url_whole(addr, &id))
        .await
        .expect("ffmpeg publishes through the loss");
    let figures = format!(
        "caller to server: {} forwarded, {} dropped; back: {} forwarded, {} dropped",
        counts.forwarded[0].load(Relaxed),
        counts.dropped[0].load(Relaxed),
        counts.forwarded[1].load(Relaxed),
        counts.dropped[1].load(Relaxed),
    );
    let figures = format!(
        "{figures}; SRT: {} packets retransmitted, {} discarded",
        server
            .metric("playlists_srt_packets_retransmitted_total")
            .await,
        server.metric("playlists_srt_packets_dropped_total").await,
    );
    eprintln!("{figures}");
    assert!(counts.dropped[0].load(Relaxed) >= 10, "{figures}");
    assert!(counts.dropped[1].load(Relaxed) >= 1, "{figures}");
    let sent = reference("libx264", 6).await;
    let got = served(&server, "live/lossy").await;
    assert_eq!(got, sent, "every frame through the loss ({figures})");
    assert_eq!(server.refusals("media").await, 0);
    server.other_stream_served().await;
}

/// An encoder that reconnects within the grace period continues its stream, as over every
/// source: both publications are served, every frame of each.
#[tokio::test]
async fn a_reconnect_within_the_grace_period_continues_the_stream() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    let ingest = IngestConfig {
        grace: Duration::from_secs(3),
        ..with_token()
    };
    let server = server_with(quick(), ingest).await;
    let id = format!("publish:live/again?token={TOKEN}");
    for _ in 0..2 {
        ffmpeg_publish("libx264", 2, &srt_url_whole(server.srt, &id))
            .await
            .unwrap();
        let text = origin::get(server.http, "/live/again/index.m3u8", &[])
            .await
            .text();
        assert!(!text.contains("#EXT-X-ENDLIST"), "ended early:\n{text}");
    }
    let once = reference("libx264", 2).await;
    let twice: Vec<_> = once
        .iter()
        .map(|(k, c, n)| (k.clone(), c.clone(), 2 * n))
        .collect();
    assert_eq!(served(&server, "live/again").await, twice);
    server.other_stream_served().await;
}
