//! Two encoders feeding renditions of one group (`live/a`, `live/b`): the group's
//! multivariant playlist lists both with the CODECS and RESOLUTION read from their init
//! sections, and each media playlist reports the other (§4.4.5.4 EXT-X-RENDITION-REPORT).

mod common;

use std::sync::Arc;

use common::fixture;
use playlists::Playlists;
use playlists_server::ingest::Access;
use playlists_server::ingest::{IngestConfig, Ingests};
use playlists_server::part_store::PartStore;

#[tokio::test]
async fn renditions_of_a_group_carry_their_codecs_and_report_each_other() {
    // The fixtures are 2 s with key frames at 0 and 1 s: 1 s segments, so each rendition's
    // first segment closes (a rendition publishes nothing before).
    let options = playlists::Options {
        segment_min_ms: 1000,
        ..common::fixed_td_options()
    };
    let playlists = Arc::new(Playlists::new(options).unwrap());
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        PartStore::heap(),
        IngestConfig::default(),
    );
    let mut a = ingests.start("live/a", Access::Local).unwrap();
    let mut b = ingests.start("live/b", Access::Local).unwrap();
    let (h264, hevc) = (fixture("h264.mp4"), fixture("hevc.mp4"));
    // Interleave so each publishes while the other is live.
    let cut = h264.len() / 2;
    a.push(h264.slice(..cut)).unwrap();
    b.push(hevc.slice(..hevc.len() / 2)).unwrap();
    a.push(h264.slice(cut..)).unwrap();
    b.push(hevc.slice(hevc.len() / 2..)).unwrap();

    let master = playlists
        .multivariant("live")
        .expect("a group with live renditions");
    let text = String::from_utf8(master.plain.to_vec()).unwrap();
    assert!(text.contains("CODECS=\"avc1.64000d\""), "{text}");
    assert!(text.contains("CODECS=\"hvc1.1.6.L60.90\""), "{text}");
    assert_eq!(text.matches("RESOLUTION=320x180").count(), 2, "{text}");
    assert_eq!(text.matches("FRAME-RATE=30").count(), 2, "{text}");

    // Renditions keep their encoders' timestamps (restamping is on by default, but each
    // rendition on its own clock would undo their alignment): the first part is served as the
    // encoder wrote it.
    let a_stream = playlists.stream("live/a").unwrap();
    let newest = a_stream
        .part_at(a_stream.playlist().unwrap().position)
        .unwrap();
    assert!(
        h264.windows(newest.bytes.len())
            .any(|w| w == &newest.bytes[..]),
        "the part is the encoder's bytes, unpatched"
    );

    let b_playlist = playlists.stream("live/b").unwrap().playlist().unwrap();
    let b_text = String::from_utf8(b_playlist.full.plain.to_vec()).unwrap();
    assert!(
        b_text.contains("#EXT-X-RENDITION-REPORT:URI=\"../a/"),
        "{b_text}"
    );
}
