//! One player's HTTP/1.1 connection, kept alive across requests, and how its failures are
//! named in the report.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{anyhow, Context};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::stats::Stats;
use super::{Failure, Kind, Step};

/// One HTTP/1.1 connection kept alive across requests, as a player's fetch loop would.
pub(crate) struct Conn {
    authority: String,
    sender: SendRequest<Empty<Bytes>>,
    /// Whether a request was answered on it: only then may a close be the server's keep-alive
    /// race, which a browser answers by sending the request again.
    reused: bool,
}

impl Conn {
    pub(crate) async fn open(authority: &str) -> Step<Self> {
        let tcp = TcpStream::connect(authority)
            .await
            .with_context(|| format!("connect {authority}"))
            .kind("connect")?;
        tcp.set_nodelay(true)
            .map_err(|e| Failure::new("connect", e.into()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| Failure::new("connect", e.into()))?;
        tokio::spawn(conn);
        Ok(Self {
            authority: authority.to_owned(),
            sender,
            reused: false,
        })
    }

    async fn reopen(&mut self) -> Step<()> {
        *self = Self::open(&self.authority).await?;
        Ok(())
    }

    /// GET `path`. A kept-alive connection the origin closed before answering (its idle
    /// timeout, or a drain after it handed its socket to a new process) gets the request sent
    /// again on a new connection, once, as browsers do for idempotent requests (RFC 9110
    /// §9.2.2); `stats.retries` counts those.
    pub(crate) async fn get(&mut self, path: &str, stats: &Stats) -> Step<Bytes> {
        if self.sender.ready().await.is_err() {
            // The origin closed the connection while it was idle: a player reconnects.
            self.reopen().await?;
        }
        let resp = match self.send(path).await {
            Err(e) if self.reused && (e.is_incomplete_message() || e.is_canceled()) => {
                stats.retries.fetch_add(1, Ordering::Relaxed);
                self.reopen().await?;
                self.send(path).await
            }
            sent => sent,
        }
        .map_err(|e| {
            let kind = match e {
                SendError::Timeout => "timeout",
                SendError::Http(_) => "http",
                SendError::Other(_) => "request",
            };
            Failure::new(kind, anyhow!("GET {path}: {e}"))
        })?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::new("http", anyhow!("GET {path}: body: {e}")))?
            .to_bytes();
        self.reused = true;
        if !status.is_success() {
            return Err(Failure::new(
                status_kind(status),
                anyhow!(
                    "GET {path}: {status} {}",
                    String::from_utf8_lossy(&body).trim()
                ),
            ));
        }
        Ok(body)
    }

    /// Sends a GET and waits for the response head, at most 20 s.
    async fn send(
        &mut self,
        path: &str,
    ) -> std::result::Result<http::Response<hyper::body::Incoming>, SendError> {
        let req = http::Request::get(path)
            .header(http::header::HOST, &self.authority)
            .body(Empty::new())
            .map_err(|e| SendError::Other(e.into()))?;
        tokio::time::timeout(Duration::from_secs(20), self.sender.send_request(req))
            .await
            .map_err(|_| SendError::Timeout)?
            .map_err(SendError::Http)
    }
}

/// Why a request got no response.
#[derive(Debug)]
enum SendError {
    Http(hyper::Error),
    Timeout,
    Other(anyhow::Error),
}

impl SendError {
    fn is_incomplete_message(&self) -> bool {
        matches!(self, Self::Http(e) if e.is_incomplete_message())
    }

    fn is_canceled(&self) -> bool {
        matches!(self, Self::Http(e) if e.is_canceled())
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(e) => e.fmt(f),
            Self::Timeout => f.write_str("no answer within 20 s"),
            Self::Other(e) => e.fmt(f),
        }
    }
}

fn status_kind(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "status_400",
        404 => "status_404",
        409 => "status_409",
        500 => "status_500",
        503 => "status_503",
        _ => "status_other",
    }
}
