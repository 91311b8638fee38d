//! Test inputs: FLV files and plain (non-fragmented) MP4 files written by ffmpeg, read into
//! the RTMP message bodies an encoder would send, and ffprobe's view of the output.

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use mp4_atom::{Atom, Codec, Decode};

use crate::fmp4::{Fragment, Unit};

/// One RTMP message: type (8 audio, 9 video, 18 script), timestamp, body.
#[derive(Debug, Clone)]
pub struct Tag {
    pub kind: u8,
    pub timestamp: u32,
    pub body: Bytes,
}

/// Reads an FLV file (video_file_format_spec_v10_1 Annex E.2/E.3): a 9-byte header, the
/// 4-byte PreviousTagSize0, then tags of an 11-byte header, the body and a 4-byte
/// PreviousTagSize. Test-only; the RTMP source gets the bodies as messages.
pub fn read_flv(file: &[u8]) -> Vec<Tag> {
    assert_eq!(&file[..3], b"FLV", "not an FLV file");
    let header = u32::from_be_bytes(file[5..9].try_into().unwrap()) as usize;
    let mut pos = header + 4;
    let mut tags = Vec::new();
    while pos + 11 <= file.len() {
        let h = &file[pos..pos + 11];
        let size = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let timestamp = (u32::from(h[7]) << 24)
            | (u32::from(h[4]) << 16)
            | (u32::from(h[5]) << 8)
            | u32::from(h[6]);
        tags.push(Tag {
            kind: h[0] & 0x1f,
            timestamp,
            body: Bytes::copy_from_slice(&file[pos + 11..pos + 11 + size]),
        });
        pos += 11 + size + 4;
    }
    tags
}

/// One sample of a plain MP4 track.
#[derive(Debug, Clone)]
pub struct Mp4Sample {
    pub dts: u64,
    pub cto: i64,
    pub sync: bool,
    pub data: Bytes,
}

/// A track of a plain MP4 file: its sample entry and samples from its sample tables.
#[derive(Debug, Clone)]
pub struct Mp4Track {
    pub timescale: u32,
    pub codec: Codec,
    pub samples: Vec<Mp4Sample>,
}

/// Reads the tracks of a plain MP4 file (`moov` with sample tables, media in `mdat`) with
/// mp4-atom.
pub fn read_mp4(file: &[u8]) -> Vec<Mp4Track> {
    let mut pos = 0;
    let moov = loop {
        let size = u32::from_be_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
        if &file[pos + 4..pos + 8] == b"moov" {
            break mp4_atom::Moov::decode(&mut &file[pos..pos + size]).unwrap();
        }
        pos += size;
    };
    moov.trak
        .iter()
        .map(|trak| {
            let stbl = &trak.mdia.minf.stbl;
            let sizes: Vec<u32> = match stbl.stsz.samples.clone() {
                mp4_atom::StszSamples::Identical { count, size } => vec![size; count as usize],
                mp4_atom::StszSamples::Different { sizes } => sizes,
            };
            let chunks: Vec<u64> = match (&stbl.stco, &stbl.co64) {
                (Some(stco), _) => stco.entries.iter().map(|&o| u64::from(o)).collect(),
                (_, Some(co64)) => co64.entries.clone(),
                _ => panic!("no chunk offsets"),
            };
            let mut offsets = Vec::new();
            for (i, &chunk_offset) in chunks.iter().enumerate() {
                let chunk = i as u32 + 1;
                let per_chunk = stbl
                    .stsc
                    .entries
                    .iter()
                    .rev()
                    .find(|e| e.first_chunk <= chunk)
                    .unwrap()
                    .samples_per_chunk;
                let mut offset = chunk_offset;
                for _ in 0..per_chunk {
                    let size = sizes[offsets.len()];
                    offsets.push(offset);
                    offset += u64::from(size);
                }
            }
            let durations = stbl
                .stts
                .entries
                .iter()
                .flat_map(|e| std::iter::repeat_n(e.sample_delta, e.sample_count as usize));
            let ctts: Vec<i64> = stbl.ctts.as_ref().map_or(Vec::new(), |c| {
                c.entries
                    .iter()
                    .flat_map(|e| std::iter::repeat_n(e.sample_offset, e.sample_count as usize))
                    .collect()
            });
            let mut dts = 0;
            let samples = durations
                .enumerate()
                .map(|(i, duration)| {
                    let start = offsets[i] as usize;
                    let sample = Mp4Sample {
                        dts,
                        cto: ctts.get(i).copied().unwrap_or(0),
                        sync: stbl
                            .stss
                            .as_ref()
                            .is_none_or(|s| s.entries.contains(&(i as u32 + 1))),
                        data: Bytes::copy_from_slice(&file[start..start + sizes[i] as usize]),
                    };
                    dts += u64::from(duration);
                    sample
                })
                .collect();
            Mp4Track {
                timescale: trak.mdia.mdhd.timescale,
                codec: trak.mdia.minf.stbl.stsd.codecs[0].clone(),
                samples,
            }
        })
        .collect()
}

fn body(head: &[u8], tail: &[u8]) -> Bytes {
    let mut b = head.to_vec();
    b.extend_from_slice(tail);
    Bytes::from(b)
}

/// The Enhanced RTMP messages an encoder sends for `track`: its sequence header at time 0,
/// then one message per sample at its DTS in ms (`hvc1`/`av01` video, `Opus` audio).
pub fn enhanced_messages(track: &Mp4Track) -> Vec<Tag> {
    let ms = |t: u64| (t * 1000 / u64::from(track.timescale)) as u32;
    let mut record = Vec::new();
    let (kind, fourcc, with_cto): (u8, &[u8; 4], bool) = match &track.codec {
        Codec::Hvc1(h) => {
            h.hvcc.encode_body(&mut record).unwrap();
            (9, b"hvc1", true)
        }
        Codec::Av01(a) => {
            a.av1c.encode_body(&mut record).unwrap();
            (9, b"av01", false)
        }
        Codec::Opus(o) => {
            // dOps back into the OpusHead an encoder sends (RFC 7845 §5.1, little-endian).
            let d = &o.dops;
            record.extend_from_slice(b"OpusHead");
            record.extend([1, d.output_channel_count]);
            record.extend(d.pre_skip.to_le_bytes());
            record.extend(d.input_sample_rate.to_le_bytes());
            record.extend(d.output_gain.to_le_bytes());
            match &d.channel_mapping {
                None => record.push(0),
                Some(m) => {
                    record.extend([m.family, m.stream_count, m.coupled_count]);
                    record.extend(&m.channel_mapping);
                }
            }
            (8, b"Opus", false)
        }
        other => panic!("no Enhanced RTMP mapping for {other:?}"),
    };
    let mut tags = vec![Tag {
        kind,
        timestamp: 0,
        // Video: key frame, SequenceStart (0x90); audio: SoundFormat 9, SequenceStart (0x90).
        body: body(&[&[0x90][..], fourcc].concat(), &record),
    }];
    for s in &track.samples {
        let head = if kind == 9 {
            let frame_type: u8 = if s.sync { 1 } else { 2 };
            let mut h = vec![0x80 | (frame_type << 4) | 1];
            h.extend_from_slice(fourcc);
            if with_cto {
                let cto = (s.cto * 1000 / i64::from(track.timescale)) as i32;
                h.extend_from_slice(&cto.to_be_bytes()[1..]);
            }
            h
        } else {
            [&[0x91][..], fourcc].concat()
        };
        tags.push(Tag {
            kind,
            timestamp: ms(s.dts),
            body: body(&head, &s.data),
        });
    }
    tags
}

/// Messages of several tracks interleaved by timestamp (sequence headers first), as an
/// encoder sends them.
pub fn interleave(tracks: Vec<Vec<Tag>>) -> Vec<Tag> {
    let mut all: Vec<(usize, Tag)> = tracks
        .into_iter()
        .flat_map(|t| t.into_iter().enumerate())
        .collect();
    all.sort_by_key(|(i, t)| (*i > 0, t.timestamp));
    all.into_iter().map(|(_, t)| t).collect()
}

/// Fails the test when ffmpeg is missing rather than letting it pass untested
/// (`scripts/test.sh` installs ffmpeg, as the integration tests expect).
pub fn require_ffmpeg() {
    assert!(
        Command::new("ffmpeg").arg("-version").output().is_ok(),
        "ffmpeg is needed (scripts/test.sh installs it)"
    );
}

pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// (codec_type, frames read, start_time) per stream, sorted by type, from ffprobe. Edit
/// lists are ignored: the packager writes none, so the source's raw timeline is compared.
/// Reads MPEG-TS files too.
pub fn ffprobe(path: &Path) -> Vec<(String, u64, f64)> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-ignore_editlist",
            "1",
            "-count_frames",
            "-show_entries",
        ])
        .arg("stream=codec_type,nb_read_frames,start_time")
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut streams: Vec<_> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        // A transport stream's streams are listed again under its program, after a blank
        // line.
        .take_while(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_owned(),
                f[2].parse().unwrap(),
                f[1].parse().unwrap_or(0.0),
            )
        })
        .collect();
    streams.sort_by(|a, b| a.0.cmp(&b.0));
    streams
}

/// The parts among the units a splitter read, in order.
pub fn fragments(units: &[Unit]) -> Vec<&Fragment> {
    units
        .iter()
        .filter_map(|u| match u {
            Unit::Fragment(f) => Some(f),
            Unit::Init(_) => None,
        })
        .collect()
}
