//! The stdin source: `ffmpeg … -f mp4 - | playlists ingest --stream cam1`, or any other
//! `AsyncRead` carrying an fMP4 stream.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::ingest::{feed, Access, ChunkSource, IngestError, Ingests};
use crate::shutdown::Shutdown;

/// Ingests everything `reader` yields into `stream` until the end of the input (or `stop`),
/// as a local source (no token). Returns the number of parts published.
///
/// # Errors
/// As [`Ingests::start`] and [`feed`]; no stall limit applies (a pipe may pause as long as
/// its producer likes).
pub async fn ingest_reader<R: AsyncRead + Unpin>(
    ingests: &Arc<Ingests>,
    stream: &str,
    reader: R,
    stop: &Shutdown,
) -> Result<u64, IngestError> {
    let session = ingests.start(stream, Access::Local)?;
    feed(
        session,
        &mut Reader {
            reader,
            buf: BytesMut::new(),
        },
        None,
        stop,
    )
    .await
}

/// An `AsyncRead` as a [`ChunkSource`].
struct Reader<R> {
    reader: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> ChunkSource for Reader<R> {
    async fn next_chunk(&mut self) -> Option<std::io::Result<Bytes>> {
        // 64 KiB reads: a 200 ms part of a few Mbit/s arrives in one or two reads. Each read is
        // frozen and handed over whole, so units inside it are not copied again.
        self.buf.reserve(64 * 1024);
        match self.reader.read_buf(&mut self.buf).await {
            Ok(0) => None,
            Ok(_) => Some(Ok(self.buf.split().freeze())),
            Err(e) => Some(Err(e)),
        }
    }
}
