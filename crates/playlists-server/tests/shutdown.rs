//! Graceful shutdown: held requests are answered 503, in-flight answers finish, the server
//! stops accepting and returns.

mod origin;

use http::StatusCode;
use origin::{settle, within, TestServer};
use tokio::net::TcpStream;

#[tokio::test]
async fn held_requests_get_503_and_the_server_returns() {
    let mut server = TestServer::start().await;
    server.publish("cam1", 0, 7);
    let addr = server.addr;
    let held: Vec<_> = ["/cam1/index.m3u8?_HLS_msn=1&_HLS_part=2", "/cam1/p7.mp4"]
        .into_iter()
        .map(|p| tokio::spawn(async move { origin::get(addr, p, &[]).await }))
        .collect();
    settle().await;
    assert_eq!(server.state.waiting.total(), 2);
    let task = server.begin_shutdown();
    for h in held {
        let resp = within(h).await.unwrap();
        assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(resp.text().contains("shutting down"), "{}", resp.text());
    }
    within(task).await.unwrap().unwrap();
    assert_eq!(server.state.waiting.total(), 0);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_on_shutdown() {
    let mut server = TestServer::start().await;
    server.publish("cam1", 0, 3);
    // A kept-alive HTTP/1.1 connection with one answered request.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    let req = http::Request::get("/cam1/p0.mp4")
        .header("host", "x")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    drop(resp);
    let task = server.begin_shutdown();
    // The server closes the idle connection instead of waiting out the grace period.
    within(conn).await.unwrap().unwrap();
    within(task).await.unwrap().unwrap();
}
