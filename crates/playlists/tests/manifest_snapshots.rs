//! Snapshot tests of representative playlists: start of stream, mid-stream, segment
//! boundary, delta updates, discontinuities, an ended stream, the default 32-segment window,
//! rendition reports and a multivariant playlist (see `manifest_support`).
//!
//! The files under `tests/snapshots/` were checked by hand against the spec when first
//! written; any change to the rendered bytes fails here. To accept an intended change, run
//! `UPDATE_SNAPSHOTS=1 cargo test -p playlists --test manifest_snapshots`, then read the diff.

mod manifest_support;

use manifest_support::{scenarios, snapshot_dir};

#[test]
fn rendered_playlists_match_their_snapshots() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let dir = snapshot_dir();
    let mut stale = Vec::new();
    for s in scenarios() {
        let path = dir.join(s.file);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &s.text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(stored) if stored == s.text => {}
            Ok(stored) => {
                let line = stored
                    .lines()
                    .zip(s.text.lines())
                    .position(|(a, b)| a != b)
                    .map_or(stored.lines().count().min(s.text.lines().count()), |i| i);
                stale.push(format!(
                    "{}: differs from line {}:\n  stored:   {:?}\n  rendered: {:?}",
                    s.file,
                    line + 1,
                    stored.lines().nth(line),
                    s.text.lines().nth(line)
                ));
            }
            Err(e) => stale.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\n(if the change is intended: UPDATE_SNAPSHOTS=1 cargo test -p playlists --test manifest_snapshots)",
        stale.join("\n")
    );
}

#[test]
fn every_snapshot_file_belongs_to_a_scenario() {
    let known: Vec<&str> = scenarios().iter().map(|s| s.file).collect();
    for entry in std::fs::read_dir(snapshot_dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(known.contains(&name.as_str()), "stray snapshot {name}");
    }
}
