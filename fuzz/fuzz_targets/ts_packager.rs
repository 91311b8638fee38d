//! libFuzzer entry point; the check and its invariants are in `checks::ts_packager`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| playlists_fuzz::checks::ts_packager(data));
