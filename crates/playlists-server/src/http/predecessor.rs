//! The link between the two processes of an upgrade ([`crate::upgrade`]), once the new one
//! serves: over the Unix connection the hand-over used, the new process asks the old one for
//! media it does not have.
//!
//! Players move to the new process one connection at a time, and a playlist from the old
//! process may send a player to the new one for a part only the old one has (its numbers are
//! not the new process's: [docs/conformance.md R34]). Without the link that request would be
//! a 404 and a lost part, which hls.js answers with a stall. So a part, segment or init
//! section request the new process answers 404 is asked of the old process, whose answer (when
//! it has the bytes) is served instead. The old process answers on the link while it drains
//! and a little after ([`serve_link`]); playlists are never asked for, because players should
//! move to the new process's.
//!
//! HTTP/2 over the one connection: requests from every event loop share it, multiplexed.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http2::SendRequest;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::UnixStream;
use tokio::time::Instant;

use super::body::Body;
use super::request_head::RequestHead;
use super::{router, AppState};

/// How long the old process keeps answering on the link after its last request there.
/// Players that moved have asked for what they lacked within a part or two.
const LINGER: Duration = Duration::from_secs(2);
/// How long the new process waits for the old one's answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// The new process's end of the link: asks the old process for media by path.
#[derive(Debug, Clone)]
pub struct PredecessorLink {
    sender: SendRequest<Empty<Bytes>>,
}

impl PredecessorLink {
    /// Speaks HTTP/2 over `link`, the hand-over connection to the old process.
    ///
    /// # Errors
    /// When the HTTP/2 handshake fails (the old process is gone).
    pub async fn connect(link: UnixStream) -> Result<Self, hyper::Error> {
        let (sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .handshake(TokioIo::new(link))
            .await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "link to the previous process closed");
            }
        });
        Ok(Self { sender })
    }

    /// The old process's answer to `head`, if it has the resource (2xx or 304); `None` when
    /// it has not, or is gone.
    pub(super) async fn ask(&self, head: &RequestHead) -> Option<Response<Body>> {
        if self.sender.is_closed() {
            return None;
        }
        let mut req = Request::builder()
            .method(head.method.clone())
            .uri(format!("http://predecessor{}", head.path_and_query()));
        for (name, value) in &head.headers {
            req = req.header(name, value);
        }
        let req = req.body(Empty::new()).ok()?;
        let mut sender = self.sender.clone();
        let answer = async {
            let resp = sender.send_request(req).await.ok()?;
            if !(resp.status().is_success() || resp.status() == StatusCode::NOT_MODIFIED) {
                return None;
            }
            let (parts, body) = resp.into_parts();
            let bytes = body.collect().await.ok()?.to_bytes();
            Some(Response::from_parts(parts, Body::one(bytes)))
        };
        let mut resp = tokio::time::timeout(ASK_TIMEOUT, answer).await.ok()??;
        // Computed again by hyper for this connection.
        resp.headers_mut().remove(http::header::CONTENT_LENGTH);
        resp.headers_mut()
            .insert("x-served-by", HeaderValue::from_static("previous-process"));
        Some(resp)
    }
}

/// The old process's end: answers requests on `link` with the router, until the new process
/// closes it, or no request came for 2 s after the shutdown began, or the shutdown
/// grace period has passed.
pub async fn serve_link(state: Arc<AppState>, link: UnixStream) {
    let started = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let service = {
        let (state, last) = (Arc::clone(&state), Arc::clone(&last));
        service_fn(move |req| {
            let (state, last) = (Arc::clone(&state), Arc::clone(&last));
            async move {
                let since = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                last.store(since, Ordering::Relaxed);
                Ok::<_, Infallible>(router::handle(state, req).await)
            }
        })
    };
    let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(link), service);
    let mut connection = std::pin::pin!(connection);
    let grace = state.opts.shutdown_grace;
    let idle = async {
        loop {
            tokio::time::sleep(LINGER / 4).await;
            let last = Duration::from_millis(last.load(Ordering::Relaxed));
            let quiet = started.elapsed().saturating_sub(last);
            if state.shutdown.is_started() && quiet >= LINGER || started.elapsed() >= grace {
                return;
            }
        }
    };
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "link to the new process closed");
            }
        }
        () = idle => connection.as_mut().graceful_shutdown(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpOptions;
    use crate::ingest::sources::demo::run_demo;
    use crate::ingest::{IngestConfig, Ingests};
    use crate::part_store::PartStore;

    /// An old process with a live stream (the demo clip) behind one end of a link, and a new
    /// process without it behind the other.
    #[tokio::test]
    async fn media_the_new_process_lacks_comes_from_the_old_one() {
        let options = playlists::Options {
            numbering: playlists::Numbering::FromZero,
            ..playlists::Options::default()
        };
        let old_registry = Arc::new(playlists::Playlists::new(options.clone()).unwrap());
        let parts = PartStore::heap();
        let ingests = Ingests::new(
            Arc::clone(&old_registry),
            parts.clone(),
            IngestConfig::default(),
        );
        let old = Arc::new(
            AppState::new(Arc::clone(&old_registry), HttpOptions::default())
                .with_parts(parts)
                .with_ingest(Arc::clone(&ingests)),
        );
        let demo = tokio::spawn({
            let shutdown = old.shutdown.clone();
            async move { run_demo(ingests, "cam", shutdown.wait()).await }
        });
        let get = |state: &Arc<AppState>, path: &str| {
            let req = Request::get(path).body(Empty::<Bytes>::new()).unwrap();
            router::handle(Arc::clone(state), req)
        };
        // Once the stream exists, its next parts are held until they do.
        let deadline = Instant::now() + Duration::from_secs(10);
        old_registry.wait_stream("cam", deadline).await.unwrap();
        let direct = get(&old, "/cam/p1.mp4").await;
        assert_eq!(direct.status(), StatusCode::OK);
        let direct = direct.into_body().collect().await.unwrap().to_bytes();

        let (new_end, old_end) = UnixStream::pair().unwrap();
        let served = tokio::spawn(serve_link(Arc::clone(&old), old_end));
        let link = PredecessorLink::connect(new_end).await.unwrap();
        let new_registry = Arc::new(playlists::Playlists::new(options).unwrap());
        let new =
            Arc::new(AppState::new(new_registry, HttpOptions::default()).with_predecessor(link));
        let resp = get(&new, "/cam/p1.mp4").await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["x-served-by"], "previous-process");
        assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), direct);
        // What neither has stays a 404, and playlists are never asked for.
        assert_eq!(
            get(&new, "/other/p1.mp4").await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&new, "/cam/index.m3u8").await.status(),
            StatusCode::NOT_FOUND
        );
        // The old process stops answering once it shuts down and the link is quiet.
        old.shutdown.begin();
        tokio::time::timeout(Duration::from_secs(10), served)
            .await
            .unwrap()
            .unwrap();
        let _ = demo.await;
        assert_eq!(
            get(&new, "/cam/p1.mp4").await.status(),
            StatusCode::NOT_FOUND
        );
    }
}
