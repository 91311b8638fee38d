//! libFuzzer entry point; the check and its invariants are in `checks::request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| playlists_fuzz::checks::request(data));
