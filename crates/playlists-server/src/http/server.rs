//! [`serve`] and [`serve_on`]: the accept loop and the graceful drain.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{conn, AppState};

/// Serves HTTP/1.1 and HTTP/2 (h2c by prior knowledge, or h2 by ALPN over TLS when
/// [`HttpOptions::tls`](super::HttpOptions::tls) is set) on `listener` until `shutdown` completes, then drains.
/// Connections are served on the current runtime; see [`serve_on`] to spread them.
///
/// # Errors
/// None in practice: accept errors (such as running out of file descriptors) are logged and
/// retried after a pause, since they are transient for a server.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_on(listener, state, shutdown, &[]).await
}

/// [`serve`], with each accepted connection handed, round-robin, to one of `runtimes` (the
/// current runtime when empty), where it lives until it closes.
///
/// With one single-threaded runtime per core (see [`crate::event_loops`]) every connection
/// stays on one thread, as in nginx's worker model: no work-stealing, no cross-thread wakes
/// for its I/O. On the 2-core bench machine, with the load generator on the same cores, that
/// served 8 % more playlist requests per second than one work-stealing runtime, and 1–17 %
/// more part requests (alternating runs of `bench_origin` under wrk).
///
/// # Errors
/// As [`serve`].
pub async fn serve_on(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()>,
    runtimes: &[tokio::runtime::Handle],
) -> std::io::Result<()> {
    let mut next_runtime = 0usize;
    let builders = Arc::new(conn::Builders::new(&state.opts));
    let tls = state.opts.tls.clone().map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning on a full table.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Parts and playlists are small and latency-bound: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        state.metrics.connection_opened();
        let watcher = graceful.watcher();
        let state = Arc::clone(&state);
        let builders = Arc::clone(&builders);
        let tls = tls.clone();
        // Takes the socket, or why it could not be handed over to its runtime.
        let connection = move |tcp: std::io::Result<tokio::net::TcpStream>| async move {
            let tcp = match tcp {
                Ok(tcp) => tcp,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot hand a connection over to its runtime");
                    state.metrics.connection_failed();
                    state.metrics.connection_closed();
                    return;
                }
            };
            let result = match tls {
                None => conn::serve_tcp(&builders, &state, watcher, tcp).await,
                // Boxed: a TLS connection's state is large, and an unboxed branch would make
                // every plain connection's task as large as a TLS one.
                Some(acceptor) => {
                    Box::pin(conn::serve_tls(&builders, &state, watcher, tcp, acceptor)).await
                }
            };
            if let Err(e) = result {
                state.metrics.connection_failed();
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            state.metrics.connection_closed();
        };
        if runtimes.is_empty() {
            tokio::spawn(connection(Ok(tcp)));
            continue;
        }
        let runtime = &runtimes[next_runtime % runtimes.len()];
        next_runtime = next_runtime.wrapping_add(1);
        // The socket moves to the other runtime's reactor: deregistered here, registered
        // there (two epoll_ctl calls, once per connection).
        let std = tcp.into_std();
        runtime.spawn(async move {
            connection(std.and_then(tokio::net::TcpStream::from_std)).await;
        });
    }
    drop(listener);
    // Idle connections close now; busy ones after the response they are writing.
    let mut drained = pin!(graceful.shutdown());
    let all_closed =
        state.shutdown.is_handed_over() && hand_over_drain(&state, drained.as_mut()).await;
    tracing::info!("shutting down: answering held requests, draining connections");
    state.shutdown.begin();
    if !all_closed
        && tokio::time::timeout(state.opts.shutdown_grace, drained)
            .await
            .is_err()
    {
        tracing::warn!(
            grace = ?state.opts.shutdown_grace,
            "connections still open after the shutdown grace period; closing them"
        );
    }
    Ok(())
}

/// The first phase of the drain after a hand-over ([`Shutdown::hand_over`]): another process
/// accepts now, and the players connected here should move to it without an error.
///
/// The sources go on for a while, so a held request (the next part, the playlist that lists
/// it) is answered when its part arrives, within a part duration, and not with a 503 the
/// player would have to recover from; its connection then closes, and the player's next
/// request reaches the new process. Once only encoders' connections are left (or after
/// [`HttpOptions::shutdown_grace`](super::HttpOptions::shutdown_grace)), the caller begins
/// the shutdown: the sources stop and the encoders reconnect, to the new process.
///
/// Returns whether every connection has closed already (`drained` has completed).
///
/// [`Shutdown::hand_over`]: crate::shutdown::Shutdown::hand_over
async fn hand_over_drain(state: &AppState, drained: Pin<&mut impl Future<Output = ()>>) -> bool {
    tracing::info!("another process accepts now: answering what is held here, then stopping");
    // Polled: the counts change on every connection's own runtime, and this runs once per
    // process life, for at most a few part durations.
    let players_gone = async {
        while !state.only_encoders_connected() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let grace = state.opts.shutdown_grace;
    tokio::select! {
        () = drained => true,
        () = players_gone => false,
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "players still connected after the shutdown grace period");
            false
        }
    }
}
