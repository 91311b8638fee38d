//! Upgrades without a gap: a new `playlists` process takes over the listening socket of the
//! running one, which then finishes what it holds and exits (`--upgrade-socket PATH`).
//!
//! ```text
//!  running origin (old)                          new origin, started with the same flags
//!  listens on PATH (a Unix socket) ◀──connect──  take_over(PATH)
//!  sends its TCP listener (SCM_RIGHTS) ────────▶ starts its sources, waits until they are ready
//!                                                serves on the same listener
//!  ◀──────────────────────────────────"S"─────── Predecessor::stop
//!  stops accepting; lets held requests be         binds PATH for the next upgrade
//!  answered as its streams go on, then stops
//!  its sources (encoders reconnect: to the new
//!  process) and exits
//! ```
//!
//! One socket, shared by both processes for a moment, is what makes it gapless: its accept
//! queue belongs to the socket, so every connection is accepted by one process or the other,
//! and none is lost at the switch. Two sockets bound with `SO_REUSEPORT` would each have a
//! queue of their own, and the connections waiting in the old one's when it closes are reset.
//! (nginx's binary upgrade and HAProxy's `-x` hand sockets over for the same reason.)
//!
//! The old process drains as `http::serve_on` describes for a hand-over: its connections
//! close after the request they are serving, so players' next requests reach the new process.
//! The procedure, with its commands, is in `deploy/README.md`.
//!
//! The protocol is one byte each way plus the descriptor (`SCM_RIGHTS`, Linux only), private
//! to two builds of this binary. A new process that fails before it says "stop" changes nothing: the old one goes
//! on serving and waits for the next successor.

use std::future::Future;
use std::io;
#[cfg(target_os = "linux")]
use std::io::{IoSlice, IoSliceMut};
#[cfg(target_os = "linux")]
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(target_os = "linux")]
use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{UnixListener, UnixStream};

use crate::http::PredecessorLink;

/// What the old process sends with the listener's descriptor.
const LISTENER: u8 = b'L';
/// What the new process sends once it serves: the old one may stop accepting.
const STOP: u8 = b'S';
/// How long a new process waits for the running one to send its listener. It answers at once
/// unless it is busy handing over to another successor.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an upgrade hand-over failed.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// The upgrade socket could not be created, reached or used.
    #[error("upgrade socket {path}: {source}")]
    Socket {
        /// The `--upgrade-socket` path.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The process listening on the upgrade socket did not send a listening socket in time.
    #[error("upgrade socket {path}: the running origin sent no listening socket ({reason})")]
    NoListener {
        /// The `--upgrade-socket` path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Handing a socket over is implemented on Linux only.
    #[error("--upgrade-socket: handing the listening socket over is implemented on Linux only")]
    Unsupported,
    /// The running origin listens elsewhere than this process was told to (`--listen`).
    #[error("the running origin listens on {running}, not on {wanted} (--listen)")]
    Address {
        /// Where the running origin's socket is bound.
        running: SocketAddr,
        /// This process's `--listen`.
        wanted: SocketAddr,
    },
}

/// The running origin a new process took the listener from; told to stop once the new one
/// serves.
#[derive(Debug)]
pub struct Predecessor {
    conn: UnixStream,
}

impl Predecessor {
    /// Tells the old process that this one accepts connections now: it stops accepting and
    /// drains. Returns the connection, on which the old process then answers HTTP/2 for a
    /// while ([`PredecessorLink`]).
    ///
    /// # Errors
    /// When the old process is gone (it then accepts nothing either).
    pub async fn stop(mut self) -> io::Result<UnixStream> {
        self.conn.write_all(&[STOP]).await?;
        self.conn.flush().await?;
        Ok(self.conn)
    }

    /// Once `ready` completes (this process's own sources can serve: players moving over
    /// should find them live), tells the old process to stop and opens the link to it. Until
    /// then the old process goes on accepting; connections wait in the shared queue between
    /// the two, so none is lost. `None` when the old process went away meanwhile.
    pub async fn stop_when(self, ready: impl Future<Output = ()>) -> Option<PredecessorLink> {
        ready.await;
        let conn = self
            .stop()
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "the previous origin went away before it was told to stop"))
            .ok()?;
        PredecessorLink::connect(conn)
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "no link to the previous origin"))
            .ok()
    }
}

/// Takes over the listening socket of the origin serving the upgrade socket at `path`,
/// checked to be bound to `wanted`.
///
/// `Ok(None)` when no origin serves `path` (no file there, or one left by a process that is
/// gone): bind the address as usual.
///
/// # Errors
/// When `path` exists but cannot be used, the running origin does not hand a listener over,
/// or listens on another address than `wanted`.
pub async fn take_over(
    path: &Path,
    wanted: SocketAddr,
) -> Result<Option<(tokio::net::TcpListener, Predecessor)>, UpgradeError> {
    if !cfg!(target_os = "linux") {
        return Err(UpgradeError::Unsupported);
    }
    let conn = match UnixStream::connect(path).await {
        Ok(conn) => conn,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(source) => {
            return Err(UpgradeError::Socket {
                path: path.to_owned(),
                source,
            })
        }
    };
    let no_listener = |reason: String| UpgradeError::NoListener {
        path: path.to_owned(),
        reason,
    };
    let fd = tokio::time::timeout(HANDSHAKE_TIMEOUT, receive_listener(&conn))
        .await
        .map_err(|_| no_listener(format!("nothing within {HANDSHAKE_TIMEOUT:?}")))?
        .map_err(|e| no_listener(e.to_string()))?;
    let listener = std::net::TcpListener::from(fd);
    let running = listener
        .local_addr()
        .map_err(|e| no_listener(format!("not a TCP listener: {e}")))?;
    if !same_address(running, wanted) {
        return Err(UpgradeError::Address { running, wanted });
    }
    listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
        .map(|listener| Some((listener, Predecessor { conn })))
        .map_err(|e| no_listener(e.to_string()))
}

/// Whether a socket bound to `running` serves `--listen wanted`: the same address, where port
/// 0 (any port) matches whatever port the running origin was given.
fn same_address(running: SocketAddr, wanted: SocketAddr) -> bool {
    running.ip() == wanted.ip() && (wanted.port() == 0 || running.port() == wanted.port())
}

/// Reads the one byte and the descriptor the running origin sends.
async fn receive_listener(conn: &UnixStream) -> io::Result<OwnedFd> {
    loop {
        conn.readable().await?;
        match conn.try_io(Interest::READABLE, || receive_fd(conn.as_fd())) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            result => return result,
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn receive_fd(_: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(not(target_os = "linux"))]
fn send_fd(_: BorrowedFd<'_>, _: BorrowedFd<'_>) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(target_os = "linux")]
fn receive_fd(conn: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut tag = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    // CLOEXEC: the listener must not leak into processes this one spawns (ffmpeg in tests).
    let got = recvmsg(
        conn,
        &mut [IoSliceMut::new(&mut tag)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    if got.bytes == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    // Any descriptor not taken here is closed when `control` drops.
    let fd = control.drain().find_map(|message| match message {
        RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
        _ => None,
    });
    match fd {
        Some(fd) if tag[0] == LISTENER => Ok(fd),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "an answer that is not a listening socket",
        )),
    }
}

#[cfg(target_os = "linux")]
fn send_fd(conn: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for the descriptor"));
    }
    sendmsg(
        conn,
        &[IoSlice::new(&[LISTENER])],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// The Unix socket a running origin listens on for its successor.
#[derive(Debug)]
pub struct UpgradeSocket {
    unix: UnixListener,
    path: PathBuf,
    /// A duplicate of the TCP listener's descriptor, to hand over.
    listener: OwnedFd,
}

impl UpgradeSocket {
    /// Listens at `path` to hand `listener` to a successor (Linux only: elsewhere
    /// [`UpgradeError::Unsupported`]).
    ///
    /// The socket file is made readable and writable by the origin's user only. A file
    /// already at `path` (left by a process that is gone, or the predecessor's, which this one
    /// has just told to stop) is replaced by a rename, so that a successor starting at any
    /// moment finds one of the two sockets, never none.
    ///
    /// # Errors
    /// When the socket cannot be created at `path`, or `listener` cannot be duplicated.
    pub fn bind(path: &Path, listener: &tokio::net::TcpListener) -> Result<Self, UpgradeError> {
        let error = |source| UpgradeError::Socket {
            path: path.to_owned(),
            source,
        };
        if !cfg!(target_os = "linux") {
            return Err(UpgradeError::Unsupported);
        }
        let mut staging = path.as_os_str().to_owned();
        staging.push(format!(".{}", std::process::id()));
        let staging = PathBuf::from(staging);
        let _ = std::fs::remove_file(&staging);
        let unix = UnixListener::bind(&staging).map_err(error)?;
        // Whoever connects receives the listening socket: the origin's user only.
        std::fs::set_permissions(
            &staging,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .map_err(error)?;
        std::fs::rename(&staging, path).map_err(error)?;
        let listener = listener.as_fd().try_clone_to_owned().map_err(error)?;
        Ok(Self {
            unix,
            path: path.to_owned(),
            listener,
        })
    }

    /// [`bind`](Self::bind) when `path` is given, logging why not when it fails: the process
    /// serves on without upgrades rather than not at all.
    pub fn bind_if(path: Option<&Path>, listener: &tokio::net::TcpListener) -> Option<Self> {
        Self::bind(path?, listener)
            .inspect_err(
                |e| tracing::error!(error = %e, "no upgrades without a gap for this process"),
            )
            .ok()
    }

    /// Completes once a successor has taken the listener and serves on it: this process
    /// should then stop accepting ([`Shutdown::hand_over`](crate::shutdown::Shutdown::hand_over))
    /// and answer the successor's requests on the returned connection
    /// ([`serve_link`](crate::http::serve_link)). A successor that gives up before that
    /// changes nothing; the next one is served.
    pub async fn successor(&self) -> UnixStream {
        loop {
            let conn = match self.unix.accept().await {
                Ok((conn, _)) => conn,
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "upgrade socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            tracing::info!("a new process asks for the listening socket; handing it over");
            match self.hand_over(conn).await {
                Ok(conn) => {
                    tracing::info!("the new process serves: this one stops accepting and drains");
                    return conn;
                }
                Err(e) => tracing::warn!(error = %e, "the new process gave up; still serving"),
            }
        }
    }

    /// [`successor`](Self::successor) of `socket`; never completes without one.
    pub async fn successor_of(socket: Option<&Self>) -> UnixStream {
        match socket {
            Some(socket) => socket.successor().await,
            None => std::future::pending().await,
        }
    }

    async fn hand_over(&self, mut conn: UnixStream) -> io::Result<UnixStream> {
        loop {
            conn.writable().await?;
            match conn.try_io(Interest::WRITABLE, || {
                send_fd(conn.as_fd(), self.listener.as_fd())
            }) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                result => break result?,
            }
        }
        // No timeout: the successor readies its sources first (the demo's first segment), and
        // until it says so this process goes on serving.
        let mut answer = [0u8; 1];
        conn.read_exact(&mut answer).await?;
        if answer[0] == STOP {
            Ok(conn)
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "an answer that is not `stop`",
            ))
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn socket_path(name: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        (dir, path)
    }

    #[tokio::test]
    async fn no_running_origin_means_bind_as_usual() {
        let (_dir, path) = socket_path("up.sock");
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(take_over(&path, addr).await.unwrap().is_none());
        // A socket file whose process is gone: refused, so the same.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(take_over(&path, addr).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_listener_moves_with_its_queue_and_the_old_side_learns_to_stop() {
        let (_dir, path) = socket_path("up.sock");
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let old = UpgradeSocket::bind(&path, &tcp).unwrap();
        // A client connects before the hand-over and is accepted after it, by the new side:
        // the queue belongs to the socket.
        let early = tokio::net::TcpStream::connect(addr).await.unwrap();
        let successor = tokio::spawn(async move { old.successor().await });
        let (taken, predecessor) = take_over(&path, addr).await.unwrap().unwrap();
        assert_eq!(taken.local_addr().unwrap(), addr);
        drop(tcp);
        let (accepted, _) = taken.accept().await.unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), early.local_addr().unwrap());
        assert!(!successor.is_finished());
        predecessor.stop().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), successor)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn a_successor_that_gives_up_leaves_the_old_side_serving() {
        let (_dir, path) = socket_path("up.sock");
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let old = UpgradeSocket::bind(&path, &tcp).unwrap();
        let successor = tokio::spawn(async move { old.successor().await });
        let (_taken, quitter) = take_over(&path, addr).await.unwrap().unwrap();
        drop(quitter);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!successor.is_finished(), "a quitter stopped the old side");
        let (_taken, next) = take_over(&path, addr).await.unwrap().unwrap();
        next.stop().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), successor)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn another_address_is_refused() {
        let (_dir, path) = socket_path("up.sock");
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let old = UpgradeSocket::bind(&path, &tcp).unwrap();
        let _serving = tokio::spawn(async move { old.successor().await });
        let other = SocketAddr::from(([127, 0, 0, 1], port.wrapping_add(1).max(1)));
        let err = take_over(&path, other).await.unwrap_err();
        assert!(matches!(err, UpgradeError::Address { .. }), "{err}");
        // Port 0 means "whatever port the running origin has".
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        assert!(take_over(&path, any).await.unwrap().is_some());
    }
}
