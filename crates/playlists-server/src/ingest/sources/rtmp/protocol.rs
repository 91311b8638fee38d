//! [`RtmpProtocol`]: one RTMP connection without its socket — bytes in, bytes to send and
//! [`Event`]s out. The connection task (`connection.rs`) owns the socket, the clocks
//! and the ingest session; the fuzz target drives this with bytes alone.
//!
//! The handshake and the chunk and message layer are `rml_rtmp`'s ([`Handshake`],
//! [`ServerSession`]). What is ours: accepting every `connect` (the app is half of the
//! stream name, judged at `publish`, when the whole name is known), refusing `play`, and the
//! message size limit. `rml_rtmp` bounds a message only by RTMP's 24-bit length field
//! (16 MiB) and keeps it whole until complete, so the limit is checked twice: every
//! completed audio or video message against it, and the bytes received since the last
//! completed message against it plus the chunk headers' share, which cuts off a peer
//! announcing a larger message before it is buffered.
//!
//! `rml_rtmp`'s session reads every message of its input before it returns, and answers a
//! command according to its state at that point: a `play` or `publish` read in the same
//! input as the `connect` before it would be refused as "before connecting", and media read
//! with its `publish` ignored as not yet published. So until a stream is published the
//! input is fed a byte at a time, each request answered before the next byte is read, and
//! the bytes after a publish request are held until it is answered. That setup traffic is a
//! few hundred bytes for an encoder; more than [`SETUP_LIMIT`] is refused. Once publishing,
//! input is fed whole.
//!
//! Known limit: `rml_rtmp`'s chunk reader keeps one message in progress, so chunks of two
//! chunk streams interleaved inside a message are not supported. ffmpeg, OBS and librtmp
//! send each message's chunks together; a peer that interleaves gets a protocol error and
//! is cut off.

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionError, ServerSessionEvent, ServerSessionResult,
};

use super::RtmpError;

/// The status code of a publish request refused for its name: invalid, reserved, or held
/// by another encoder. Adobe's code for a name already published; nginx-rtmp, SRS and
/// mediamtx answer it too, and encoders show it.
pub const BAD_NAME: &str = "NetStream.Publish.BadName";
/// The status code of a publish request refused for its credential: Adobe's code for a
/// client without permission (`NetConnection.Connect.Rejected`), which librtmp (OBS) and
/// ffmpeg report as a refusal rather than retrying at once.
pub const REJECTED: &str = "NetConnection.Connect.Rejected";
/// The status code of a publish request the server cannot take now (every stream slot
/// live, shutting down): Adobe's generic `NetStream.Failed`.
pub const FAILED: &str = "NetStream.Failed";
/// The status code of a refused play request.
pub const PLAY_FAILED: &str = "NetStream.Play.Failed";

/// The most a connection may send before it publishes (the setup's commands, fed a byte at
/// a time): an encoder sends a few hundred bytes.
pub const SETUP_LIMIT: usize = 64 * 1024;

/// What the connection must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A publish request, to answer with [`RtmpProtocol::accept`] or
    /// [`RtmpProtocol::refuse`]; the input after it is held until then, and read by the
    /// next [`RtmpProtocol::feed`] (with more input, or none).
    Publish {
        /// The request to answer.
        request_id: u32,
        /// The app of `connect` (see [`super::name`]).
        app: String,
        /// The stream key of `publish`.
        key: String,
    },
    /// The body of a video message (RTMP type 9) of the stream being published.
    Video {
        /// The message's timestamp, ms.
        timestamp: u32,
        /// The body (FLV video tag data).
        data: Bytes,
    },
    /// The body of an audio message (RTMP type 8) of the stream being published.
    Audio {
        /// The message's timestamp, ms.
        timestamp: u32,
        /// The body (FLV audio tag data).
        data: Bytes,
    },
    /// The peer stopped publishing (`deleteStream`, `closeStream`).
    PublishFinished,
}

enum Stage {
    Handshake(Box<Handshake>),
    Session(Box<ServerSession>),
}

/// One RTMP server connection, sans IO.
pub struct RtmpProtocol {
    stage: Stage,
    max_message: usize,
    /// Bytes fed since the last completed message (an upper bound: see [`Self::feed`]).
    pending: usize,
    /// A publish request was accepted and its stream not finished: input is fed whole.
    publishing: bool,
    /// Bytes fed a byte at a time so far (see [`SETUP_LIMIT`]).
    setup_bytes: usize,
    /// A publish request waits for its answer; `held` waits for it.
    answer_due: bool,
    /// Input received after a publish request, before its answer.
    held: Vec<u8>,
    /// `rml_rtmp` panicked on this connection's input: its state is not to be trusted.
    broken: bool,
}

impl std::fmt::Debug for RtmpProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtmpProtocol")
            .field("handshake_done", &self.handshake_done())
            .field("max_message", &self.max_message)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl RtmpProtocol {
    /// A connection that refuses messages larger than `max_message` bytes, and the bytes to
    /// send first (the server's half of the handshake, S0 and S1).
    ///
    /// # Errors
    /// [`RtmpError::Handshake`] if the handshake cannot be started (it draws random bytes).
    pub fn new(max_message: usize) -> Result<(Self, Vec<u8>), RtmpError> {
        let mut handshake = Handshake::new(PeerType::Server);
        let s0s1 = handshake
            .generate_outbound_p0_and_p1()
            .map_err(|e| RtmpError::Handshake(e.to_string()))?;
        let protocol = Self {
            stage: Stage::Handshake(Box::new(handshake)),
            max_message,
            pending: 0,
            publishing: false,
            setup_bytes: 0,
            answer_due: false,
            held: Vec::new(),
            broken: false,
        };
        Ok((protocol, s0s1))
    }

    /// Whether the handshake is complete.
    pub fn handshake_done(&self) -> bool {
        matches!(self.stage, Stage::Session(_))
    }

    /// Whether part of a message has been received and not completed (an upper bound: bytes
    /// of a message that completes no event, such as a window size, count until the next).
    pub fn in_message(&self) -> bool {
        self.pending > 0
    }

    /// Takes `input` (any cut of the peer's bytes), appends what to send to `out` and
    /// returns what the connection must act on. `out` is to be sent even when this fails: it
    /// may hold the refusal of a play request.
    ///
    /// # Errors
    /// [`RtmpError::Handshake`], [`RtmpError::Protocol`], [`RtmpError::TooLarge`],
    /// [`RtmpError::Play`]. The connection is to be closed after any.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Vec<Event>, RtmpError> {
        let input = match &mut self.stage {
            Stage::Handshake(handshake) => {
                match handshake
                    .process_bytes(input)
                    .map_err(|e| RtmpError::Handshake(e.to_string()))?
                {
                    HandshakeProcessResult::InProgress { response_bytes } => {
                        out.extend_from_slice(&response_bytes);
                        return Ok(Vec::new());
                    }
                    HandshakeProcessResult::Completed {
                        response_bytes,
                        remaining_bytes,
                    } => {
                        out.extend_from_slice(&response_bytes);
                        let (session, first) =
                            ServerSession::new(ServerSessionConfig::new()).map_err(protocol)?;
                        self.stage = Stage::Session(Box::new(session));
                        let mut events = Vec::new();
                        self.results(first, out, &mut events)?;
                        let mut more = self.session_input(&remaining_bytes, out)?;
                        events.append(&mut more);
                        return Ok(events);
                    }
                }
            }
            Stage::Session(_) => input,
        };
        self.session_input(input, out)
    }

    /// Feeds `input` (after what is held) to the session: a byte at a time until a stream is
    /// published, stopping at a publish request; whole once publishing.
    fn session_input(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Vec<Event>, RtmpError> {
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(input);
        let mut events = Vec::new();
        let mut rest = &data[..];
        while !rest.is_empty() {
            if self.answer_due {
                self.held = rest.to_vec();
                break;
            }
            if self.publishing {
                events.append(&mut self.session_bytes(rest, out)?);
                break;
            }
            self.setup_bytes += 1;
            if self.setup_bytes > SETUP_LIMIT {
                return Err(RtmpError::Protocol(format!(
                    "no stream published within the first {SETUP_LIMIT} bytes"
                )));
            }
            let (byte, tail) = rest.split_at(1);
            rest = tail;
            let mut more = self.session_bytes(byte, out)?;
            self.answer_due = more.iter().any(|e| matches!(e, Event::Publish { .. }));
            events.append(&mut more);
        }
        Ok(events)
    }

    /// Feeds `input` to the session in one call.
    fn session_bytes(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Vec<Event>, RtmpError> {
        let Stage::Session(session) = &mut self.stage else {
            return Ok(Vec::new());
        };
        // `rml_rtmp` 0.8 panics on some hostile input (found by the `rtmp_session` fuzz
        // target): a chunk header whose message length is below what the message in progress
        // holds already (interleaved chunk streams, or a forged header) underflows a
        // subtraction in its chunk reader; `@setDataFrame` with fewer than two values is
        // indexed past its end. A panic is caught and answered like any protocol error: this
        // connection is cut off and its session never used again (`broken`).
        if self.broken {
            return Err(broken());
        }
        let handled =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.handle_input(input)));
        let Ok(handled) = handled else {
            self.broken = true;
            return Err(broken());
        };
        let results = handled.map_err(protocol)?;
        // A message completed in this input resets the count, which may leave out the start
        // of the next one (at most one input, which the caller bounds): the limit below stays
        // a bound on what `rml_rtmp` buffers, which is what it is for.
        let completed = results.iter().any(|r| {
            matches!(
                r,
                ServerSessionResult::RaisedEvent(_)
                    | ServerSessionResult::UnhandleableMessageReceived(_)
            )
        });
        self.pending = if completed {
            0
        } else {
            self.pending.saturating_add(input.len())
        };
        // Chunk headers add up to 5 bytes per 128-byte chunk (a basic header and an extended
        // timestamp) at the smallest chunk size: a message of the limit arrives in at most
        // 1/16 more bytes, plus one read of the next message.
        let allowance = self
            .max_message
            .saturating_add(self.max_message / 16)
            .saturating_add(64 * 1024);
        if self.pending > allowance {
            return Err(RtmpError::TooLarge {
                limit: self.max_message,
            });
        }
        let mut events = Vec::new();
        self.results(results, out, &mut events)?;
        Ok(events)
    }

    /// Sends what `results` send and turns their events into ours.
    fn results(
        &mut self,
        results: Vec<ServerSessionResult>,
        out: &mut Vec<u8>,
        events: &mut Vec<Event>,
    ) -> Result<(), RtmpError> {
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => {
                    out.extend_from_slice(&packet.bytes)
                }
                ServerSessionResult::RaisedEvent(event) => self.event(event, out, events)?,
                ServerSessionResult::UnhandleableMessageReceived(payload) => {
                    // Aggregate messages, AMF3 commands, shared objects: nothing an encoder
                    // needs answered. Skipped, but still bounded by the size limit.
                    tracing::trace!(type_id = payload.type_id, "RTMP message skipped");
                }
            }
        }
        Ok(())
    }

    fn event(
        &mut self,
        event: ServerSessionEvent,
        out: &mut Vec<u8>,
        events: &mut Vec<Event>,
    ) -> Result<(), RtmpError> {
        match event {
            ServerSessionEvent::ConnectionRequested { request_id, .. } => {
                let answer = self
                    .session()?
                    .accept_request(request_id)
                    .map_err(protocol)?;
                self.results(answer, out, events)?;
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                app_name,
                stream_key,
                ..
            } => events.push(Event::Publish {
                request_id,
                app: app_name,
                key: stream_key,
            }),
            ServerSessionEvent::PlayStreamRequested {
                request_id,
                app_name,
                stream_key,
                ..
            } => {
                let name = if stream_key.is_empty() {
                    app_name
                } else {
                    format!("{app_name}/{stream_key}")
                };
                let description = format!(
                    "this server plays over HLS only: /{}/index.m3u8",
                    name.split('?').next().unwrap_or_default()
                );
                self.refuse(request_id, PLAY_FAILED, &description, out)?;
                return Err(RtmpError::Play(name));
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                self.check_size(data.len())?;
                events.push(Event::Video {
                    timestamp: timestamp.value,
                    data,
                });
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                self.check_size(data.len())?;
                events.push(Event::Audio {
                    timestamp: timestamp.value,
                    data,
                });
            }
            ServerSessionEvent::PublishStreamFinished { .. } => {
                self.publishing = false;
                events.push(Event::PublishFinished);
            }
            // Chunk size, metadata (the packager reads the codecs from the sequence headers),
            // acknowledgements, pings, releaseStream/FCPublish and other commands that need
            // no answer.
            _ => {}
        }
        Ok(())
    }

    fn check_size(&self, len: usize) -> Result<(), RtmpError> {
        if len > self.max_message {
            return Err(RtmpError::TooLarge {
                limit: self.max_message,
            });
        }
        Ok(())
    }

    fn session(&mut self) -> Result<&mut ServerSession, RtmpError> {
        if self.broken {
            return Err(broken());
        }
        match &mut self.stage {
            Stage::Session(session) => Ok(session),
            Stage::Handshake(_) => Err(RtmpError::Protocol(
                "no session before the handshake".into(),
            )),
        }
    }

    /// Accepts publish request `request_id` (`NetStream.Publish.Start`), appending the answer
    /// to `out`. The input held since the request is read by the next [`feed`](Self::feed).
    ///
    /// # Errors
    /// [`RtmpError::Protocol`] for a request that is not outstanding.
    pub fn accept(&mut self, request_id: u32, out: &mut Vec<u8>) -> Result<(), RtmpError> {
        self.answer_due = false;
        self.publishing = true;
        let answer = self
            .session()?
            .accept_request(request_id)
            .map_err(protocol)?;
        let mut events = Vec::new();
        self.results(answer, out, &mut events)
    }

    /// Refuses request `request_id` with status `code` and `description` (one line, shown
    /// by the encoder), appending the answer to `out`. The connection is to be closed after.
    ///
    /// # Errors
    /// [`RtmpError::Protocol`] for a request that is not outstanding.
    pub fn refuse(
        &mut self,
        request_id: u32,
        code: &str,
        description: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), RtmpError> {
        self.answer_due = false;
        let answer = self
            .session()?
            .reject_request(request_id, code, description)
            .map_err(protocol)?;
        let mut events = Vec::new();
        self.results(answer, out, &mut events)
    }
}

fn broken() -> RtmpError {
    RtmpError::Protocol("inconsistent chunk headers (interleaved chunk streams?)".into())
}

fn protocol(e: ServerSessionError) -> RtmpError {
    RtmpError::Protocol(e.to_string())
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
