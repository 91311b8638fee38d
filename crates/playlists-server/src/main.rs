//! `playlists`: the LL-HLS origin binary. Wiring only; everything lives in the library crates.

use std::sync::Arc;

use anyhow::Context as _;
use playlists::Playlists;
use playlists_server::config::{Cli, Command, Config};
use playlists_server::event_loops::EventLoops;
use playlists_server::http::{serve_link, serve_on, AppState};
use playlists_server::ingest::sources::rtmp::RtmpListener;
use playlists_server::ingest::sources::srt::SrtListener;
use playlists_server::ingest::sources::{demo, stdin};
use playlists_server::ingest::Ingests;
use playlists_server::playback::SharedTokens;
use playlists_server::recording::archive::Archive;
use playlists_server::recording::Recorder;
use playlists_server::shutdown::Shutdown;
use playlists_server::upgrade::{self, Predecessor, UpgradeSocket};
use sd_notify::NotifyState;
use tokio::net::TcpListener;

/// How long a process that takes over waits for its demo stream to be ready before it tells
/// the previous one to stop.
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
                // srt-protocol logs each SRT connection's state changes at info; the SRT
                // source logs what an operator needs (accepted, refused, left) itself.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("info,srt_protocol=warn,srt_tokio=warn")
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let Cli { config, command } = Cli::load()?;
    match &command {
        Some(Command::IngestKey { stream }) => {
            println!("{}", config.ingest_key(stream)?);
            return Ok(());
        }
        Some(Command::Sign {
            secret,
            path,
            ttl,
            base,
        }) => {
            println!(
                "{}",
                config.sign(secret.as_deref(), path, *ttl, base.as_deref())?
            );
            return Ok(());
        }
        _ => {}
    }
    // The layers, built here and handed to each other: the registry, where parts live, the
    // ingest sessions every source feeds, and the one shutdown signal.
    let mut playlists = Playlists::new(config.library_options()).context("library options")?;
    if let Some(key) = config.playback_key() {
        // Signed playback: media playlists carry the shared tokens (see `playback`).
        playlists = playlists.with_uri_query(Arc::new(SharedTokens::new(key)));
    }
    // Recording: every completed segment goes to the recorder's thread.
    let recorder = match config.recording()? {
        Some((dir, retention)) => {
            let archive = match config.archive()? {
                Some(settings) => {
                    let store = settings.store().context("the archive")?;
                    tracing::info!(bucket = %settings.bucket, prefix = %settings.prefix, "archiving recordings");
                    Some(Archive::new(store, &settings.prefix))
                }
                None => None,
            };
            let recorder = Recorder::start(dir.clone(), retention, archive)
                .with_context(|| format!("recording into {}", dir.display()))?;
            playlists = playlists.with_observer(Arc::clone(&recorder) as _);
            Some(recorder)
        }
        None => None,
    };
    let playlists = Arc::new(playlists);
    let parts = config.part_store()?;
    let ingests = Ingests::new(
        Arc::clone(&playlists),
        parts.clone(),
        config.ingest_config()?,
    );
    let shutdown = Shutdown::default();
    let mut state = AppState::new(Arc::clone(&playlists), config.http_options()?)
        .with_parts(parts)
        .with_ingest(Arc::clone(&ingests))
        .with_shutdown(shutdown.clone());
    if let Some(recorder) = &recorder {
        state = state.with_recordings(Arc::clone(recorder.recordings()));
    }
    // RTMP publishing, on its own port; it stops when the server starts shutting down.
    if let Some(rtmp) = rtmp_listener(&config, &ingests, &shutdown).await? {
        tracing::info!("taking RTMP publishing on rtmp://{}/", rtmp.local_addr()?);
        state = state.with_rtmp(Arc::clone(rtmp.stats()));
        tokio::spawn(rtmp.run());
    }
    // SRT publishing, on its own UDP port; likewise.
    if let Some(addr) = config.srt_listen {
        let srt = SrtListener::bind(
            addr,
            Arc::clone(&ingests),
            config.srt_config()?,
            shutdown.clone(),
            // The process of an upgrade binds the port beside this one (see `upgrade`).
            config.upgrade_socket.is_some(),
        )
        .await
        .with_context(|| format!("binding SRT on {addr}"))?;
        tracing::info!("taking SRT publishing on srt://{}", srt.local_addr());
        state = state.with_srt(Arc::clone(srt.stats()));
        tokio::spawn(srt.run());
    }
    let (listener, predecessor) = listen(&config).await?;
    let scheme = if config.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let signalled = shutdown_signal();
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
    // Taken over from a running origin: it stops once this process's own sources can serve
    // (the demo), so that the players moving over find them live.
    let took_over = predecessor.is_some();
    let state = match predecessor {
        Some(predecessor) => {
            let ready = async {
                if config.demo {
                    demo::wait_ready(&playlists, "demo", READY_WITHIN).await;
                }
            };
            match predecessor.stop_when(ready).await {
                Some(link) => state.with_predecessor(link),
                None => state,
            }
        }
        None => state,
    };
    // And the next upgrade takes over from this one.
    let upgrades = UpgradeSocket::bind_if(config.upgrade_socket.as_deref(), &listener);
    // systemd (Type=notify): serving now; after an upgrade this process is the service's main
    // process (deploy/systemd/). Without NOTIFY_SOCKET these are no-ops.
    if took_over {
        notify_systemd(&[NotifyState::MainPid(std::process::id()), NotifyState::Ready]);
    } else {
        notify_systemd(&[NotifyState::Ready]);
    }
    let state = Arc::new(state);
    // Answers the successor's requests (`http::serve_link`) once there is one.
    let (link_tx, link_rx) = tokio::sync::oneshot::channel();
    let stop = {
        let (shutdown, state) = (shutdown.clone(), Arc::clone(&state));
        async move {
            tokio::select! {
                () = signalled => notify_systemd(&[NotifyState::Stopping]),
                link = UpgradeSocket::successor_of(upgrades.as_ref()) => {
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
    if let Some(recorder) = recorder {
        // What is queued is written; the open recordings end as stopped by the shutdown.
        let archive = recorder.recordings().archive().cloned();
        tokio::task::spawn_blocking(move || recorder.close()).await?;
        // Their final indexes and what is still queued go up, for a while: anything left is
        // compared with the store and uploaded at the next start.
        if let Some(archive) = archive {
            let left = archive.drain(SHUTDOWN_UPLOADS).await;
            if left > 0 {
                tracing::warn!(left, "archive uploads left for the next start");
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// How long a stopping origin waits for the archive's uploads.
const SHUTDOWN_UPLOADS: std::time::Duration = std::time::Duration::from_secs(10);

/// The listening socket: taken over from the origin running at `--upgrade-socket`, if one
/// does (`upgrade`), else bound to `--listen`.
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
    let listener = TcpListener::bind(config.listen).await.with_context(|| {
        let hint = if config.upgrade_socket.is_some() {
            ""
        } else {
            " (to replace a running origin without a gap, start both with --upgrade-socket)"
        };
        format!("binding {}{hint}", config.listen)
    })?;
    Ok((listener, None))
}

/// The RTMP listener `config` asks for: `--rtmp-listen` (its bind failing is an error), or
/// the demo's on 127.0.0.1:1935 (a port taken is only logged: the demo runs without it).
async fn rtmp_listener(
    config: &Config,
    ingests: &Arc<Ingests>,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<RtmpListener>> {
    let Some((addr, optional)) = config.rtmp_listen() else {
        return Ok(None);
    };
    let bound = RtmpListener::bind(
        addr,
        Arc::clone(ingests),
        config.rtmp_config()?,
        shutdown.clone(),
    )
    .await;
    match bound {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if optional => {
            tracing::info!(%addr, error = %e, "the demo takes no RTMP: the port is not free");
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("binding RTMP on {addr}")),
    }
}

/// Tells systemd `states` when it started this process with `Type=notify`; a failure to is
/// not the service's failure.
fn notify_systemd(states: &[NotifyState<'_>]) {
    // `false`: keep NOTIFY_SOCKET, for the later notifications (and no environment writes
    // while other threads run).
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Listens for SIGINT (Ctrl-C) and SIGTERM from the call on, and completes on the first.
///
/// Not an `async fn`: the handlers are installed when it is called, not when the future is
/// first polled. It is called before the listening address is logged, so a supervisor (or a
/// test) that signals as soon as it reads that line is heard rather than killed by the
/// default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let listen = |kind: SignalKind, name: &'static str| {
            let installed = signal(kind);
            async move {
                match installed {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for {name}");
                        std::future::pending::<()>().await;
                    }
                }
            }
        };
        let (int, term) = (
            listen(SignalKind::interrupt(), "SIGINT"),
            listen(SignalKind::terminate(), "SIGTERM"),
        );
        async move {
            tokio::select! {
                () = int => {}
                () = term => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    }
}
