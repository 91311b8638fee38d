#!/usr/bin/env python3
"""GStreamer's playbin3 (hlsdemux2) plays an HLS URL for a while and reports what it renders,
one JSON object a line on stdout, for e2e/lib/native-players.js to judge.

Usage: gst-play.py URL SECONDS [--switch AT:BPS]...

Both sinks are fakesinks that sync on the pipeline clock, so a buffer is reported when a
viewer would see (or hear) it: a hole in the media shows as a jump in PTS and a stall on the
wall clock. Renditions are switched by hlsdemux2 itself: it starts on the multivariant
playlist's first variant and picks the next fragment's variant from its bandwidth estimate;
--switch sets its `connection-bitrate` (the bandwidth it then assumes, 0 = measure again)
AT seconds after start.

Lines: {"ev":"start","wall":0,"unix":s}    the Unix time of wall 0
       {"ev":"buf","kind":"video"|"audio","wall":s,"pts":s,"height":h}
       {"ev":"switch","wall":s,"bitrate":bps}
       {"ev":"error"|"warning","wall":s,"message":...}
       {"ev":"end","wall":s,"reason":"time"|"eos"|"error"}
"""
import argparse
import json
import sys
import time

import gi

gi.require_version('Gst', '1.0')
from gi.repository import GLib, Gst  # noqa: E402


def emit(obj):
    sys.stdout.write(json.dumps(obj) + '\n')
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('url')
    ap.add_argument('seconds', type=float)
    ap.add_argument('--switch', action='append', default=[], metavar='AT:BPS')
    args = ap.parse_args()

    Gst.init(None)
    t0 = time.monotonic()
    emit({'ev': 'start', 'wall': 0, 'unix': time.time()})

    def wall():
        return round(time.monotonic() - t0, 4)

    playbin = Gst.ElementFactory.make('playbin3', None)
    if playbin is None:
        emit({'ev': 'error', 'wall': wall(), 'message': 'no playbin3 element'})
        return 2
    playbin.set_property('uri', args.url)
    done = {'ended': False}

    def sink(kind):
        s = Gst.ElementFactory.make('fakesink', f'{kind}sink')
        s.set_property('sync', True)
        s.set_property('signal-handoffs', True)

        def on_handoff(_sink, buf, pad):
            if done['ended']:
                return
            height = None
            caps = pad.get_current_caps()
            if caps is not None and caps.get_size() > 0:
                ok, h = caps.get_structure(0).get_int('height')
                height = h if ok else None
            pts = None if buf.pts == Gst.CLOCK_TIME_NONE else buf.pts / Gst.SECOND
            emit({'ev': 'buf', 'kind': kind, 'wall': wall(), 'pts': pts, 'height': height})

        s.connect('handoff', on_handoff)
        return s

    playbin.set_property('video-sink', sink('video'))
    playbin.set_property('audio-sink', sink('audio'))

    demuxers = []

    def on_deep_element_added(_bin, _sub, element):
        factory = element.get_factory()
        if factory is not None and factory.get_name() == 'hlsdemux2':
            demuxers.append(element)

    playbin.connect('deep-element-added', on_deep_element_added)

    loop = GLib.MainLoop()

    def finish(reason):
        if not done['ended']:
            done['ended'] = True
            emit({'ev': 'end', 'wall': wall(), 'reason': reason})
            loop.quit()
        return False

    def on_message(_bus, msg):
        if msg.type == Gst.MessageType.ERROR:
            err, dbg = msg.parse_error()
            emit({'ev': 'error', 'wall': wall(), 'message': f'{err.message} ({dbg})'})
            finish('error')
        elif msg.type == Gst.MessageType.WARNING:
            err, dbg = msg.parse_warning()
            emit({'ev': 'warning', 'wall': wall(), 'message': f'{err.message} ({dbg})'})
        elif msg.type == Gst.MessageType.EOS:
            finish('eos')
        return True

    bus = playbin.get_bus()
    bus.add_signal_watch()
    bus.connect('message', on_message)

    def switch(bitrate):
        for d in demuxers:
            d.set_property('connection-bitrate', bitrate)
        emit({'ev': 'switch', 'wall': wall(), 'bitrate': bitrate, 'demuxers': len(demuxers)})
        return False

    for spec in args.switch:
        at, bitrate = spec.split(':')
        GLib.timeout_add(int(float(at) * 1000), switch, int(bitrate))
    GLib.timeout_add(int(args.seconds * 1000), finish, 'time')
    playbin.set_state(Gst.State.PLAYING)
    try:
        loop.run()
    finally:
        playbin.set_state(Gst.State.NULL)
    return 0


if __name__ == '__main__':
    sys.exit(main())
