//! AAC in ADTS (ISO/IEC 13818-7 §6.2, ISO/IEC 14496-3 §1.A.2): the headers MPEG-TS stream
//! type 0x0F carries before each raw AAC frame, stripped, and the AudioSpecificConfig
//! (ISO/IEC 14496-3 §1.6.2.1) their fields make.

use bytes::Bytes;

/// One ADTS frame of a PES payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The AudioSpecificConfig of its header: object type (profile + 1), sampling frequency
    /// index, channel configuration.
    pub config: [u8; 2],
    /// The raw frame (`raw_data_block`), a slice of the payload.
    pub data: Bytes,
    /// Raw data blocks in the frame (1024 samples each).
    pub blocks: u32,
    /// Where its header starts in the payload.
    pub start: usize,
}

/// Why a payload's frames stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// All of it was read.
    End,
    /// A frame starting at this offset runs past the end (its header says so, or is itself
    /// cut): an encoder that splits frames across PES packets; the next PES completes it.
    Partial(usize),
    /// Bytes that are not an ADTS header: the rest is discarded.
    Broken,
}

/// The longest ADTS frame (a 13-bit length).
pub const MAX_FRAME: usize = (1 << 13) - 1;

/// The ADTS frames of `payload`, in order, and whether it ended cleanly.
pub fn frames(payload: &Bytes) -> (Vec<Frame>, Stop) {
    let mut out = Vec::new();
    let mut at = 0;
    while at < payload.len() {
        let Some(h) = payload.get(at..at + 7) else {
            let rest = &payload[at..];
            let sync = rest[0] == 0xff && rest.get(1).is_none_or(|b| b & 0xf6 == 0xf0);
            return (
                out,
                if sync {
                    Stop::Partial(at)
                } else {
                    Stop::Broken
                },
            );
        };
        if h[0] != 0xff || h[1] & 0xf6 != 0xf0 {
            return (out, Stop::Broken);
        }
        let protection_absent = h[1] & 1 == 1;
        let profile = h[2] >> 6;
        let rate_index = (h[2] >> 2) & 0x0f;
        let channels = ((h[2] & 1) << 2) | (h[3] >> 6);
        let len = (usize::from(h[3] & 3) << 11) | (usize::from(h[4]) << 3) | usize::from(h[5] >> 5);
        let blocks = u32::from(h[6] & 3) + 1;
        let header = if protection_absent { 7 } else { 9 };
        if len <= header {
            return (out, Stop::Broken);
        }
        if at + len > payload.len() {
            return (out, Stop::Partial(at));
        }
        let object_type = profile + 1;
        out.push(Frame {
            config: [
                (object_type << 3) | (rate_index >> 1),
                ((rate_index & 1) << 7) | (channels << 3),
            ],
            data: payload.slice(at + header..at + len),
            blocks,
            start: at,
        });
        at += len;
    }
    (out, Stop::End)
}

/// Test inputs.
#[cfg(test)]
pub mod testing {
    /// An ADTS header: AAC LC (profile 1), 44.1 kHz (index 4), stereo, no CRC.
    pub fn adts(payload: &[u8]) -> Vec<u8> {
        let len = payload.len() + 7;
        let mut f = vec![
            0xff,
            0xf1,
            (1 << 6) | (4 << 2),
            (2 << 6) | ((len >> 11) as u8 & 3),
            (len >> 3) as u8,
            ((len as u8 & 7) << 5) | 0x1f,
            0xfc,
        ];
        f.extend_from_slice(payload);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::testing::adts;
    use super::*;

    #[test]
    fn frames_are_split_and_the_config_is_the_flv_one() {
        let pes = Bytes::from([adts(&[1, 2, 3]), adts(&[4])].concat());
        let (frames, stop) = frames(&pes);
        assert_eq!(stop, Stop::End);
        assert_eq!(frames.len(), 2);
        // 0x12 0x10: AAC LC 44.1 kHz stereo, as ffmpeg's FLV sequence header says it.
        assert_eq!(frames[0].config, [0x12, 0x10]);
        assert_eq!(&frames[0].data[..], &[1, 2, 3]);
        assert_eq!(&frames[1].data[..], &[4]);
        assert_eq!(frames[1].blocks, 1);
        let cut = pes.slice(..pes.len() - 1);
        let (frames, stop) = super::frames(&cut);
        assert_eq!((frames.len(), stop), (1, Stop::Partial(10)));
        let (frames, stop) = super::frames(&pes.slice(..13));
        assert_eq!((frames.len(), stop), (1, Stop::Partial(10)));
        assert_eq!(
            super::frames(&Bytes::from_static(&[0, 1, 2])).1,
            Stop::Broken
        );
    }
}
