//! Zero-copy delivery: parts stored in the arena (shared memory, or a file with `--part-dir`)
//! go out with `sendfile`, byte for byte, over HTTP/1.1 and h2c, whole, as segments and as
//! ranges; and bytes already queued on a socket do not change when their arena block is
//! freed and written again.
#![cfg(target_os = "linux")]

mod origin;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use origin::{part_bytes, Layers, TestServer};
use playlists_server::http::HttpOptions;
use playlists_server::part_store::{ArenaOptions, PartArena, PartStore, ZeroCopyStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn sent(server: &TestServer) -> u64 {
    server
        .state
        .parts
        .arena()
        .expect("the arena is on by default")
        .stats()
        .sent_bytes
}

fn segment0() -> Vec<u8> {
    (0..5)
        .flat_map(|i| part_bytes("cam1", i).to_vec())
        .collect()
}

/// A server whose arena is a file in `dir`.
async fn server_with_part_dir(dir: &std::path::Path) -> TestServer {
    let arena = PartArena::new(ArenaOptions {
        dir: Some(dir.to_owned()),
        ..ArenaOptions::default()
    })
    .expect("an arena in the test directory");
    let layers = Layers {
        parts: PartStore::with_arena(Some(arena)),
        ..Layers::default()
    };
    TestServer::with_layers(origin::options(), HttpOptions::default(), layers).await
}

#[tokio::test]
async fn parts_segments_and_ranges_go_out_with_sendfile_over_http1() {
    parts_segments_and_ranges_go_out_with_sendfile(TestServer::start().await).await;
}

#[tokio::test]
async fn from_a_part_dir_too() {
    let dir = tempfile::tempdir().unwrap();
    parts_segments_and_ranges_go_out_with_sendfile(server_with_part_dir(dir.path()).await).await;
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the arena's file has no name"
    );
}

async fn parts_segments_and_ranges_go_out_with_sendfile(server: TestServer) {
    server.publish("cam1", 0, 7);
    let before = sent(&server);

    let part = server.get("/cam1/p3.mp4").await;
    assert_eq!(part.status, StatusCode::OK);
    assert_eq!(part.body, part_bytes("cam1", 3));
    assert!(
        sent(&server) - before >= part.body.len() as u64,
        "the part was not sent from the arena"
    );

    // A segment is its parts one after another, each sent from its own place in the file.
    let segment = server.get("/cam1/s0.mp4").await;
    assert_eq!(segment.status, StatusCode::OK);
    assert_eq!(segment.body, segment0());

    // A range across a part boundary: slices of two parts.
    let range = server
        .get_with("/cam1/s0.mp4", &[("range", "bytes=990-2010")])
        .await;
    assert_eq!(range.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.body[..], segment0()[990..=2010]);

    let total = (part.body.len() + segment.body.len() + range.body.len()) as u64;
    assert_eq!(
        sent(&server) - before,
        total,
        "every body byte went by sendfile"
    );
    server.stop().await;
}

#[tokio::test]
async fn h2c_frames_carry_arena_bytes_unchanged() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    let before = sent(&server);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("/cam1/s0.mp4")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, segment0());
    assert!(sent(&server) > before, "h2 DATA payloads were copied");
    server.stop().await;
}

#[tokio::test]
async fn with_the_arena_off_parts_are_stored_on_the_heap_and_served_the_same() {
    let layers = Layers {
        parts: PartStore::heap(),
        ..Layers::default()
    };
    let server = TestServer::with_layers(origin::options(), HttpOptions::default(), layers).await;
    assert!(server.state.parts.arena().is_none());
    server.publish("cam1", 0, 7);
    assert_eq!(server.get("/cam1/p3.mp4").await.body, part_bytes("cam1", 3));
    assert_eq!(server.get("/cam1/s0.mp4").await.body, segment0());
    let metrics = server.get("/metrics").await;
    assert!(!String::from_utf8_lossy(&metrics.body).contains("sendfile"));
    server.stop().await;
}

/// The guarantee that makes `sendfile` from a reusable arena safe: a freed block's pages are
/// punched out of the file, so packets that still reference them keep the old bytes. Were the
/// block simply rewritten, the peer would read the new part's bytes here.
#[tokio::test]
async fn bytes_in_flight_survive_the_reuse_of_their_block() {
    bytes_in_flight_survive_reuse(None).await;
}

/// In a file on disk the kernel caches a block in large folios: punching a block must still
/// leave the queued bytes alone (it would zero them were a folio to straddle two blocks).
#[tokio::test]
async fn bytes_in_flight_survive_the_reuse_of_their_block_in_a_part_dir() {
    let dir = tempfile::tempdir().unwrap();
    bytes_in_flight_survive_reuse(Some(dir.path())).await;
}

async fn bytes_in_flight_survive_reuse(dir: Option<&std::path::Path>) {
    let arena = PartArena::new(ArenaOptions {
        blocks: 1,
        dir: dir.map(ToOwned::to_owned),
        ..ArenaOptions::default()
    })
    .unwrap();
    let old: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let new = vec![0xEEu8; 30_000];

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server_side, _) = listener.accept().await.unwrap();
    let mut out = ZeroCopyStream::new(server_side, arena.clone());

    let mut writer = arena.writer();
    let part = writer.copy(&old);
    let (_, offset) = arena.locate(&part).unwrap();
    // 30 KB fits the loopback receive buffer: all of it is queued, none of it read yet.
    out.write_all(&part).await.unwrap();
    assert_eq!(arena.stats().sent_bytes, 30_000);

    // Free the only block and write a different part into the very same place.
    drop(part);
    drop(writer);
    assert_eq!(arena.stats().blocks_in_use, 0);
    let mut writer = arena.writer();
    let reused = writer.copy(&new);
    assert_eq!(
        arena.locate(&reused).unwrap().1,
        offset,
        "the test needs the block to be reused"
    );

    let mut got = vec![0u8; old.len()];
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        peer.read_exact(&mut got),
    )
    .await
    .expect("the bytes arrive")
    .unwrap();
    assert!(
        got == old,
        "bytes in flight changed when their block was reused"
    );
    assert_eq!(&reused[..], &new[..]);
}

/// Pages of an expired part are released while its block is still being filled (shared
/// memory cached in 4 KiB pages): bytes of it already queued on a socket must not change
/// either. Had the punch zeroed them in place (as it would inside a large folio), the peer
/// would read zeros.
#[tokio::test]
async fn bytes_in_flight_survive_the_release_of_their_pages_inside_a_block() {
    let arena = PartArena::new(ArenaOptions {
        blocks: 1,
        ..ArenaOptions::default()
    })
    .unwrap();
    let old: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8 | 1).collect();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server_side, _) = listener.accept().await.unwrap();
    let mut out = ZeroCopyStream::new(server_side, arena.clone());

    let mut writer = arena.writer();
    let part = writer.copy(&old);
    let next = writer.copy(&[7u8; 1000]);
    out.write_all(&part).await.unwrap();
    assert_eq!(arena.stats().sent_bytes, 30_000);

    // The part expires; its neighbour and the writer keep the block in use.
    let (fd, offset) = arena.locate(&next).unwrap();
    let block = offset - 30_000;
    let data_from = rustix::fs::seek(fd, rustix::fs::SeekFrom::Data(block)).unwrap();
    assert_eq!(data_from, block);
    drop(part);
    let (fd, _) = arena.locate(&next).unwrap();
    let data_from = rustix::fs::seek(fd, rustix::fs::SeekFrom::Data(block)).unwrap();
    if data_from == block {
        eprintln!("shared memory may use large folios here: nothing released inside the block");
    } else {
        assert_eq!(
            data_from,
            block + 28_672,
            "all pages wholly inside the part"
        );
    }
    assert_eq!(arena.stats().blocks_in_use, 1);

    let mut got = vec![0u8; old.len()];
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        peer.read_exact(&mut got),
    )
    .await
    .expect("the bytes arrive")
    .unwrap();
    assert!(
        got == old,
        "bytes in flight changed when their pages were released"
    );
    assert_eq!(&next[..], &[7u8; 1000][..]);
}
