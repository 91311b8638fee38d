//! What ingest stores: each part in a buffer of its own, equal to the input's bytes, never a
//! slice that keeps the transport's whole buffer alive for as long as the part is kept.

mod common;

use std::sync::Arc;

use common::{fixture, split};
use playlists::{Options, PartPosition, Playlists};
use playlists_server::ingest::Access;
use playlists_server::ingest::{IngestConfig, Ingests};
use playlists_server::part_store::PartStore;

#[test]
fn stored_parts_own_their_bytes_and_equal_the_input() {
    let playlists = Arc::new(
        Playlists::new(Options {
            // Numbered from 0, so that the test can name positions (docs/conformance.md R34).
            numbering: playlists::Numbering::FromZero,
            ..Options::default()
        })
        .unwrap(),
    );
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        PartStore::heap(),
        IngestConfig {
            // Compared with the input byte for byte: the encoder's timestamps.
            restamp: false,
            ..IngestConfig::default()
        },
    );
    let input = fixture("h264.mp4");
    let (_, fragments) = split(input.clone());
    assert!(fragments.len() >= 3, "the fixture has several parts");

    // The whole file as one chunk: the splitter slices every part out of it.
    let mut session = ingests.start("cam1", Access::Local).unwrap();
    session.push(input.clone()).unwrap();

    let stream = playlists.stream("cam1").unwrap();
    let input_range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    let mut pos = PartPosition { msn: 0, part: 0 };
    let mut stored = 0;
    while let Some(chunk) = stream.part_at(pos) {
        let expected = &fragments[stored].bytes;
        assert_eq!(
            chunk.bytes, expected,
            "part {stored} holds the input's bytes"
        );
        assert!(
            !input_range.contains(&(chunk.bytes.as_ptr() as usize)),
            "part {stored} is a slice of the input chunk, which it would keep alive"
        );
        stored += 1;
        pos = PartPosition {
            msn: pos.msn,
            part: pos.part + 1,
        };
        if stream.part_at(pos).is_none() {
            pos = PartPosition {
                msn: pos.msn + 1,
                part: 0,
            };
        }
    }
    // Every part but the last is stored once its successor arrives, or all of them: either
    // way, most of the file.
    assert!(
        stored + 1 >= fragments.len(),
        "{stored} of {} parts",
        fragments.len()
    );
}
