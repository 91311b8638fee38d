//! HTTPS with a certificate generated in the test: h2 and http/1.1 chosen by ALPN.

mod origin;

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use origin::{part_bytes, TestServer};
use playlists_server::http::{server_config, HttpOptions};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

struct Tls {
    server: TestServer,
    connector: TlsConnector,
}

async fn start(alpn: &[&[u8]]) -> Tls {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let config = server_config(
        cert.cert.pem().as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let http = HttpOptions {
        tls: Some(config),
        ..HttpOptions::default()
    };
    let server = TestServer::with(origin::options(), http).await;
    server.publish("cam1", 0, 7);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Tls {
        server,
        connector: TlsConnector::from(Arc::new(client)),
    }
}

async fn connect(tls: &Tls) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(tls.server.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    tls.connector.connect(name, tcp).await.unwrap()
}

#[tokio::test]
async fn h2_is_negotiated_by_alpn() {
    let tls = start(&[b"h2", b"http/1.1"]).await;
    let stream = connect(&tls).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("https://localhost/cam1/p1.mp4")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, part_bytes("cam1", 1));
    tls.server.stop().await;
}

#[tokio::test]
async fn http1_is_served_when_the_client_offers_only_http1() {
    let tls = start(&[b"http/1.1"]).await;
    let stream = connect(&tls).await;
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get("/cam1/index.m3u8")
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), http::Version::HTTP_11);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(body.starts_with(b"#EXTM3U"));
    tls.server.stop().await;
}

#[test]
fn bad_tls_material_is_refused_with_a_reason() {
    let err = server_config(b"not a pem", b"nor this").unwrap_err();
    assert!(err.to_string().starts_with("certificate"), "{err}");
}
