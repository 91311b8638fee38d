#!/usr/bin/env bash
# Regenerates the fMP4 test fixtures in crates/playlists-server/tests/fixtures/ with ffmpeg.
#
# Each is a 2 s fragmented MP4 cut the way a live encoder cuts it (CMAF brands, empty moov,
# moof-relative offsets, ~200 ms fragments, a keyframe every 30 frames), small enough to
# commit. The tests read the same files back with ffprobe, so regenerating them with another
# ffmpeg version keeps the tests meaningful. Needs ffmpeg with libx264, libx265, libsvtav1
# and libopus (Debian's ffmpeg has them).
set -euo pipefail
cd "$(dirname "$0")/../crates/playlists-server/tests/fixtures"

# Reproducible output: no encoder version strings or creation times in the files.
common=(-hide_banner -loglevel error -y -fflags +bitexact -flags:v +bitexact -flags:a +bitexact)
video=(-f lavfi -i "testsrc2=size=320x180:rate=30")
audio=(-f lavfi -i "sine=frequency=440:sample_rate=48000")
gop=(-g 30 -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p)
frag=(-f mp4 -movflags cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer -frag_duration 200000)

# H.264 video only, no B-frames (zerolatency), with a prft box before every moof.
ffmpeg "${common[@]}" "${video[@]}" -t 2 -c:v libx264 -preset veryfast -tune zerolatency \
  "${gop[@]}" -b:v 100k -write_prft wallclock "${frag[@]}" h264.mp4

# H.264 with B-frames (composition offsets) + AAC, muxed: one moof, two trafs.
ffmpeg "${common[@]}" "${video[@]}" "${audio[@]}" -t 2 -c:v libx264 -preset veryfast \
  "${gop[@]}" -b:v 100k -c:a aac -b:a 32k "${frag[@]}" h264_aac.mp4

# HEVC (hvc1 sample entry, as Apple players want it).
ffmpeg "${common[@]}" "${video[@]}" -t 2 -c:v libx265 -preset veryfast -tag:v hvc1 \
  -x265-params "log-level=error:keyint=30:min-keyint=30:scenecut=0:bframes=0" \
  -pix_fmt yuv420p -b:v 100k "${frag[@]}" hevc.mp4

# AV1 (SVT-AV1; SVT_LOG=1 keeps its banner quiet).
SVT_LOG=1 ffmpeg "${common[@]}" -f lavfi -i "testsrc2=size=320x192:rate=30" -t 2 -c:v libsvtav1 \
  -preset 12 "${gop[@]}" -b:v 100k "${frag[@]}" av1.mp4

# Opus audio only.
ffmpeg "${common[@]}" "${audio[@]}" -t 2 -c:a libopus -b:a 32k "${frag[@]}" opus.mp4

ls -l ./*.mp4
