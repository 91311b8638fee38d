#!/usr/bin/env bash
# Regenerates crates/playlists-server/assets/demo.mp4, the clip the built-in `demo` stream
# loops (embedded in the binary with include_bytes!).
#
# 8 s of 640x360 test pattern with the clip time and frame number burnt in, and a short
# 880 Hz tick at the start of every second; H.264 (1 s GOP) + AAC, muxed, cut into 200 ms
# CMAF fragments the way the issue's encoder command cuts them.
#
# Why 8 s: the loop must be seamless in both tracks at once. A video frame lasts 1/30 s and
# an AAC frame 1024/48000 s; the shortest length that is a whole number of both (and of the
# 1 s GOP) is 8 s = 240 frames = 375 AAC frames. `-frames:a 375` drops the encoder's
# trailing padding frame, so the audio track lasts exactly as long as the video and the
# demo can shift both by the same 8 s every loop without drift or overlap.
# Needs ffmpeg with libx264 and drawtext (fontconfig, a DejaVu font).
set -euo pipefail
cd "$(dirname "$0")/../crates/playlists-server/assets"

text="drawtext=font='DejaVu Sans Mono':text='Playlists demo  %{pts\:hms}  frame %{n}'"
text+=":x=24:y=h-th-24:fontsize=24:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=8"

ffmpeg -hide_banner -loglevel error -y -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
  -f lavfi -i "testsrc2=size=640x360:rate=30,${text}" \
  -f lavfi -i "aevalsrc='0.3*sin(2*PI*880*t)*lt(mod(t\,1)\,0.08)':s=48000" \
  -t 8 -frames:a 375 \
  -c:v libx264 -preset veryfast -tune zerolatency -pix_fmt yuv420p \
  -g 30 -keyint_min 30 -sc_threshold 0 -b:v 200k -maxrate 250k -bufsize 250k \
  -c:a aac -b:a 48k -ac 1 \
  -f mp4 -movflags cmaf+empty_moov+default_base_moof+frag_keyframe+skip_trailer \
  -frag_duration 200000 demo.mp4

ls -l demo.mp4
