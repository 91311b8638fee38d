//! `PUT`/`POST /ingest/{stream}` over real HTTP: an encoder's fMP4 body becomes a stream;
//! `--ingest-token` guards it (publish keys: `ingest_access.rs`); refused input gets the status of its error class.

mod origin;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use origin::{Layers, Resp, TestServer};
use playlists_server::fmp4::Limits;
use playlists_server::http::HttpOptions;
use playlists_server::ingest::{Credentials, IngestConfig};
use tokio::net::TcpStream;

fn fixture(name: &str) -> Bytes {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    Bytes::from(std::fs::read(path).unwrap())
}

async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Resp {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "x");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(body)).unwrap())
        .await
        .unwrap();
    let (parts, body) = resp.into_parts();
    Resp {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

#[tokio::test]
async fn a_put_body_is_published_and_served() {
    let server = TestServer::start().await;
    let resp = send(server.addr, "PUT", "/ingest/cam1", &[], fixture("h264.mp4")).await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    assert!(resp.text().starts_with("published "), "{}", resp.text());
    let playlist = server.get("/cam1/index.m3u8").await;
    assert_eq!(playlist.status, StatusCode::OK);
    assert!(
        playlist.text().contains("#EXT-X-PART:"),
        "{}",
        playlist.text()
    );
    let init = server.get("/cam1/init.mp4").await;
    assert_eq!(init.status, StatusCode::OK);
    assert_eq!(&init.body[4..8], b"ftyp");
    let part = server.get("/cam1/p0.mp4").await;
    assert_eq!(part.status, StatusCode::OK);

    // POST works too, and a rendition name with a group.
    let resp = send(
        server.addr,
        "POST",
        "/ingest/live/720p",
        &[],
        fixture("h264.mp4"),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    assert_eq!(server.get("/live/master.m3u8").await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn the_ingest_token_is_required_when_configured() {
    let layers = Layers {
        ingest: IngestConfig {
            credentials: Credentials {
                token: Some("s3cret".into()),
                ..Credentials::default()
            },
            ..IngestConfig::default()
        },
        ..Layers::default()
    };
    let server = TestServer::with_layers(origin::options(), HttpOptions::default(), layers).await;
    for headers in [
        &[][..],
        &[("authorization", "Bearer wrong")][..],
        &[("authorization", "s3cret")][..],
    ] {
        let resp = send(
            server.addr,
            "PUT",
            "/ingest/cam1",
            headers,
            fixture("h264.mp4"),
        )
        .await;
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{headers:?}");
        assert_eq!(resp.header("www-authenticate"), Some("Bearer"));
    }
    assert!(
        server.playlists.stream("cam1").is_none(),
        "nothing published"
    );
    let resp = send(
        server.addr,
        "PUT",
        "/ingest/cam1",
        &[("authorization", "Bearer s3cret")],
        fixture("h264.mp4"),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.text());
    server.stop().await;
}

#[tokio::test]
async fn refused_input_gets_the_status_of_its_error() {
    let layers = Layers {
        ingest: IngestConfig {
            limits: Limits {
                max_part_size: 1000,
                ..Limits::default()
            },
            ..IngestConfig::default()
        },
        ..Layers::default()
    };
    let server = TestServer::with_layers(origin::options(), HttpOptions::default(), layers).await;
    let garbage = send(
        server.addr,
        "PUT",
        "/ingest/cam1",
        &[],
        Bytes::from_static(b"\0\0\0\x10notanmp4atall"),
    )
    .await;
    assert_eq!(
        garbage.status,
        StatusCode::BAD_REQUEST,
        "{}",
        garbage.text()
    );
    assert_eq!(garbage.text().lines().count(), 1);
    let big = send(server.addr, "PUT", "/ingest/cam2", &[], fixture("h264.mp4")).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", big.text());
    let name = send(
        server.addr,
        "PUT",
        "/ingest/bad..name%",
        &[],
        fixture("h264.mp4"),
    )
    .await;
    assert_eq!(name.status, StatusCode::BAD_REQUEST, "{}", name.text());
    let get = server.get("/ingest/cam1").await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
}

#[tokio::test]
async fn delivery_without_an_ingest_layer_refuses_http_ingest_and_still_serves() {
    // Delivery on its own, as an embedder that publishes through the library would run it.
    let playlists = std::sync::Arc::new(playlists::Playlists::new(origin::options()).unwrap());
    let state = playlists_server::http::AppState::new(
        std::sync::Arc::clone(&playlists),
        HttpOptions::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(playlists_server::http::serve(
        listener,
        std::sync::Arc::new(state),
        async {
            let _ = stopped.await;
        },
    ));
    let put = send(addr, "PUT", "/ingest/cam1", &[], fixture("h264.mp4")).await;
    assert_eq!(put.status, StatusCode::NOT_FOUND, "{}", put.text());
    assert!(put.text().contains("no ingest"), "{}", put.text());
    playlists.add("cam1", origin::part("cam1", 0)).unwrap();
    let got = origin::get(addr, "/cam1/index.m3u8", &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
