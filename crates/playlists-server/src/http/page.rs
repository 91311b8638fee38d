//! `GET /`: the live streams, each playable in the page with hls.js in low-latency mode.
//!
//! hls.js comes from this origin (`/assets/hls.min.js`, the copy embedded in the binary or
//! the file given to `--hls-js-file`; see `assets.rs`), so the page plays without internet
//! access. Only [`HttpOptions::hls_js_url`](super::HttpOptions::hls_js_url), when set, points
//! it elsewhere (e.g. a public CDN). Browsers that play HLS natively (Safari) get the playlist
//! URL directly. Under signed playback (`crate::playback`) the page stays open and its players
//! use the token the page was opened with (`/?token=…`).

use std::fmt::Write as _;

use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::Response;

use super::assets::HLS_JS_PATH;
use super::body::Body;
use super::AppState;

/// The page, listing the streams live at this moment.
pub fn render(state: &AppState) -> Response<Body> {
    let script = match &state.opts.hls_js_url {
        Some(url) => url.clone(),
        // Content-addressed, so browsers may keep it and still see a replaced copy at once.
        None => state.opts.hls_js.versioned(HLS_JS_PATH),
    };
    let streams = state.playlists.active();
    let mut html = String::with_capacity(2048 + streams.len() * 512);
    html.push_str(concat!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>Playlists: live streams</title>\n<style>\n",
        "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}\n",
        "video{width:100%;max-width:40rem;background:#000}\n",
        "section{margin-bottom:2rem}\ncode{background:#eee;padding:0 .2em}\n",
        "</style>\n</head>\n<body>\n<h1>Live streams</h1>\n",
    ));
    if state.opts.playback.is_some() {
        // The page itself is open (it names streams, nothing more); its players pass on the
        // page's own token.
        html.push_str(
            "<p>Playback is signed: open this page as <code>/?token=…</code> with a token for \
             <code>/</code> (<code>playlists sign --path /</code>) to play here.</p>\n",
        );
    }
    if streams.is_empty() {
        html.push_str(
            "<p>No stream is live. Push one, e.g. <code>ffmpeg … -f mp4 -movflags \
             cmaf+empty_moov+default_base_moof+frag_every_frame -method PUT \
             http://HOST/ingest/NAME</code>.</p>\n",
        );
    }
    for s in &streams {
        let name = escape(&s.name);
        let last = s
            .last
            .map_or_else(String::new, |p| format!(", last part {}.{}", p.msn, p.part));
        // fmt::Write into a String never fails.
        let _ = write!(
            html,
            concat!(
                "<section>\n<h2>{name}</h2>\n",
                "<p><a href=\"/{name}/index.m3u8\">/{name}/index.m3u8</a> ",
                "(group <a href=\"/{group}/master.m3u8\">{group}</a>; {codecs}{last})</p>\n",
                "<video controls muted autoplay playsinline data-src=\"/{name}/index.m3u8\"></video>\n",
                "</section>\n"
            ),
            name = name,
            group = escape(&s.group),
            codecs = escape(&s.codecs),
            last = last,
        );
    }
    recordings(state, &mut html);
    // `maxLiveSyncPlaybackRate`: hls.js plays up to 1.5× while it is further behind live than
    // its target (and more than 1 s is buffered), so a viewer who fell behind (a stall, an
    // origin restart: docs/latency.md) catches up; at hls.js's default 1 it never does. The
    // e2e suite plays with the same settings (`e2e/lib/player.js`).
    let _ = write!(
        html,
        concat!(
            "<script src=\"{script}\"></script>\n<script>\n",
            "const token = new URLSearchParams(location.search).get('token');\n",
            "for (const video of document.querySelectorAll('video[data-src]')) {{\n",
            "  const src = video.dataset.src + (token ? '?token=' + encodeURIComponent(token) : '');\n",
            "  if (window.Hls && Hls.isSupported()) {{\n",
            "    const hls = new Hls({{ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 }});\n",
            "    hls.loadSource(src);\n    hls.attachMedia(video);\n",
            "  }} else if (video.canPlayType('application/vnd.apple.mpegurl')) {{\n",
            "    video.src = src;\n  }}\n}}\n",
            // A recording loads when it is first played: the page may list many.
            "for (const video of document.querySelectorAll('video[data-vod]')) {{\n",
            "  const src = video.dataset.vod + (token ? '?token=' + encodeURIComponent(token) : '');\n",
            "  video.addEventListener('play', () => {{\n",
            "    if (video.dataset.loaded) return;\n    video.dataset.loaded = '1';\n",
            "    if (window.Hls && Hls.isSupported()) {{\n",
            "      const hls = new Hls();\n      hls.loadSource(src);\n      hls.attachMedia(video);\n",
            "      hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());\n",
            "    }} else {{ video.src = src; video.play(); }}\n  }}, {{ once: true }});\n}}\n",
            "</script>\n</body>\n</html>\n"
        ),
        script = escape(&script),
    );
    let mut resp = Response::new(Body::from(html));
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Recordings shown on the page, newest first; `/recordings` lists them all.
const PAGE_RECORDINGS: usize = 20;

/// The recordings section (with `--record-dir`): each recording's playlist, state and length,
/// playable in the page.
fn recordings(state: &AppState, html: &mut String) {
    let Some(recordings) = &state.recordings else {
        return;
    };
    let list = recordings.list();
    let _ = write!(
        html,
        "<h1>Recordings</h1>\n<p>{} in all (<a href=\"/recordings\">/recordings</a>, JSON).</p>\n",
        list.len()
    );
    for r in list.iter().take(PAGE_RECORDINGS) {
        let reason = r
            .reason
            .as_deref()
            .map(|why| format!(": {}", escape(why)))
            .unwrap_or_default();
        let _ = write!(
            html,
            concat!(
                "<section>\n<h2>{stream} <small>{id}</small></h2>\n",
                "<p><a href=\"{url}\">{url}</a> ({state}{reason}; {secs:.0} s, {segments} segments)</p>\n",
                "<video controls preload=\"none\" playsinline data-vod=\"{url}\"></video>\n",
                "</section>\n"
            ),
            stream = escape(&r.stream),
            id = escape(&r.id),
            url = escape(&r.url),
            state = r.state,
            reason = reason,
            secs = r.duration_s,
            segments = r.segments,
        );
    }
}

/// HTML-escapes text for element content and double-quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(super::escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
    }
}
