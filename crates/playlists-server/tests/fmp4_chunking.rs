//! Real encoder output fed to the splitter in random chunkings (as HTTP delivers it: chunks
//! that ignore box boundaries) gives exactly the units of a single push; corrupted output
//! gives errors or parts, never a panic.

mod common;

use bytes::Bytes;
use common::{fixture, FIXTURES};
use playlists_server::fmp4::{split_all, Limits, Splitter};
use proptest::prelude::*;

/// All fixtures back to back: init sections change mid-stream too.
fn stream() -> Bytes {
    let mut all = Vec::new();
    for name in FIXTURES {
        all.extend_from_slice(&fixture(name));
    }
    Bytes::from(all)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_chunkings_give_identical_units(
        cuts in proptest::collection::vec(1usize..40_000, 1..200),
        tiny in proptest::collection::vec(1usize..24, 0..50),
    ) {
        let bytes = stream();
        let whole = split_all(bytes.clone(), Limits::default()).unwrap();
        // Mix large chunks with header-sized ones (1–23 bytes split headers and largesizes).
        let mut sizes = cuts.iter().zip(tiny.iter().chain(std::iter::repeat(&0)))
            .flat_map(|(&a, &b)| [a, b])
            .filter(|&n| n > 0)
            .cycle();
        let mut splitter = Splitter::new(Limits::default());
        let mut events = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let n = sizes.next().unwrap().min(bytes.len() - at);
            events.extend(splitter.push(bytes.slice(at..at + n)).unwrap());
            at += n;
        }
        splitter.finish().unwrap();
        prop_assert_eq!(events.len(), whole.len());
        prop_assert_eq!(events, whole);
    }

    #[test]
    fn corrupted_streams_never_panic(
        name in proptest::sample::select(FIXTURES.to_vec()),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        chunk in 1usize..5000,
    ) {
        let mut bytes = fixture(name).to_vec();
        // Corrupt the metadata-dense start (init section and first fragments) most of all.
        let hot = bytes.len().min(4096);
        for (i, (at, value)) in flips.iter().enumerate() {
            let len = if i % 2 == 0 { hot } else { bytes.len() };
            bytes[at.index(len)] = *value;
        }
        let mut splitter = Splitter::new(Limits::default());
        let mut result = Ok(());
        for c in bytes.chunks(chunk) {
            if let Err(e) = splitter.push(Bytes::copy_from_slice(c)) {
                result = Err(e);
                break;
            }
        }
        if let Err(e) = result.and_then(|()| splitter.finish()) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}
