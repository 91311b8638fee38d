//! Tests of [`super`] (the sans-IO RTMP connection), with a client's bytes made by
//! `rml_rtmp`'s serializer, as a client that sends without waiting for answers would.

use std::collections::HashMap;

use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::time::RtmpTimestamp;

use super::*;

/// A connection past its handshake (a client's, as ffmpeg's).
fn shaken() -> RtmpProtocol {
    let (mut protocol, s0s1) = RtmpProtocol::new(1 << 20).unwrap();
    let mut client = Handshake::new(PeerType::Client);
    let c0c1 = client.generate_outbound_p0_and_p1().unwrap();
    let mut out = Vec::new();
    assert!(protocol.feed(&c0c1, &mut out).unwrap().is_empty());
    let mut from_server = s0s1;
    from_server.extend_from_slice(&out);
    let HandshakeProcessResult::Completed { response_bytes, .. } =
        client.process_bytes(&from_server).unwrap()
    else {
        panic!("the client handshake is not complete");
    };
    assert!(protocol
        .feed(&response_bytes, &mut Vec::new())
        .unwrap()
        .is_empty());
    assert!(protocol.handshake_done());
    protocol
}

/// The chunks of `messages`, each on message stream `.1`, as one client sends them.
fn client_bytes(messages: Vec<(RtmpMessage, u32)>) -> Vec<u8> {
    let mut serializer = ChunkSerializer::new();
    let mut bytes = Vec::new();
    for (message, stream) in messages {
        let payload = message
            .into_message_payload(RtmpTimestamp::new(0), stream)
            .unwrap();
        bytes.extend(serializer.serialize(&payload, false, false).unwrap().bytes);
    }
    bytes
}

fn command(name: &str, transaction: f64, object: Amf0Value, args: Vec<Amf0Value>) -> RtmpMessage {
    RtmpMessage::Amf0Command {
        command_name: name.to_owned(),
        transaction_id: transaction,
        command_object: object,
        additional_arguments: args,
    }
}

/// connect, createStream, then `last` on stream 1: what a client that does not wait for
/// answers sends at once.
fn pipelined(last: RtmpMessage, then: Vec<RtmpMessage>) -> Vec<u8> {
    let app = HashMap::from([("app".to_owned(), Amf0Value::Utf8String("live".into()))]);
    let mut messages = vec![
        (command("connect", 1.0, Amf0Value::Object(app), vec![]), 0),
        (command("createStream", 2.0, Amf0Value::Null, vec![]), 0),
        (last, 1),
    ];
    messages.extend(then.into_iter().map(|m| (m, 1)));
    client_bytes(messages)
}

fn str_value(s: &str) -> Amf0Value {
    Amf0Value::Utf8String(s.to_owned())
}

#[test]
fn a_pipelined_publish_is_answered_and_the_media_after_it_held_until_then() {
    let mut protocol = shaken();
    let publish = command(
        "publish",
        3.0,
        Amf0Value::Null,
        vec![str_value("720p?token=k"), str_value("live")],
    );
    let video = RtmpMessage::VideoData {
        data: Bytes::from_static(b"\x17\x00\x00\x00\x00frame"),
    };
    let mut out = Vec::new();
    let events = protocol
        .feed(&pipelined(publish, vec![video]), &mut out)
        .unwrap();
    let [Event::Publish {
        request_id,
        app,
        key,
    }] = &events[..]
    else {
        panic!("{events:?}");
    };
    assert_eq!((app.as_str(), key.as_str()), ("live", "720p?token=k"));
    assert!(!out.is_empty(), "the connect and createStream answers");
    protocol.accept(*request_id, &mut out).unwrap();
    let held = protocol.feed(&[], &mut out).unwrap();
    assert_eq!(
        held,
        [Event::Video {
            timestamp: 0,
            data: Bytes::from_static(b"\x17\x00\x00\x00\x00frame")
        }]
    );
}

#[test]
fn a_pipelined_play_is_refused_with_the_hls_url() {
    let mut protocol = shaken();
    let play = command("play", 3.0, Amf0Value::Null, vec![str_value("720p")]);
    let mut out = Vec::new();
    let err = protocol
        .feed(&pipelined(play, vec![]), &mut out)
        .unwrap_err();
    assert!(
        matches!(&err, RtmpError::Play(name) if name == "live/720p"),
        "{err}"
    );
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.contains(PLAY_FAILED), "{answer}");
    assert!(answer.contains("/live/720p/index.m3u8"), "{answer}");
}

#[test]
fn a_peer_that_never_publishes_is_refused_after_the_setup_limit() {
    let mut protocol = shaken();
    // Video on a stream never published: read and dropped by the session, byte by byte.
    let video = RtmpMessage::VideoData {
        data: Bytes::from(vec![0x17; 4000]),
    };
    let bytes = client_bytes(vec![(video, 1); 20]);
    assert!(bytes.len() > SETUP_LIMIT);
    let err = protocol.feed(&bytes, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, RtmpError::Protocol(_)), "{err}");
}

#[test]
fn a_body_over_the_limit_is_refused() {
    let (mut protocol, _) = RtmpProtocol::new(1000).unwrap();
    assert!(protocol.check_size(1000).is_ok());
    let err = protocol.check_size(1001).unwrap_err();
    assert!(matches!(err, RtmpError::TooLarge { limit: 1000 }), "{err}");
    // And the bytes of a message never completed: cut off before they are all buffered.
    protocol = shaken();
    protocol.max_message = 1000;
    protocol.publishing = true; // fed whole, as once published
    let video = RtmpMessage::VideoData {
        data: Bytes::from(vec![0x17; 200_000]),
    };
    let bytes = client_bytes(vec![(video, 1)]);
    let err = protocol
        .feed(&bytes[..150_000], &mut Vec::new())
        .unwrap_err();
    assert!(matches!(err, RtmpError::TooLarge { .. }), "{err}");
}
