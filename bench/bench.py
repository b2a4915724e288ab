#!/usr/bin/python3
"""One-command benchmark: edgecam vs the ffmpeg-pipe baseline vs the decode floor.

  /usr/bin/python3 bench/bench.py --cameras 4 --seconds 30 [--fps 5]
      [--edgecam PATH] [--skip-baseline] [--skip-edgecam] [--runs K]

Everything runs on 127.0.0.1 with free ports: mosquitto, the test RTSP
server (tests/fixtures/rtsp_server.py, N mounts serving the same 720p15 clip
with a frame-index barcode), a subscriber process, and the system under test.
See bench/README.md for what every column means.
"""
import argparse
import bisect
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
sys.path.insert(0, HERE)
sys.path.insert(0, FIXTURES)

PY = "/usr/bin/python3"  # Debian python: has gi, paho, PIL
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_EDGECAM = os.path.join(ROOT, "target", "x86_64-unknown-linux-gnu",
                               "release", "edgecam")
# The clip every camera serves: 720p, 15 fps, GOP 30, ~3 Mbit/s, 10 s loop.
CLIP = dict(width=1280, height=720, fps=15, seconds=10, gop=30, bitrate="3M")


class BenchError(Exception):
    pass


# --------------------------------------------------------------------------
# Processes: every child gets its own process group, killed on exit.
# --------------------------------------------------------------------------

class Procs:
    def __init__(self):
        self.procs = []

    def start(self, argv, log=None, **kw):
        out = open(log, "ab") if log else subprocess.DEVNULL
        p = subprocess.Popen(argv, stdout=kw.pop("stdout", out),
                             stderr=kw.pop("stderr", out),
                             stdin=subprocess.DEVNULL, start_new_session=True, **kw)
        p.log = log
        self.procs.append(p)
        return p

    def stop(self, p, timeout=5):
        """SIGTERM the whole group, SIGKILL after timeout."""
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            except ProcessLookupError:
                pass
        try:  # children (e.g. baseline ffmpegs) may outlive their parent
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p, timeout=3)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BenchError(f"process exited ({proc.returncode}); see {proc.log}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"port {port} not listening after {timeout}s")


def read_line(proc, prefix, timeout):
    """First stdout line starting with prefix (stdout must be a pipe)."""
    import select
    end = time.monotonic() + timeout
    buf = b""
    while time.monotonic() < end:
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            for line in buf.decode(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line
        elif proc.poll() is not None:
            break
    raise BenchError(f"no {prefix!r} from {proc.args[:2]} (see {proc.log})")


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            return b"".join(f.readlines()[-n:]).decode(errors="replace")
    except OSError:
        return ""


# --------------------------------------------------------------------------
# /proc sampling
# --------------------------------------------------------------------------

def tree(pid):
    """pid and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids):
    """{pid: utime+stime seconds} for live pids."""
    res = {}
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            res[p] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (OSError, IndexError, ValueError):
            pass
    return res


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def cpu_of_tree(pid):
    return cpu_seconds(tree(pid))


def hwm_mb(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def cpu_delta(before, after):
    """CPU used between two samples; processes born in between count from 0,
    processes that died in between are lost (none should)."""
    return sum(t - before.get(p, 0.0) for p, t in after.items())


# --------------------------------------------------------------------------
# Subscriber (runs as `bench.py _subscribe ...` in its own process so its
# CPU, GIL and JPEG decoding never compete with the bench's sampling).
# --------------------------------------------------------------------------

def subscribe_main(argv):
    ap = argparse.ArgumentParser(prog="bench.py _subscribe")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--device", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stats-out", help="also record edgecam/<device>/stats here")
    ap.add_argument("--no-barcode", action="store_true",
                    help="do not decode the JPEGs (scale runs: keeps the harness light)")
    a = ap.parse_args(argv)

    from baseline_reader import mqtt_client
    from read_barcode import decode_jpeg

    out = open(a.out, "w", buffering=1 << 16)
    stats_out = open(a.stats_out, "w", buffering=1) if a.stats_out else None
    prefix = f"edgecam/{a.device}/"
    last_flush = [0.0]

    def on_connect(c, _u, _f, rc, _p=None):
        c.subscribe(prefix + "+/frame", qos=0)
        if stats_out:
            c.subscribe(prefix + "stats", qos=0)

    def on_subscribe(*_):
        print("SUBSCRIBED", flush=True)

    def on_message(_c, _u, msg):
        recv = time.time_ns()
        if stats_out and msg.topic == prefix + "stats":
            stats_out.write(msg.payload.decode(errors="replace").replace("\n", " ") + "\n")
            return
        cam = msg.topic[len(prefix):].split("/", 1)[0]
        props = dict(getattr(msg.properties, "UserProperty", None) or [])
        if a.no_barcode:
            idx, w, h = -2, 0, 0
        else:
            try:
                idx, w, h = decode_jpeg(msg.payload)
            except Exception:
                idx, w, h = -1, 0, 0
        rec = [cam, int(props.get("seq", -1)), int(props.get("ts_ns", 0)), recv,
               idx, w, h, len(msg.payload)]
        out.write(json.dumps(rec) + "\n")
        if time.monotonic() - last_flush[0] > 0.2:
            out.flush()
            last_flush[0] = time.monotonic()

    c = mqtt_client(f"bench-sub-{a.device}-{os.getpid()}")
    c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
    signal.signal(signal.SIGTERM, lambda *_: c.disconnect())
    c.connect("127.0.0.1", a.port, keepalive=30)
    try:
        c.loop_forever()
    finally:
        out.flush()
    return 0


def load_records(path):
    recs = []
    with open(path) as f:
        for line in f:
            try:
                recs.append(json.loads(line))
            except ValueError:  # torn last line
                pass
    return recs


def load_sendlog(path):
    sends = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                sends.setdefault((parts[0], int(parts[1])), []).append(int(parts[2]))
    for v in sends.values():
        v.sort()
    return sends


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def analyse(recs, sends, t0, t1, cameras, loop_ns):
    """Frame counts, latencies and seq gaps for records received in [t0, t1]."""
    win = [r for r in recs if t0 <= r[3] <= t1]
    per_cam = {c: [] for c in cameras}
    lat, cap_lat = [], []
    unmatched = bad_barcode = 0
    for cam, seq, ts_ns, recv, idx, _w, _h, _size in win:
        per_cam.setdefault(cam, []).append(seq)
        if ts_ns:
            cap_lat.append((recv - ts_ns) / 1e6)
        if idx == -2:  # subscriber ran with --no-barcode
            continue
        if idx < 0:
            bad_barcode += 1
            continue
        # The clip loops: the frame is the most recent send of that index.
        times = sends.get((cam, idx), [])
        k = bisect.bisect_right(times, recv)
        if k and recv - times[k - 1] < loop_ns:
            lat.append((recv - times[k - 1]) / 1e6)
        else:
            unmatched += 1
    drops = 0
    for seqs in per_cam.values():
        for a, b in zip(seqs, seqs[1:]):
            if b > a + 1:
                drops += b - a - 1
    secs = (t1 - t0) / 1e9
    fps = {c: len(s) / secs for c, s in per_cam.items()}
    return dict(frames=len(win), fps_per_cam=sum(fps.values()) / max(1, len(cameras)),
                fps_min_cam=min(fps.values()) if fps else 0.0, fps_by_cam=fps,
                lat_p50=pct(lat, 50), lat_p99=pct(lat, 99),
                cap_p50=pct(cap_lat, 50), cap_p99=pct(cap_lat, 99),
                drops=drops, unmatched=unmatched, bad_barcode=bad_barcode,
                jpeg_kb=(statistics.mean(r[7] for r in win) / 1024) if win else None,
                size=f"{win[0][5]}x{win[0][6]}" if win else None)


# --------------------------------------------------------------------------
# Bench
# --------------------------------------------------------------------------

def load_stats(path):
    """edgecam stats messages (JSON, one a line) in arrival order."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


# Drop reasons that mean a frame the pipeline wanted was lost (`paced` is
# skipping on purpose to reach the requested fps, see docs/mqtt.md).
LOSS_REASONS = ("pool_exhausted", "mqtt_backpressure", "decode_error", "late",
                "awaiting_keyframe")


def stats_delta(stats, cams, t0, t1):
    """Counter differences between the first and the last stats message whose
    own ts_ns falls inside [t0, t1] (edgecam's counters are cumulative)."""
    inside = [m for m in stats if t0 <= m.get("ts_ns", 0) <= t1]
    if len(inside) < 2:
        return {}
    a, b = inside[0], inside[-1]
    secs = (b["ts_ns"] - a["ts_ns"]) / 1e9
    tot = dict(frames_in=0, frames_decoded=0, frames_published=0, lost=0)
    for c in cams:
        ca, cb = a["cameras"].get(c), b["cameras"].get(c)
        if not ca or not cb:
            continue
        for k in ("frames_in", "frames_decoded", "frames_published"):
            tot[k] += cb.get(k, 0) - ca.get(k, 0)
        for r in LOSS_REASONS:
            tot["lost"] += cb["dropped"].get(r, 0) - ca["dropped"].get(r, 0)
    lat = [(b["cameras"][c].get("latency_ms_p50"), b["cameras"][c].get("latency_ms_p99"),
            b["cameras"][c].get("decode_ms_p50")) for c in cams if c in b["cameras"]]
    lat = [x for x in lat if None not in x]
    return dict(stats_secs=secs, in_rate=tot["frames_in"] / secs,
                # capture (ts_ns) -> hand-over to the MQTT client, edgecam's own
                # view (last interval; median of the cameras' p50, worst p99)
                int_lat_p50=statistics.median(x[0] for x in lat) if lat else None,
                int_lat_p99=max(x[1] for x in lat) if lat else None,
                decode_ms_p50=statistics.median(x[2] for x in lat) if lat else None,
                decoded_rate=tot["frames_decoded"] / secs,
                published_rate=tot["frames_published"] / secs,
                decoded_per_in=(tot["frames_decoded"] / tot["frames_in"]
                                if tot["frames_in"] else None),
                lost=tot["lost"],
                stats_peak_rss_mb=b.get("process", {}).get("peak_rss_bytes", 0) / 2**20)


def nonref_fraction(path):
    """Fraction of access units (AUD-delimited) whose slices have
    nal_ref_idc == 0, i.e. pictures nothing else refers to."""
    with open(path, "rb") as f:
        data = f.read()
    aus = nonref = 0
    first_vcl = None
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        h = data[i + 3]
        t = h & 0x1F
        if t == 9:  # AUD: a new access unit
            if first_vcl is not None:
                aus += 1
                nonref += first_vcl == 0
            first_vcl = None
        elif t in (1, 5) and first_vcl is None:
            first_vcl = (h >> 5) & 3
        i = data.find(b"\x00\x00\x01", i + 3)
    if first_vcl is not None:
        aus += 1
        nonref += first_vcl == 0
    return nonref / aus if aus else 0.0


class Bench:
    def __init__(self, args, procs, work, logdir):
        self.a, self.procs, self.work, self.logdir = args, procs, work, logdir
        self.cameras = [f"cam{i}" for i in range(args.cameras)]

    def log(self, name):
        return os.path.join(self.logdir, name)

    def clip_path(self, nonref):
        c = CLIP
        cache = os.path.join(ROOT, "target", "fixtures")
        suffix = "-nonref" if nonref else ""
        path = os.path.join(cache, "clip-{width}x{height}-{fps}fps-{seconds}s-gop{gop}-{bitrate}"
                            .format(**c) + suffix + ".h264")
        env = dict(os.environ, NONREF="1" if nonref else "")
        subprocess.run([os.path.join(FIXTURES, "make_clip.sh"), path,
                        str(c["width"]), str(c["height"]), str(c["fps"]),
                        str(c["seconds"]), str(c["gop"]), c["bitrate"]],
                       check=True, stdout=subprocess.DEVNULL, env=env)
        return path

    def make_clip(self):
        self.clip = self.clip_path(self.a.nonref)
        self.clip_frames = CLIP["fps"] * CLIP["seconds"]

    def start_infra(self, mounts=None):
        """mosquitto and the RTSP server; mounts = [(name, clip)] (default:
        every camera serving self.clip). Idle mounts cost nothing: a mount's
        pipeline is built when its first client connects."""
        mounts = mounts or [(c, self.clip) for c in self.cameras]
        self.mqtt_port = free_port()
        conf = os.path.join(self.work, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {self.mqtt_port} 127.0.0.1\nallow_anonymous true\n"
                    "persistence false\n")
        p = self.procs.start(["mosquitto", "-c", conf], log=self.log("mosquitto.log"))
        wait_port(self.mqtt_port, p)
        self.mosquitto = p

        self.sendlog = os.path.join(self.work, "sendlog.txt")
        argv = [PY, os.path.join(FIXTURES, "rtsp_server.py"), "--port", "0",
                "--fps", str(CLIP["fps"]), "--sendlog", self.sendlog]
        for name, clip in mounts:
            argv += ["--mount", f"{name}={clip}"]
        p = self.procs.start(argv, log=self.log("rtsp_server.log"), stdout=subprocess.PIPE)
        self.rtsp_port = int(read_line(p, "READY", 60).split()[1])
        self.rtsp = p

    def url(self, cam):
        return f"rtsp://127.0.0.1:{self.rtsp_port}/{cam}"

    def longer_clip(self, clip, loops):
        # Raw H.264 cannot be seeked, so -stream_loop fails on it; an
        # Annex-B file concatenated with itself is a valid longer stream.
        longer = os.path.join(self.work, f"{os.path.basename(clip)}.x{loops}.h264")
        if not os.path.exists(longer):
            with open(clip, "rb") as f:
                data = f.read()
            with open(longer, "wb") as f:
                f.write(data * loops)
        return longer

    def rusage_of(self, argv, log):
        """Runs argv to completion; (CPU seconds of exactly this child, max RSS MB)."""
        p = self.procs.start(argv, log=log)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        self.procs.procs.remove(p)
        if p.returncode:
            raise BenchError(f"{argv[0]} failed ({p.returncode}); see {log}\n{tail(log)}")
        return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024

    def decode_floor(self, clip=None, loops=4):
        """CPU ms per frame for single-threaded libavcodec decoding of the clip."""
        longer = self.longer_clip(clip or self.clip, loops)
        cpu, rss = self.rusage_of(["ffmpeg", "-nostdin", "-v", "error", "-threads", "1",
                                   "-i", longer, "-f", "null", "-"], self.log("floor.log"))
        frames = CLIP["fps"] * CLIP["seconds"] * loops
        return dict(ms_per_frame=cpu * 1000 / frames, rss_mb=rss)

    def decode_alone(self, clip, loops, exe=None, decoder="software"):
        """The decoder edgecam uses, alone, on the same clip: `edgecam decode
        --decoder software` (openh264, the decode loop of a camera thread
        with nothing after it). CPU from the child's rusage / pictures."""
        longer = self.longer_clip(clip, loops)
        log = self.log(f"decode-alone-{decoder}.log")
        cpu, rss = self.rusage_of([exe or self.a.edgecam, "decode", "--input", longer,
                                   "--decoder", decoder], log)
        with open(log) as f:
            text = f.read()
        report = json.loads(text[text.rindex("{\n"):]) if "{\n" in text else {}
        pictures = report.get("pictures") or CLIP["fps"] * CLIP["seconds"] * loops
        return dict(ms_per_frame=cpu * 1000 / pictures, rss_mb=rss, frames=pictures,
                    decoder=report.get("decoder"), input=longer)

    def start_edgecam(self, device, cams=None, fps=None, exe=None, decoder=None, fmt=None):
        cams = cams or self.cameras
        fps = self.a.fps if fps is None else fps
        cfg = os.path.join(self.work, f"edgecam-{device}.toml")
        with open(cfg, "w") as f:
            # stats every second: the bench reads frames_in/decoded/published
            # and loss counters from them (cumulative counters).
            f.write(f'[device]\nid = "{device}"\n\n[mqtt]\nurl = "mqtt://127.0.0.1:{self.mqtt_port}"\n'
                    'stats_interval_s = 1\n')
            # The bench measures the pipeline's cost at the asked rate; load
            # shedding (on by default) would lower the rate on a busy machine.
            f.write('\n[pressure]\nenabled = false\n')
            if decoder or fmt:
                f.write('\n[defaults]\n')
            if decoder:
                f.write(f'decoder = "{decoder}"\n')
            if fmt:
                f.write(f'format = "{fmt}"\n')
            for c in cams:
                f.write(f'\n[[camera]]\nname = "{c}"\nsource = "{self.url(c)}"\nfps = {fps:g}\n')
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        return self.procs.start([exe or self.a.edgecam, "run", "--config", cfg],
                                log=self.log(f"edgecam-{device}.log"), env=env)

    def start_baseline(self, device, cams=None, fps=None):
        cams = cams or self.cameras
        fps = self.a.fps if fps is None else fps
        argv = [PY, os.path.join(HERE, "baseline_reader.py"),
                "--broker", f"127.0.0.1:{self.mqtt_port}", "--device", device,
                "--fps", f"{fps:g}", "--size", f"{CLIP['width']}x{CLIP['height']}"]
        argv += [f"{c}={self.url(c)}" for c in cams]
        return self.procs.start(argv, log=self.log(f"baseline-{device}.log"))

    def measure(self, name, device, starter, run, cams=None, seconds=None, barcode=True):
        cams = cams or self.cameras
        seconds = seconds or self.a.seconds
        recfile = os.path.join(self.work, f"recv-{device}-{run}.jsonl")
        statsfile = os.path.join(self.logdir, f"stats-{device}-{run}.jsonl")
        argv = [PY, os.path.abspath(__file__), "_subscribe", "--port", str(self.mqtt_port),
                "--device", device, "--out", recfile, "--stats-out", statsfile]
        if not barcode:
            argv.append("--no-barcode")
        sub = self.procs.start(argv, log=self.log("subscriber.log"), stdout=subprocess.PIPE)
        read_line(sub, "SUBSCRIBED", 15)
        sut = starter(device)
        try:
            # Wait until every camera delivers, then let it settle.
            end = time.monotonic() + self.a.start_timeout
            while True:
                if sut.poll() is not None:
                    raise BenchError(f"{name} exited with {sut.returncode}; last log lines "
                                     f"({sut.log}):\n{tail(sut.log)}")
                seen = {r[0] for r in load_records(recfile)} if os.path.exists(recfile) else set()
                if seen >= set(cams):
                    break
                if time.monotonic() > end:
                    raise BenchError(f"{name}: no frames from {sorted(set(cams) - seen)} "
                                     f"after {self.a.start_timeout}s; log {sut.log}:\n{tail(sut.log)}")
                time.sleep(0.2)
            time.sleep(self.a.warmup)

            harness = [self.rtsp.pid, self.mosquitto.pid, sub.pid]
            c0 = cpu_of_tree(sut.pid)
            h0 = cpu_seconds(harness)
            t0 = time.time_ns()
            time.sleep(seconds)
            t1 = time.time_ns()
            pids = tree(sut.pid)
            c1 = cpu_seconds(pids)
            h1 = cpu_seconds(harness)
            rss = hwm_mb(pids)
            nprocs = len(c1)
            names = {p: comm(p) for p in c1}
            if sut.poll() is not None:
                raise BenchError(f"{name} died during the measurement; see {sut.log}")
        finally:
            self.procs.stop(sut)
            time.sleep(0.3)  # let the subscriber drain in-flight messages
            self.procs.stop(sub)

        secs = (t1 - t0) / 1e9
        cpu = cpu_delta(c0, c1)
        by_comm = {}  # where the CPU goes, e.g. ffmpeg children vs python parent
        for p, t in c1.items():
            by_comm[names[p]] = by_comm.get(names[p], 0.0) + (t - c0.get(p, 0.0)) / secs * 100
        loop_ns = CLIP["seconds"] * 10**9
        res = analyse(load_records(recfile), load_sendlog(self.sendlog), t0, t1,
                      cams, loop_ns)
        res.update(stats_delta(load_stats(statsfile), cams, t0, t1))
        res.update(name=name, cameras=len(cams), seconds=secs, cpu_s=cpu,
                   cpu_pct_per_cam=cpu / secs * 100 / len(cams),
                   cpu_ms_per_frame=(cpu * 1000 / res["frames"]) if res["frames"] else None,
                   rss_mb=rss, processes=nprocs,
                   cpu_pct_by_process=" ".join(f"{k}={v:.1f}%" for k, v in sorted(by_comm.items())),
                   harness_cpu_pct=cpu_delta(h0, h1) / secs * 100)
        if res.get("decoded_rate"):
            res["cpu_ms_per_decoded"] = cpu / secs * 1000 / res["decoded_rate"]
        return res

    def run_once(self, run):
        results = {}
        floor = self.decode_floor()
        systems = []
        if not self.a.skip_edgecam:
            systems.append(("edgecam", "bench", self.start_edgecam))
        if not self.a.skip_baseline:
            systems.append(("ffmpeg-pipe baseline", "baseline", self.start_baseline))
        if run % 2:  # alternate the order so slow drift hits both alike
            systems.reverse()
        for name, device, starter in systems:
            print(f"  run {run + 1}: {name} ...", file=sys.stderr, flush=True)
            results[name] = self.measure(name, device, starter, run)
        add_floor(results, floor, len(self.cameras))
        return results


def add_floor(results, floor, cameras, base_name="ffmpeg-pipe baseline"):
    """Adds the decode-floor row and the x floor / x baseline ratios."""
    src_fps = CLIP["fps"]
    ms = floor["ms_per_frame"]
    floor_pct = src_fps * ms / 10  # % of a core per camera
    results["decode floor"] = dict(
        name="decode floor", cameras=cameras, fps_per_cam=src_fps,
        cpu_pct_per_cam=floor_pct, cpu_ms_per_frame=ms, rss_mb=floor["rss_mb"])
    base = results.get(base_name)
    for r in results.values():
        r["ratio_floor"] = r["cpu_pct_per_cam"] / floor_pct
        r["ratio_baseline"] = (r["cpu_pct_per_cam"] / base["cpu_pct_per_cam"]
                               if base else None)


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

COLUMNS = [  # (header, key, format)
    ("system", "name", "{}"),
    ("cameras", "cameras", "{}"),
    ("fps out/cam", "fps_per_cam", "{:.2f}"),
    ("CPU %/cam", "cpu_pct_per_cam", "{:.1f}"),
    ("CPU ms/frame", "cpu_ms_per_frame", "{:.2f}"),
    ("x decode floor", "ratio_floor", "{:.2f}"),
    ("x baseline", "ratio_baseline", "{:.2f}"),
    ("peak RSS MB", "rss_mb", "{:.1f}"),
    ("lat p50 ms", "lat_p50", "{:.0f}"),
    ("lat p99 ms", "lat_p99", "{:.0f}"),
    ("ts->recv p50/p99 ms", ("cap_p50", "cap_p99"), "{:.0f}/{:.0f}"),
    ("drops", "drops", "{}"),
]
ORDER = ["edgecam", "edgecam (gstreamer)", "ffmpeg-pipe baseline", "decode floor"]


def ordered(names):
    return [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER)


def median_dict(ds):
    """The median of every numeric field over dicts with the same keys."""
    m = dict(ds[0])
    for k, v in ds[0].items():
        vals = [d.get(k) for d in ds]
        if None in vals or isinstance(v, bool):
            continue
        if all(isinstance(x, int) for x in vals):
            m[k] = statistics.median_low(vals)  # counts stay whole numbers
        elif all(isinstance(x, (int, float)) for x in vals):
            m[k] = statistics.median(vals)
    return m


def median_results(runs):
    """Per system, the median of every numeric field over the runs."""
    names = set().union(*runs) if runs else set()
    return {n: median_dict([r[n] for r in runs if n in r]) for n in ordered(names)}


def cell(r, key, fmt):
    if isinstance(key, tuple):
        vals = [r.get(k) for k in key]
        return "-" if None in vals else fmt.format(*vals)
    v = r.get(key)
    if v is None:
        return "-"
    if isinstance(v, float) and fmt == "{}":
        v = round(v)
    return fmt.format(v)


def table(results):
    rows = [[h for h, _, _ in COLUMNS]]
    for name in ordered(results):
        rows.append([cell(results[name], k, f) for _, k, f in COLUMNS])
    return md_table(rows)


def md_table(rows, right=None):
    """Markdown table; first row is the header. Columns are right-aligned
    except the first (and those listed in `right` as False)."""
    n = len(rows[0])
    right = right or [i > 0 for i in range(n)]
    widths = [max(len(r[i]) for r in rows) for i in range(n)]

    def fmt(r):
        return "| " + " | ".join(c.rjust(w) if right[i] else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(r, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ":" if right[i] else "-" * (w + 2)
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(rows[0]), sep] + [fmt(r) for r in rows[1:]])


# --------------------------------------------------------------------------
# --goals: issue 6's G1..G7 in one command
# --------------------------------------------------------------------------

ALLOC_RE = re.compile(r"edgecam allocations per frame: ([0-9.]+) \((\d+) over (\d+) units, "
                      r"(\d+) published; (.*)\)$", re.M)
MQTT_ALLOC_RE = re.compile(r"rumqttc allocations per frame publish: ([0-9.]+)")


def alloc_check(a, logdir):
    """G6: the zero-allocation test (a counting global allocator around the
    frame path) and the MQTT client's allocations per publish, as printed."""
    argv = ["cargo", "test", "--release", "-j", "1", "--test", "alloc_free", "--",
            "--nocapture", "--test-threads", "1"]
    print("  G6: " + " ".join(argv), file=sys.stderr, flush=True)
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    with open(os.path.join(logdir, "alloc_free.log"), "w") as f:
        f.write(p.stdout + p.stderr)
    paths = [dict(per_frame=float(m[1]), allocs=int(m[2]), units=int(m[3]),
                  published=int(m[4]), path=m[5]) for m in ALLOC_RE.finditer(p.stdout)]
    mq = MQTT_ALLOC_RE.search(p.stdout)
    return dict(ok=p.returncode == 0 and bool(paths), returncode=p.returncode, paths=paths,
                max_per_frame=max((x["per_frame"] for x in paths), default=None),
                mqtt_per_publish=float(mq[1]) if mq else None, command=" ".join(argv))


class Goals:
    """Runs every phase G1..G7 needs on one broker and one RTSP server, K
    times, and reduces them to one table of medians."""

    def __init__(self, a, bench):
        self.a, self.b = a, bench
        self.n = a.cameras
        self.clip = bench.clip_path(False)
        self.nr_clip = bench.clip_path(True)
        self.nonref_frac = nonref_fraction(self.nr_clip)
        self.full = [f"cam{i}" for i in range(max(self.n, a.scale_cameras, a.scale_max))]
        self.nr = [f"nr{i}" for i in range(self.n)]
        self.scale_hint = None  # the previous run's max N at 5 fps

    def mounts(self):
        return [(c, self.clip) for c in self.full] + [(c, self.nr_clip) for c in self.nr]

    def say(self, run, msg):
        print(f"  run {run + 1}: {msg}", file=sys.stderr, flush=True)

    def pair(self, run, tag, cams, fps, with_gst=False):
        """edgecam and the baseline (and edgecam-gst) on the same mounts,
        order alternating between runs."""
        b = self.b
        systems = [("edgecam", f"{tag}-edgecam",
                    lambda d: b.start_edgecam(d, cams, fps))]
        if with_gst and self.a.edgecam_gst:
            systems.append(("edgecam (gstreamer)", f"{tag}-gst",
                            lambda d: b.start_edgecam(d, cams, fps, exe=self.a.edgecam_gst,
                                                      decoder="gstreamer")))
        if not self.a.skip_baseline:
            systems.append(("ffmpeg-pipe baseline", f"{tag}-baseline",
                            lambda d: b.start_baseline(d, cams, fps)))
        if run % 2:
            systems.reverse()
        out = {}
        for name, device, starter in systems:
            self.say(run, f"{tag}: {name}, {len(cams)} cameras at {fps:g} fps ...")
            out[name] = b.measure(name, device, starter, run, cams=cams)
        return out

    def scale_probe(self, run, n, fps):
        cams = self.full[:n]
        self.say(run, f"G7: edgecam, {n} cameras at {fps:g} fps ...")
        try:
            r = self.b.measure("edgecam", f"scale{n}-{fps:g}".replace(".", "_"), lambda d: self.b.start_edgecam(
                d, cams, fps), run, cams=cams, seconds=self.a.scale_seconds, barcode=False)
        except BenchError as e:  # e.g. not every camera started: that N does not hold
            print(f"    {e}".splitlines()[0], file=sys.stderr)
            return dict(cameras=n, ok=False, drop_pct=100.0, error=str(e).splitlines()[0])
        want = n * fps
        pub = r.get("published_rate", r["fps_per_cam"] * n)
        # Falling behind shows as fewer frames published than asked for (a
        # saturated box reads its sockets late: no loss counter moves). The
        # count over a window is exact to one frame per camera, so that much
        # shortfall is not a drop.
        secs = r.get("stats_secs") or r["seconds"]
        shortfall = max(0.0, want * secs - pub * secs - n) / (want * secs) * 100
        # Real losses: edgecam's loss counters (pool, MQTT, late, decode
        # errors, broken references) and seq gaps seen by the subscriber.
        lost = r.get("lost", 0) + r["drops"]
        loss_pct = lost / max(1, r["frames"] + lost) * 100
        r["drop_pct"] = max(shortfall, loss_pct)
        r["lost_frames"] = lost
        r["ok"] = r["drop_pct"] < self.a.scale_drop_pct
        self.say(run, f"G7: {n} x {fps:g} fps: published {pub:.1f}/s of {want:g}, lost {lost}, "
                      f"drops {r['drop_pct']:.2f} % -> {'holds' if r['ok'] else 'does not hold'}; "
                      f"edgecam CPU {r['cpu_pct_per_cam'] * n:.0f} %, harness {r['harness_cpu_pct']:.0f} %")
        return r

    def scale_search(self, run, per_cam_pct):
        """Largest N holding 5 fps full decode with < 1 % drops: grow from a
        guess until a failure, then bisect; bounded by probes and time."""
        start = time.monotonic()
        guess = self.scale_hint or max(2, int(150 / max(per_cam_pct, 1e-3)))
        n = min(max(2, guess), self.a.scale_max)
        good, bad, probes = 0, None, []
        while len(probes) < self.a.scale_probes and time.monotonic() - start < self.a.scale_budget:
            r = self.scale_probe(run, n, self.a.fps)
            probes.append(r)
            if r["ok"]:
                good = max(good, n)
            else:
                bad = n if bad is None else min(bad, n)
            if bad is not None and bad - good <= 1:
                break
            if good >= self.a.scale_max:
                break
            if bad is None:
                n = min(self.a.scale_max, max(n + 1, int(n * 1.25)))
            else:
                n = (good + bad) // 2 if good else max(1, bad // 2)
        self.scale_hint = good or None
        return dict(max_n=good, first_fail=bad, probes=[
            {k: p.get(k) for k in ("cameras", "ok", "drop_pct", "cpu_pct_per_cam",
                                   "harness_cpu_pct", "published_rate", "error")}
            for p in probes])

    def run_once(self, run):
        a, b = self.a, self.b
        res = {}
        cams = self.full[:self.n]
        # Decoders alone on the same clip, over as many frames as the full
        # path decodes in its window (cameras x 15 fps x seconds).
        loops = max(1, round(self.n * CLIP["fps"] * a.seconds / (CLIP["fps"] * CLIP["seconds"])))
        self.say(run, f"decoders alone: openh264 (edgecam decode) and libavcodec (ffmpeg -threads 1), "
                      f"{loops} x the clip ...")
        res["alone"] = b.decode_alone(self.clip, loops)
        res["floor"] = b.decode_floor(self.clip, loops)
        if a.edgecam_gst:
            res["alone_gst"] = b.decode_alone(self.clip, loops, exe=a.edgecam_gst,
                                              decoder="gstreamer")
        # G1, G2, G4, G5: full decode at 5 fps.
        full = self.pair(run, "full", cams, a.fps, with_gst=True)
        add_floor(full, res["floor"], self.n)
        res["full"] = full
        if not a.skip_raw:
            # G1 without the JPEG encode: raw I420 at source size, so what
            # remains above the decoder is edgecam's own work (receive,
            # depacketise, pace, copy into a pooled buffer, publish).
            self.say(run, f"G1 raw: edgecam, I420 out, {self.n} cameras at {a.fps:g} fps ...")
            res["raw"] = {"edgecam (i420 out)": b.measure(
                "edgecam (i420 out)", "raw-edgecam",
                lambda d: b.start_edgecam(d, cams, a.fps, fmt="i420"), run, cams=cams,
                barcode=False)}
        # G3: keyframe-only at 0.5 fps, and the B-frame clip at 5 fps.
        if not a.skip_g3:
            res["key"] = self.pair(run, "keyframe", cams, a.key_fps)
            res["nonref"] = self.pair(run, "nonref", self.nr, a.fps)
        # G7
        if not a.skip_g7:
            r = self.scale_probe(run, a.scale_cameras, a.key_fps)
            res["scale_key"] = {k: r.get(k) for k in (
                "cameras", "ok", "drop_pct", "fps_min_cam", "fps_per_cam", "drops", "lost",
                "lost_frames",
                "cpu_pct_per_cam", "harness_cpu_pct", "rss_mb", "error")}
            per_cam = full["edgecam"]["cpu_pct_per_cam"] if "edgecam" in full else 10
            res["scale_full"] = self.scale_search(run, per_cam)
        return res


def g_rows(runs, alloc, a, has_gst):
    """Median over runs of every goal's numbers; rows of the G table."""
    def med(f):
        vals = [v for v in (f(r) for r in runs) if v is not None]
        return statistics.median(vals) if vals else None

    def get(r, *keys):
        for k in keys:
            if r is None or k not in r:
                return None
            r = r[k]
        return r

    def ratio(num, den):
        return num / den if num is not None and den else None

    def verdict(ok):
        return "-" if ok is None else ("PASS" if ok else "FAIL")

    k = f"{a.cameras} cams 720p15 GOP30, {a.seconds:g} s window"
    rows = []
    # G1 openh264
    g1 = med(lambda r: ratio(get(r, "full", "edgecam", "cpu_ms_per_decoded"), get(r, "alone", "ms_per_frame")))
    e_ms = med(lambda r: get(r, "full", "edgecam", "cpu_ms_per_decoded"))
    d_ms = med(lambda r: get(r, "alone", "ms_per_frame"))
    rows.append(["G1 openh264", "<= 1.05x decoder alone",
                 f"{g1:.2f}x ({e_ms:.2f} vs {d_ms:.2f} ms CPU/decoded frame)" if g1 else "-",
                 verdict(g1 <= 1.05 if g1 else None),
                 f"edgecam run, {k}, 5 fps JPEG vs `edgecam decode --decoder software` same clip"])
    if has_gst:
        g1g = med(lambda r: ratio(get(r, "full", "edgecam (gstreamer)", "cpu_ms_per_decoded"),
                                  get(r, "floor", "ms_per_frame")))
        g_ms = med(lambda r: get(r, "full", "edgecam (gstreamer)", "cpu_ms_per_decoded"))
        f_ms = med(lambda r: get(r, "floor", "ms_per_frame"))
        ga_ms = med(lambda r: get(r, "alone_gst", "ms_per_frame"))
        also = (f"; vs `edgecam-gst decode --decoder gstreamer` ({ga_ms:.2f} ms): "
                f"{g_ms / ga_ms:.2f}x" if ga_ms and g_ms else "")
        rows.append(["G1 libavcodec", "<= 1.05x decoder alone",
                     f"{g1g:.2f}x ({g_ms:.2f} vs {f_ms:.2f} ms CPU/decoded frame{also})" if g1g else "-",
                     verdict(g1g <= 1.05 if g1g else None),
                     f"edgecam-gst (decoder = \"gstreamer\"), {k} vs `ffmpeg -threads 1 -f null`"])
    else:
        rows.append(["G1 libavcodec", "<= 1.05x decoder alone", "not run (no --edgecam-gst)", "-",
                     "needs the GStreamer build of edgecam"])
    g1r = med(lambda r: ratio(get(r, "raw", "edgecam (i420 out)", "cpu_ms_per_decoded"),
                              get(r, "alone", "ms_per_frame")))
    r_ms = med(lambda r: get(r, "raw", "edgecam (i420 out)", "cpu_ms_per_decoded"))
    if g1r:
        rows.append(["G1 openh264, raw out", "<= 1.05x decoder alone",
                     f"{g1r:.2f}x ({r_ms:.2f} vs {d_ms:.2f} ms CPU/decoded frame)",
                     verdict(g1r <= 1.05),
                     "same, format = \"i420\" (no JPEG encode)"])
    # G2
    g2 = med(lambda r: get(r, "full", "edgecam", "ratio_baseline"))
    rows.append(["G2 openh264", "<= 0.60x ffmpeg-pipe CPU",
                 f"{g2:.2f}x" if g2 else "-", verdict(g2 <= 0.6 if g2 else None),
                 f"same run as G1 ({a.fps:g} fps JPEG out)"])
    if has_gst:
        g2g = med(lambda r: ratio(get(r, "full", "edgecam (gstreamer)", "cpu_pct_per_cam"),
                                  get(r, "full", "ffmpeg-pipe baseline", "cpu_pct_per_cam")))
        rows.append(["G2 libavcodec", "<= 0.60x ffmpeg-pipe CPU", f"{g2g:.2f}x" if g2g else "-",
                     verdict(g2g <= 0.6 if g2g else None), "same run, edgecam-gst"])
    # G3
    g3 = med(lambda r: get(r, "key", "edgecam", "ratio_baseline") or ratio(
        get(r, "key", "edgecam", "cpu_pct_per_cam"), get(r, "key", "ffmpeg-pipe baseline", "cpu_pct_per_cam")))
    kfps = med(lambda r: get(r, "key", "edgecam", "fps_per_cam"))
    rows.append(["G3 keyframe-only", "<= 0.25x ffmpeg-pipe CPU",
                 f"{g3:.2f}x at {kfps:.2f} fps/cam" if g3 else "-", verdict(g3 <= 0.25 if g3 else None),
                 f"{a.key_fps:g} fps out, {k}"])
    dpi = med(lambda r: get(r, "nonref", "edgecam", "decoded_per_in"))
    nr = med(lambda r: ratio(get(r, "nonref", "edgecam", "cpu_pct_per_cam"),
                             get(r, "nonref", "ffmpeg-pipe baseline", "cpu_pct_per_cam")))
    nr_full = med(lambda r: ratio(get(r, "nonref", "edgecam", "cpu_pct_per_cam"),
                                  get(r, "full", "edgecam", "cpu_pct_per_cam")))
    frac = runs[0].get("nonref_frac", 0) if runs else 0
    nfps = med(lambda r: get(r, "nonref", "edgecam", "fps_per_cam"))
    rows.append(["G3 non-ref skip", f"decoded/received <= {1 - frac:.2f} (clip {frac:.0%} non-ref)",
                 (f"{dpi:.2f} decoded/received at {nfps:.2f} fps/cam; CPU {nr:.2f}x ffmpeg-pipe, "
                  f"{nr_full:.2f}x edgecam on the no-B clip" if dpi is not None and nr and nr_full
                  else "-"),
                 # Skipping must not cost output: the rate asked for must still arrive.
                 verdict(dpi <= 1 - frac + 0.02 and nfps >= 0.98 * a.fps
                         if dpi is not None else None),
                 f"B-frame clip (x264 bf=2, b-pyramid none), {a.fps:g} fps, edgecam stats over MQTT"])
    # G4
    rss = med(lambda r: get(r, "full", "edgecam", "rss_mb"))
    brss = med(lambda r: get(r, "full", "ffmpeg-pipe baseline", "rss_mb"))
    rows.append(["G4 peak RSS", "<= 40 MB, 4 x 720p",
                 f"{rss:.1f} MB for {a.cameras} cams (baseline {brss:.0f} MB)" if rss and brss else
                 (f"{rss:.1f} MB" if rss else "-"),
                 verdict(rss <= 40 if rss and a.cameras >= 4 else None),
                 "VmHWM of edgecam at the end of the G1 window"])
    # G5
    p50 = med(lambda r: get(r, "full", "edgecam", "lat_p50"))
    p99 = med(lambda r: get(r, "full", "edgecam", "lat_p99"))
    i50 = med(lambda r: get(r, "full", "edgecam", "int_lat_p50"))
    i99 = med(lambda r: get(r, "full", "edgecam", "int_lat_p99"))
    dec = med(lambda r: get(r, "full", "edgecam", "decode_ms_p50"))
    inside = (f"; inside edgecam (capture -> MQTT client) p50 {i50:.1f} / p99 {i99:.1f} ms, "
              f"decode p50 {dec:.1f} ms wall" if i50 is not None and i99 is not None and dec else "")
    rows.append(["G5 latency", "p50 <= 10 ms, p99 <= 30 ms",
                 (f"p50 {p50:.1f} ms, p99 {p99:.1f} ms{inside}"
                  if p50 is not None and p99 is not None else "-"),
                 verdict(p50 <= 10 and p99 <= 30 if p50 is not None and p99 is not None else None),
                 "RTSP server push -> subscriber receive (barcode-matched), G1 window"])
    # G6
    if alloc:
        rows.append(["G6 allocations", "0 per frame (edgecam's path)",
                     (f"{alloc['max_per_frame']:g} per frame over {len(alloc['paths'])} paths; "
                      f"rumqttc {alloc['mqtt_per_publish']}/publish (reported)")
                     if alloc["paths"] else f"test failed (rc {alloc['returncode']})",
                     verdict(alloc["ok"] and alloc["max_per_frame"] == 0),
                     "cargo test --release --test alloc_free"])
    else:
        rows.append(["G6 allocations", "0 per frame", "not run (--skip-alloc)", "-", ""])
    # G7
    sk = [get(r, "scale_key") for r in runs if get(r, "scale_key")]
    if sk:
        okn = sum(1 for x in sk if x["ok"])
        worst = max(sk, key=lambda x: x["drop_pct"])
        detail = ("" if worst.get("error") else
                  f", min cam {worst['fps_min_cam']:.2f} fps, CPU {median_dict(sk)['cpu_pct_per_cam'] * sk[0]['cameras']:.0f} % "
                  f"of a core, harness {median_dict(sk)['harness_cpu_pct']:.0f} %")
        rows.append([f"G7 {a.scale_cameras} x {a.key_fps:g} fps", ">= 50 cams, 0 drops",
                     f"{okn}/{len(sk)} runs held; lost frames per run: "
                     f"{', '.join(str(x.get('lost_frames')) for x in sk)}{detail}",
                     verdict(okn == len(sk) and a.scale_cameras >= 50 and
                             all(x.get("lost_frames") == 0 and x["drop_pct"] == 0 for x in sk)),
                     f"{a.scale_cameras} cameras, {a.scale_seconds:g} s window, stats + seq gaps"])
        sf = [get(r, "scale_full") for r in runs]
        maxn = statistics.median_low([x["max_n"] for x in sf])
        fails = [x["first_fail"] for x in sf if x["first_fail"]]
        rows.append([f"G7 max N at {a.fps:g} fps", "< 1 % drops, full decode",
                     f"N = {maxn} (per run: {', '.join(str(x['max_n']) for x in sf)}; "
                     f"first failing N: {', '.join(map(str, fails)) or 'none up to --scale-max'})",
                     "-" if not maxn else "info",
                     f"search over N, {a.scale_seconds:g} s windows, <= {a.scale_probes} probes"])
    else:
        rows.append(["G7 scale", "", "not run (--skip-g7)", "-", ""])
    return rows


def goals_main(a, procs, work, logdir, stamp, load_before):
    b = Bench(a, procs, work, logdir)
    g = Goals(a, b)
    alloc = None if a.skip_alloc else alloc_check(a, logdir)
    b.start_infra(g.mounts())
    runs = []
    for run in range(a.runs):
        r = g.run_once(run)
        r["nonref_frac"] = g.nonref_frac
        runs.append(r)
    procs.stop_all()
    has_gst = bool(a.edgecam_gst)
    rows = g_rows(runs, alloc, a, has_gst)
    title = (f"edgecam goals (issue 6) {stamp}: {'median of %d runs' % a.runs if a.runs > 1 else '1 run'}, "
             f"{os.cpu_count()} CPUs, loadavg at start {load_before[0]:.2f}")
    head = ["goal", "target", "measured", "result", "from"]
    out = [title, "", md_table([head] + rows, right=[False] * 5), ""]
    # The per-system tables the ratios come from (medians).
    for key, label in (("full", f"G1/G2/G4/G5: {a.fps:g} fps, every frame decoded"),
                       ("key", f"G3: {a.key_fps:g} fps (keyframe-only)"),
                       ("nonref", f"G3: {a.fps:g} fps, clip with non-reference B-frames")):
        phase = [r[key] for r in runs if key in r]
        if phase:
            out += [f"{label}:", "", table(median_results(phase)), ""]
    alone = median_dict([r["alone"] for r in runs])
    floor = median_dict([r["floor"] for r in runs])
    out.append(f"- decoders alone on {alone['frames']} frames: openh264 (`edgecam decode --decoder "
               f"software`) {alone['ms_per_frame']:.2f} ms CPU/frame, libavcodec 1 thread "
               f"{floor['ms_per_frame']:.2f} ms" + (
                   f", edgecam-gst decode --decoder gstreamer "
                   f"{median_dict([r['alone_gst'] for r in runs])['ms_per_frame']:.2f} ms"
                   if runs and "alone_gst" in runs[0] else ""))
    for key in ("full", "raw", "nonref"):
        ph = median_results([r[key] for r in runs if key in r])
        for name, r in ph.items():
            if r.get("decoded_rate"):
                out.append(f"- {key} {name}: received {r['in_rate']:.1f} decoded {r['decoded_rate']:.1f} "
                           f"published {r['published_rate']:.1f} frames/s, "
                           f"{r.get('cpu_ms_per_decoded', 0):.2f} ms CPU/decoded frame, "
                           f"CPU {r['cpu_pct_by_process']}, harness {r['harness_cpu_pct']:.0f} %")
    for i, r in enumerate(runs):
        if "scale_full" in r:
            out.append(f"- G7 run {i + 1} probes: " + "; ".join(
                f"N={p['cameras']} {'ok' if p['ok'] else 'FAIL'} {p['drop_pct']:.2f} %"
                + (f" harness {p['harness_cpu_pct']:.0f} %" if p.get("harness_cpu_pct") is not None else "")
                for p in r["scale_full"]["probes"]))
    if alloc:
        for p in alloc["paths"]:
            out.append(f"- G6 {p['path']}: {p['allocs']} allocations over {p['units']} units "
                       f"({p['published']} published)")
    out.append("- harness CPU (RTSP server, broker, subscriber) is not counted in edgecam's; "
               "it shares the same cores")
    text = "\n".join(out) + "\n"
    print(text)
    base = os.path.join(a.out, f"goals-{stamp}")
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump(dict(args=vars(a), clip=CLIP, loadavg_start=load_before, rows=rows,
                       alloc=alloc, runs=runs), f, indent=1, default=str)
    print(f"wrote {base}.md, {base}.json (logs in {logdir})", file=sys.stderr)
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_subscribe":
        return subscribe_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--goals", action="store_true",
                    help="issue 6: run every phase and print one table with G1..G7 "
                         "(defaults: --cameras 4 --runs 3)")
    ap.add_argument("--cameras", type=int, default=None, help="default 2 (--goals: 4)")
    ap.add_argument("--seconds", type=float, default=20, help="measurement window per system")
    ap.add_argument("--fps", type=float, default=5, help="requested output fps per camera")
    ap.add_argument("--edgecam", default=os.environ.get("EDGECAM", DEFAULT_EDGECAM))
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-edgecam", action="store_true")
    ap.add_argument("--runs", type=int, default=None,
                    help="report medians of K runs (default 1; --goals: 3)")
    ap.add_argument("--warmup", type=float, default=3,
                    help="seconds excluded after every camera delivered its first frame")
    ap.add_argument("--nonref", action="store_true",
                    help="serve a clip with B-frames (I P B B ..., every B non-reference)")
    ap.add_argument("--start-timeout", type=float, default=60)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    g = ap.add_argument_group("--goals")
    g.add_argument("--edgecam-gst", metavar="PATH", default=os.environ.get("EDGECAM_GST"),
                   help="the GStreamer build of edgecam: adds a system run with "
                        "decoder = \"gstreamer\" (libavcodec) and its G1/G2 rows; "
                        "skipped when PATH does not exist")
    g.add_argument("--key-fps", type=float, default=0.5,
                   help="G3/G7 low rate (at or below the keyframe rate), default 0.5")
    g.add_argument("--scale-cameras", type=int, default=50, help="G7 cameras at --key-fps")
    g.add_argument("--scale-max", type=int, default=40, help="G7 search upper bound at --fps")
    g.add_argument("--scale-seconds", type=float, default=15, help="G7 window per probe")
    g.add_argument("--scale-probes", type=int, default=6, help="G7 probes per run")
    g.add_argument("--scale-budget", type=float, default=300,
                   help="G7 search time per run, seconds")
    g.add_argument("--scale-drop-pct", type=float, default=1.0)
    g.add_argument("--skip-alloc", action="store_true", help="no G6 (cargo test)")
    g.add_argument("--skip-g3", action="store_true")
    g.add_argument("--skip-raw", action="store_true", help="no G1 run with raw I420 output")
    g.add_argument("--skip-g7", action="store_true")
    a = ap.parse_args()
    a.cameras = a.cameras or (4 if a.goals else 2)
    a.runs = a.runs or (3 if a.goals else 1)
    if a.edgecam_gst and not os.access(a.edgecam_gst, os.X_OK):
        print(f"bench: --edgecam-gst {a.edgecam_gst}: not there (yet); libavcodec rows skipped",
              file=sys.stderr)
        a.edgecam_gst = None
    if a.goals and a.skip_edgecam:
        ap.error("--goals measures edgecam")
    if a.skip_edgecam and a.skip_baseline:
        ap.error("nothing to measure")
    if not a.skip_edgecam and not os.access(a.edgecam, os.X_OK):
        ap.error(f"edgecam binary not found or not executable: {a.edgecam}\n"
                 "  build it (cargo build --release --target x86_64-unknown-linux-gnu),\n"
                 "  pass --edgecam PATH (or EDGECAM=PATH), or use --skip-edgecam")
    for tool in ("ffmpeg", "ffprobe", "mosquitto"):
        if not shutil.which(tool):
            ap.error(f"{tool} not found on PATH")
    a.edgecam = os.path.abspath(a.edgecam)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(a.out, exist_ok=True)
    logdir = os.path.join(a.out, f"logs-{stamp}")
    os.makedirs(logdir)
    procs = Procs()
    # SIGTERM/SIGHUP must unwind through the finally below like Ctrl-C does.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: sys.exit(128 + s))
    load_before = os.getloadavg()
    if a.goals:
        with tempfile.TemporaryDirectory(prefix="edgecam-bench-") as work:
            try:
                return goals_main(a, procs, work, logdir, stamp, load_before)
            except BenchError as e:
                print(f"bench: error: {e}", file=sys.stderr)
                return 1
            finally:
                procs.stop_all()
    runs = []
    with tempfile.TemporaryDirectory(prefix="edgecam-bench-") as work:
        b = Bench(a, procs, work, logdir)
        try:
            b.make_clip()
            b.start_infra()
            for run in range(a.runs):
                runs.append(b.run_once(run))
        except BenchError as e:
            print(f"bench: error: {e}", file=sys.stderr)
            return 1
        finally:
            procs.stop_all()

    res = median_results(runs)
    title = (f"edgecam bench {stamp}: {a.cameras} camera(s), 720p15 H.264 GOP 30 ~3 Mbit/s "
             f"{'with non-reference B-frames ' if a.nonref else ''}"
             f"-> {a.fps:g} fps JPEG over MQTT; {a.seconds:g} s window after {a.warmup:g} s "
             f"warm-up; {'median of %d runs' % a.runs if a.runs > 1 else '1 run'}; "
             f"{os.cpu_count()} CPUs, loadavg at start {load_before[0]:.2f}")
    notes = []
    for name in res:
        r = res[name]
        if name != "decode floor":
            notes.append(f"{name}: {r['processes']} process(es) (CPU {r['cpu_pct_by_process']}), "
                         f"{r['frames']} frames in window, "
                         f"jpeg {r['jpeg_kb'] or 0:.0f} KB {r['size']}, min cam fps "
                         f"{r['fps_min_cam']:.2f}, bad barcodes {r['bad_barcode']}, "
                         f"unmatched {r['unmatched']}, harness CPU "
                         f"(rtsp server+broker+subscriber) {r['harness_cpu_pct']:.0f} %")
    text = "\n".join([title, "", table(res), ""] + [f"- {n}" for n in notes]) + "\n"
    print(text)
    base = os.path.join(a.out, f"bench-{stamp}")
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump(dict(args=vars(a), clip=CLIP, loadavg_start=load_before,
                       median=res, runs=runs), f, indent=1, default=str)
    print(f"wrote {base}.md, {base}.json (logs in {logdir})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
