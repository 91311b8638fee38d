//! HTTP/2 with prior knowledge (h2c) on the plain port, beside HTTP/1.1.

mod origin;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use origin::{part_bytes, settle, within, TestServer};
use tokio::net::TcpStream;

#[tokio::test]
async fn h2c_multiplexes_a_held_playlist_and_the_hinted_part_on_one_connection() {
    let server = TestServer::start().await;
    server.publish("cam1", 0, 7); // hint p1.2
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    let get = |path: &'static str| {
        let mut sender = sender.clone();
        async move {
            let req = Request::get(path).body(Empty::<Bytes>::new()).unwrap();
            let resp = sender.send_request(req).await.unwrap();
            assert_eq!(resp.version(), http::Version::HTTP_2);
            let status = resp.status();
            (status, resp.into_body().collect().await.unwrap().to_bytes())
        }
    };
    let playlist = tokio::spawn(get("/cam1/index.m3u8?_HLS_msn=1&_HLS_part=2"));
    let part = tokio::spawn(get("/cam1/p7.mp4"));
    settle().await;
    // Both held on the same connection, and the connection still answers others.
    let (status, body) = within(get("/cam1/p0.mp4")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, part_bytes("cam1", 0));
    assert!(!playlist.is_finished() && !part.is_finished());

    server.publish("cam1", 7, 1);
    let (status, text) = within(playlist).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(origin::lists_part(&String::from_utf8_lossy(&text), 1, 2));
    let (status, body) = within(part).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, part_bytes("cam1", 7));
    server.stop().await;
}
