//! [`feed`]: the loop every byte-stream source shares (HTTP push, stdin; SRT and DASH-IF
//! next): chunks in, parts out, until the input ends, stalls or the server stops.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use super::{IngestError, IngestSession};
use crate::shutdown::Shutdown;

/// The input of a byte-stream source: an fMP4 stream in chunks of any size and alignment.
///
/// A transport implements it over whatever it reads (a request body, a pipe, a socket); the
/// session splits the chunks into parts, so a chunk need not end on a box boundary.
pub trait ChunkSource {
    /// The next chunk; `None` at the end of the input; an error when the transport failed.
    /// Empty chunks are allowed (HTTP/2 may deliver them).
    fn next_chunk(&mut self) -> impl Future<Output = Option<std::io::Result<Bytes>>>;
}

/// Feeds `input` into `session` until the input ends (the session is finished and its part
/// count returned), the input completes no fragment for `stall_after` (`None`: never cut off),
/// or `stop` begins. On every early end the session is dropped, which counts as a
/// disconnect: the stream enters its grace period, and what was published stays served.
///
/// # Errors
/// Whatever [`IngestSession::push`] or [`IngestSession::finish`] refuses;
/// [`IngestError::Read`] when the transport fails; [`IngestError::Stalled`] after
/// `stall_after` without a new part; [`IngestError::Stopped`] at shutdown.
pub async fn feed(
    mut session: IngestSession,
    input: &mut impl ChunkSource,
    stall_after: Option<Duration>,
    stop: &Shutdown,
) -> Result<u64, IngestError> {
    // A body that trickles bytes (a slow-loris, or an encoder whose source stalled) never
    // trips a read timeout, yet holds a connection and up to a part of buffer: it must
    // complete a part every `stall_after` or it is cut off.
    let deadline_after = |from: tokio::time::Instant| stall_after.map(|s| from + s);
    let mut deadline = deadline_after(tokio::time::Instant::now());
    // Progress is a fragment taken, published or not: a redundant encoder whose copies are
    // all dropped (the other one is ahead) is still alive.
    let mut taken = session.fragments();
    loop {
        let stalled = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let chunk = tokio::select! {
            chunk = input.next_chunk() => chunk,
            () = stalled => {
                return Err(IngestError::Stalled {
                    stream: session.stream().to_owned(),
                    parts: session.parts(),
                    after: stall_after.unwrap_or_default(),
                });
            }
            () = stop.wait() => {
                return Err(IngestError::Stopped {
                    stream: session.stream().to_owned(),
                    parts: session.parts(),
                });
            }
        };
        match chunk {
            None => return session.finish(),
            Some(Ok(chunk)) => {
                session.push(chunk)?;
                if session.fragments() > taken {
                    taken = session.fragments();
                    deadline = deadline_after(tokio::time::Instant::now());
                }
            }
            Some(Err(e)) => {
                return Err(IngestError::Read {
                    stream: session.stream().to_owned(),
                    reason: e.to_string(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use playlists::{Options, Playlists};

    use super::*;
    use crate::ingest::{Access, IngestConfig, IngestErrorKind, Ingests};
    use crate::part_store::PartStore;

    /// An input that sends `chunks`, then never ends.
    struct Silent(Vec<Bytes>);

    impl ChunkSource for Silent {
        async fn next_chunk(&mut self) -> Option<std::io::Result<Bytes>> {
            match self.0.pop() {
                Some(chunk) => Some(Ok(chunk)),
                None => std::future::pending().await,
            }
        }
    }

    fn ingests() -> Arc<Ingests> {
        let playlists = Arc::new(Playlists::new(Options::default()).unwrap());
        Ingests::new(playlists, PartStore::heap(), IngestConfig::default())
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_input_is_cut_off_after_the_stall_limit_only_when_one_is_set() {
        let ingests = ingests();
        let session = ingests.start("quiet", Access::Local).unwrap();
        let stop = Shutdown::default();
        let started = tokio::time::Instant::now();
        let err = feed(
            session,
            &mut Silent(vec![Bytes::from_static(b"\0\0")]),
            Some(Duration::from_secs(5)),
            &stop,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), IngestErrorKind::Stalled, "{err}");
        assert_eq!(started.elapsed(), Duration::from_secs(5));

        // Without a limit only the shutdown ends it.
        let session = ingests.start("quiet", Access::Local).unwrap();
        let stopper = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                stop.begin();
            })
        };
        let err = feed(session, &mut Silent(Vec::new()), None, &stop)
            .await
            .unwrap_err();
        assert!(
            matches!(err, IngestError::Stopped { parts: 0, .. }),
            "{err}"
        );
        assert_eq!(err.kind(), IngestErrorKind::Unavailable);
        stopper.await.unwrap();
    }
}
