//! Builders of synthetic boxes for unit tests: small, exact, and able to produce every
//! corner case an encoder rarely does.

/// A box of type `fourcc` around `payload`.
pub fn boxed(fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(fourcc);
    b.extend_from_slice(payload);
    b
}

/// A full box (version and flags, then `payload`).
pub fn full(fourcc: &[u8; 4], version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = ((u32::from(version) << 24) | flags).to_be_bytes().to_vec();
    p.extend_from_slice(payload);
    boxed(fourcc, &p)
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// A track for [`init_segment`].
#[derive(Debug, Clone)]
pub struct TestTrack {
    pub track_id: u32,
    pub timescale: u32,
    pub video: bool,
    /// trex default_sample_duration.
    pub default_duration: u32,
    /// trex default_sample_flags.
    pub default_flags: u32,
    pub no_trex: bool,
}

impl TestTrack {
    pub fn video(track_id: u32, timescale: u32, default_duration: u32) -> Self {
        Self {
            track_id,
            timescale,
            video: true,
            default_duration,
            default_flags: 0x0101_0000,
            no_trex: false,
        }
    }

    pub fn audio(track_id: u32, timescale: u32) -> Self {
        Self {
            track_id,
            timescale,
            video: false,
            default_duration: 1024,
            default_flags: 0x0200_0000,
            no_trex: false,
        }
    }
}

fn trak(t: &TestTrack) -> Vec<u8> {
    let mut tkhd = vec![0; 8];
    tkhd.extend_from_slice(&t.track_id.to_be_bytes());
    tkhd.extend_from_slice(&[0; 4 + 4 + 8 + 8 + 36]);
    let (w, h) = if t.video { (640u32, 360u32) } else { (0, 0) };
    tkhd.extend_from_slice(&(w << 16).to_be_bytes());
    tkhd.extend_from_slice(&(h << 16).to_be_bytes());
    let mut mdhd = vec![0; 8];
    mdhd.extend_from_slice(&t.timescale.to_be_bytes());
    mdhd.extend_from_slice(&[0; 8]);
    let mut hdlr = vec![0; 4];
    hdlr.extend_from_slice(if t.video { b"vide" } else { b"soun" });
    hdlr.extend_from_slice(&[0; 13]);
    let entry = if t.video {
        let mut p = vec![0; 24];
        p.extend_from_slice(&640u16.to_be_bytes());
        p.extend_from_slice(&360u16.to_be_bytes());
        p.extend_from_slice(&[0; 50]);
        p.extend(boxed(b"avcC", &[1, 0x64, 0x00, 0x1f, 0xff, 0xe0, 0]));
        boxed(b"avc1", &p)
    } else {
        let mut p = vec![0; 28];
        let dsi = [0x05, 0x02, 0x11, 0x90];
        let mut dcd = vec![0x04, 13 + dsi.len() as u8, 0x40, 0x15];
        dcd.extend_from_slice(&[0; 11]);
        dcd.extend_from_slice(&dsi);
        let sl = [0x06, 0x01, 0x02];
        let mut es = vec![0x03, 3 + (dcd.len() + sl.len()) as u8, 0, 1, 0];
        es.extend_from_slice(&dcd);
        es.extend_from_slice(&sl);
        p.extend(full(b"esds", 0, 0, &es));
        boxed(b"mp4a", &p)
    };
    let mut stsd_payload = 1u32.to_be_bytes().to_vec();
    stsd_payload.extend(entry);
    let stbl = boxed(b"stbl", &full(b"stsd", 0, 0, &stsd_payload));
    let minf = boxed(b"minf", &stbl);
    let mdia = boxed(
        b"mdia",
        &cat(&[full(b"mdhd", 0, 0, &mdhd), full(b"hdlr", 0, 0, &hdlr), minf]),
    );
    boxed(b"trak", &cat(&[full(b"tkhd", 0, 3, &tkhd), mdia]))
}

fn trex(t: &TestTrack) -> Vec<u8> {
    let mut p = t.track_id.to_be_bytes().to_vec();
    p.extend_from_slice(&1u32.to_be_bytes());
    p.extend_from_slice(&t.default_duration.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&t.default_flags.to_be_bytes());
    full(b"trex", 0, 0, &p)
}

/// `ftyp` + `moov` with `tracks` and an `mvex` with their `trex`.
pub fn init_segment(tracks: &[TestTrack]) -> Vec<u8> {
    let mvex: Vec<u8> = tracks
        .iter()
        .filter(|t| !t.no_trex)
        .flat_map(trex)
        .collect();
    let mut moov: Vec<u8> = tracks.iter().flat_map(trak).collect();
    moov.extend(boxed(b"mvex", &mvex));
    cat(&[
        boxed(b"ftyp", b"iso6\0\0\0\0iso6cmfc"),
        boxed(b"moov", &moov),
    ])
}

/// Like [`init_segment`] without the `mvex` (a progressive MP4's moov).
pub fn init_segment_without_mvex(tracks: &[TestTrack]) -> Vec<u8> {
    let moov: Vec<u8> = tracks.iter().flat_map(trak).collect();
    cat(&[boxed(b"ftyp", b"isom\0\0\0\0isom"), boxed(b"moov", &moov)])
}

/// The moov payload's range within an init segment made here.
pub fn moov_range(init: &[u8]) -> std::ops::Range<usize> {
    let ftyp = u32::from_be_bytes([init[0], init[1], init[2], init[3]]) as usize;
    ftyp + 8..init.len()
}

/// A track fragment for [`fragment`].
#[derive(Debug, Clone)]
pub struct TestTraf {
    pub track_id: u32,
    pub decode_time: u64,
    pub tfdt_v1: bool,
    /// (duration, size, flags) per sample.
    pub samples: Vec<(u32, u32, u32)>,
    /// Write per-sample durations in the trun (else a tfhd default of samples[0]'s).
    pub per_sample_duration: bool,
    /// Write per-sample flags (else first-sample-flags of samples[0] and a tfhd default of
    /// samples[1]'s, or none at all when `flags_from_trex`).
    pub per_sample_flags: bool,
    /// Leave flags to the trex.
    pub flags_from_trex: bool,
}

impl TestTraf {
    /// `n` samples of `duration`, the first a sync sample.
    pub fn new(track_id: u32, decode_time: u64, n: usize, duration: u32) -> Self {
        let samples = (0..n)
            .map(|i| {
                (
                    duration,
                    100,
                    if i == 0 { 0x0200_0000 } else { 0x0101_0000 },
                )
            })
            .collect();
        Self {
            track_id,
            decode_time,
            tfdt_v1: true,
            samples,
            per_sample_duration: false,
            per_sample_flags: false,
            flags_from_trex: false,
        }
    }

    fn build(&self, data_offset: u32) -> Vec<u8> {
        let first = self.samples.first().copied().unwrap_or((0, 0, 0));
        let mut tf_flags = 0x02_0000; // default-base-is-moof
        let mut tfhd = self.track_id.to_be_bytes().to_vec();
        if !self.per_sample_duration {
            tf_flags |= 0x08;
            tfhd.extend_from_slice(&first.0.to_be_bytes());
        }
        let use_first_flags = !self.per_sample_flags && !self.flags_from_trex;
        if use_first_flags {
            tf_flags |= 0x20;
            let rest = self.samples.get(1).map_or(first.2, |s| s.2);
            tfhd.extend_from_slice(&rest.to_be_bytes());
        }
        let tfdt = if self.tfdt_v1 {
            full(b"tfdt", 1, 0, &self.decode_time.to_be_bytes())
        } else {
            full(b"tfdt", 0, 0, &(self.decode_time as u32).to_be_bytes())
        };
        let mut tr_flags = 0x01 | 0x200;
        if self.per_sample_duration {
            tr_flags |= 0x100;
        }
        if self.per_sample_flags {
            tr_flags |= 0x400;
        }
        if use_first_flags {
            tr_flags |= 0x04;
        }
        let mut trun = (self.samples.len() as u32).to_be_bytes().to_vec();
        trun.extend_from_slice(&data_offset.to_be_bytes());
        if use_first_flags {
            trun.extend_from_slice(&first.2.to_be_bytes());
        }
        for (d, s, f) in &self.samples {
            if self.per_sample_duration {
                trun.extend_from_slice(&d.to_be_bytes());
            }
            trun.extend_from_slice(&s.to_be_bytes());
            if self.per_sample_flags {
                trun.extend_from_slice(&f.to_be_bytes());
            }
        }
        boxed(
            b"traf",
            &cat(&[
                full(b"tfhd", 0, tf_flags, &tfhd),
                tfdt,
                full(b"trun", 1, tr_flags, &trun),
            ]),
        )
    }

    fn data_len(&self) -> usize {
        self.samples.iter().map(|s| s.1 as usize).sum()
    }
}

/// `moof` + `mdat` with `trafs`, sample data laid out traf after traf (default-base-is-moof).
pub fn fragment(sequence_number: u32, trafs: &[TestTraf]) -> Vec<u8> {
    let build = |offsets: &[u32]| {
        let mut p = full(b"mfhd", 0, 0, &sequence_number.to_be_bytes());
        for (t, o) in trafs.iter().zip(offsets) {
            p.extend(t.build(*o));
        }
        boxed(b"moof", &p)
    };
    let moof_len = build(&vec![0; trafs.len()]).len();
    let mut offsets = Vec::new();
    let mut at = moof_len + 8;
    for t in trafs {
        offsets.push(at as u32);
        at += t.data_len();
    }
    let mut out = build(&offsets);
    let data: Vec<u8> = (0..at - moof_len - 8).map(|i| i as u8).collect();
    out.extend(boxed(b"mdat", &data));
    out
}
