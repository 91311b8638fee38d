//! The DVR window (`Options::dvr_window_ms`): segments stay listed after the live window,
//! without their parts in memory, and delta updates skip them; the full playlist is assembled
//! from the shared archive text and equals a render of the whole window.

use bytes::Bytes;
use playlists::{Init, Options, Part, PartTiming, Playlists};

const START_MS: u64 = 1_700_000_000_000;

/// Segments of 1 s (five 200 ms parts, a key frame each fifth), TD 1: the Skip Boundary is
/// 6 s; a live window of 8 segments; a DVR window of 60 s.
fn options() -> Options {
    Options {
        num_playlists: 2,
        max_segments: 8,
        max_parts_per_segment: 16,
        segment_min_ms: 1000,
        target_duration: playlists::TargetDuration::Fixed(1),
        part_target_ms: 200,
        numbering: playlists::Numbering::FromZero,
        dvr_window_ms: Some(60_000),
        ..Options::default()
    }
}

fn part(n: u64, decode_ms: u64, init: &str) -> Part {
    Part {
        bytes: Bytes::from(format!("part {n}")),
        timing: PartTiming {
            duration: 200,
            timescale: 1000,
            decode_time: decode_ms,
            independent: n % 5 == 0,
            wallclock_ms: Some(START_MS),
        },
        init: Some(Init {
            bytes: Bytes::from(init.to_owned()),
            codecs: String::new(),
            resolution: None,
            frame_rate: None,
            video: true,
            audio: None,
        }),
    }
}

fn tag<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.strip_prefix(name))
}

fn segment_uris(text: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix('s').and_then(|r| r.strip_suffix(".mp4")))
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn the_window_lists_a_minute_while_memory_holds_the_live_window_and_deltas_skip_the_rest() {
    let p = Playlists::new(options()).unwrap();
    // 100 s of media: segments 0..=99 complete, part 500 opens segment 100.
    for n in 0..=500 {
        p.add("cam", part(n, n * 200, "init a")).unwrap();
    }
    let cam = p.stream("cam").unwrap();
    let version = cam.playlist().unwrap();
    assert!(version.full.is_deferred());
    let full = String::from_utf8(version.full.plain.to_vec()).unwrap();

    // Every segment that ended within the last 60 s, in order, numbered from MEDIA-SEQUENCE.
    let listed = segment_uris(&full);
    let first: u64 = tag(&full, "#EXT-X-MEDIA-SEQUENCE:")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(listed.first(), Some(&first));
    // At the last cut (part 500 opened segment 100) the end was at 100 s; segment 39
    // ended at 40 s, the DVR window before.
    assert_eq!(first, 39);
    assert_eq!(listed, (39..100).collect::<Vec<_>>());
    assert!(full.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=6.000"));
    // One MAP, before the first segment; parts only near the live edge (3 × TD).
    assert_eq!(full.matches("#EXT-X-MAP:").count(), 1);
    assert!(full.find("#EXT-X-MAP:").unwrap() < full.find("\ns39.mp4").unwrap());
    let first_part_line = full.find("#EXT-X-PART:").unwrap();
    assert!(full[..first_part_line].contains("\ns96.mp4\n"), "{full}");
    assert_eq!(full.matches("#EXT-X-PROGRAM-DATE-TIME:").count(), 62);

    // Archived segments keep no parts: s40..=s90 are not served from memory (the server
    // serves them from its store), the live window's are.
    assert!(cam.is_archived(60) && !cam.is_archived(95));
    assert!(cam.segment(60).is_none());
    assert!(cam.segment(95).is_some());
    // Parts of archived segments left the chunk cache.
    let idx = p.chunk_cache().lookup("cam").unwrap();
    assert!(p.chunk_cache().get(idx, 60 * 5).is_none());
    assert!(p.chunk_cache().get(idx, 99 * 5).is_some());

    // The delta update skips the archive and the old live segments; it is as small as a
    // live playlist's.
    let delta = String::from_utf8(version.delta.as_ref().unwrap().plain.to_vec()).unwrap();
    let skipped: usize = tag(&delta, "#EXT-X-SKIP:SKIPPED-SEGMENTS=")
        .unwrap()
        .parse()
        .unwrap();
    let in_delta = segment_uris(&delta);
    assert_eq!(skipped + in_delta.len(), listed.len());
    assert_eq!(in_delta.first(), Some(&(39 + skipped as u64)));
    assert!(in_delta.len() <= 8, "{delta}");
    assert!(delta.len() < 2_000, "{} bytes", delta.len());
    assert!(delta.contains("#EXT-X-MAP:"));
}

#[test]
fn discontinuities_in_the_archive_are_tagged_and_counted_when_they_leave_it() {
    let p = Playlists::new(options()).unwrap();
    // 20 s, then an encoder restart (new init, timestamps from 0): segment 20 is a
    // discontinuity; then 30 more seconds.
    for n in 0..100 {
        p.add("cam", part(n, n * 200, "init a")).unwrap();
    }
    for n in 100..251 {
        p.add("cam", part(n, (n - 100) * 200, "init b")).unwrap();
    }
    let full = |p: &Playlists| {
        let v = p.stream("cam").unwrap().playlist().unwrap();
        String::from_utf8(v.full.plain.to_vec()).unwrap()
    };
    let text = full(&p);
    assert_eq!(tag(&text, "#EXT-X-MEDIA-SEQUENCE:"), Some("0"));
    assert_eq!(tag(&text, "#EXT-X-DISCONTINUITY-SEQUENCE:"), Some("0"));
    let at = text.find("\ns20.mp4").unwrap();
    let before = &text[..at];
    assert!(before.ends_with(&before[before.rfind("#EXT-X-DISCONTINUITY\n").unwrap()..]));
    assert_eq!(text.matches("#EXT-X-MAP:").count(), 2);
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
    // 60 s later the discontinuity has left the window: counted, and the first segment
    // carries the new init's MAP.
    for n in 251..551 {
        p.add("cam", part(n, (n - 100) * 200, "init b")).unwrap();
    }
    let text = full(&p);
    assert_eq!(tag(&text, "#EXT-X-DISCONTINUITY-SEQUENCE:"), Some("1"));
    assert!(!text.contains("#EXT-X-DISCONTINUITY\n"));
    assert_eq!(text.matches("#EXT-X-MAP:").count(), 1);
    assert!(text.contains("#EXT-X-MAP:URI=\"init-1.mp4\""));
    // The end: every archived segment stays in the final playlist, with ENDLIST.
    let listed = segment_uris(&text).len();
    p.fin("cam").unwrap();
    let last = full(&p);
    assert!(last.ends_with("#EXT-X-ENDLIST\n"));
    assert_eq!(segment_uris(&last).len(), listed + 1);
}

#[test]
fn the_assembled_playlist_is_the_whole_render() {
    use playlists::{M3u8Manifest, PartMeta, Skip};
    let mut m = M3u8Manifest::new(&options(), START_MS).unwrap();
    for n in 0..400u64 {
        // An init change at 30 s, so the archive has a MAP of its own mid-way.
        let init_id = u32::from(n >= 150);
        m.push(PartMeta {
            id: n,
            len: 100,
            init_id,
            timing: part(n, n * 200, "").timing,
        })
        .unwrap();
        if n % 37 == 0 || n == 399 {
            let mut whole = Vec::new();
            m.render(Skip::No, &[], &mut whole);
            let mut split = Vec::new();
            let assembled = match m.render_split(&[], &mut split) {
                Some(at) => {
                    let archive = m.archive_text().unwrap();
                    [&split[..at], &archive[..], &split[at..]].concat()
                }
                None => split,
            };
            assert_eq!(
                String::from_utf8(assembled).unwrap(),
                String::from_utf8(whole).unwrap(),
                "after part {n}"
            );
        }
    }
}

#[derive(Debug)]
struct Token;

impl playlists::UriQuery for Token {
    fn query(&self, _stream: &str) -> Option<String> {
        Some("token=1.ab".to_owned())
    }
}

#[test]
fn every_uri_of_the_archive_carries_the_query_too() {
    let p = Playlists::new(options())
        .unwrap()
        .with_uri_query(std::sync::Arc::new(Token));
    for n in 0..400 {
        p.add("cam", part(n, n * 200, "init a")).unwrap();
    }
    let v = p.stream("cam").unwrap().playlist().unwrap();
    let full = String::from_utf8(v.full.plain.to_vec()).unwrap();
    let uris: Vec<&str> = full
        .lines()
        .filter(|l| !l.starts_with('#'))
        .chain(full.lines().filter_map(|l| l.split("URI=\"").nth(1)))
        .collect();
    assert!(uris.len() > 60, "{full}");
    for uri in uris {
        assert!(uri.contains("?token=1.ab"), "{uri} in\n{full}");
    }
}

#[test]
fn an_event_lists_everything_from_its_start_and_the_next_run_is_live_again() {
    let p = Playlists::new(Options {
        dvr_window_ms: None,
        ..options()
    })
    .unwrap();
    p.set_event("show", true);
    for n in 0..1001 {
        p.add("show", part(n, n * 200, "init a")).unwrap();
    }
    let v = p.stream("show").unwrap().playlist().unwrap();
    let full = String::from_utf8(v.full.plain.to_vec()).unwrap();
    assert!(full.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"), "{full}");
    assert_eq!(tag(&full, "#EXT-X-MEDIA-SEQUENCE:"), Some("0"));
    assert_eq!(segment_uris(&full), (0..200).collect::<Vec<_>>());
    assert!(full.contains("CAN-SKIP-UNTIL="));
    // Reloads stay small: the delta carries the type and the live edge only.
    let delta = String::from_utf8(v.delta.as_ref().unwrap().plain.to_vec()).unwrap();
    assert!(delta.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"));
    assert!(segment_uris(&delta).len() <= 8, "{delta}");
    // Ended, and started again without asking: a live window only.
    p.fin("show").unwrap();
    for n in 0..100 {
        p.add("show", part(n, n * 200, "init a")).unwrap();
    }
    let v = p.stream("show").unwrap().playlist().unwrap();
    let full = String::from_utf8(v.full.plain.to_vec()).unwrap();
    assert!(!full.contains("PLAYLIST-TYPE"));
    assert!(segment_uris(&full).len() <= 12, "{full}");
}
