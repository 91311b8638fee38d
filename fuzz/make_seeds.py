#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz corpus (fuzz/corpus/<target>/seed-*) from real ffmpeg
output: the committed fixtures of the server crate and the demo clip.

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


if __name__ == "__main__":
    main()
