//! `playlists`: the LL-HLS origin binary. Wiring only; everything lives in the library crates.

use std::sync::Arc;

use anyhow::Context as _;
#[cfg(not(target_os = "linux"))]
use no_upgrades::{serve_link, Predecessor, UnixStream, UpgradeSocket};
use playlists::{BlockingRequest, Playlists};
use playlists_server::config::{Cli, Command, Config};
use playlists_server::event_loops::EventLoops;
#[cfg(target_os = "linux")]
use playlists_server::http::{serve_link, PredecessorLink};
use playlists_server::http::{serve_on, AppState};
use playlists_server::ingest::sources::{demo, stdin};
use playlists_server::ingest::Ingests;
use playlists_server::shutdown::Shutdown;
#[cfg(target_os = "linux")]
use playlists_server::upgrade::{self, Predecessor, UpgradeSocket};
use tokio::net::TcpListener;
#[cfg(target_os = "linux")]
use tokio::net::UnixStream;

/// How long a process that takes over waits for its demo stream's first two segments before it
/// tells the previous one to stop.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(15);

// See Cargo.toml: held requests cost less resident memory with jemalloc.
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    // One single-threaded event loop per core (see `event_loops`): this thread's, which also
    // accepts connections and runs the sources, and `threads - 1` more.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let Cli { config, command } = Cli::load()?;
    if let Some(Command::IngestKey { stream }) = &command {
        println!("{}", config.ingest_key(stream)?);
        return Ok(());
    }
    // The layers, built here and handed to each other: the registry, where parts live, the
    // ingest sessions every source feeds, and the one shutdown signal.
    let playlists = Arc::new(Playlists::new(config.library_options()).context("library options")?);
    let parts = config.part_store()?;
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        parts.clone(),
        config.ingest_config()?,
    );
    let shutdown = Shutdown::default();
    let state = AppState::new(Arc::clone(&playlists), config.http_options()?)
        .with_parts(parts)
        .with_ingest(Arc::clone(&ingests))
        .with_shutdown(shutdown.clone());
    let (listener, predecessor) = listen(&config).await?;
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!("serving LL-HLS on {scheme}://{}/", listener.local_addr()?);

    // Sources stop when the server starts shutting down.
    if config.demo {
        let (ingests, shutdown) = (Arc::clone(&ingests), shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = demo::run_demo(ingests, "demo", shutdown.wait()).await {
                tracing::error!(error = %e, "demo stream stopped");
            }
        });
    }
    if let Some(Command::Ingest { stream }) = command {
        let (ingests, shutdown) = (Arc::clone(&ingests), shutdown.clone());
        tokio::spawn(async move {
            match stdin::ingest_reader(&ingests, &stream, tokio::io::stdin(), &shutdown).await {
                Ok(parts) => tracing::info!(%stream, parts, "stdin ended; still serving"),
                Err(e) => tracing::error!(error = %e, "stdin ingest stopped"),
            }
        });
    }
    let loops = EventLoops::start(config.event_loops() - 1).context("starting event loops")?;
    let (upgrades, link) = upgrades(&config, &listener, predecessor, &playlists).await;
    #[cfg(target_os = "linux")]
    let state = match link {
        Some(link) => state.with_predecessor(link),
        None => state,
    };
    #[cfg(not(target_os = "linux"))]
    let _: Option<std::convert::Infallible> = link;
    let state = Arc::new(state);
    // Answers the successor's requests (see `http::serve_link`) once there is one.
    let (link_tx, link_rx) = tokio::sync::oneshot::channel();
    let stop = {
        let (shutdown, state) = (shutdown.clone(), Arc::clone(&state));
        async move {
            tokio::select! {
                () = shutdown_signal() => {}
                link = successor(upgrades.as_ref()) => {
                    shutdown.hand_over();
                    let _ = link_tx.send(tokio::spawn(serve_link(state, link)));
                }
            }
        }
    };
    serve_on(listener, Arc::clone(&state), stop, &loops.with_current()).await?;
    if let Ok(link) = link_rx.await {
        let _ = link.await;
    }
    drop(loops);
    tracing::info!("stopped");
    Ok(())
}

/// The listening socket: taken over from the origin running at `--upgrade-socket`, if one
/// does, else bound to `--listen`.
#[cfg(target_os = "linux")]
async fn listen(config: &Config) -> anyhow::Result<(TcpListener, Option<Predecessor>)> {
    if let Some(path) = &config.upgrade_socket {
        if let Some((listener, predecessor)) = upgrade::take_over(path, config.listen).await? {
            tracing::info!(
                "took over the listening socket of the origin running at {}",
                path.display()
            );
            return Ok((listener, Some(predecessor)));
        }
    }
    Ok((bind(config).await?, None))
}

#[cfg(not(target_os = "linux"))]
async fn listen(config: &Config) -> anyhow::Result<(TcpListener, Option<Predecessor>)> {
    if config.upgrade_socket.is_some() {
        anyhow::bail!("--upgrade-socket: socket hand-over is implemented on Linux only");
    }
    Ok((bind(config).await?, None))
}

async fn bind(config: &Config) -> anyhow::Result<TcpListener> {
    TcpListener::bind(config.listen).await.with_context(|| {
        let hint = if config.upgrade_socket.is_some() {
            ""
        } else {
            " (to replace a running origin without a gap, start both with --upgrade-socket)"
        };
        format!("binding {}{hint}", config.listen)
    })
}

/// Makes this process the one a later upgrade takes over from, and, when it took over
/// itself, tells its predecessor to stop, once the sources that start with the process (the
/// demo) are ready to serve, so that players moving over find them live.
#[cfg(target_os = "linux")]
async fn upgrades(
    config: &Config,
    listener: &TcpListener,
    predecessor: Option<Predecessor>,
    playlists: &Playlists,
) -> (Option<UpgradeSocket>, Option<PredecessorLink>) {
    let Some(path) = config.upgrade_socket.as_ref() else {
        return (None, None);
    };
    let mut link = None;
    if let Some(predecessor) = predecessor {
        if config.demo {
            let deadline = tokio::time::Instant::now() + READY_WITHIN;
            // Two complete segments: players move over about a segment behind the new run's
            // edge, and hls.js (1.7) loads parts only from past the first listed part plus
            // the open segment's length; with one complete segment it loaded that whole
            // segment over what it had buffered, then waited for the next one to complete (a
            // stall of 0.35–0.75 s in e2e scenario 13).
            let ready = async {
                let stream = playlists.wait_stream("demo", deadline).await?;
                let first = stream.wait_first_playlist(deadline).await?;
                let next = BlockingRequest {
                    msn: first.position.msn,
                    part: None,
                };
                stream.wait_playlist(next, deadline).await
            };
            if let Err(e) = ready.await {
                tracing::warn!(error = %e, "the demo stream is not ready; taking over anyway");
            }
        }
        // Connections wait in the shared queue until the accept loop runs: none is lost.
        match predecessor.stop().await {
            Ok(conn) => match PredecessorLink::connect(conn).await {
                Ok(connected) => link = Some(connected),
                Err(e) => tracing::warn!(error = %e, "no link to the previous origin"),
            },
            Err(e) => {
                tracing::warn!(error = %e, "the previous origin went away before it was told to stop");
            }
        }
    }
    match UpgradeSocket::bind(path, listener) {
        Ok(socket) => (Some(socket), link),
        Err(e) => {
            tracing::error!(error = %e, "no upgrades without a gap for this process");
            (None, link)
        }
    }
}

#[cfg(not(target_os = "linux"))]
async fn upgrades(
    _: &Config,
    _: &TcpListener,
    _: Option<Predecessor>,
    _: &Playlists,
) -> (Option<UpgradeSocket>, Option<std::convert::Infallible>) {
    (None, None)
}

/// Completes when a new process has taken over the listening socket and serves, with the
/// link to it; never without an upgrade socket.
async fn successor(upgrades: Option<&UpgradeSocket>) -> UnixStream {
    match upgrades {
        Some(socket) => socket.successor().await,
        None => std::future::pending().await,
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Elsewhere than Linux there is no hand-over (`listen` refuses `--upgrade-socket`): types
/// with no values keep the wiring above one piece.
#[cfg(not(target_os = "linux"))]
mod no_upgrades {
    #[derive(Debug)]
    pub enum Predecessor {}
    #[derive(Debug)]
    pub enum UpgradeSocket {}
    #[derive(Debug)]
    pub enum UnixStream {}
    impl UpgradeSocket {
        pub async fn successor(&self) -> UnixStream {
            match *self {}
        }
    }
    pub async fn serve_link<T>(_: T, link: UnixStream) {
        match link {}
    }
}
