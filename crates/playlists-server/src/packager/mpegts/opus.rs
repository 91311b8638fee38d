//! Opus in MPEG-TS (ETSI TS 102 366-style draft "Opus in MPEG-2 TS", as ffmpeg writes and
//! reads it): stream type 0x06 with a registration descriptor `Opus` and an extension
//! descriptor (tag 0x7F, extension tag 0x80) giving the channel configuration; in the PES,
//! each Opus packet follows a control header: an 11-bit prefix 0x3FF, start-trim, end-trim
//! and extension flags, the packet size as a run of 0xFF bytes plus a final byte, then the
//! optional trim and extension fields.

use bytes::Bytes;

use super::super::track::opus_packet_samples;

/// One Opus packet of a PES payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// The packet, a slice of the payload.
    pub data: Bytes,
    /// Its samples at 48 kHz (from its TOC, RFC 6716 §3.1).
    pub samples: u32,
}

/// The Opus packets of `payload`, in order, until the end or the first control header or
/// packet that cannot be read (the rest is discarded: a PES cut by a loss, or not Opus).
pub fn packets(payload: &Bytes) -> Vec<Packet> {
    let mut out = Vec::new();
    let mut at = 0;
    let byte = |i: usize| payload.get(i).copied();
    while at < payload.len() {
        let (Some(b0), Some(b1)) = (byte(at), byte(at + 1)) else {
            break;
        };
        let prefix = u16::from_be_bytes([b0, b1]);
        if prefix & 0xffe0 != 0x7fe0 {
            break;
        }
        at += 2;
        let mut size = 0usize;
        loop {
            let Some(b) = byte(at) else { return out };
            at += 1;
            size += usize::from(b);
            if b != 0xff {
                break;
            }
        }
        if prefix & 0x10 != 0 {
            at += 2; // start_trim
        }
        if prefix & 0x08 != 0 {
            at += 2; // end_trim
        }
        if prefix & 0x04 != 0 {
            let Some(len) = byte(at) else { return out };
            at += 1 + usize::from(len);
        }
        let Some(end) = at.checked_add(size).filter(|&e| e <= payload.len()) else {
            break;
        };
        let data = payload.slice(at..end);
        at = end;
        match opus_packet_samples(&data) {
            Some(samples) => out.push(Packet { data, samples }),
            None => break,
        }
    }
    out
}

/// The OpusHead (RFC 7845 §5.1) of a stream of 1 or 2 channels as MPEG-TS signals it: no
/// pre-skip (MPEG-TS carries trims per packet instead), 48 kHz, no gain, mapping family 0.
pub fn head(channels: u8) -> Bytes {
    let mut h = b"OpusHead".to_vec();
    h.extend([1, channels]);
    h.extend(0u16.to_le_bytes());
    h.extend(48_000u32.to_le_bytes());
    h.extend(0i16.to_le_bytes());
    h.push(0);
    Bytes::from(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_headers_sizes_and_trims() {
        // CELT 20 ms mono (TOC 0xf8) of 3 bytes; then 300 bytes with a start trim.
        let mut pes = vec![0x7f, 0xe0, 3, 0xf8, 1, 2];
        pes.extend([0x7f, 0xf0, 0xff, 45, 0, 80]);
        let mut second = vec![0xf8];
        second.extend(std::iter::repeat_n(7, 299));
        pes.extend(&second);
        let p = packets(&Bytes::from(pes.clone()));
        assert_eq!(p.len(), 2);
        assert_eq!(&p[0].data[..], &[0xf8, 1, 2]);
        assert_eq!(p[1].data.len(), 300);
        assert_eq!(p[1].samples, 960);
        // Cut short: the whole packets before the cut.
        assert_eq!(packets(&Bytes::from(pes[..20].to_vec())).len(), 1);
        assert!(packets(&Bytes::from_static(&[0x12, 0x34, 1, 0xf8])).is_empty());
        assert_eq!(&head(2)[..10], b"OpusHead\x01\x02");
    }
}
