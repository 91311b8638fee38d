//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the fuzz targets'
//! own checks, on stable Rust: every input libFuzzer kept (seeds cut from real ffmpeg
//! output or written from what players request, what it found new coverage with, and each
//! crash it found, once fixed) must still pass the target's invariants. `fuzz/src/checks.rs`
//! is included rather than copied, so this runs exactly what the fuzzers run.

#[path = "../../../fuzz/src/checks.rs"]
mod checks;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

/// Runs `check` on every file of `target`'s corpus and fails, naming each failing file, if
/// any check panics. A missing or empty corpus fails too: a replay of nothing proves nothing.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = corpus_dir(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} is missing: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        // libFuzzer's lock and temp files start with a dot (and are git-ignored).
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            failures.push(file.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} corpus inputs fail: {failures:?}",
        failures.len(),
        files.len()
    );
}

#[test]
fn splitter_corpus_keeps_its_invariants() {
    replay("fmp4_splitter", checks::splitter);
}

#[test]
fn init_corpus_keeps_its_invariants() {
    replay("fmp4_init", checks::init);
}

#[test]
fn fragment_corpus_keeps_its_invariants() {
    replay("fmp4_fragment", checks::fragment);
}

#[test]
fn rewrite_corpus_keeps_its_invariants() {
    replay("fmp4_rewrite", checks::rewrite);
}

#[test]
fn flv_packager_corpus_keeps_its_invariants() {
    replay("flv_packager", checks::flv_packager);
}

#[test]
fn ts_packager_corpus_keeps_its_invariants() {
    replay("ts_packager", checks::ts_packager);
}

#[test]
fn request_corpus_keeps_its_invariants() {
    replay("request", checks::request);
}

/// The fixed init sections the fragment and rewrite targets select from are the fixtures'
/// (so a selector byte means the same in every corpus file), and each is what its fixture
/// starts with.
#[test]
fn fragment_targets_read_parts_with_the_fixture_init_sections() {
    let inits = checks::init_sections();
    assert_eq!(inits.len(), 6);
    let codecs: Vec<&str> = inits.iter().map(|i| i.init.codecs.as_str()).collect();
    assert!(codecs[0].starts_with("avc1."), "{codecs:?}");
    assert!(codecs[2].starts_with("hvc1."), "{codecs:?}");
    assert!(codecs[3].starts_with("av01."), "{codecs:?}");
    assert_eq!(codecs[4], "Opus");
}

#[test]
fn rtmp_session_corpus_keeps_its_invariants() {
    replay("rtmp_session", checks::rtmp_session);
}
