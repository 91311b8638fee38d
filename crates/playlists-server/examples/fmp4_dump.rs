//! Prints what the splitter sees in an fMP4 file: `cargo run --example fmp4_dump -- FILE`.
use playlists_server::fmp4::{split_all, Limits, Unit};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: fmp4_dump FILE"))?;
    let bytes = bytes::Bytes::from(std::fs::read(path)?);
    for event in split_all(bytes, Limits::default())? {
        match event {
            Unit::Init(init) => println!(
                "init {} bytes: codecs {} resolution {:?} frame rate {:?} tracks {:?}",
                init.init.bytes.len(),
                init.init.codecs,
                init.init.resolution,
                init.init.frame_rate,
                init.tracks
                    .iter()
                    .map(|t| (t.track_id, t.timescale, t.kind))
                    .collect::<Vec<_>>()
            ),
            Unit::Fragment(f) => println!(
                "part seq {} {} bytes: t={} d={} /{} independent={} wallclock={:?} tracks {:?}",
                f.sequence_number,
                f.bytes.len(),
                f.timing.decode_time,
                f.timing.duration,
                f.timing.timescale,
                f.timing.independent,
                f.timing.wallclock_ms,
                f.tracks
                    .iter()
                    .map(|t| (t.track_id, t.decode_time, t.duration, t.sample_count))
                    .collect::<Vec<_>>()
            ),
        }
    }
    Ok(())
}
