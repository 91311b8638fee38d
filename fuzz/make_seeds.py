#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz corpus (fuzz/corpus/<target>/seed-*): for the fMP4
targets from real ffmpeg output (the committed fixtures of the server crate and the demo
clip), for the request target from the request targets players send (hls.js, Safari) and
hostile variants of them.

Seeds are small slices (whole fixtures, init sections, moov payloads, single parts), in the
input format of each target (see fuzz/src/checks.rs). Re-run after regenerating the fixtures;
the files libFuzzer adds next to them are kept.
"""
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent.parent
SERVER = ROOT / "crates" / "playlists-server"
# The order is the selector byte of the fragment/rewrite inputs (checks::init_sections).
SOURCES = [
    ("h264", SERVER / "tests" / "fixtures" / "h264.mp4"),
    ("h264_aac", SERVER / "tests" / "fixtures" / "h264_aac.mp4"),
    ("hevc", SERVER / "tests" / "fixtures" / "hevc.mp4"),
    ("av1", SERVER / "tests" / "fixtures" / "av1.mp4"),
    ("opus", SERVER / "tests" / "fixtures" / "opus.mp4"),
    ("demo", SERVER / "assets" / "demo.mp4"),
]
CORPUS = ROOT / "fuzz" / "corpus"


def boxes(data):
    """Top-level boxes as (type, start, end, header_len)."""
    pos = 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[pos + 8:pos + 16])
            header = 16
        yield kind, pos, pos + size, header
        pos += size


def units(data):
    """The splitter's units: ('init', bytes, moov payload) and ('part', bytes)."""
    start = 0
    for kind, pos, end, header in boxes(data):
        if kind == b"moov":
            yield "init", data[start:end], data[pos + header:end]
            start = end
        elif kind == b"mdat":
            yield "part", data[start:end], None
            start = end


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def main():
    for selector, (name, path) in enumerate(SOURCES):
        data = path.read_bytes()
        cut = list(units(data))
        init = next(u for u in cut if u[0] == "init")
        parts = [u[1] for u in cut if u[0] == "part"]
        # Splitter: the whole file when small, else the init section and three parts.
        whole = data if len(data) <= 64 << 10 else init[1] + b"".join(parts[:3])
        write("fmp4_splitter", f"{name}-stream", whole)
        write("fmp4_splitter", f"{name}-init", init[1])
        write("fmp4_splitter", f"{name}-init-part", init[1] + parts[1])
        write("fmp4_init", f"{name}-moov", init[2])
        # One independent part, one that is not, and the last (audio-only in h264_aac).
        for label, part in (("first", parts[0]), ("second", parts[1]), ("last", parts[-1])):
            for target in ("fmp4_fragment", "fmp4_rewrite"):
                write(target, f"{name}-{label}", bytes([selector]) + part)
    # An init section that changes mid-stream, as an encoder restart sends it.
    h264 = list(units(SOURCES[0][1].read_bytes()))
    opus = list(units(SOURCES[4][1].read_bytes()))
    write("fmp4_splitter", "init-change",
          b"".join(u[1] for u in h264[:3]) + b"".join(u[1] for u in opus[:3]))


# Request targets (`path[?query]`): what hls.js and Safari ask for (the paths the playlists
# write, the directives in the order hls.js writes them), what encoders PUT to, then
# malformed and hostile variants the parsers must refuse.
REQUESTS = {
    "page": "/",
    "healthz": "/healthz",
    "metrics": "/metrics",
    "hlsjs": "/assets/hls.min.js",
    "playlist": "/cam1/index.m3u8",
    "blocking": "/cam1/index.m3u8?_HLS_msn=12&_HLS_part=3",
    "blocking-msn": "/cam1/index.m3u8?_HLS_msn=12",
    "blocking-skip": "/cam1/index.m3u8?_HLS_msn=12&_HLS_part=3&_HLS_skip=YES",
    "skip-v2": "/live/720p/index.m3u8?_HLS_skip=v2",
    "skip-first": "/cam1/index.m3u8?_HLS_skip=YES&_HLS_msn=0&_HLS_part=0",
    "token": "/cam1/index.m3u8?token=a%3Db&_HLS_msn=4294967296&cb=1",
    "max-msn": "/cam1/index.m3u8?_HLS_msn=18446744073709551615&_HLS_part=4294967295",
    "rendition": "/live/720p/index.m3u8?_HLS_msn=1234&_HLS_part=0",
    "master": "/live/master.m3u8",
    "init": "/cam1/init.mp4",
    "init-n": "/live/720p/init-3.mp4",
    "segment": "/cam1/s12.mp4",
    "part": "/live/720p/p123.mp4",
    "part-0": "/cam1/p0.mp4",
    "ingest": "/ingest/cam1",
    "ingest-rendition": "/ingest/live/720p",
    "bad-part-without-msn": "/cam1/index.m3u8?_HLS_part=3",
    "bad-signed": "/cam1/index.m3u8?_HLS_msn=-1&_HLS_part=+1",
    "bad-escaped": "/cam1/index.m3u8?_HLS_msn=%31",
    "bad-hex": "/cam1/index.m3u8?_HLS_msn=0x10",
    "bad-empty": "/cam1/index.m3u8?_HLS_msn&_HLS_part=",
    "bad-equals": "/cam1/index.m3u8?_HLS_msn=1=2",
    "bad-overflow": "/cam1/index.m3u8?_HLS_msn=18446744073709551616",
    "bad-part-overflow": "/cam1/index.m3u8?_HLS_msn=1&_HLS_part=4294967296",
    "bad-duplicate": "/cam1/index.m3u8?_HLS_msn=1&_HLS_msn=1",
    "bad-skip": "/cam1/index.m3u8?_HLS_skip=yes&_HLS_skip=YES",
    "bad-skip-escapes": "/cam1/index.m3u8?_HLS_skip=%0d%0aX:\r\n\x00\u2028",
    "bad-long": "/cam1/index.m3u8?" + "_HLS_msn=1&" * 187,
    "path-dotdot": "/../index.m3u8",
    "path-empty-segment": "/a//index.m3u8",
    "path-no-stream": "//index.m3u8",
    "path-three": "/a/b/c/index.m3u8",
    "path-leading-zero": "/cam1/s012.mp4",
    "path-init-0": "/cam1/init-0.mp4",
    "path-part-overflow": "/cam1/p18446744073709551616.mp4",
    "path-escaped-query": "/cam1/index.m3u8%3F_HLS_msn=1",
    "path-master-rendition": "/live/720p/master.m3u8",
    "path-ingest-empty": "/ingest//",
    "path-ingest-playlist": "/ingest/index.m3u8?_HLS_msn=1",
    "path-unicode": "/cam\u00e9ra/p1.mp4",
}


def requests():
    for name, target in REQUESTS.items():
        write("request", name, target.encode("utf-8"))
    # Not UTF-8: the target replaces it, as a caller with raw bytes would have to.
    write("request", "path-not-utf8", b"/cam\xff\xfe1/index.m3u8?_HLS_msn=\xc3")
    write("request", "path-nul", b"/cam1\x00/index.m3u8?_HLS_msn=1\x00")


if __name__ == "__main__":
    main()
    requests()
