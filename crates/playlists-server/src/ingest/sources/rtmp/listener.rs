//! [`RtmpListener`]: accepts RTMP connections, within the connection cap, until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};

use super::stats::{Refusal, RtmpStats};
use super::{connection, RtmpConfig, Shared};
use crate::ingest::Ingests;
use crate::shutdown::Shutdown;

/// A bound RTMP listener; [`run`](Self::run) serves it.
#[derive(Debug)]
pub struct RtmpListener {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl RtmpListener {
    /// Binds `addr` (port 0: any free port, see [`local_addr`](Self::local_addr)) for
    /// publishing into `ingests`, until `shutdown` begins. With
    /// [`RtmpConfig::reuse_port`] (Unix), the port is bound with `SO_REUSEPORT`, so that a
    /// process upgrading this one binds it too.
    ///
    /// # Errors
    /// The bind's.
    pub async fn bind(
        addr: SocketAddr,
        ingests: Arc<Ingests>,
        config: RtmpConfig,
        shutdown: Shutdown,
    ) -> std::io::Result<Self> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        // An upgrade without a gap (`--upgrade-socket`) starts the new process while the old
        // one still listens: both bind the port, and the kernel hands new encoders to either
        // until the old one stops. (The HTTP socket is handed over instead; an RTMP
        // connection is one encoder's, and reconnects if it lands on the old process.)
        // Only then: otherwise a second origin on the same port would share its encoders.
        #[cfg(unix)]
        if config.reuse_port {
            socket.set_reuseport(true)?;
        }
        socket.bind(addr)?;
        let listener = socket.listen(1024)?;
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                ingests,
                config,
                stats: Arc::new(RtmpStats::default()),
                shutdown,
            }),
        })
    }

    /// The address bound.
    ///
    /// # Errors
    /// The socket's.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The source's figures, for `/metrics` ([`AppState::with_rtmp`](crate::http::AppState::with_rtmp)).
    pub fn stats(&self) -> &Arc<RtmpStats> {
        &self.shared.stats
    }

    /// Accepts connections until the shutdown begins; each is served by a task of its own,
    /// which also stops at shutdown. A connection over the cap is closed at once, counted
    /// ([`Refusal::Connections`]) and logged.
    pub async fn run(self) {
        let shared = self.shared;
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = shared.shutdown.wait() => return,
            };
            let (socket, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: the next accept may work, after
                    // a pause that keeps this from spinning.
                    tracing::warn!(error = %e, "RTMP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            shared.stats.count_connection();
            // Counted here, before the task runs: the cap holds however fast peers connect.
            if shared.stats.open() >= shared.config.max_connections as u64 {
                shared.stats.count_refusal(Refusal::Connections);
                tracing::warn!(
                    %peer,
                    limit = shared.config.max_connections,
                    "RTMP connection refused: every connection slot is taken"
                );
                drop(socket);
                continue;
            }
            let open = shared.stats.open_guard();
            let _ = socket.set_nodelay(true);
            tokio::spawn(connection::run(socket, peer, Arc::clone(&shared), open));
        }
    }
}
