#!/usr/bin/env python3
"""Reads playlists with the `m3u8` package (an independent HLS parser) and prints what it
understood, one fact per line, for tests/manifest_python_m3u8.rs to compare with what the
builder meant to write.

    python3 validate_playlists.py FILE...

For each FILE it prints `== FILE`, then the facts. Parsing is strict (`strict=True`): an
unknown line or a version the tags do not allow fails. Exit status 2 if `m3u8` is missing,
1 if a file does not parse.
"""

import calendar
import sys

try:
    import m3u8
except ImportError:
    print("the Python package `m3u8` is not installed (python3 -m pip install m3u8)", file=sys.stderr)
    sys.exit(2)


def sec(value):
    return "-" if value is None else f"{value:.5f}"


def millis(dt):
    return calendar.timegm(dt.utctimetuple()) * 1000 + dt.microsecond // 1000


def media(data, out):
    out.append(f"version {data.get('version')}")
    out.append(f"target_duration {data.get('targetduration')}")
    out.append(f"media_sequence {data.get('media_sequence')}")
    dsn = data.get("discontinuity_sequence")
    out.append(f"discontinuity_sequence {'-' if dsn is None else dsn}")
    out.append(f"part_target {sec(data['part_inf'].get('part_target'))}")
    control = data.get("server_control", {})
    attrs = " ".join(
        f"{k}={v if isinstance(v, str) else sec(v)}" for k, v in sorted(control.items())
    )
    out.append(f"server_control {attrs}")
    skip = data.get("skip") or {}
    if skip:
        removed = skip.get("recently_removed_dateranges")
        out.append(f"skip {skip['skipped_segments']} removed={'-' if removed is None else removed}")
    else:
        out.append("skip -")
    for seg in data["segments"]:
        if seg.get("uri") is None:
            # The open segment: m3u8 keeps only its parts.
            out.append("open")
        else:
            pdt = seg.get("program_date_time")
            init = (seg.get("init_section") or {}).get("uri")
            out.append(
                f"segment uri={seg['uri']} duration={sec(seg.get('duration'))} "
                f"discontinuity={int(bool(seg.get('discontinuity')))} "
                f"pdt={'-' if pdt is None else millis(pdt)} map={init}"
            )
        for part in seg.get("parts", []):
            independent = int(part.get("independent") == "YES")
            out.append(f"part uri={part['uri']} duration={sec(part['duration'])} independent={independent}")
    hint = data.get("preload_hint")
    if hint:
        out.append(f"hint type={hint.get('type')} uri={hint.get('uri')}")
    for report in data["rendition_reports"]:
        out.append(f"report uri={report['uri']} last_msn={report['last_msn']} last_part={report['last_part']}")
    out.append(f"endlist {int(data['is_endlist'])}")


def multivariant(data, out):
    out.append("variant_playlist 1")
    out.append(f"independent_segments {int(data['is_independent_segments'])}")
    for playlist in data["playlists"]:
        info = playlist["stream_info"]
        fps = info.get("frame_rate")
        out.append(
            f"variant uri={playlist['uri']} bandwidth={info.get('bandwidth')} "
            f"average_bandwidth={info.get('average_bandwidth', '-')} codecs={info.get('codecs', '-')} "
            f"resolution={info.get('resolution', '-')} frame_rate={'-' if fps is None else f'{fps:.3f}'}"
        )


def main(paths):
    status = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        print(f"== {path}")
        try:
            data = m3u8.parse(text, strict=True)
        except Exception as e:  # the parser raises plain Exceptions in strict mode
            print(f"error {type(e).__name__}: {e}")
            status = 1
            continue
        out = []
        (multivariant if data["is_variant"] else media)(data, out)
        print("\n".join(out))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
