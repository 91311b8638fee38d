//! [`Body`]: response bodies made of shared [`Bytes`], never copied.
//!
//! A part, an init section or a cached playlist is one `Bytes`; a segment is the `Bytes` of
//! its parts one after another (written as successive frames, so the segment is never
//! concatenated into a new buffer); a range is `Bytes::slice`s of those. hyper learns the
//! exact length from [`size_hint`](hyper::body::Body::size_hint) and sends `Content-Length`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

/// A response body: nothing, one buffer, or a sequence of buffers sent in order.
#[derive(Debug, Default)]
pub struct Body {
    chunks: Chunks,
    /// Bytes not yet handed to hyper; the exact size hint.
    remaining: u64,
}

/// The buffers still to send. One buffer (a part, a playlist: nearly every response) is held
/// inline, so such a body allocates nothing.
#[derive(Debug, Default)]
enum Chunks {
    #[default]
    Done,
    One(Bytes),
    Many(VecDeque<Bytes>),
}

/// Headers a media or playlist answer carries at most: its own (type, caching, validator,
/// coding or range) and the two CORS headers.
const ANSWER_HEADERS: usize = 8;

impl Body {
    /// A `200` response with this body and room for the headers of an answer, so that
    /// adding them allocates the map once instead of regrowing it on the hot path.
    pub fn into_answer(self) -> http::Response<Body> {
        let mut resp = http::Response::new(self);
        *resp.headers_mut() = http::HeaderMap::with_capacity(ANSWER_HEADERS);
        resp
    }

    /// An empty body (`Content-Length: 0`).
    pub fn empty() -> Self {
        Self::default()
    }

    /// A body of one buffer, shared, not copied.
    pub fn one(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            return Self::empty();
        }
        Self {
            remaining: bytes.len() as u64,
            chunks: Chunks::One(bytes),
        }
    }

    /// A body of several buffers sent one after another; empty buffers are skipped. One
    /// buffer (a part, or a range inside one) is held inline, as by [`Body::one`].
    pub fn many(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let mut chunks = chunks.into_iter().filter(|b| !b.is_empty());
        let Some(first) = chunks.next() else {
            return Self::empty();
        };
        let Some(second) = chunks.next() else {
            return Self::one(first);
        };
        let mut queue = VecDeque::from([first, second]);
        queue.extend(chunks);
        let remaining = queue.iter().map(|b| b.len() as u64).sum();
        Self {
            chunks: Chunks::Many(queue),
            remaining,
        }
    }

    /// Total length in bytes.
    pub fn len(&self) -> u64 {
        self.remaining
    }

    /// Whether the body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Self::one(Bytes::from_static(text.as_bytes()))
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Self::one(Bytes::from(text))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let next = match &mut this.chunks {
            Chunks::Done => None,
            Chunks::One(_) => match std::mem::take(&mut this.chunks) {
                Chunks::One(bytes) => Some(bytes),
                _ => None,
            },
            Chunks::Many(queue) => queue.pop_front(),
        };
        match next {
            Some(chunk) => {
                this.remaining -= chunk.len() as u64;
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            None => {
                this.chunks = Chunks::Done;
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn frames_are_the_given_buffers_in_order() {
        let a = Bytes::from_static(b"abc");
        let b = Bytes::from_static(b"de");
        let body = Body::many([a.clone(), Bytes::new(), b.clone()]);
        assert_eq!(body.len(), 5);
        let mut body = body;
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        // The very same buffer, not a copy.
        assert_eq!(first.as_ptr(), a.as_ptr());
        assert_eq!(hyper::body::Body::size_hint(&body).exact(), Some(2));
        let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(second.as_ptr(), b.as_ptr());
        assert!(body.frame().await.is_none());

        // One buffer given to `many` is held inline too (no queue to allocate).
        assert!(matches!(
            Body::many([Bytes::new(), a.clone()]).chunks,
            Chunks::One(_)
        ));
        assert!(matches!(Body::many([Bytes::new()]).chunks, Chunks::Done));

        let mut one = Body::one(a.clone());
        assert_eq!(hyper::body::Body::size_hint(&one).exact(), Some(3));
        let first = one.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.as_ptr(), a.as_ptr());
        assert!(hyper::body::Body::is_end_stream(&one));
        assert!(one.frame().await.is_none());
    }
}
