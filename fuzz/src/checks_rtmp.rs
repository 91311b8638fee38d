//! The RTMP check of [`super`]: a peer's bytes through the RTMP source's sans-IO connection
//! ([`RtmpProtocol`]), as the connection task drives it.

use std::collections::VecDeque;

use playlists_server::ingest::sources::rtmp::{Event, RtmpProtocol};
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

use super::{hash, Rng};

/// What one run saw: the events in order, and how it ended.
type Run = (Vec<Event>, Option<String>);

/// Input: a selector byte, then a peer's bytes. Selector bit 0 clear: the bytes follow a
/// valid handshake (a client's, made here), so they reach the chunk and message layer;
/// set: they are the whole connection from its first byte (the handshake too).
///
/// What must hold: no panic; every audio or video body within the message size limit (one
/// derived from the input's hash, from 1 KiB up, so both of the limit's checks are reached);
/// every publish request answerable once; and an input shorter than the limit gives the
/// same events and the same end fed whole, in random cuts, or a byte at a time (see
/// [`agree`]).
pub fn rtmp_session(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let handshake = selector & 1 == 0;
    let h = hash(data);
    let max_message = 1024usize << (h % 8);
    let whole = run(bytes, handshake, max_message, &mut |rest| rest.len());
    let mut rng = Rng::new(h);
    let cut = run(bytes, handshake, max_message, &mut |rest| {
        1 + (rng.next() as usize) % rest.len().min(4096)
    });
    if bytes.len() < max_message && bytes.len() <= 4096 {
        let bytewise = run(bytes, handshake, max_message, &mut |_| 1);
        agree(&whole, &bytewise, "fed whole and a byte at a time");
    }
    if bytes.len() < max_message {
        agree(&whole, &cut, "fed whole and in random cuts");
    }
}

/// Two runs of one input agree: both end well with the same events, or both fail. A failing
/// run may have lost the events of its last input before the failure (`rml_rtmp` returns
/// an input's events or its error, not both), so there one run's events are a prefix of the
/// other's.
fn agree(a: &Run, b: &Run, how: &str) {
    assert_eq!(a.1.is_some(), b.1.is_some(), "{how}: {a:?} / {b:?}");
    if a.1.is_none() {
        assert_eq!(a.0, b.0, "{how}");
    } else {
        let n = a.0.len().min(b.0.len());
        assert_eq!(a.0[..n], b.0[..n], "{how}");
    }
}

/// Feeds `bytes` in pieces of `next_len(rest)` bytes (after a valid handshake if
/// `handshake`), accepting a publish request when no stream is published and refusing it
/// otherwise, as the connection does.
fn run(
    bytes: &[u8],
    handshake: bool,
    max_message: usize,
    next_len: &mut dyn FnMut(&[u8]) -> usize,
) -> Run {
    let (mut protocol, s0s1) = RtmpProtocol::new(max_message).expect("the handshake starts");
    let mut out = Vec::new();
    if handshake {
        shake_hands(&mut protocol, &s0s1);
    }
    let mut events = Vec::new();
    let mut publishing = false;
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = next_len(rest).clamp(1, rest.len());
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        out.clear();
        let mut queue: VecDeque<Event> = match protocol.feed(piece, &mut out) {
            Ok(fed) => fed.into(),
            Err(e) => return (events, Some(e.to_string())),
        };
        while let Some(event) = queue.pop_front() {
            match &event {
                Event::Video { data, .. } | Event::Audio { data, .. } => {
                    assert!(data.len() <= max_message, "a body over the limit");
                }
                Event::Publish { request_id, .. } => {
                    let answered = if publishing {
                        protocol.refuse(*request_id, "NetStream.Publish.BadName", "busy", &mut out)
                    } else {
                        publishing = true;
                        protocol.accept(*request_id, &mut out)
                    };
                    // The input held since the request, now that it is answered.
                    match answered.and_then(|()| protocol.feed(&[], &mut out)) {
                        Ok(more) => queue.extend(more),
                        Err(e) => {
                            events.push(event);
                            return (events, Some(e.to_string()));
                        }
                    }
                }
                Event::PublishFinished => publishing = false,
            }
            events.push(event);
        }
    }
    (events, None)
}

/// Completes a handshake with a client's, so what follows reaches the session.
fn shake_hands(protocol: &mut RtmpProtocol, s0s1: &[u8]) {
    let mut client = Handshake::new(PeerType::Client);
    let c0c1 = client.generate_outbound_p0_and_p1().expect("c0c1");
    let mut out = Vec::new();
    let events = protocol.feed(&c0c1, &mut out).expect("c0c1 accepted");
    assert!(events.is_empty() && !protocol.handshake_done());
    let mut from_server = s0s1.to_vec();
    from_server.extend_from_slice(&out);
    let c2 = match client.process_bytes(&from_server).expect("s0s1s2 accepted") {
        HandshakeProcessResult::Completed { response_bytes, .. } => response_bytes,
        HandshakeProcessResult::InProgress { .. } => panic!("the client wants more than s0s1s2"),
    };
    out.clear();
    protocol.feed(&c2, &mut out).expect("c2 accepted");
    assert!(protocol.handshake_done());
}
