//! Publishing parts and answering a blocking playlist request, as an embedding server would.
//!
//! A task publishes a synthetic 200 ms part every 200 ms; a "player" asks for the next part
//! with `_HLS_msn`/`_HLS_part` semantics and is woken when it is published.
//!
//! `cargo run -p playlists --example publish_loop`

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use playlists::{BlockingRequest, Init, Options, Part, PartTiming, Playlists};
use tokio::time::{interval, Instant};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), playlists::Error> {
    let playlists = Arc::new(Playlists::new(Options::default())?);
    let init = Init {
        bytes: Bytes::from_static(b"an ftyp+moov from your encoder"),
        codecs: "avc1.64001f".to_owned(),
        resolution: Some((1280, 720)),
        frame_rate: Some(30.0),
        video: true,
        audio: None,
    };

    let publisher = {
        let playlists = Arc::clone(&playlists);
        tokio::spawn(async move {
            let mut tick = interval(Duration::from_millis(200));
            for n in 0..15u64 {
                tick.tick().await;
                let part = Part {
                    bytes: Bytes::from(vec![n as u8; 4096]),
                    init: Some(init.clone()),
                    timing: PartTiming {
                        duration: 200,
                        timescale: 1000,
                        decode_time: n * 200,
                        independent: n % 5 == 0,
                        wallclock_ms: None,
                    },
                };
                playlists.add("cam1", part)?;
            }
            playlists.fin("cam1")
        })
    };

    // Wait for the stream, then block on its next part like an LL-HLS player.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let stream = playlists.stream("cam1").expect("published");
        let Some(hint) = stream.playlist().map(|v| v.position) else {
            continue;
        };
        let next = BlockingRequest {
            msn: hint.msn,
            part: Some(hint.part + 1),
        };
        stream.check(next)?;
        let started = Instant::now();
        let version = stream
            .wait_playlist(next, Instant::now() + Duration::from_secs(6))
            .await?;
        println!(
            "asked for {next:?}, got the playlist at {:?} after {:?} ({} bytes, {} gzipped)",
            version.position,
            started.elapsed(),
            version.full.plain.len(),
            version.full.gzip.len()
        );
    }
    publisher.await.expect("publisher task")?;
    let last = playlists
        .stream("cam1")
        .and_then(|s| s.playlist())
        .expect("final version");
    println!("\n{}", String::from_utf8_lossy(&last.full.plain));
    Ok(())
}
