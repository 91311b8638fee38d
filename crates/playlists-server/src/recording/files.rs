//! A recording's files: how a segment or init section is written so that a crash never
//! leaves a torn file under its real name, and how a recording is named.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// Writes `name` in `dir` from `chunks`: to `name.tmp`, renamed when complete, so that a
/// file under its real name is always whole. Not synced: a process crash keeps what the page
/// cache holds; a power loss may lose the last seconds (the index names only renamed files,
/// so it stays consistent with what survived).
pub(crate) fn write_file(dir: &Path, name: &str, chunks: &[bytes::Bytes]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let written = (|| {
        let mut file = File::create(&tmp)?;
        for chunk in chunks {
            file.write_all(chunk)?;
        }
        std::fs::rename(&tmp, dir.join(name))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A recording's id from its first segment's date: `20261207T203132Z`.
pub(super) fn recording_id(pdt_us: u64) -> String {
    let at = UNIX_EPOCH + Duration::from_micros(pdt_us);
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recording_is_named_after_its_first_date() {
        assert_eq!(recording_id(1_796_675_492_123_000), "20261207T203132Z");
    }

    #[test]
    fn only_whole_files_get_their_name() {
        let dir = tempfile::tempdir().unwrap();
        write_file(
            dir.path(),
            "1.m4s",
            &[bytes::Bytes::from("ab"), "cd".into()],
        )
        .unwrap();
        assert_eq!(std::fs::read(dir.path().join("1.m4s")).unwrap(), b"abcd");
        assert!(!dir.path().join("1.m4s.tmp").exists());
        let err = write_file(&dir.path().join("missing"), "2.m4s", &[]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
