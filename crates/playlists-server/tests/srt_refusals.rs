//! SRT callers the origin refuses or cuts off, over loopback: every one answered with its
//! reject code or cut off within a bounded time, counted by reason in `/metrics`, and another
//! stream still served. Callers from `srt-tokio` (to read the codes exactly) and ffmpeg.

mod common;
mod origin;
mod srt_support;

use srt_support::*;

use std::time::Duration;

use bytes::Bytes;
use playlists_server::ingest::sources::srt::{Passphrase, SrtConfig};
use playlists_server::ingest::IngestConfig;
use srt_tokio::SrtSocket;

#[tokio::test]
async fn stream_ids_names_and_tokens_are_refused_with_their_codes() {
    let server = server().await;
    let addr = server.srt;
    let cases: [(Option<&str>, i32, &str); 9] = [
        (None, 2400, "stream_id"),
        (Some("live/cam1"), 2400, "stream_id"),
        (Some("#!::r=x,m=publish,t=file"), 2400, "stream_id"),
        (Some("publish:live/cam1"), 2401, "unauthorized"),
        (
            Some("#!::r=live/cam1,m=publish,token=wrong"),
            2401,
            "unauthorized",
        ),
        (
            Some("publish:ingest/x?token=s3cret-token"),
            2403,
            "forbidden",
        ),
        (Some("publish:a/b/c?token=s3cret-token"), 2404, "bad_name"),
        (Some("#!::r=live/cam1"), 2405, "play"),
        (
            Some("#!::r=live/cam1,m=request,token=s3cret-token"),
            2405,
            "play",
        ),
    ];
    for (id, code, _) in cases {
        assert_eq!(rejected(addr, id, None).await, code, "{id:?}");
    }
    for reason in ["stream_id", "unauthorized", "forbidden", "bad_name", "play"] {
        let n = cases.iter().filter(|c| c.2 == reason).count() as u64;
        server.wait_refusals(reason, n).await;
    }
    assert_eq!(server.metric("playlists_srt_connections_total").await, 9);
    assert_eq!(server.stats.publishing(), 0);
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_second_publisher_is_refused_as_busy_and_a_silent_one_cut_off() {
    let server = server().await;
    let id = format!("publish:live/busy?token={TOKEN}");
    // Admitted, then silent: it holds the name until the first-media limit.
    let first = call(server.srt, Some(&id), None).await.expect("admitted");
    let acl = format!("#!::r=live/busy,m=publish,token={TOKEN}");
    assert_eq!(rejected(server.srt, Some(&acl), None).await, 2409);
    server.wait_refusals("busy", 1).await;
    // No media within the 2 s limit: cut off, and the name is free again.
    server.wait_refusals("handshake", 1).await;
    drop(first);
    assert_eq!(server.stats.publishing(), 0);
    let again = call(server.srt, Some(&id), None).await;
    assert!(again.is_ok(), "the name is free after the cut-off");
    server.other_stream_served().await;
}

#[tokio::test]
async fn callers_over_the_connection_cap_are_refused() {
    let config = SrtConfig {
        max_connections: 1,
        ..quick()
    };
    let server = server_with(config, with_token()).await;
    let id = format!("publish:live/a?token={TOKEN}");
    let _held = call(server.srt, Some(&id), None).await.expect("admitted");
    let id = format!("publish:live/b?token={TOKEN}");
    assert_eq!(rejected(server.srt, Some(&id), None).await, 2402);
    server.wait_refusals("unavailable", 1).await;
    server.other_stream_served().await;
}

#[tokio::test]
async fn the_passphrase_is_required_and_checked() {
    let config = SrtConfig {
        passphrase: Some(Passphrase::new(PASSPHRASE).unwrap()),
        ..quick()
    };
    let server = server_with(config, with_token()).await;
    let id = format!("publish:live/enc?token={TOKEN}");
    // None: refused before admission, with libsrt's own code (1011 "unsecure").
    assert_eq!(rejected(server.srt, Some(&id), None).await, 1011);
    server.wait_refusals("passphrase", 1).await;
    // A wrong one: the handshake answers it (1010 "bad secret").
    assert_eq!(
        rejected(server.srt, Some(&id), Some("not the passphrase")).await,
        1010
    );
    server.wait_refusals("passphrase", 2).await;
    // The right one connects.
    let socket = call(server.srt, Some(&id), Some(PASSPHRASE)).await;
    assert!(socket.is_ok());
    // And a listener without a passphrase refuses a caller that encrypts.
    let open = server_with(quick(), with_token()).await;
    assert_eq!(rejected(open.srt, Some(&id), Some(PASSPHRASE)).await, 1011);
    open.wait_refusals("passphrase", 1).await;
}

#[tokio::test]
async fn garbage_datagrams_are_dropped_and_counted() {
    let server = server().await;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // Shorter than any SRT header, and a header of a control type that does not exist.
    for datagram in [
        &b"hello"[..],
        &[0xff; 16][..],
        &[0x80, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
    ] {
        udp.send_to(datagram, server.srt).await.unwrap();
    }
    for _ in 0..100 {
        if server.refusals("garbage").await >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.refusals("garbage").await >= 2,
        "{}",
        server.metrics().await
    );
    // The listener still takes callers.
    let id = format!("publish:live/after?token={TOKEN}");
    assert!(call(server.srt, Some(&id), None).await.is_ok());
    server.other_stream_served().await;
}

#[tokio::test]
async fn ffmpeg_is_told_why_it_is_refused() {
    if !common::have_ffmpeg() {
        eprintln!("ffmpeg not found; skipped");
        return;
    }
    let config = SrtConfig {
        passphrase: Some(Passphrase::new(PASSPHRASE).unwrap()),
        ..quick()
    };
    let server = server_with(config, with_token()).await;
    let with_pass = |id: &str, pass: &str| {
        format!(
            "{}&passphrase={}&pbkeylen=16",
            srt_url(server.srt, id),
            pass.replace(' ', "%20")
        )
    };
    let cases = [
        (
            with_pass("publish:live/x?token=wrong", PASSPHRASE),
            "unauthorized",
        ),
        (with_pass("#!::r=live/x,m=request", PASSPHRASE), "play"),
        (
            with_pass(
                &format!("publish:live/x?token={TOKEN}"),
                "the wrong passphrase",
            ),
            "passphrase",
        ),
        (
            srt_url(server.srt, &format!("publish:live/x?token={TOKEN}")),
            "passphrase",
        ),
    ];
    for (url, reason) in &cases {
        let before = server.refusals(reason).await;
        let err = ffmpeg_publish("libx264", 1, url)
            .await
            .expect_err("refused");
        assert!(err.contains("srt://"), "{url}: {err}");
        server.wait_refusals(reason, before + 1).await;
    }
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_caller_that_stops_sending_media_is_cut_off_after_the_stall_limit() {
    let ingest = IngestConfig {
        stall_after: Duration::from_secs(1),
        ..with_token()
    };
    let server = server_with(quick(), ingest).await;
    let id = format!("publish:live/stall?token={TOKEN}");
    let mut socket = call(server.srt, Some(&id), None).await.expect("admitted");
    send(&mut socket, null_packets()).await.unwrap();
    // SRT's keep-alives go on; media does not.
    server.wait_refusals("stalled", 1).await;
    none_publishing(&server).await;
    assert_eq!(server.refusals("handshake").await, 0);
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_caller_over_the_rate_cap_is_cut_off() {
    let config = SrtConfig {
        // 10 kB/s, bursts of 20 kB.
        max_bitrate: 80_000,
        ..quick()
    };
    let server = server_with(config, with_token()).await;
    let id = format!("publish:live/flood?token={TOKEN}");
    let mut socket = call(server.srt, Some(&id), None).await.expect("admitted");
    // 130 kB at once; the sends stop mattering once the server has cut the caller off.
    for _ in 0..100 {
        if send(&mut socket, null_packets()).await.is_err() {
            break;
        }
    }
    server.wait_refusals("rate", 1).await;
    none_publishing(&server).await;
    server.other_stream_served().await;
}

#[tokio::test]
async fn a_caller_that_sends_no_mpeg_ts_is_cut_off() {
    let server = server().await;
    let id = format!("publish:live/noise?token={TOKEN}");
    let mut socket = call(server.srt, Some(&id), None).await.expect("admitted");
    // Over a MiB without a sync byte.
    for _ in 0..900 {
        if send(&mut socket, Bytes::from(vec![0u8; 1316]))
            .await
            .is_err()
        {
            break;
        }
    }
    server.wait_refusals("media", 1).await;
    none_publishing(&server).await;
    server.other_stream_served().await;
}

/// srt-protocol 0.4.4 panics on some control packets a peer can send on an open connection
/// (congestion warning and peer error are `todo!()`). The panic ends that connection's task
/// only: the caller is gone, its stream enters its grace period, and other callers publish.
#[tokio::test]
async fn a_control_packet_that_panics_srt_tokio_ends_that_connection_only() {
    let server = server().await;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_nonblocking(true).unwrap();
    let raw = udp.try_clone().unwrap();
    let id = format!("publish:live/hostile?token={TOKEN}");
    let mut socket = SrtSocket::builder()
        .socket(tokio::net::UdpSocket::from_std(udp).unwrap())
        .call(server.srt, Some(&id))
        .await
        .expect("admitted");
    send(&mut socket, null_packets()).await.unwrap();
    for _ in 0..100 {
        if server.stats.publishing() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.stats.publishing(), 1);
    // A congestion warning (control type 4) to the server's socket, from the caller's port.
    let dest = socket.settings().remote_sockid.0;
    let mut packet = vec![0x80, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    packet.extend_from_slice(&dest.to_be_bytes());
    raw.send_to(&packet, server.srt).unwrap();
    none_publishing(&server).await;
    drop(socket);
    // The listener still takes callers, and media flows for them.
    let id = format!("publish:live/after?token={TOKEN}");
    let mut next = call(server.srt, Some(&id), None).await.expect("admitted");
    send(&mut next, null_packets()).await.unwrap();
    server.other_stream_served().await;
}

/// Thousands of datagrams from a seeded generator, many with an SRT header (data and every
/// control type, handshakes among them, the server's socket ids guessed): the listener
/// keeps taking callers and the published stream keeps flowing.
#[tokio::test]
async fn random_datagrams_do_not_stop_the_listener() {
    let server = server().await;
    let id = format!("publish:live/steady?token={TOKEN}");
    let mut steady = call(server.srt, Some(&id), None).await.expect("admitted");
    let target = steady.settings().remote_sockid.0;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..3000u32 {
        let len = (next() % 200) as usize;
        let mut datagram: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if len >= 16 && i % 2 == 0 {
            // A control packet of a type 0..=8 (or the extension type), or a data packet.
            let kind = (next() % 10) as u16;
            let word = if kind == 9 { 0xffff } else { 0x8000 | kind };
            datagram[..2].copy_from_slice(&word.to_be_bytes());
            let dest = if i % 4 == 0 { target } else { 0 };
            datagram[12..16].copy_from_slice(&dest.to_be_bytes());
        }
        let _ = udp.send_to(&datagram, server.srt).await;
        if i % 100 == 0 {
            send(&mut steady, null_packets()).await.unwrap();
        }
    }
    let id = format!("publish:live/later?token={TOKEN}");
    let _later = call(server.srt, Some(&id), None).await.expect("admitted");
    for _ in 0..100 {
        if server.stats.publishing() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.stats.publishing(),
        2,
        "the steady caller publishes still"
    );
    server.other_stream_served().await;
}

/// A wrong credential is answered late once an address keeps failing, as for every network
/// source: the fourth refusal in a row comes a quarter of a second late, each next one twice
/// as late.
#[tokio::test]
async fn an_address_that_keeps_failing_is_answered_late() {
    let server = server().await;
    let mut took = Vec::new();
    for _ in 0..6 {
        let started = std::time::Instant::now();
        let code = rejected(server.srt, Some("publish:live/guess?token=nope"), None).await;
        assert_eq!(code, 2401);
        took.push(started.elapsed());
    }
    assert!(
        took[..3].iter().all(|t| *t < Duration::from_millis(200)),
        "{took:?}"
    );
    for (i, at_least_ms) in [(3, 250), (4, 500), (5, 1000)] {
        assert!(took[i] >= Duration::from_millis(at_least_ms), "{took:?}");
    }
    server.wait_refusals("unauthorized", 6).await;
    assert_eq!(
        server.metric("playlists_ingest_auth_failures_total").await,
        6
    );
}
