//! [`SrtListener`]: takes SRT connection requests, within the connection cap, until
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use srt_tokio::{SrtIncoming, SrtListener as Inner};
use tokio::net::UdpSocket;

use super::stats::SrtStats;
use super::{connection, media, Shared, SrtConfig, SrtError};
use crate::ingest::Ingests;
use crate::shutdown::Shutdown;

/// A bound SRT listener; [`run`](Self::run) serves it.
#[derive(Debug)]
pub struct SrtListener {
    inner: Inner,
    incoming: SrtIncoming,
    local: SocketAddr,
    shared: Arc<Shared>,
}

impl SrtListener {
    /// Binds `addr` (UDP; port 0: any free port, see [`local_addr`](Self::local_addr)) for
    /// publishing into `ingests`, until `shutdown` begins. With `reuse_port` (Unix), the
    /// port is bound with `SO_REUSEPORT`, so that a process upgrading this one binds it too.
    ///
    /// # Errors
    /// The bind's.
    pub async fn bind(
        addr: SocketAddr,
        ingests: Arc<Ingests>,
        config: SrtConfig,
        shutdown: Shutdown,
        reuse_port: bool,
    ) -> std::io::Result<Self> {
        let socket = udp_socket(addr, reuse_port)?;
        let local = socket.local_addr()?;
        let (inner, incoming) = Inner::builder()
            .latency(config.latency)
            .socket(socket)
            .bind(local)
            .await?;
        Ok(Self {
            inner,
            incoming,
            local,
            shared: Arc::new(Shared {
                ingests,
                config,
                stats: Arc::new(SrtStats::default()),
                shutdown,
                new_demux: media::ts_demux,
            }),
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The source's figures, for `/metrics` ([`AppState::with_srt`](crate::http::AppState::with_srt)).
    pub fn stats(&self) -> &Arc<SrtStats> {
        &self.shared.stats
    }

    /// Takes connection requests until the shutdown begins; each is checked and served by a
    /// task of its own, which also stops at shutdown. A request over the cap is refused
    /// (1402), counted and logged.
    pub async fn run(mut self) {
        let shared = self.shared;
        // The listener's own count of datagrams it could not parse: garbage on the port.
        let mut statistics = self.inner.statistics().clone();
        let stats = Arc::clone(&shared.stats);
        let garbage = tokio::spawn(async move {
            while let Some(s) = statistics.next().await {
                stats.set_garbage(s.rx_parse_errors);
            }
        });
        let requests = self.incoming.incoming();
        loop {
            // The listener's task waits on this loop to hand a request over: nothing here
            // may wait on a caller; each request is answered by a task of its own.
            let request = tokio::select! {
                request = requests.next() => request,
                () = shared.shutdown.wait() => break,
            };
            let Some(request) = request else {
                // srt-tokio's listener task ended (a panic in it): no more callers are taken
                // until a restart. Said loudly; the HTTP side and other sources go on.
                tracing::error!(addr = %self.local, "the SRT listener stopped; SRT publishing is off until a restart");
                garbage.abort();
                // Not `close`: it unwraps the ended task's result, a panic here too.
                return;
            };
            shared.stats.count_connection();
            // Counted here, before the task runs: the cap holds however fast callers come.
            if shared.stats.open() >= shared.config.max_connections as u64 {
                let e = SrtError::Connections(shared.config.max_connections);
                tokio::spawn(connection::refuse(request, e, Arc::clone(&shared)));
                continue;
            }
            let open = shared.stats.open_guard();
            tokio::spawn(connection::run(request, Arc::clone(&shared), open));
        }
        garbage.abort();
        // Stops the listener's task, which closes the connections it still holds; bounded,
        // so that a stuck connection cannot hold the shutdown up.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), self.inner.close()).await;
    }
}

/// A UDP socket on `addr`, with `SO_REUSEPORT` if asked for, and receive and send buffers
/// of 1 MB (as srt-tokio's own bind): a burst of retransmissions must not overflow them.
fn udp_socket(addr: SocketAddr, reuse_port: bool) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    // An upgrade without a gap (`--upgrade-socket`) starts the new process while the old
    // one still listens: both bind the port, and the kernel hands new callers to either.
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    #[cfg(not(unix))]
    let _ = reuse_port;
    socket.set_recv_buffer_size(1 << 20)?;
    socket.set_send_buffer_size(1 << 20)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}
