//! Checking a playback token allocates nothing: it runs on every part request of a signed
//! origin (`playback::PlaybackKey::check`). Counted with a global allocator that counts the
//! allocations of the thread that turns it on, so the test harness's own threads do not
//! disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

use playlists_server::ingest::Secret;
use playlists_server::playback::{Access, PlaybackKey, Refusal};

struct Counting;

thread_local! {
    /// Allocations made on this thread while counting; `None` when not counting.
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: every call is passed on to `System` unchanged; the counter is a thread-local `Cell`
// with a const initializer, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        COUNT.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        COUNT.with(|c| c.set(c.get().map(|n| n + 1)));
        // SAFETY: as `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

#[test]
fn checking_a_token_allocates_nothing_whatever_the_answer() {
    let key = PlaybackKey::new(&Secret::from("s3cret"));
    let now = SystemTime::now();
    let expiry = now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
    let good = format!("_HLS_msn=7&token={}", key.token("/live/", expiry));
    let media = format!("token={}", key.media_token("/live/", expiry));
    let root = format!("token={}", key.token("/", expiry));
    let other = format!("token={}", key.token("/cam2/", expiry));
    let expired = format!("token={}", key.token("/live/", expiry - 3600));
    let cases: [(&str, Option<&str>, Result<(), Refusal>); 7] = [
        ("/live/720p/p123.mp4", Some(&media), Ok(())),
        ("/live/720p/p123.mp4", Some(&good), Ok(())),
        ("/live/720p/p123.mp4", Some(&root), Ok(())),
        (
            "/live/720p/p123.mp4",
            Some(&other),
            Err(Refusal::WrongScope),
        ),
        ("/live/720p/p123.mp4", Some(&expired), Err(Refusal::Expired)),
        (
            "/live/720p/p123.mp4",
            Some("token=12.zz"),
            Err(Refusal::Malformed),
        ),
        ("/live/720p/p123.mp4", None, Err(Refusal::Missing)),
    ];
    for (path, query, want) in cases {
        let mut got = None;
        let n = allocations(|| {
            for _ in 0..1000 {
                got = Some(key.check(path, query, Access::Media, now));
            }
        });
        assert_eq!(got, Some(want), "{path} {query:?}");
        assert_eq!(n, 0, "{path} {query:?}: {n} allocations in 1000 checks");
    }
    // The counter does count: a check that formats its refusal allocates.
    assert!(allocations(|| drop(Refusal::Expired.to_string())) > 0);
}
