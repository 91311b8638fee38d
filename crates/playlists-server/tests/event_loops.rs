//! `serve_on` with connections spread over single-threaded event loops (the binary's model):
//! held requests on every loop are woken by a publish made elsewhere, and shutdown answers
//! and drains connections on every loop.

mod origin;

use std::sync::Arc;

use http::StatusCode;
use playlists::Playlists;
use playlists_server::event_loops::EventLoops;
use playlists_server::http::{serve_on, AppState, HttpOptions};
use tokio::sync::oneshot;

struct LoopServer {
    addr: std::net::SocketAddr,
    playlists: Arc<Playlists>,
    state: Arc<AppState>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    // Dropped last: the loops must outlive the server task.
    _loops: EventLoops,
}

async fn start() -> LoopServer {
    let loops = EventLoops::start(2).unwrap();
    let playlists = Arc::new(Playlists::new(origin::options()).unwrap());
    let state = Arc::new(AppState::new(
        Arc::clone(&playlists),
        HttpOptions::default(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let runtimes = loops.handles().to_vec();
    let task = tokio::spawn({
        let state = Arc::clone(&state);
        async move {
            serve_on(
                listener,
                state,
                async {
                    let _ = stopped.await;
                },
                &runtimes,
            )
            .await
        }
    });
    LoopServer {
        addr,
        playlists,
        state,
        stop,
        task,
        _loops: loops,
    }
}

#[tokio::test]
async fn held_requests_on_every_loop_wake_on_a_publish_from_another_thread() {
    let server = start().await;
    origin::publish(&server.playlists, "cam1", 0, 7); // next: p1.2 (part 7)
    let addr = server.addr;
    // Round-robin: 8 connections put 4 on each loop.
    let held: Vec<_> = (0..8)
        .map(|i| {
            let path = if i % 2 == 0 {
                "/cam1/index.m3u8?_HLS_msn=1&_HLS_part=2"
            } else {
                "/cam1/p7.mp4"
            };
            tokio::spawn(async move { origin::get(addr, path, &[]).await })
        })
        .collect();
    origin::settle().await;
    assert_eq!(server.state.waiting.total(), 8);
    // Published from a plain thread: no runtime at all on the publishing side.
    let playlists = Arc::clone(&server.playlists);
    std::thread::spawn(move || origin::publish(&playlists, "cam1", 7, 1))
        .join()
        .unwrap();
    for (i, h) in held.into_iter().enumerate() {
        let resp = origin::within(h).await.unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        if i % 2 == 0 {
            assert!(origin::lists_part(&resp.text(), 1, 2));
        } else {
            assert_eq!(resp.body, origin::part_bytes("cam1", 7));
        }
    }
    let _ = server.stop.send(());
    origin::within(server.task).await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_answers_held_requests_on_every_loop_and_returns() {
    let server = start().await;
    origin::publish(&server.playlists, "cam1", 0, 7);
    let addr = server.addr;
    let held: Vec<_> = (0..6)
        .map(|_| {
            tokio::spawn(async move {
                origin::get(addr, "/cam1/index.m3u8?_HLS_msn=1&_HLS_part=2", &[]).await
            })
        })
        .collect();
    origin::settle().await;
    assert_eq!(server.state.waiting.total(), 6);
    let _ = server.stop.send(());
    for h in held {
        let resp = origin::within(h).await.unwrap();
        assert_eq!(resp.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    origin::within(server.task).await.unwrap().unwrap();
    assert_eq!(server.state.waiting.total(), 0);
    // Each loop counts its connection closed just after the drain saw it end.
    origin::within(async {
        while server.state.metrics.connections_open() != 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
}
