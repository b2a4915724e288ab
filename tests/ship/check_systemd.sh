#!/usr/bin/env bash
# Checks the systemd and udev files edgecam ships.
#
#   tests/ship/check_systemd.sh          static checks (about 10 s; the first run
#                                        may apt-get what is missing)
#   tests/ship/check_systemd.sh --vm     also boot Debian 12 with systemd as PID 1
#                                        under qemu and run the unit for real
#                                        (first run ~10 min: debootstrap + kernel)
#   -v / --verbose                       print every finding of systemd-analyze security
#
# Static checks:
#   * systemd-analyze verify of systemd/edgecam.service is silent (it exits 0 even
#     on unknown keys, so any output counts as a failure). If /usr/bin/edgecam does
#     not exist here, a temporary copy with ExecStart=/bin/true is verified.
#   * systemd-analyze security --offline=true: overall exposure <= 2.0 (printed).
#     Works without systemd running as PID 1.
#   * systemd-sysusers creates the edgecam user from systemd/edgecam.sysusers.conf
#     in a scratch root.
#   * systemd/edgecam.modules-load.conf names only modules.
#   * udevadm verify of udev/99-edgecam-cameras.rules (systemd >= 254; on Debian
#     12 the udev package of bookworm-backports is unpacked into a scratch
#     directory, nothing of the system's systemd is replaced).
#
# The VM run (--vm) boots the unit with a stand-in /usr/bin/edgecam that does what
# the real one must be allowed to do, and checks: READY/STATUS, a camera hotplugged
# after start (vivid) seen through a NETLINK_KOBJECT_UEVENT socket and opened as
# user edgecam through DevicePolicy=closed, what must stay denied, SIGTERM exit
# time, a watchdog timeout restarting the service, exit status 78 not being
# retried, the udev rule's capture-node logic, and the online security score.
#
# Last line: "check_systemd: N passed, M failed".
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
unit_src=$repo/systemd/edgecam.service
sysusers_src=$repo/systemd/edgecam.sysusers.conf
modload_src=$repo/systemd/edgecam.modules-load.conf
rules_src=$repo/udev/99-edgecam-cameras.rules
max_exposure=2.0

vm=0
verbose=0
for a in "$@"; do
    case $a in
        --vm) vm=1 ;;
        -v|--verbose) verbose=1 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "usage: $0 [--vm] [-v]" >&2; exit 2 ;;
    esac
done

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_install() {
    if [ $apt_updated -eq 0 ]; then
        as_root apt-get update -qq >/dev/null 2>&1 || true
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
need() { # need COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || apt_install "$2" || { echo "cannot install $2" >&2; exit 1; }
}

need systemd-analyze systemd
need systemd-sysusers systemd
need udevadm udev
need python3 python3

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_COLOR=0 SYSTEMD_COLORS=0

# ---- unit: verify ----
mkdir -p "$work/unit"
unit=$work/unit/edgecam.service
if [ -x /usr/bin/edgecam ]; then
    cp "$unit_src" "$unit"
    note="real ExecStart"
else
    sed 's#^ExecStart=/usr/bin/edgecam #ExecStart=/bin/true #' "$unit_src" > "$unit"
    note="ExecStart=/bin/true stand-in: /usr/bin/edgecam is not installed here"
fi
out=$(cd "$work/unit" && systemd-analyze verify --man=no ./edgecam.service 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then
    pass "systemd-analyze verify edgecam.service is clean ($note; $(systemd-analyze --version | head -1))"
else
    fail "systemd-analyze verify edgecam.service (rc=$rc):"; printf '%s\n' "$out" | sed 's/^/     /'
fi

# ---- unit: security ----
sec=$(cd "$work/unit" && systemd-analyze security --offline=true --no-pager ./edgecam.service 2>&1)
exposure=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for edgecam.service: \([0-9.]*\).*/\1/p' | tail -1)
if [ -z "$exposure" ]; then
    fail "systemd-analyze security --offline=true gave no exposure figure:"; printf '%s\n' "$sec" | tail -5 | sed 's/^/     /'
else
    # --threshold is in tenths; it must agree with the parsed figure.
    (cd "$work/unit" && systemd-analyze security --offline=true --threshold=20 ./edgecam.service >/dev/null 2>&1)
    thr_rc=$?
    if awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }' && [ $thr_rc -eq 0 ]; then
        pass "systemd-analyze security --offline=true: exposure $exposure (limit $max_exposure)"
    else
        fail "systemd-analyze security --offline=true: exposure $exposure > $max_exposure (threshold rc=$thr_rc)"
        verbose=1
    fi
    if [ $verbose -eq 1 ]; then
        printf '%s\n' "$sec" | grep -E '✗|Overall' | sed 's/^/     /'
    fi
fi

# ---- sysusers ----
root=$work/sysroot
mkdir -p "$root/etc"
out=$(systemd-sysusers --root="$root" "$sysusers_src" 2>&1)
if grep -q '^edgecam:x:[0-9]*:[0-9]*:[^:]*:/var/lib/edgecam:' "$root/etc/passwd" 2>/dev/null \
        && grep -q '^edgecam:x:' "$root/etc/group"; then
    pass "systemd-sysusers creates user and group edgecam (home /var/lib/edgecam)"
else
    fail "systemd-sysusers $sysusers_src:"; printf '%s\n' "$out" | sed 's/^/     /'
fi

# ---- modules-load.d ----
bad=$(grep -vE '^[[:space:]]*(#.*)?$' "$modload_src" | grep -vE '^[A-Za-z0-9_-]+$' || true)
mods=$(grep -vE '^[[:space:]]*(#.*)?$' "$modload_src" | xargs)
if [ -z "$bad" ] && [ -n "$mods" ]; then
    pass "edgecam.modules-load.conf loads: $mods"
else
    fail "edgecam.modules-load.conf has lines that are not module names: $bad"
fi

# ---- udev rules ----
udevadm_verify=""
if udevadm verify --help >/dev/null 2>&1; then
    udevadm_verify="udevadm"
elif [ -r /etc/os-release ] && grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
    bpo=$work/bpo
    mkdir -p "$bpo"
    if ! apt-cache policy udev 2>/dev/null | grep -q bookworm-backports; then
        echo "deb http://deb.debian.org/debian bookworm-backports main" \
            | as_root tee /etc/apt/sources.list.d/edgecam-check-bookworm-backports.list >/dev/null
        as_root apt-get update -qq >/dev/null 2>&1 || true
    fi
    if (cd "$bpo" && apt-get download -qq udev/bookworm-backports libsystemd-shared/bookworm-backports >/dev/null 2>&1); then
        for deb in "$bpo"/*.deb; do dpkg-deb -x "$deb" "$bpo/root"; done
        lib=$(dirname "$(find "$bpo/root" -name 'libsystemd-shared-*.so' | head -1)")
        bin=$(find "$bpo/root" -type f -name udevadm -perm -u+x | head -1)
        if [ -n "$bin" ] && LD_LIBRARY_PATH=$lib "$bin" verify --help >/dev/null 2>&1; then
            udevadm_verify="env LD_LIBRARY_PATH=$lib $bin"
        fi
    fi
fi
if [ -n "$udevadm_verify" ]; then
    out=$($udevadm_verify verify --resolve-names=never "$rules_src" 2>&1)
    rc=$?
    ver=$($udevadm_verify --version 2>/dev/null)
    if [ $rc -eq 0 ] && ! printf '%s\n' "$out" | grep -q "$(basename "$rules_src"):"; then
        pass "udevadm verify $(basename "$rules_src") (udevadm $ver)"
    else
        fail "udevadm verify $(basename "$rules_src"):"; printf '%s\n' "$out" | sed 's/^/     /'
    fi
else
    fail "no udevadm with 'verify' (systemd >= 254) could be found or unpacked"
fi

# ---- optional: the unit under a real systemd, in a VM ----
run_vm() {
    local cache=${EDGECAM_SYSTEMD_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgecam-systemd-vm}
    local accel=${EDGECAM_VM_ACCEL:-tcg}
    local rootfs=$cache/rootfs
    need qemu-system-x86_64 qemu-system-x86
    need debootstrap debootstrap
    need mkfs.ext4 e2fsprogs
    as_root mkdir -p "$cache"
    if [ ! -e "$cache/rootfs.done" ]; then
        echo "vm: building a Debian 12 root file system in $cache (once)"
        as_root rm -rf "$rootfs"
        as_root debootstrap --variant=minbase \
            --include=systemd,systemd-sysv,udev,dbus,python3,kmod,linux-image-amd64,initramfs-tools,zstd \
            bookworm "$rootfs" http://deb.debian.org/debian > "$cache/debootstrap.log" 2>&1 \
            || { fail "vm: debootstrap failed, see $cache/debootstrap.log"; return; }
        as_root touch "$cache/rootfs.done"
    fi
    local kernel initrd
    kernel=$(find "$rootfs/boot" -name 'vmlinuz-*' 2>/dev/null | sort -V | tail -1)
    initrd=$(find "$rootfs/boot" -name 'initrd.img-*' 2>/dev/null | sort -V | tail -1)
    if [ -z "$kernel" ] || [ -z "$initrd" ]; then
        fail "vm: no kernel/initrd in $rootfs/boot"; return
    fi

    # What a package install does: files in place, sysusers run, config 0640 root:edgecam.
    as_root install -m 0644 "$unit_src" "$rootfs/usr/lib/systemd/system/edgecam.service"
    as_root install -D -m 0644 "$sysusers_src" "$rootfs/usr/lib/sysusers.d/edgecam.conf"
    as_root install -D -m 0644 "$modload_src" "$rootfs/usr/lib/modules-load.d/edgecam.conf"
    as_root install -D -m 0644 "$rules_src" "$rootfs/usr/lib/udev/rules.d/99-edgecam-cameras.rules"
    # The same rule minus its USB condition, so that vivid (a platform device) can show the rest.
    grep -v 'ID_BUS' "$rules_src" | sed 's#edgecam/by-#edgecam-test/by-#; s/edgecam_cameras_end/edgecam_test_end/' \
        | as_root tee "$rootfs/etc/udev/rules.d/99-edgecam-test.rules" >/dev/null
    as_root systemd-sysusers --root="$rootfs" "$sysusers_src" >/dev/null 2>&1
    as_root mkdir -p "$rootfs/etc/edgecam"
    printf 'board = "auto"\n' | as_root tee "$rootfs/etc/edgecam/edgecam.toml" >/dev/null
    as_root chroot "$rootfs" chown root:edgecam /etc/edgecam/edgecam.toml
    as_root chmod 0640 "$rootfs/etc/edgecam/edgecam.toml"
    echo '/dev/vda / ext4 rw 0 1' | as_root tee "$rootfs/etc/fstab" >/dev/null
    echo edgecam-vm | as_root tee "$rootfs/etc/hostname" >/dev/null
    as_root ln -sf /dev/null "$rootfs/etc/systemd/system/serial-getty@ttyS0.service"

    as_root tee "$rootfs/usr/bin/edgecam" >/dev/null <<'FAKE'
#!/usr/bin/python3
# Stand-in for edgecam under the unit's sandbox: does what the real binary needs
# and records what worked in /var/lib/edgecam/report.json.
import ctypes, fcntl, glob, json, os, signal, socket, struct, sys, time
REPORT = "/var/lib/edgecam/report.json"
report = {"uid": os.getuid(), "groups": os.getgroups(), "uevents": []}
def save():
    with open(REPORT + ".tmp", "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    os.rename(REPORT + ".tmp", REPORT)
def notify(msg):
    addr = os.environ.get("NOTIFY_SOCKET")
    if addr:
        addr = "\0" + addr[1:] if addr[0] == "@" else addr
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.connect(addr); s.sendall(msg.encode()); s.close()
def attempt(key, fn):
    try:
        report[key] = "ok: %s" % (fn(),)
    except Exception as e:
        report[key] = "ERR %s" % (e,)
if "invalid" in open(sys.argv[sys.argv.index("--config") + 1]).read():
    sys.exit(78)
stop = False
t_term = 0.0
def on_term(*_):
    global stop, t_term
    stop, t_term = True, time.monotonic()
signal.signal(signal.SIGTERM, on_term)
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 15)  # NETLINK_KOBJECT_UEVENT
nl.bind((0, 1)); nl.setblocking(False)
report["netlink uevent socket"] = "ok"
for f in ["/proc/pressure/cpu", "/proc/pressure/memory", "/proc/pressure/io", "/proc/stat", "/proc/meminfo",
          "/sys/class/dmi/id/sys_vendor"]:
    attempt("read " + f, lambda f=f: len(open(f, "rb").read()))
for d in ["/var/lib/edgecam", "/run/edgecam", "/var/cache/edgecam", "/tmp", "/dev/shm"]:
    attempt("write " + d, lambda d=d: open(d + "/probe", "w").write("x"))
def inet():
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    c = socket.create_connection(srv.getsockname()); a, _ = srv.accept(); c.sendall(b"hi"); return a.recv(2)
attempt("AF_INET loopback", inet)
libc = ctypes.CDLL(None, use_errno=True)
def unshare():
    if libc.unshare(0x00020000) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
attempt("NEG write /etc/edgecam", lambda: open("/etc/edgecam/x", "w"))
attempt("NEG list /root", lambda: os.listdir("/root"))
attempt("NEG open /dev/vda", lambda: os.open("/dev/vda", os.O_RDONLY))
attempt("NEG open /dev/mem", lambda: os.open("/dev/mem", os.O_RDONLY))
attempt("NEG AF_PACKET", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW))
attempt("NEG unshare", unshare)
attempt("NEG setuid(0)", lambda: os.setuid(0))
def querycap(path):
    for _ in range(50):   # udev may not have applied GROUP=video yet
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK); break
        except PermissionError:
            time.sleep(0.1)
    else:
        raise PermissionError(path)
    try:
        buf = bytearray(104); fcntl.ioctl(fd, 0x80685600, buf)   # VIDIOC_QUERYCAP
        return "%s caps=0x%08x" % (buf[0:16].split(b"\0")[0].decode(), struct.unpack_from("<I", buf, 88)[0])
    finally:
        os.close(fd)
save()
notify("READY=1\nSTATUS=stand-in edgecam: waiting for cameras")
last_wd = 0.0
while not stop:
    try:
        fields = nl.recv(65536).split(b"\0")
        env = dict(x.decode(errors="replace").split("=", 1) for x in fields[1:] if b"=" in x)
        if env.get("SUBSYSTEM") == "video4linux":
            report["uevents"].append("%s %s" % (env.get("ACTION"), env.get("DEVNAME")))
            if env.get("ACTION") == "add":
                attempt("hotplug open", lambda: querycap("/dev/" + env["DEVNAME"]))
            save()
            notify("STATUS=stand-in edgecam: %d video uevents" % len(report["uevents"]))
    except BlockingIOError:
        time.sleep(0.1)
    if time.monotonic() - last_wd > 1 and not os.path.exists("/run/edgecam/stop-watchdog"):
        notify("WATCHDOG=1"); last_wd = time.monotonic()
notify("STOPPING=1")
report["sigterm_to_exit_ms"] = round((time.monotonic() - t_term) * 1000)
save()
FAKE
    as_root chmod 0755 "$rootfs/usr/bin/edgecam"

    as_root tee "$rootfs/usr/local/bin/edgecam-vmcheck" >/dev/null <<'CHECK'
#!/bin/bash
exec > >(tee /var/log/edgecam-vmcheck.log > /dev/ttyS0) 2>&1
ok() { echo "VMCHECK PASS $*"; }
no() { echo "VMCHECK FAIL $*"; }
show() { systemctl show edgecam.service -p "$1" --value; }
rep() { python3 -c "import json,sys; print(json.load(open('/var/lib/edgecam/report.json')).get(sys.argv[1], ''))" "$1"; }
echo "VMCHECK BEGIN $(systemctl --version | head -1)"
systemctl start edgecam.service
[ "$(show ActiveState)" = active ] && [ -n "$(show StatusText)" ] \
    && ok "Type=notify: active after READY=1, status '$(show StatusText)'" || no "start: $(show ActiveState) '$(show StatusText)'"
modprobe vivid n_devs=1 node_types=0x1 num_inputs=1 input_types=0x00 multiplanar=2; sleep 4
case "$(rep 'hotplug open')" in
    ok:*) ok "camera hotplugged after start: uevent seen, $(rep 'hotplug open') opened as $(id -un "$(rep uid)")" ;;
    *) no "hotplug: uevents=$(rep uevents) open=$(rep 'hotplug open')" ;;
esac
case "$(show StatusText)" in *"1 video uevents"*) ok "STATUS= updates reach systemd" ;; *) no "STATUS= not updated: $(show StatusText)" ;; esac
r=$(python3 - <<'PY'
import json
r = json.load(open("/var/lib/edgecam/report.json"))
bad = [k for k, v in r.items() if isinstance(v, str) and ((k.startswith("NEG ") and v.startswith("ok")) or
       (not k.startswith("NEG ") and k not in ("hotplug open",) and v.startswith("ERR")))]
print(" ".join(bad))
PY
)
[ -z "$r" ] && ok "sandbox: PSI, /proc, state/runtime/cache dirs, loopback INET, netlink allowed; /etc, /root, /dev/vda, /dev/mem, AF_PACKET, unshare, setuid denied" \
    || { no "sandbox: unexpected results for: $r"; cat /var/lib/edgecam/report.json; }
l=$(readlink /dev/edgecam-test/by-path/platform-vivid.0 2>/dev/null)
[ "$l" = ../../video0 ] && ok "udev rule logic (USB condition dropped): /dev/edgecam-test/by-path/platform-vivid.0 -> $l" \
    || no "udev test link missing: $(ls -lR /dev/edgecam-test 2>&1 | tr '\n' ' ')"
[ ! -e /dev/edgecam ] && ok "udev rule as shipped: no /dev/edgecam link for a non-USB node" || no "/dev/edgecam exists for vivid"
e=$(systemd-analyze security edgecam.service | sed -n 's/.*Overall exposure level for edgecam.service: \([0-9.]*\).*/\1/p')
awk -v e="$e" 'BEGIN { exit !(e != "" && e <= 2.0) }' && ok "systemd-analyze security (online, PID 1): exposure $e" || no "online exposure $e"
t0=$(date +%s%N); systemctl stop edgecam.service; t1=$(date +%s%N)
ms=$(rep sigterm_to_exit_ms)
[ "$(show Result)" = success ] && [ -n "$ms" ] && [ "$ms" -lt 2000 ] \
    && ok "SIGTERM: exited ${ms} ms after the signal, systemctl stop took $(( (t1 - t0) / 1000000 )) ms, Result=success" \
    || no "stop: Result=$(show Result) sigterm_to_exit_ms=$ms"
mkdir -p /run/systemd/system/edgecam.service.d
printf '[Service]\nWatchdogSec=4s\n' > /run/systemd/system/edgecam.service.d/wd.conf
systemctl daemon-reload; systemctl start edgecam.service; sleep 2
touch /run/edgecam/stop-watchdog; sleep 10
n=$(show NRestarts)
journalctl -b -u edgecam.service --no-pager | grep -q 'Watchdog timeout' && [ "${n:-0}" -ge 1 ] \
    && ok "missing WATCHDOG=1 pings: killed after WatchdogSec and restarted (NRestarts=$n)" || no "watchdog: NRestarts=$n"
rm -f /run/systemd/system/edgecam.service.d/wd.conf; systemctl daemon-reload
systemctl stop edgecam.service; systemctl reset-failed edgecam.service 2>/dev/null
cp /etc/edgecam/edgecam.toml /tmp/good.toml; echo 'invalid = true' >> /etc/edgecam/edgecam.toml
systemctl start edgecam.service 2>/dev/null; sleep 8
[ "$(show ExecMainStatus)" = 78 ] && [ "$(show NRestarts)" = 0 ] && [ "$(show ActiveState)" = failed ] \
    && ok "exit status 78 (configuration error) is not retried" \
    || no "exit 78: status=$(show ExecMainStatus) restarts=$(show NRestarts) state=$(show ActiveState)"
cp /tmp/good.toml /etc/edgecam/edgecam.toml
w=$(journalctl -b --no-pager | grep -E 'edgecam.service:[0-9]+:|edgecam.service: (Unknown|Failed to parse)' | head -5)
[ -z "$w" ] && ok "no unit-file warnings from PID 1" || no "unit-file warnings: $w"
echo "VMCHECK END"
systemctl poweroff
CHECK
    as_root chmod 0755 "$rootfs/usr/local/bin/edgecam-vmcheck"
    as_root tee "$rootfs/etc/systemd/system/edgecam-vmcheck.service" >/dev/null <<'UNIT'
[Unit]
Description=edgecam VM check
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/bin/edgecam-vmcheck
[Install]
WantedBy=multi-user.target
UNIT
    as_root ln -sf /etc/systemd/system/edgecam-vmcheck.service "$rootfs/etc/systemd/system/multi-user.target.wants/edgecam-vmcheck.service"

    local img=$work/root.img log=$cache/vm.log
    truncate -s 3G "$img"
    as_root mkfs.ext4 -q -F -d "$rootfs" "$img" || { fail "vm: mkfs.ext4 -d failed"; return; }
    echo "vm: booting ($accel) ..."
    timeout 900 qemu-system-x86_64 -accel "$accel" -cpu max -m 1536 -smp 2 -nographic -no-reboot -nic none \
        -kernel "$kernel" -initrd "$initrd" -drive "file=$img,if=virtio,format=raw" \
        -append "root=/dev/vda rw console=ttyS0 systemd.show_status=0 loglevel=4" > "$log" 2>&1
    if ! grep -q 'VMCHECK END' "$log"; then
        fail "vm: the check did not finish, see $log"; tail -20 "$log" | sed 's/^/     /'; return
    fi
    while IFS= read -r line; do
        case $line in
            *"VMCHECK PASS "*) pass "vm: ${line#*VMCHECK PASS }" ;;
            *"VMCHECK FAIL "*) fail "vm: ${line#*VMCHECK FAIL }" ;;
        esac
    done < <(tr -d '\r' < "$log")
}
[ $vm -eq 1 ] && run_vm

echo "check_systemd: $passed passed, $failed failed"
[ $failed -eq 0 ]
