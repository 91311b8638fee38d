//! [`map_file`]: a file on disk as a `Bytes` that [`ZeroCopyStream`](super::ZeroCopyStream)
//! sends with `sendfile`, as it sends parts from the arena: a recording's segments and init
//! sections (the DVR window's old segments, recordings played as VOD) go from the page cache
//! to the socket without being read into memory or copied.
//!
//! The file is mapped read-only and shared; the mapping and the file are the `Bytes`'s owner,
//! so they live as long as any slice of it (queued in hyper, say). While they live, the
//! mapping is in a process-wide table, which the socket wrapper asks which file and offset a
//! slice it is given comes from. Files served this way are never written again or truncated
//! (a recording's files are renamed into place whole and only ever removed, which leaves a
//! mapping intact), so the mapping never changes under a reader.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use rustix::mm::{MapFlags, ProtFlags};

/// Mappings alive, by start address: their length and file.
static MAPPED: RwLock<BTreeMap<usize, (usize, Arc<File>)>> = RwLock::new(BTreeMap::new());
/// How many; the socket wrapper skips the table while there are none (the common case).
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// One mapping of a whole file, unmapped on drop.
struct Mapping {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is read-only and its memory lives until drop; the pointer is only
// read through `as_ref`, from any thread.
unsafe impl Send for Mapping {}
// SAFETY: as above: nothing writes through `base`.
unsafe impl Sync for Mapping {}

impl AsRef<[u8]> for Mapping {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `base` maps `len` readable bytes until `self` is dropped, and the file
        // behind them is never written or truncated while mapped (see the module docs).
        unsafe { std::slice::from_raw_parts(self.base.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let start = self.base.as_ptr() as usize;
        if MAPPED
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&start)
            .is_some()
        {
            COUNT.fetch_sub(1, Ordering::Relaxed);
        }
        // SAFETY: unmapping what `map_file` mapped; no slice of it outlives its owner.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// The bytes of the file at `path`, mapped rather than read (see the module docs). An empty
/// file is an empty `Bytes`.
///
/// # Errors
/// Opening or mapping the file failed.
pub fn map_file(path: &Path) -> io::Result<Bytes> {
    let file = File::open(path)?;
    let len = usize::try_from(file.metadata()?.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large to map"))?;
    if len == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: a fresh read-only mapping (null hint) of a file that is not written while
    // mapped (see the module docs).
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ,
            MapFlags::SHARED,
            &file,
            0,
        )?
    };
    let base = NonNull::new(ptr.cast::<u8>())
        .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
    let mapping = Mapping { base, len };
    MAPPED
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(base.as_ptr() as usize, (len, Arc::new(file)));
    COUNT.fetch_add(1, Ordering::Relaxed);
    Ok(Bytes::from_owner(mapping))
}

/// The file and offset `slice` comes from, when it lies inside a mapping of [`map_file`].
pub(super) fn locate(slice: &[u8]) -> Option<(Arc<File>, u64)> {
    if COUNT.load(Ordering::Relaxed) == 0 || slice.is_empty() {
        return None;
    }
    let at = slice.as_ptr() as usize;
    let table = MAPPED.read().unwrap_or_else(PoisonError::into_inner);
    let (&start, (len, file)) = table.range(..=at).next_back()?;
    let offset = at - start;
    (offset.checked_add(slice.len())? <= *len).then(|| (Arc::clone(file), offset as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mapped_file_reads_as_its_bytes_and_its_slices_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.m4s");
        let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let bytes = map_file(&path).unwrap();
        assert_eq!(&bytes[..], &content[..]);
        let middle = bytes.slice(4096..5000);
        let (_, offset) = locate(&middle).expect("a slice of the mapping");
        assert_eq!(offset, 4096);
        // Other memory, and a slice running past the mapping, are not the file's.
        assert!(locate(&content[..10]).is_none());
        let heap = Bytes::from(content.clone());
        assert!(locate(&heap).is_none());
        // The file may go: the mapping stays whole.
        std::fs::remove_file(&path).unwrap();
        assert_eq!(&middle[..], &content[4096..5000]);
        drop(bytes);
        assert!(locate(&middle).is_some(), "a slice keeps the mapping alive");
        let start = middle.as_ptr() as usize - 4096;
        drop(middle);
        let table = MAPPED.read().unwrap();
        assert!(
            !table.contains_key(&start),
            "unregistered once its last slice went"
        );
    }

    #[test]
    fn an_empty_file_is_empty_and_a_missing_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty");
        std::fs::write(&path, b"").unwrap();
        assert!(map_file(&path).unwrap().is_empty());
        let err = map_file(&dir.path().join("missing")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
