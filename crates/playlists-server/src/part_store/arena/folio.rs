//! How large a folio the kernel may cache shared memory (a memfd) in, read from the
//! transparent-huge-page settings in sysfs: what decides how finely the pages of a
//! shared-memory arena block can be released (see the arena's module doc).

use std::io;
use std::path::Path;

/// Where Linux publishes its transparent-huge-page settings.
const THP: &str = "/sys/kernel/mm/transparent_hugepage";

/// The largest folio this kernel may now make for a memfd: the base page size when every
/// huge-page size is off for shared memory (the default), else the largest size that is on,
/// or may be ([`super::largest_folio_bytes`] when the settings cannot be read or are not
/// understood: the answer must never be too small).
pub(super) fn shmem_folio_bytes() -> usize {
    shmem_folio_bytes_in(Path::new(THP), rustix::param::page_size())
        .unwrap_or_else(super::largest_folio_bytes)
}

/// [`shmem_folio_bytes`] for the settings under `root`; `None` when they are not understood.
///
/// `shmem_enabled` in `root` is the setting for the PMD size (and the one every per-size
/// setting set to `inherit` follows); each `hugepages-<N>kB/shmem_enabled` (Linux 6.11 on)
/// turns folios of N kB on or off. A size counts as possible unless its setting is `never`,
/// or `inherit` while the global one is `never` or `deny`. `advise` counts: the arena
/// never advises, but the answer errs on the large side.
fn shmem_folio_bytes_in(root: &Path, page: usize) -> Option<usize> {
    let global = match std::fs::read_to_string(root.join("shmem_enabled")) {
        Ok(s) => selected(&s)?.to_owned(),
        // A kernel without transparent huge pages caches shared memory in base pages only.
        Err(e) if e.kind() == io::ErrorKind::NotFound && !root.exists() => return Some(page),
        Err(_) => return None,
    };
    let global_on = match global.as_str() {
        "never" | "deny" => false,
        "always" | "within_size" | "advise" => true,
        // `force` (or a value this code does not know) may put any file in huge folios.
        _ => return None,
    };
    let mut largest = page;
    let mut per_size = false;
    for entry in std::fs::read_dir(root).ok()? {
        let entry = entry.ok()?;
        let name = entry.file_name();
        let Some(kb) = name
            .to_str()
            .and_then(|n| n.strip_prefix("hugepages-")?.strip_suffix("kB"))
        else {
            continue;
        };
        let bytes = kb.parse::<usize>().ok()?.checked_mul(1024)?;
        let setting = match std::fs::read_to_string(entry.path().join("shmem_enabled")) {
            Ok(s) => s,
            // Before 6.11 the per-size directories have no shmem setting: the global one
            // covers the PMD size, below.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(_) => return None,
        };
        per_size = true;
        let on = match selected(&setting)? {
            "never" => false,
            "inherit" => global_on,
            _ => true,
        };
        if on {
            largest = largest.max(bytes);
        }
    }
    if !per_size && global_on {
        return None; // the PMD size, whose exact value the caller reads
    }
    Some(largest)
}

/// The bracketed choice in a sysfs setting such as `always inherit [never]`.
fn selected(setting: &str) -> Option<&str> {
    let start = setting.find('[')? + 1;
    let len = setting[start..].find(']')?;
    Some(&setting[start..start + len])
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    /// A fake settings tree: the global value, then (size in kB, value) per size, where
    /// `None` is a directory without a shmem setting (Linux before 6.11).
    fn tree(global: &str, sizes: &[(usize, Option<&str>)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let all = "always within_size advise never deny force";
        std::fs::write(
            dir.path().join("shmem_enabled"),
            all.replace(global, &format!("[{global}]")),
        )
        .unwrap();
        for &(kb, value) in sizes {
            let sub = dir.path().join(format!("hugepages-{kb}kB"));
            std::fs::create_dir(&sub).unwrap();
            std::fs::write(sub.join("enabled"), "always inherit madvise [never]").unwrap();
            if let Some(v) = value {
                let all = "always inherit within_size advise never";
                std::fs::write(sub.join("shmem_enabled"), all.replace(v, &format!("[{v}]")))
                    .unwrap();
            }
        }
        dir
    }

    fn read(dir: &tempfile::TempDir) -> Option<usize> {
        shmem_folio_bytes_in(dir.path(), PAGE)
    }

    #[test]
    fn all_off_means_base_pages() {
        let t = tree(
            "never",
            &[
                (16, Some("never")),
                (64, Some("never")),
                (2048, Some("inherit")),
            ],
        );
        assert_eq!(read(&t), Some(PAGE));
        let t = tree("deny", &[(2048, Some("inherit"))]);
        assert_eq!(read(&t), Some(PAGE));
        let t = tree("never", &[(2048, None)]);
        assert_eq!(read(&t), Some(PAGE), "before 6.11, off globally");
    }

    #[test]
    fn any_size_that_may_be_used_counts() {
        let t = tree(
            "never",
            &[
                (16, Some("always")),
                (64, Some("advise")),
                (2048, Some("inherit")),
            ],
        );
        assert_eq!(read(&t), Some(64 << 10));
        let t = tree("advise", &[(64, Some("never")), (2048, Some("inherit"))]);
        assert_eq!(read(&t), Some(2 << 20));
        let t = tree(
            "within_size",
            &[(2048, Some("never")), (512, Some("inherit"))],
        );
        assert_eq!(read(&t), Some(512 << 10));
    }

    #[test]
    fn what_is_not_understood_is_the_largest() {
        assert_eq!(read(&tree("force", &[(2048, Some("never"))])), None);
        assert_eq!(read(&tree("always", &[(2048, None)])), None, "before 6.11");
        let t = tree("never", &[]);
        std::fs::write(t.path().join("shmem_enabled"), "garbled").unwrap();
        assert_eq!(read(&t), None);
    }

    #[test]
    fn no_settings_at_all_means_no_huge_pages() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            shmem_folio_bytes_in(&dir.path().join("absent"), PAGE),
            Some(PAGE)
        );
    }

    #[test]
    fn the_choice_is_the_bracketed_word() {
        assert_eq!(selected("always [inherit] never\n"), Some("inherit"));
        assert_eq!(selected("never"), None);
    }
}
