#!/usr/bin/python3
"""The classic frame-acquisition pipeline edgecam replaces (the baseline).

One `ffmpeg -rtsp_transport tcp -i URL -f rawvideo -pix_fmt yuv420p -r FPS -`
child per camera, all read by this ONE Python process: a thread per camera
reads exact frame-sized chunks from the pipe, JPEG-encodes them with Pillow
and publishes them over MQTT 5 with the same topic layout and user properties
as edgecam:

  edgecam/<device>/<camera>/frame   QoS 0, payload JPEG,
  user properties seq, ts_ns (time the raw frame was read), width, height,
  format=jpeg

A dead ffmpeg is restarted after 1 s, as such scripts usually do.  Kept
deliberately plain: this is what users build first, not a tuned strawman
nor a tuned competitor.

  /usr/bin/python3 bench/baseline_reader.py --broker 127.0.0.1:1883 \
      [--device baseline] [--fps 5] [--size 1280x720] [--quality 80] \
      cam0=rtsp://127.0.0.1:8554/cam0 cam1=rtsp://...

Needs python3-paho-mqtt and python3-pil (Debian packages).
"""
import argparse
import io
import json
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from PIL import Image


def mqtt_client(client_id):
    """MQTT 5 client on paho 1.x (Debian 12) or 2.x, with v1 callbacks."""
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1,
                           client_id=client_id, protocol=mqtt.MQTTv5)
    return mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)


def probe_size(url):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-rtsp_transport", "tcp",
         "-select_streams", "v:0", "-show_entries", "stream=width,height",
         "-of", "json", url],
        capture_output=True, text=True, timeout=30, check=True).stdout
    s = json.loads(out)["streams"][0]
    return s["width"], s["height"]


def encode_jpeg(buf, w, h, quality):
    """yuv420p frame -> JPEG, without an RGB round trip: Pillow's encoder
    takes YCbCr directly (chroma is upsampled here and subsampled again by
    libjpeg, the cheapest route Pillow offers for planar input)."""
    ysz, csz = w * h, (w // 2) * (h // 2)
    mv = memoryview(buf)
    y = Image.frombuffer("L", (w, h), mv[:ysz], "raw", "L", 0, 1)
    u = Image.frombuffer("L", (w // 2, h // 2), mv[ysz:ysz + csz], "raw", "L", 0, 1)
    v = Image.frombuffer("L", (w // 2, h // 2), mv[ysz + csz:ysz + 2 * csz], "raw", "L", 0, 1)
    img = Image.merge("YCbCr", (y, u.resize((w, h), Image.NEAREST),
                                v.resize((w, h), Image.NEAREST)))
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=quality)
    return out.getvalue()


class Camera(threading.Thread):
    def __init__(self, name, url, args, client, stop):
        super().__init__(name=name, daemon=True)
        self.cam, self.url, self.args = name, url, args
        self.client, self.stop = client, stop
        self.topic = f"edgecam/{args.device}/{name}/frame"
        self.seq = 0
        self.proc = None

    def run(self):
        while not self.stop.is_set():
            try:
                self.stream()
            except Exception as e:  # keep the camera alive, like the real thing
                print(f"{self.cam}: {e!r}", file=sys.stderr, flush=True)
            if not self.stop.wait(1.0):
                print(f"{self.cam}: restarting ffmpeg", file=sys.stderr, flush=True)

    def stream(self):
        w, h = self.args.size or probe_size(self.url)
        frame = w * h * 3 // 2
        self.proc = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
             "-rtsp_transport", "tcp", "-i", self.url,
             "-f", "rawvideo", "-pix_fmt", "yuv420p", "-r", str(self.args.fps), "-"],
            stdout=subprocess.PIPE)
        buf = bytearray(frame)
        view = memoryview(buf)
        pipe = self.proc.stdout
        try:
            while not self.stop.is_set():
                got = 0
                while got < frame:
                    n = pipe.readinto(view[got:])
                    if not n:
                        return
                    got += n
                ts_ns = time.time_ns()
                jpeg = encode_jpeg(buf, w, h, self.args.quality)
                props = Properties(PacketTypes.PUBLISH)
                props.UserProperty = [("seq", str(self.seq)), ("ts_ns", str(ts_ns)),
                                      ("width", str(w)), ("height", str(h)),
                                      ("format", "jpeg")]
                self.client.publish(self.topic, jpeg, qos=0, properties=props)
                self.seq += 1
        finally:
            self.kill()

    def kill(self):
        p = self.proc
        if p and p.poll() is None:
            p.kill()
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--broker", required=True, help="HOST:PORT")
    ap.add_argument("--device", default="baseline")
    ap.add_argument("--fps", type=float, default=5)
    ap.add_argument("--quality", type=int, default=80)
    ap.add_argument("--size", help="WxH (default: ffprobe each camera)")
    ap.add_argument("cameras", nargs="+", metavar="NAME=URL")
    args = ap.parse_args()
    if args.size:
        args.size = tuple(int(x) for x in args.size.lower().split("x"))

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    host, _, port = args.broker.rpartition(":")
    client = mqtt_client(f"{args.device}-reader")
    client.connect(host, int(port), keepalive=30)
    client.loop_start()

    cams = []
    for spec in args.cameras:
        name, sep, url = spec.partition("=")
        if not sep:
            ap.error(f"camera wants NAME=URL, got {spec!r}")
        cams.append(Camera(name, url, args, client, stop))
    for c in cams:
        c.start()
    print("STARTED", flush=True)
    while not stop.wait(0.5):
        pass
    for c in cams:
        c.kill()
    for c in cams:
        c.join(2)
    client.loop_stop()
    client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
