//! Transport packets into whole PES packets of the one video and one audio stream packaged,
//! with `mpeg2ts-reader`: PAT and PMT sections (CRC-checked, a changed PMT followed), PES
//! headers, PTS/DTS, continuity counters. What it leaves to its user is here: choosing the
//! streams (the first program; in it, the first H.264 or HEVC stream and the first ADTS AAC
//! or Opus stream), reassembling each PES within a size limit, and reporting losses.
//!
//! Streams of other types are ignored rather than refused: a transport stream commonly
//! carries data the origin has no use for (SCTE-35 cues, metadata, teletext, a second
//! program), and refusing it would refuse a stream whose audio and video are fine.

use bytes::Bytes;
use mpeg2ts_reader::demultiplex::{
    self, DemuxContext, FilterChangeset, FilterRequest, NullPacketFilter, PatPacketFilter,
    PmtPacketFilter,
};
use mpeg2ts_reader::descriptor::CoreDescriptors;
use mpeg2ts_reader::pes::{self, ElementaryStreamConsumer, PesContents, PesHeader, PtsDts};
use mpeg2ts_reader::psi::pmt::{PmtSection, StreamInfo};
use mpeg2ts_reader::smptera::FormatIdentifier;
use mpeg2ts_reader::{packet, StreamType};

/// A stream type the packager writes (ISO/IEC 13818-1 Table 2-34).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// H.264, stream type 0x1B.
    H264,
    /// HEVC, stream type 0x24.
    Hevc,
    /// AAC in ADTS, stream type 0x0F.
    Adts,
    /// Opus: stream type 0x06 registered `Opus`, of this many channels (1 or 2; more need
    /// a channel mapping table this does not build, and such a stream is ignored).
    Opus(u8),
}

impl Kind {
    fn of(info: &StreamInfo<'_>) -> Option<Kind> {
        match info.stream_type() {
            StreamType::H264 => Some(Kind::H264),
            StreamType::H265 => Some(Kind::Hevc),
            StreamType::ADTS => Some(Kind::Adts),
            StreamType::H222_0_PES_PRIVATE_DATA => {
                let mut opus = false;
                // Without the extension descriptor, stereo (as ffmpeg assumes).
                let mut channels = 2;
                for d in info.descriptors::<CoreDescriptors<'_>>().flatten() {
                    match d {
                        CoreDescriptors::Registration(r) => {
                            opus |= r.format_identifier() == FormatIdentifier::from(&b"Opus"[..]);
                        }
                        CoreDescriptors::UserPrivate(u) if u.tag == 0x7f => {
                            if let [0x80, code, ..] = u.payload {
                                channels = *code;
                            }
                        }
                        _ => {}
                    }
                }
                (opus && matches!(channels, 1 | 2)).then_some(Kind::Opus(channels))
            }
            _ => None,
        }
    }

    /// Video (else audio).
    pub fn video(self) -> bool {
        matches!(self, Kind::H264 | Kind::Hevc)
    }
}

/// What the demultiplexer found, in stream order.
#[derive(Debug)]
pub enum Event {
    /// A whole PES packet's payload.
    Pes {
        /// Its stream.
        kind: Kind,
        /// PTS, 90 kHz modulo 2^33 (`None` if absent or malformed).
        pts: Option<u64>,
        /// DTS, or the PTS when the header has none.
        dts: Option<u64>,
        /// The payload (elementary stream bytes).
        data: Bytes,
    },
    /// Part of a stream was lost (a continuity counter gap, a PES over the size limit, a PES
    /// cut off by the next one): the PES it hit was discarded.
    Lost {
        /// Its stream.
        kind: Kind,
    },
}

mpeg2ts_reader::packet_filter_switch! {
    Filter<Context> {
        Pat: PatPacketFilter<Context>,
        Pmt: PmtPacketFilter<Context>,
        Pes: pes::PesPacketFilter<Context, Es>,
        Null: NullPacketFilter<Context>,
    }
}

/// One stream's PES being reassembled.
#[derive(Debug)]
struct Assembly {
    pid: u16,
    kind: Kind,
    /// A PES is open (its header was read).
    open: bool,
    /// The open PES lost data and will be discarded.
    broken: bool,
    pts: Option<u64>,
    dts: Option<u64>,
    data: Vec<u8>,
}

impl Assembly {
    fn new(pid: u16, kind: Kind) -> Self {
        Self {
            pid,
            kind,
            open: false,
            broken: false,
            pts: None,
            dts: None,
            data: Vec::new(),
        }
    }
}

/// The demultiplexer's state, lent to `mpeg2ts-reader`'s filters on every packet.
pub struct Context {
    changeset: FilterChangeset<Filter>,
    /// The program packaged: the first the PAT lists.
    program: Option<u16>,
    /// The video and audio streams chosen by the latest PMT.
    video: Option<Assembly>,
    audio: Option<Assembly>,
    /// Largest PES payload kept.
    max_pes: usize,
    /// What the packets pushed so far produced.
    pub events: Vec<Event>,
}

impl Context {
    /// A context keeping PES payloads of at most `max_pes` bytes.
    pub fn new(max_pes: usize) -> Self {
        Self {
            changeset: FilterChangeset::default(),
            program: None,
            video: None,
            audio: None,
            max_pes,
            events: Vec::new(),
        }
    }

    fn assembly(&mut self, pid: u16) -> Option<&mut Assembly> {
        [self.video.as_mut(), self.audio.as_mut()]
            .into_iter()
            .flatten()
            .find(|a| a.pid == pid)
    }

    /// The PES open when the stream ended, if whole as far as anyone can tell (a video PES
    /// of unbounded length ends only with the next).
    pub fn flush(&mut self) {
        for pid in [&self.video, &self.audio]
            .into_iter()
            .flatten()
            .map(|a| a.pid)
            .collect::<Vec<_>>()
        {
            self.end(pid);
        }
    }

    fn begin(&mut self, pid: u16, header: PesHeader<'_>) {
        let Some(a) = self.assembly(pid) else { return };
        let kind = a.kind;
        // A PES still open here was cut short: after a continuity error the reader sends
        // no end for it, and a PMT change replaces the stream's filter mid-PES.
        let cut = a.open;
        a.open = false;
        a.data.clear();
        if cut {
            self.events.push(Event::Lost { kind });
        }
        let PesContents::Parsed(Some(parsed)) = header.contents() else {
            return;
        };
        let (pts, dts) = match parsed.pts_dts() {
            Ok(PtsDts::PtsOnly(Ok(pts))) => (Some(pts.value()), Some(pts.value())),
            Ok(PtsDts::Both {
                pts: Ok(pts),
                dts: Ok(dts),
            }) => (Some(pts.value()), Some(dts.value())),
            _ => (None, None),
        };
        let max = self.max_pes;
        let Some(a) = self.assembly(pid) else { return };
        a.open = true;
        a.broken = false;
        a.pts = pts;
        a.dts = dts;
        let payload = parsed.payload();
        if payload.len() > max {
            a.broken = true;
        } else {
            a.data.extend_from_slice(payload);
        }
    }

    fn extend(&mut self, pid: u16, data: &[u8]) {
        let max = self.max_pes;
        let Some(a) = self.assembly(pid) else { return };
        if !a.open || a.broken {
            return;
        }
        if a.data.len() + data.len() > max {
            // Bounded memory: a PES over the frame limit is discarded, as a loss would be
            // (it cannot be told from two PES whose boundary was lost).
            a.broken = true;
            a.data = Vec::new();
            return;
        }
        a.data.extend_from_slice(data);
    }

    fn end(&mut self, pid: u16) {
        let Some(a) = self.assembly(pid) else { return };
        if !a.open {
            return;
        }
        a.open = false;
        let kind = a.kind;
        let event = if a.broken {
            a.data = Vec::new();
            Event::Lost { kind }
        } else {
            // Ownership of the buffer moves to the frames: the next PES starts a new one of
            // the size this one needed.
            let capacity = a.data.len();
            let data = std::mem::replace(&mut a.data, Vec::with_capacity(capacity));
            Event::Pes {
                kind,
                pts: a.pts,
                dts: a.dts,
                data: Bytes::from(data),
            }
        };
        self.events.push(event);
    }

    fn lost(&mut self, pid: u16) {
        let Some(a) = self.assembly(pid) else { return };
        let kind = a.kind;
        if a.open {
            a.broken = true;
            a.data = Vec::new();
        } else {
            self.events.push(Event::Lost { kind });
        }
    }

    /// The stream of `info` is packaged if it is the first of its kind (video or audio) in
    /// its PMT: a PMT that changes the chosen stream or its type restarts its assembly.
    fn choose(&mut self, pmt: &PmtSection<'_>, info: &StreamInfo<'_>) -> Option<Filter> {
        let kind = Kind::of(info)?;
        let first = pmt
            .streams()
            .filter_map(|s| Some((u16::from(s.elementary_pid()), Kind::of(&s)?)))
            .find(|(_, k)| k.video() == kind.video())?;
        let pid = u16::from(info.elementary_pid());
        if first != (pid, kind) {
            return None;
        }
        let slot = if kind.video() {
            &mut self.video
        } else {
            &mut self.audio
        };
        if slot.as_ref().is_none_or(|a| a.pid != pid || a.kind != kind) {
            if slot.as_ref().is_some_and(|a| a.open) {
                let lost = slot.as_ref().map(|a| a.kind);
                self.events.extend(lost.map(|kind| Event::Lost { kind }));
            }
            let slot = if kind.video() {
                &mut self.video
            } else {
                &mut self.audio
            };
            *slot = Some(Assembly::new(pid, kind));
        }
        Some(Filter::Pes(pes::PesPacketFilter::new(Es { pid })))
    }
}

impl DemuxContext for Context {
    type F = Filter;

    fn filter_changeset(&mut self) -> &mut FilterChangeset<Filter> {
        &mut self.changeset
    }

    fn construct(&mut self, req: FilterRequest<'_, '_>) -> Filter {
        match req {
            FilterRequest::ByPid(packet::Pid::PAT) => Filter::Pat(PatPacketFilter::default()),
            FilterRequest::Pmt {
                pid,
                program_number,
            } if self.program.is_none_or(|p| p == program_number) => {
                self.program = Some(program_number);
                Filter::Pmt(PmtPacketFilter::new(pid, program_number))
            }
            FilterRequest::ByStream {
                pmt, stream_info, ..
            } => self
                .choose(pmt, stream_info)
                .unwrap_or_else(|| Filter::Null(NullPacketFilter::default())),
            _ => Filter::Null(NullPacketFilter::default()),
        }
    }
}

/// The PES consumer of one chosen stream: its events go to the [`Context`], which owns the
/// assembly (so that the end of the stream can flush it).
pub struct Es {
    pid: u16,
}

impl ElementaryStreamConsumer<Context> for Es {
    fn start_stream(&mut self, _ctx: &mut Context) {}

    fn begin_packet(&mut self, ctx: &mut Context, header: PesHeader<'_>) {
        ctx.begin(self.pid, header);
    }

    fn continue_packet(&mut self, ctx: &mut Context, data: &[u8]) {
        ctx.extend(self.pid, data);
    }

    fn end_packet(&mut self, ctx: &mut Context) {
        ctx.end(self.pid);
    }

    fn continuity_error(&mut self, ctx: &mut Context) {
        ctx.lost(self.pid);
    }
}

/// The demultiplexer: feed it whole, aligned 188-byte packets.
pub struct Demux {
    ctx: Context,
    demux: demultiplex::Demultiplex<Context>,
}

impl Demux {
    /// A demultiplexer with nothing received.
    pub fn new(max_pes: usize) -> Self {
        let mut ctx = Context::new(max_pes);
        let demux = demultiplex::Demultiplex::new(&mut ctx);
        Self { ctx, demux }
    }

    /// Demultiplexes `packets` (a whole number of packets, each starting with 0x47); the
    /// events they complete are appended to `events`.
    pub fn push(&mut self, packets: &[u8], events: &mut Vec<Event>) {
        self.demux.push(&mut self.ctx, packets);
        events.append(&mut self.ctx.events);
    }

    /// The PMT announced an audio stream that is packaged.
    pub fn has_audio(&self) -> bool {
        self.ctx.audio.is_some()
    }

    /// End of stream: the open PES of each stream, if not broken.
    pub fn flush(&mut self, events: &mut Vec<Event>) {
        self.ctx.flush();
        events.append(&mut self.ctx.events);
    }
}

impl std::fmt::Debug for Demux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Demux")
            .field("program", &self.ctx.program)
            .field("video", &self.ctx.video)
            .field("audio", &self.ctx.audio)
            .finish_non_exhaustive()
    }
}
