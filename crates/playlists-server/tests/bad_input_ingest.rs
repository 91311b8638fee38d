//! Bad ingest input over real HTTP (issue 7, "Hardening"): broken box sizes, boxes out of
//! order, garbage, an init section that changes, an endless body, a trickling body.
//!
//! Every case runs against a server that already serves two streams — `witness`, published
//! through the library, and `cam1`, ingested over HTTP from a fixture — and asserts the exact
//! status, a one-line reason, and that both streams still serve the same bytes afterwards.
//! The library-level classification of these errors is in `ingest_malformed.rs`; here it is
//! the wire: status, body, and a server that lives on.

mod bad_input_common;
mod common;
mod origin;

use std::time::Duration;

use bad_input_common::{assert_refusal, put, put_chunked, Witness};
use bytes::{BufMut, Bytes, BytesMut};
use common::{fixture, split};
use http::StatusCode;
use origin::{Layers, TestServer};
use playlists_server::fmp4::rewrite::shift_fragment;
use playlists_server::fmp4::Limits;
use playlists_server::http::HttpOptions;
use playlists_server::ingest::Access;
use playlists_server::ingest::IngestConfig;
use playlists_server::part_store::PartStore;

/// A server with eight stream slots, a grace period longer than any test (so an ingested
/// stream's playlist does not change under the comparison), and `limits` for the parser.
async fn server_with(limits: Limits, idle: Duration) -> (TestServer, Vec<Witness>) {
    let http = HttpOptions {
        idle_timeout: idle,
        ..HttpOptions::default()
    };
    let layers = Layers {
        ingest: IngestConfig {
            grace: Duration::from_secs(600),
            stall_after: idle,
            limits,
            // Parts are compared with the input byte for byte: the encoder's timestamps.
            restamp: false,
            ..IngestConfig::default()
        },
        ..Layers::default()
    };
    let mut opts = origin::options();
    opts.num_playlists = 8;
    let server = TestServer::with_layers(opts, http, layers).await;
    let witness = Witness::publish(&server, "witness").await;
    let ingested = put(server.addr, "/ingest/cam1", &fixture("h264.mp4")).await;
    assert_eq!(ingested.status, StatusCode::OK, "{}", ingested.text());
    let cam1 = Witness::record(&server, "cam1", 4).await;
    (server, vec![witness, cam1])
}

async fn server() -> (TestServer, Vec<Witness>) {
    server_with(Limits::default(), Duration::from_secs(30)).await
}

async fn assert_all_intact(server: &TestServer, witnesses: &[Witness]) {
    for w in witnesses {
        w.assert_intact(server).await;
    }
}

/// The h264 fixture's init section (`ftyp`+`moov`) and its parts.
fn h264() -> (Bytes, Vec<Bytes>) {
    let (init, fragments) = split(fixture("h264.mp4"));
    (
        init.init.bytes.clone(),
        fragments.into_iter().map(|f| f.bytes).collect(),
    )
}

/// A box header: a 32-bit size, or `size32 == 1` followed by a 64-bit `largesize`.
fn header(size32: u32, fourcc: &[u8; 4], largesize: Option<u64>) -> Vec<u8> {
    let mut b = size32.to_be_bytes().to_vec();
    b.extend_from_slice(fourcc);
    if let Some(l) = largesize {
        b.extend_from_slice(&l.to_be_bytes());
    }
    b
}

/// The top-level box of type `fourcc` in `part` (the fixture's parts are `prft`, `moof`,
/// `mdat`).
fn find_box<'a>(part: &'a [u8], fourcc: &[u8; 4]) -> &'a [u8] {
    let mut at = 0;
    while at + 8 <= part.len() {
        let size = u32::from_be_bytes(part[at..at + 4].try_into().unwrap()) as usize;
        if &part[at + 4..at + 8] == fourcc {
            return &part[at..at + size];
        }
        at += size;
    }
    panic!("no {fourcc:?} in the part")
}

fn concat(pieces: &[&[u8]]) -> Vec<u8> {
    pieces.concat()
}

#[tokio::test]
async fn a_truncated_box_is_400_and_the_parts_before_it_stay_served() {
    let (server, witnesses) = server().await;
    let good = fixture("h264.mp4");
    let resp = put(server.addr, "/ingest/cut", &good[..good.len() - 100]).await;
    assert_refusal(
        resp.status,
        &resp.body,
        StatusCode::BAD_REQUEST,
        "input ended inside a box",
    );
    // The nine complete parts before the cut are published and served byte for byte.
    let (_, parts) = h264();
    for (i, want) in parts.iter().enumerate().take(9) {
        let got = server.get(&format!("/cut/p{i}.mp4")).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body, want);
    }
    let playlist = server.get("/cut/index.m3u8").await.text();
    assert!(playlist.contains(r#"URI="p8.mp4""#), "{playlist}");
    assert!(!playlist.contains(r#"#EXT-X-PART:DURATION=0.20000,URI="p9.mp4""#));
    assert_all_intact(&server, &witnesses).await;
    server.stop().await;
}

/// Sizes of 0, 1 (a 64-bit `largesize` follows), 2..7, and up to 2^64 - 1, each at the start
/// of a box where the splitter reads it; each answered with its own reason.
#[tokio::test]
async fn broken_box_sizes_get_400_or_413_with_the_reason() {
    let (server, witnesses) = server().await;
    let (init, parts) = h264();
    let moof = find_box(&parts[0], b"moof");
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "size 0 (to end of file)",
            concat(&[&init, &header(0, b"moof", None)]),
            StatusCode::BAD_REQUEST,
            "moof has size 0 (extends to end of file)",
        ),
        (
            "size 1 with a largesize below 16",
            concat(&[&init, &header(1, b"free", Some(8))]),
            StatusCode::BAD_REQUEST,
            "free declares size 8, smaller than its own header",
        ),
        (
            "size 7",
            header(7, b"ftyp", None),
            StatusCode::BAD_REQUEST,
            "ftyp declares size 7, smaller than its own header",
        ),
        (
            "size 1 with a largesize of 2^64-1 (not mdat)",
            concat(&[&init, &header(1, b"moof", Some(u64::MAX))]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "moof declares 18446744073709551615 bytes, above the 4194304-byte box limit",
        ),
        (
            "an mdat of 2^64-1",
            concat(&[&init, moof, &header(1, b"mdat", Some(u64::MAX))]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "above the 33554432-byte part limit",
        ),
        (
            "an mdat of 1 GiB, 32-bit size",
            concat(&[&init, moof, &header(1 << 30, b"mdat", None)]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "above the 33554432-byte part limit",
        ),
        (
            "a moov of 4 GiB - 1",
            header(u32::MAX, b"moov", None),
            StatusCode::PAYLOAD_TOO_LARGE,
            "moov declares 4294967295 bytes, above the 4194304-byte box limit",
        ),
        (
            "an oversized box: a 5 MiB moof",
            concat(&[&init, &header(5 << 20, b"moof", None)]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "moof declares 5242880 bytes, above the 4194304-byte box limit",
        ),
    ];
    for (i, (what, body, status, reason)) in cases.into_iter().enumerate() {
        let resp = put(server.addr, &format!("/ingest/sizes{i}"), &body).await;
        assert_refusal(resp.status, &resp.body, status, reason);
        assert!(
            resp.text().contains(&format!("sizes{i}")),
            "{what}: names the stream"
        );
        // Refused at the header: nothing of these streams was published.
        assert!(
            server.playlists.stream(&format!("sizes{i}")).is_none(),
            "{what}"
        );
    }
    assert_all_intact(&server, &witnesses).await;
    server.stop().await;
}

#[tokio::test]
async fn boxes_out_of_order_are_400_with_the_reason() {
    let (server, witnesses) = server().await;
    let (init, parts) = h264();
    let (moof, mdat) = (find_box(&parts[0], b"moof"), find_box(&parts[0], b"mdat"));
    for (path, body, reason) in [
        (
            "/ingest/order1",
            parts[0].to_vec(),
            "moof before any moov; the stream must start with its init section",
        ),
        (
            "/ingest/order2",
            concat(&[&init, mdat]),
            "mdat without a moof before it",
        ),
        (
            "/ingest/order3",
            concat(&[&init, moof, moof]),
            "expected mdat after moof, found moof",
        ),
    ] {
        let resp = put(server.addr, path, &body).await;
        assert_refusal(resp.status, &resp.body, StatusCode::BAD_REQUEST, reason);
    }
    assert_all_intact(&server, &witnesses).await;
    server.stop().await;
}

#[tokio::test]
async fn garbage_is_400_and_garbage_mid_stream_keeps_what_was_published() {
    let (server, witnesses) = server().await;
    for body in [
        &b"<html><body>502 Bad Gateway</body></html>"[..],
        // An MPEG-TS packet: sync byte 0x47 every 188 bytes.
        &[0x47u8, 0x40, 0x00, 0x10].repeat(47)[..],
        &[0xffu8; 64][..],
    ] {
        let resp = put(server.addr, "/ingest/junk", body).await;
        assert_refusal(
            resp.status,
            &resp.body,
            StatusCode::BAD_REQUEST,
            "not an ISO BMFF box",
        );
    }
    // Half a stream, then garbage: the half stays served, byte for byte.
    let (init, parts) = h264();
    let mut body = init.to_vec();
    for p in &parts[..5] {
        body.extend_from_slice(p);
    }
    // What a proxy in front of the encoder might send instead: `<htm` read as a size is 1 GB,
    // and the type `l><b` tells the real problem before anything is waited for.
    let offset = body.len();
    body.extend_from_slice(b"<html><body>502 Bad Gateway</body></html>");
    let resp = put(server.addr, "/ingest/half", &body).await;
    assert_refusal(
        resp.status,
        &resp.body,
        StatusCode::BAD_REQUEST,
        &format!("byte {offset}: not an ISO BMFF box (type l><b)"),
    );
    let half = Witness::record(&server, "half", 4).await;
    for (i, want) in parts.iter().enumerate().take(5) {
        assert_eq!(server.get(&format!("/half/p{i}.mp4")).await.body, want);
    }
    assert_all_intact(&server, &witnesses).await;
    half.assert_intact(&server).await;
    server.stop().await;
}

/// The h264 fixture's parts, retimed to follow the fixture's own end (as an encoder that
/// continues would send them), numbered from `first_sequence`.
fn continued_parts(first_sequence: u32) -> Vec<Bytes> {
    let (_, fragments) = split(fixture("h264.mp4"));
    let first = &fragments[0];
    let last = fragments.last().unwrap();
    let span = |track: u32| {
        let run = |f: &playlists_server::fmp4::Fragment| {
            f.tracks.iter().find(|t| t.track_id == track).cloned()
        };
        let (a, z) = (run(first).unwrap(), run(last).unwrap());
        z.decode_time + z.duration - a.decode_time
    };
    fragments
        .iter()
        .zip(first_sequence..)
        .map(|(f, seq)| {
            let mut bytes = f.bytes.to_vec();
            shift_fragment(&mut bytes, seq, span).unwrap();
            Bytes::from(bytes)
        })
        .collect()
}

/// DESIGN/issue 5: "the init section may change only with a discontinuity". An init section
/// that changes mid-body is accepted, and the playlist marks the change with
/// EXT-X-DISCONTINUITY and a new EXT-X-MAP; the old init section stays served. The same init
/// section repeated changes nothing. The timestamps continue in both cases, so the init
/// section is the only reason for a discontinuity.
#[tokio::test]
async fn an_init_section_that_changes_mid_stream_starts_a_discontinuity() {
    let (server, witnesses) = server().await;
    let (init, parts) = h264();
    let next = continued_parts(parts.len() as u32 + 1);
    // A different init section: the same tracks, another ftyp minor_version.
    let mut changed = BytesMut::from(&init[..]);
    changed[12..16].copy_from_slice(&0x0bad_cafe_u32.to_be_bytes());
    let changed = changed.freeze();

    for (stream, second_init, discontinuity) in [
        ("same", init.clone(), false),
        ("changed", changed.clone(), true),
    ] {
        let mut body = BytesMut::new();
        body.put_slice(&init);
        parts.iter().for_each(|p| body.put_slice(p));
        body.put_slice(&second_init);
        next.iter().for_each(|p| body.put_slice(p));
        let resp = put(server.addr, &format!("/ingest/{stream}"), &body).await;
        assert_eq!(resp.status, StatusCode::OK, "{stream}: {}", resp.text());
        assert_eq!(resp.text(), format!("published 20 parts on `{stream}`\n"));

        let playlist = server.get(&format!("/{stream}/index.m3u8")).await.text();
        let maps: Vec<&str> = playlist
            .lines()
            .filter(|l| l.starts_with("#EXT-X-MAP:"))
            .collect();
        let disc = playlist
            .lines()
            .filter(|l| *l == "#EXT-X-DISCONTINUITY")
            .count();
        let init0 = server.get(&format!("/{stream}/init.mp4")).await;
        assert_eq!(init0.body, init, "{stream}: the first init section is kept");
        if discontinuity {
            assert_eq!(disc, 1, "{playlist}");
            assert_eq!(
                maps,
                [
                    r#"#EXT-X-MAP:URI="init.mp4""#,
                    r#"#EXT-X-MAP:URI="init-1.mp4""#
                ],
                "{playlist}"
            );
            // The discontinuity comes right before the new map (§4.4.4.3, §4.4.4.5).
            let at = playlist.find("#EXT-X-DISCONTINUITY\n").unwrap();
            assert!(
                playlist[at..]
                    .lines()
                    .skip(1)
                    .take_while(|l| l.starts_with("#EXT-X-") && !l.starts_with("#EXT-X-PART"))
                    .any(|l| l == r#"#EXT-X-MAP:URI="init-1.mp4""#),
                "{playlist}"
            );
            let init1 = server.get(&format!("/{stream}/init-1.mp4")).await;
            assert_eq!(init1.status, StatusCode::OK);
            assert_eq!(init1.body, changed);
        } else {
            assert_eq!(disc, 0, "{playlist}");
            assert_eq!(maps, [r#"#EXT-X-MAP:URI="init.mp4""#], "{playlist}");
            let none = server.get(&format!("/{stream}/init-1.mp4")).await;
            assert_eq!(none.status, StatusCode::NOT_FOUND);
        }
    }
    assert_all_intact(&server, &witnesses).await;
    server.stop().await;
}

/// A body without `Content-Length` that would run to 1 GiB: a `free` box after another, so
/// no part ever completes. The server refuses it with 413 once the unit reaches the part
/// limit; the test stops sending at the answer, so it never produces more than the limit plus
/// what the socket buffers hold.
#[tokio::test]
async fn a_1_gib_body_without_length_is_cut_off_at_the_part_limit() {
    const LIMIT: u64 = 1 << 20;
    const CHUNK: usize = 64 * 1024;
    let limits = Limits {
        max_part_size: LIMIT,
        ..Limits::default()
    };
    let (server, witnesses) = server_with(limits, Duration::from_secs(30)).await;
    let free = {
        let mut b = header(CHUNK as u32, b"free", None);
        b.resize(CHUNK, 0);
        Bytes::from(b)
    };
    let mut left = (1u64 << 30) / CHUNK as u64;
    let upload = put_chunked(server.addr, "/ingest/endless", Duration::ZERO, || {
        left = left.checked_sub(1)?;
        Some(free.clone())
    })
    .await;
    let resp = upload.resp.expect("an answer before the close");
    assert_refusal(
        resp.status,
        &resp.body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "above the 1048576-byte part limit",
    );
    // Loopback socket buffers hold a few MiB between the test and the server's reads.
    assert!(
        upload.sent <= LIMIT + (16 << 20),
        "{} bytes sent before the answer",
        upload.sent
    );
    assert!(server.playlists.stream("endless").is_none());
    assert_all_intact(&server, &witnesses).await;
    server.stop().await;
}

/// A slow-loris encoder: a valid stream, one byte every 100 ms, so it never completes a part
/// within the idle timeout. The server ends it with 408; an encoder that is slow but completes
/// a part within each idle period is not cut off, however long it streams.
#[tokio::test]
async fn a_trickling_ingest_body_is_cut_off_with_408() {
    let idle = Duration::from_millis(1000);
    let (server, witnesses) = server_with(Limits::default(), idle).await;
    let bytes = fixture("h264.mp4");
    let mut at = 0;
    let slow = put_chunked(
        server.addr,
        "/ingest/loris",
        Duration::from_millis(100),
        || {
            at += 1;
            bytes.get(at - 1..at).map(Bytes::copy_from_slice)
        },
    );
    // An honest encoder on another stream at the same time: a part every 300 ms.
    let (init, parts) = h264();
    let mut chunks = std::iter::once(init).chain(parts.clone());
    let steady = put_chunked(
        server.addr,
        "/ingest/steady",
        Duration::from_millis(300),
        move || chunks.next(),
    );
    let (slow, steady) = tokio::join!(slow, steady);

    let resp = slow.resp.expect("an answer before the close");
    assert_refusal(
        resp.status,
        &resp.body,
        StatusCode::REQUEST_TIMEOUT,
        "no complete part of `loris` within 1s (0 published)",
    );
    assert!(
        slow.elapsed >= idle && slow.elapsed < idle * 3,
        "{:?}",
        slow.elapsed
    );
    // The cut-off session let go of its stream: a new encoder may publish on it at once.
    assert!(server.playlists.stream("loris").is_none());
    let again = put(server.addr, "/ingest/loris", &fixture("h264.mp4")).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    let resp = steady.resp.expect("steady is answered");
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    assert_eq!(resp.text(), "published 10 parts on `steady`\n");
    assert!(steady.elapsed > idle * 2, "{:?}", steady.elapsed);
    assert_all_intact(&server, &witnesses).await;
    server.stop().await;
}

/// Regression: complete parts that arrive in the same chunk as the bad bytes after them were
/// dropped with the chunk, so what a stream kept depended on how TCP cut the input. They are
/// published, then the error is returned.
#[tokio::test]
async fn parts_before_bad_bytes_in_the_same_chunk_are_published() {
    use playlists_server::ingest::{IngestErrorKind, Ingests};
    let (init, parts) = h264();
    let playlists = std::sync::Arc::new(playlists::Playlists::new(origin::options()).unwrap());
    let ingests = Ingests::new(
        std::sync::Arc::clone(&playlists),
        PartStore::heap(),
        IngestConfig::default(),
    );
    let mut session = ingests.start("one_chunk", Access::Local).unwrap();
    let mut chunk = init.to_vec();
    for p in &parts[..3] {
        chunk.extend_from_slice(p);
    }
    chunk.extend_from_slice(&[0xff; 16]);
    let err = session.push(Bytes::from(chunk)).unwrap_err();
    assert_eq!(err.kind(), IngestErrorKind::BadInput, "{err}");
    assert_eq!(session.parts(), 3);
    let status = playlists.stream("one_chunk").unwrap().status().unwrap();
    assert_eq!(status.parts_published, 3);
}
