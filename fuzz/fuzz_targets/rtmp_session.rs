//! libFuzzer entry point; the check and its invariants are in `checks::rtmp_session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| playlists_fuzz::checks::rtmp_session(data));
