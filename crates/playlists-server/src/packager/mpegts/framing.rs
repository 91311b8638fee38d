//! Finding 188-byte transport packets in bytes cut anywhere (ISO/IEC 13818-1 §2.4.3.2):
//! a packet starts with the sync byte 0x47. Bytes that do not (garbage, or a packet cut by a
//! loss below SRT) are skipped until a 0x47 that the next packet's sync byte confirms.
//! `mpeg2ts-reader` expects aligned packets and stops at a bad sync byte, so this is ours.

/// Transport packet size.
pub const PACKET: usize = 188;
const SYNC: u8 = 0x47;

/// Packet alignment across pushes.
#[derive(Debug, Default)]
pub struct Framer {
    /// The start of a packet cut by the end of the previous push (< [`PACKET`] bytes,
    /// starting with 0x47).
    partial: Vec<u8>,
    /// Bytes skipped since the last packet: a stream with nothing but these is not a
    /// transport stream.
    pub skipped: usize,
}

impl Framer {
    /// Calls `emit` with runs of whole packets found in `data` (each starting with 0x47),
    /// in order; keeps a cut packet's start for the next call.
    pub fn push(&mut self, mut data: &[u8], mut emit: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            let need = PACKET - self.partial.len();
            let take = need.min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < PACKET {
                return;
            }
            // A packet cut by a loss: the bytes after it are not a packet start.
            if data.first().is_none_or(|&b| b == SYNC) {
                self.skipped = 0;
                emit(&self.partial);
            } else {
                self.skipped += PACKET;
            }
            self.partial.clear();
        }
        while !data.is_empty() {
            // Whole packets that each start with the sync byte and are followed by one (or by
            // the end of the push), emitted as one run.
            let mut run = 0;
            while run + PACKET <= data.len()
                && data[run] == SYNC
                && data.get(run + PACKET).is_none_or(|&b| b == SYNC)
            {
                run += PACKET;
            }
            if run > 0 {
                self.skipped = 0;
                emit(&data[..run]);
                data = &data[run..];
                continue;
            }
            if data[0] == SYNC && data.len() < PACKET {
                // The start of a packet the next push completes.
                self.partial.extend_from_slice(data);
                return;
            }
            // Lost sync: the next 0x47 followed, a packet later, by another (or by the end
            // of what we have).
            let at = (1..data.len())
                .find(|&i| data[i] == SYNC && data.get(i + PACKET).is_none_or(|&b| b == SYNC))
                .unwrap_or(data.len());
            self.skipped = self.skipped.saturating_add(at);
            data = &data[at..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(n: usize) -> Vec<u8> {
        (0..n)
            .flat_map(|i| {
                let mut p = vec![i as u8; PACKET];
                p[0] = SYNC;
                p
            })
            .collect()
    }

    fn frame(chunks: &[&[u8]]) -> (Vec<u8>, usize) {
        let mut f = Framer::default();
        let mut out = Vec::new();
        for c in chunks {
            f.push(c, |p| {
                assert_eq!(p.len() % PACKET, 0);
                out.extend_from_slice(p);
            });
        }
        (out, f.skipped)
    }

    #[test]
    fn packets_cut_anywhere_come_out_whole() {
        let ts = packets(10);
        for cut in [1, 7, 187, 188, 189, 1316, 1500] {
            let chunks: Vec<&[u8]> = ts.chunks(cut).collect();
            assert_eq!(frame(&chunks).0, ts, "cut {cut}");
        }
    }

    #[test]
    fn garbage_is_skipped_and_sync_found_again() {
        let ts = packets(4);
        let mut input = b"\x47garbage\x00\x47".to_vec();
        input.extend_from_slice(&ts[..PACKET * 2]);
        // Half a packet lost: its start is dropped, the next whole packets are kept.
        input.extend_from_slice(&ts[PACKET * 2..PACKET * 2 + 90]);
        input.extend_from_slice(&ts[PACKET * 3..]);
        let (out, skipped) = frame(&[&input]);
        assert_eq!(out, [&ts[..PACKET * 2], &ts[PACKET * 3..]].concat());
        assert_eq!(skipped, 0);
        let (out, skipped) = frame(&[b"no sync here", b"\x00\x01"]);
        assert!(out.is_empty());
        assert_eq!(skipped, 14);
    }
}
