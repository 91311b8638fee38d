//! Every snapshot read by an independent parser: the Python `m3u8` package (strict mode),
//! through `tests/validate_playlists.py`. What it reads (segments, dates, init sections, parts,
//! the preload hint, the skip, rendition reports, variants) must be what the scenario meant
//! to write, as worked out by `manifest_support::Model` from the parts it fed.
//!
//! Needs `python3` with `m3u8` (`python3 -m pip install m3u8`; `scripts/test.sh` installs it).
//! Without them this test fails: a validation that silently passes proves nothing.

mod manifest_support;

use std::process::Command;

use manifest_support::{scenarios, snapshot_dir};

#[test]
fn the_python_m3u8_package_reads_every_snapshot_as_intended() {
    let dir = snapshot_dir();
    let scenarios = scenarios();
    let files: Vec<_> = scenarios.iter().map(|s| dir.join(s.file)).collect();
    for (s, path) in scenarios.iter().zip(&files) {
        let stored = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("{}: {e} (run the manifest_snapshots test)", path.display())
        });
        assert_eq!(
            stored, s.text,
            "{} is stale: UPDATE_SNAPSHOTS=1 cargo test -p playlists --test manifest_snapshots",
            s.file
        );
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("validate_playlists.py");
    let output = Command::new("python3")
        .arg(&script)
        .args(&files)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install Python 3 and `python3 -m pip install m3u8`")
        });
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() != Some(2),
        "the Python `m3u8` package is missing: python3 -m pip install m3u8\n{stderr}"
    );
    assert!(
        output.status.success(),
        "validate_playlists.py failed:\n{stdout}\n{stderr}"
    );

    let mut read = stdout.split("== ").filter(|chunk| !chunk.is_empty());
    for (s, path) in scenarios.iter().zip(&files) {
        let chunk = read
            .next()
            .unwrap_or_else(|| panic!("no output for {}", s.file));
        let (name, facts) = chunk.split_once('\n').unwrap();
        assert_eq!(name, path.display().to_string());
        if facts != s.expected {
            let diff: Vec<String> = facts
                .lines()
                .zip(s.expected.lines())
                .filter(|(a, b)| a != b)
                .take(5)
                .map(|(a, b)| format!("  m3u8 read: {a}\n  meant:     {b}"))
                .collect();
            panic!(
                "{}: the parser read something else than was meant ({} vs {} lines)\n{}\n--- read:\n{facts}--- meant:\n{}",
                s.file,
                facts.lines().count(),
                s.expected.lines().count(),
                diff.join("\n"),
                s.expected
            );
        }
    }
    assert!(read.next().is_none(), "unexpected extra output");
}
