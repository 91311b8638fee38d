//! libFuzzer entry point; the check and its invariants are in `checks::splitter`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| playlists_fuzz::checks::splitter(data));
