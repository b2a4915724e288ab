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
    a = ap.parse_args(argv)

    from baseline_reader import mqtt_client
    from read_barcode import decode_jpeg

    out = open(a.out, "w", buffering=1 << 16)
    prefix = f"edgecam/{a.device}/"
    last_flush = [0.0]

    def on_connect(c, _u, _f, rc, _p=None):
        c.subscribe(prefix + "+/frame", qos=0)

    def on_subscribe(*_):
        print("SUBSCRIBED", flush=True)

    def on_message(_c, _u, msg):
        recv = time.time_ns()
        cam = msg.topic[len(prefix):].split("/", 1)[0]
        props = dict(getattr(msg.properties, "UserProperty", None) or [])
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

class Bench:
    def __init__(self, args, procs, work, logdir):
        self.a, self.procs, self.work, self.logdir = args, procs, work, logdir
        self.cameras = [f"cam{i}" for i in range(args.cameras)]

    def log(self, name):
        return os.path.join(self.logdir, name)

    def make_clip(self):
        c = CLIP
        cache = os.path.join(ROOT, "target", "fixtures")
        suffix = "-nonref" if self.a.nonref else ""
        path = os.path.join(cache, "clip-{width}x{height}-{fps}fps-{seconds}s-gop{gop}-{bitrate}"
                            .format(**c) + suffix + ".h264")
        env = dict(os.environ, NONREF="1" if self.a.nonref else "")
        subprocess.run([os.path.join(FIXTURES, "make_clip.sh"), path,
                        str(c["width"]), str(c["height"]), str(c["fps"]),
                        str(c["seconds"]), str(c["gop"]), c["bitrate"]],
                       check=True, stdout=subprocess.DEVNULL, env=env)
        self.clip = path
        self.clip_frames = c["fps"] * c["seconds"]

    def start_infra(self):
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
        for c in self.cameras:
            argv += ["--mount", f"{c}={self.clip}"]
        p = self.procs.start(argv, log=self.log("rtsp_server.log"), stdout=subprocess.PIPE)
        self.rtsp_port = int(read_line(p, "READY", 30).split()[1])
        self.rtsp = p

    def url(self, cam):
        return f"rtsp://127.0.0.1:{self.rtsp_port}/{cam}"

    def decode_floor(self):
        """CPU ms per frame for single-threaded libavcodec decoding of the clip."""
        # Raw H.264 cannot be seeked, so -stream_loop fails on it; an
        # Annex-B file concatenated with itself is a valid longer stream.
        loops = 4
        longer = os.path.join(self.work, "floor.h264")
        if not os.path.exists(longer):
            with open(self.clip, "rb") as f:
                data = f.read()
            with open(longer, "wb") as f:
                f.write(data * loops)
        p = self.procs.start(["ffmpeg", "-nostdin", "-v", "error", "-threads", "1",
                              "-i", longer, "-f", "null", "-"], log=self.log("floor.log"))
        _, status, ru = os.wait4(p.pid, 0)  # rusage of exactly this child
        p.returncode = os.waitstatus_to_exitcode(status)
        self.procs.procs.remove(p)
        if p.returncode:
            raise BenchError("decode floor ffmpeg failed")
        frames = self.clip_frames * loops
        return dict(ms_per_frame=(ru.ru_utime + ru.ru_stime) * 1000 / frames,
                    rss_mb=ru.ru_maxrss / 1024)

    def start_edgecam(self, device):
        exe = self.a.edgecam
        cfg = os.path.join(self.work, "edgecam.toml")
        with open(cfg, "w") as f:
            f.write(f'[device]\nid = "{device}"\n\n[mqtt]\nurl = "mqtt://127.0.0.1:{self.mqtt_port}"\n')
            # The bench measures the pipeline's cost at the asked rate; load
            # shedding (on by default) would lower the rate on a busy machine.
            f.write('\n[pressure]\nenabled = false\n')
            for c in self.cameras:
                f.write(f'\n[[camera]]\nname = "{c}"\nsource = "{self.url(c)}"\nfps = {self.a.fps:g}\n')
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        return self.procs.start([exe, "run", "--config", cfg], log=self.log("edgecam.log"), env=env)

    def start_baseline(self, device):
        argv = [PY, os.path.join(HERE, "baseline_reader.py"),
                "--broker", f"127.0.0.1:{self.mqtt_port}", "--device", device,
                "--fps", f"{self.a.fps:g}", "--size", f"{CLIP['width']}x{CLIP['height']}"]
        argv += [f"{c}={self.url(c)}" for c in self.cameras]
        return self.procs.start(argv, log=self.log("baseline.log"))

    def measure(self, name, device, starter, run):
        recfile = os.path.join(self.work, f"recv-{device}-{run}.jsonl")
        sub = self.procs.start([PY, os.path.abspath(__file__), "_subscribe",
                                "--port", str(self.mqtt_port), "--device", device,
                                "--out", recfile],
                               log=self.log("subscriber.log"), stdout=subprocess.PIPE)
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
                if seen >= set(self.cameras):
                    break
                if time.monotonic() > end:
                    raise BenchError(f"{name}: no frames from {sorted(set(self.cameras) - seen)} "
                                     f"after {self.a.start_timeout}s; log {sut.log}:\n{tail(sut.log)}")
                time.sleep(0.2)
            time.sleep(self.a.warmup)

            harness = [self.rtsp.pid, self.mosquitto.pid, sub.pid]
            c0 = cpu_of_tree(sut.pid)
            h0 = cpu_seconds(harness)
            t0 = time.time_ns()
            time.sleep(self.a.seconds)
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
                      self.cameras, loop_ns)
        res.update(name=name, cameras=len(self.cameras), seconds=secs, cpu_s=cpu,
                   cpu_pct_per_cam=cpu / secs * 100 / len(self.cameras),
                   cpu_ms_per_frame=(cpu * 1000 / res["frames"]) if res["frames"] else None,
                   rss_mb=rss, processes=nprocs,
                   cpu_pct_by_process=" ".join(f"{k}={v:.1f}%" for k, v in sorted(by_comm.items())),
                   harness_cpu_pct=cpu_delta(h0, h1) / secs * 100)
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
        src_fps = CLIP["fps"]
        ms = floor["ms_per_frame"]
        floor_pct = src_fps * ms / 10  # % of a core per camera
        results["decode floor"] = dict(
            name="decode floor", cameras=len(self.cameras), fps_per_cam=src_fps,
            cpu_pct_per_cam=floor_pct, cpu_ms_per_frame=ms, rss_mb=floor["rss_mb"])
        base = results.get("ffmpeg-pipe baseline")
        for r in results.values():
            r["ratio_floor"] = r["cpu_pct_per_cam"] / floor_pct
            r["ratio_baseline"] = (r["cpu_pct_per_cam"] / base["cpu_pct_per_cam"]
                                   if base else None)
        return results


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
ORDER = ["edgecam", "ffmpeg-pipe baseline", "decode floor"]


def median_results(runs):
    """Per system, the median of every numeric field over the runs."""
    out = {}
    for name in ORDER:
        rs = [r[name] for r in runs if name in r]
        if not rs:
            continue
        m = dict(rs[0])
        for k, v in rs[0].items():
            vals = [r.get(k) for r in rs]
            if None in vals or isinstance(v, bool):
                continue
            if all(isinstance(x, int) for x in vals):
                m[k] = statistics.median_low(vals)  # counts stay whole numbers
            elif all(isinstance(x, (int, float)) for x in vals):
                m[k] = statistics.median(vals)
        out[name] = m
    return out


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
    for name in ORDER:
        if name in results:
            rows.append([cell(results[name], k, f) for _, k, f in COLUMNS])
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]

    def fmt(r):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                 for i, (c, w) in enumerate(zip(r, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":"
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(rows[0]), sep] + [fmt(r) for r in rows[1:]])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_subscribe":
        return subscribe_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20, help="measurement window per system")
    ap.add_argument("--fps", type=float, default=5, help="requested output fps per camera")
    ap.add_argument("--edgecam", default=os.environ.get("EDGECAM", DEFAULT_EDGECAM))
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-edgecam", action="store_true")
    ap.add_argument("--runs", type=int, default=1, help="report medians of K runs")
    ap.add_argument("--warmup", type=float, default=3,
                    help="seconds excluded after every camera delivered its first frame")
    ap.add_argument("--nonref", action="store_true",
                    help="serve a clip with B-frames (I P B B ..., every B non-reference)")
    ap.add_argument("--start-timeout", type=float, default=30)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    a = ap.parse_args()
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
    for name in ORDER[:2]:
        r = res.get(name)
        if r:
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
