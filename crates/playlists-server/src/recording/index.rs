//! A recording's index: one JSON object per line (`index.jsonl`), appended as the recording
//! grows and never rewritten, so that a crash mid-append costs at most the line being written.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The index's file name in a recording's directory.
pub const INDEX_FILE: &str = "index.jsonl";

/// One segment of a recording, as its index line keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentEntry {
    /// The segment's Media Sequence Number in the live stream; its file is `{msn}.m4s`.
    pub msn: u64,
    /// Its duration, µs.
    pub duration_us: u64,
    /// The date of its first sample, µs since the Unix epoch.
    pub pdt_us: u64,
    /// Its timestamps do not continue the previous segment's (EXT-X-DISCONTINUITY).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub discontinuity: bool,
    /// The init section it needs (`init-{n}.mp4`).
    pub init: u32,
    /// Its size, bytes.
    pub bytes: u64,
}

/// One line of the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Line {
    /// The first line: whose recording this is and when it started.
    Start {
        /// The stream's name.
        stream: String,
        /// When the recording started (its first segment's date), ms since the Unix epoch.
        started_ms: u64,
    },
    /// An init section was written (`init-{id}.mp4`), before the first segment that needs it.
    Init {
        /// Its id in the stream.
        id: u32,
        /// Its size, bytes.
        bytes: u64,
    },
    /// A segment was written (`{msn}.m4s`), completely: the line follows the file.
    Segment(SegmentEntry),
    /// Retention removed every segment numbered below `below`.
    Trim {
        /// The first segment kept.
        below: u64,
    },
    /// The local files of segments numbered below `below` were removed once the archive
    /// held them (`u64::MAX`: every file, init sections too); the segments stay in the
    /// recording, served from the archive.
    Evict {
        /// The first segment whose file is still on the local disk.
        below: u64,
    },
    /// The recording ended: its stream ended, or recording it stopped.
    End {
        /// When, ms since the Unix epoch.
        at_ms: u64,
        /// Why it stopped early (a full disk, a write error); `None` when its stream ended.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stopped: Option<String>,
    },
}

impl Line {
    /// The line as written: JSON and a newline.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing these plain structs cannot fail (no maps with non-string keys, no
        // custom serializers); an empty line would be skipped by the reader all the same.
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out
    }
}

/// Reads an index. Lines that do not parse (the one being written at a crash, torn) are
/// skipped and counted, not fatal: what was indexed before and after them stays readable.
///
/// # Errors
/// Reading the file failed.
pub fn read(path: &Path) -> io::Result<(Vec<Line>, usize)> {
    parse(BufReader::with_capacity(64 * 1024, File::open(path)?))
}

/// Parses an index from `reader`, as [`read`] does a file (an archived copy, say).
///
/// # Errors
/// Reading failed.
pub fn parse(reader: impl BufRead) -> io::Result<(Vec<Line>, usize)> {
    let mut lines = Vec::new();
    let mut skipped = 0;
    for line in reader.split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(parsed) => lines.push(parsed),
            Err(_) => skipped += 1,
        }
    }
    Ok((lines, skipped))
}

/// Opens an index for appending. If its last line was torn by a crash (no final newline), a
/// newline is written first, so the next line is not glued to the torn one.
///
/// # Errors
/// Opening, reading or writing the file failed.
pub fn open_append(path: &Path) -> io::Result<File> {
    let mut file = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let len = file.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))?;
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            file.write_all(b"\n")?;
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(msn: u64) -> Line {
        Line::Segment(SegmentEntry {
            msn,
            duration_us: 2_000_000,
            pdt_us: 1_700_000_000_000_000 + msn * 2_000_000,
            discontinuity: msn == 3,
            init: 0,
            bytes: 1000 + msn,
        })
    }

    #[test]
    fn lines_round_trip_and_a_torn_line_is_skipped_and_mended_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(INDEX_FILE);
        let written = vec![
            Line::Start {
                stream: "live/720p".into(),
                started_ms: 1_700_000_000_000,
            },
            Line::Init { id: 0, bytes: 700 },
            seg(1),
            seg(2),
            seg(3),
        ];
        let mut file = open_append(&path).unwrap();
        for line in &written {
            file.write_all(&line.encode()).unwrap();
        }
        // A crash in the middle of the next line.
        let torn = seg(4).encode();
        file.write_all(&torn[..torn.len() / 2]).unwrap();
        drop(file);
        let (read_back, skipped) = read(&path).unwrap();
        assert_eq!(read_back, written);
        assert_eq!(skipped, 1);

        let mut file = open_append(&path).unwrap();
        let end = Line::End {
            at_ms: 1_700_000_010_000,
            stopped: Some("disk full".into()),
        };
        file.write_all(&end.encode()).unwrap();
        drop(file);
        let (read_back, skipped) = read(&path).unwrap();
        assert_eq!(read_back.last(), Some(&end));
        assert_eq!(read_back.len(), written.len() + 1);
        assert_eq!(skipped, 1);
    }

    #[test]
    fn a_line_is_one_line_of_json() {
        let line = String::from_utf8(seg(3).encode()).unwrap();
        assert_eq!(
            line,
            "{\"segment\":{\"msn\":3,\"duration_us\":2000000,\"pdt_us\":1700000006000000,\
             \"discontinuity\":true,\"init\":0,\"bytes\":1003}}\n"
        );
    }
}
