#!/usr/bin/env bash
# Cross-builds the static aarch64 binary and runs it under qemu-aarch64-static;
# checks the size of both shipped binaries.
#
#   tests/ship/check_aarch64.sh
#
# What it checks:
#   1. scripts/cross-aarch64.sh builds target/aarch64-cross/aarch64-unknown-linux-gnu/
#      release/edgecam (Debian's rustc-web + arm64 std; first run installs them and
#      takes several minutes, later runs are incremental).
#   2. `file` says ARM aarch64, statically linked.
#   3. Under qemu-aarch64-static (user-mode emulation, no VM):
#        edgecam --version                                   exit 0, prints the version
#        edgecam check-config edgecam.example.toml           exit 0
#        edgecam check-config <bad config>                   exit 78 (EX_CONFIG), names the key
#        edgecam demo (no --broker)                          refused: the shipped binary has
#                                                            no embedded broker (feature
#                                                            demo-broker is off)
#        edgecam demo --cameras 1 --seconds 5 --source 320x180@10 --broker mqtt://127.0.0.1:PORT
#                                                            against a mosquitto this script
#                                                            starts: exit 0, frames reached
#                                                            the demo's subscriber, the saved
#                                                            JPEGs are 320x180
#      Only 127.0.0.1 is used. qemu timings say nothing about ARM speed.
#   4. Stripped size of the aarch64 binary and of the x86_64 release binary
#      (target/x86_64-unknown-linux-gnu/release/edgecam after `cargo build --release`,
#      the shipped flavour without demo-broker) <= 8 MiB (8388608 bytes) each.
#      cargo's strip = "symbols" leaves the static-pie's symbol table in place, so
#      both are measured after a real strip (of a copy).
#
# Last line: "check_aarch64: N passed, M failed".
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
max_bytes=8388608   # 8 MiB
target=aarch64-unknown-linux-gnu
target_dir=${EDGECAM_AARCH64_TARGET_DIR:-$repo/target/aarch64-cross}
arm_bin=$target_dir/$target/release/edgecam
x86_bin=${CARGO_TARGET_DIR:-$repo/target}/x86_64-unknown-linux-gnu/release/edgecam

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
indent() { sed 's/^/     /'; }
finish() { echo "check_aarch64: $passed passed, $failed failed"; [ $failed -eq 0 ]; exit $?; }

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# --- 1. build ------------------------------------------------------------------
t0=$(date +%s)
if bash "$repo/scripts/cross-aarch64.sh" >"$scratch/build.log" 2>&1; then
    pass "cross build for $target ($(( $(date +%s) - t0 )) s): $arm_bin"
else
    fail "scripts/cross-aarch64.sh failed after $(( $(date +%s) - t0 )) s; last lines:"
    tail -40 "$scratch/build.log" | indent
    finish
fi

# --- 2. what it is -------------------------------------------------------------
desc=$(file -b "$arm_bin")
if [[ $desc == *"ARM aarch64"* && $desc == *"statically linked"* ]]; then
    pass "file: ${desc%%, BuildID*}"
else
    fail "not a static aarch64 executable: $desc"
fi

# --- 3. under qemu ---------------------------------------------------------------
qemu=$(command -v qemu-aarch64-static || true)
if [ -z "$qemu" ]; then
    fail "qemu-aarch64-static not found (package qemu-user-static)"
    finish
fi
# -L: no dynamic loader or library is looked up, but keep qemu from ever
# touching the host's x86_64 /lib by pointing it at the cross sysroot.
export NO_COLOR=1
run_arm() { timeout "$1" "$qemu" -L /usr/aarch64-linux-gnu "$arm_bin" "${@:2}"; }

out=$(run_arm 60 --version 2>&1); rc=$?
want="edgecam $(sed -n 's/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)"
if [ $rc -eq 0 ] && [ "$out" = "$want" ]; then
    pass "qemu: edgecam --version -> $out"
else
    fail "qemu: edgecam --version (rc=$rc, want \"$want\"):"; printf '%s\n' "$out" | indent
fi

out=$(run_arm 60 check-config "$repo/edgecam.example.toml" 2>&1); rc=$?
if [ $rc -eq 0 ]; then
    pass "qemu: edgecam check-config edgecam.example.toml -> ${out##*$'\n'}"
else
    fail "qemu: edgecam check-config edgecam.example.toml (rc=$rc):"; printf '%s\n' "$out" | indent
fi

printf '[device]\nid = "box1"\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n[[camera]]\nname = "cam0"\nsource = "rtsp://127.0.0.1:8554/cam0"\nfps = 0\n' \
    >"$scratch/bad.toml"
out=$(run_arm 60 check-config "$scratch/bad.toml" 2>&1); rc=$?
if [ $rc -eq 78 ] && [[ $out == *"line 8: camera[0].fps"* ]]; then
    pass "qemu: edgecam check-config <fps = 0> -> exit 78: $out"
else
    fail "qemu: edgecam check-config <fps = 0> (rc=$rc, want 78 naming line 8: camera[0].fps):"; printf '%s\n' "$out" | indent
fi

out=$(cd "$scratch" && run_arm 60 demo --cameras 1 --seconds 1 --out "$scratch/none" 2>&1); rc=$?
if [ $rc -ne 0 ] && [[ $out == *"without the embedded demo broker"* ]]; then
    pass "qemu: edgecam demo without --broker is refused (no embedded broker in the shipped binary)"
else
    fail "qemu: edgecam demo without --broker (rc=$rc; the shipped binary should have no embedded broker):"
    printf '%s\n' "$out" | tail -5 | indent
fi

# A mosquitto of our own on a free loopback port (package mosquitto, which
# scripts/deps.sh test installs).
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    bash "$repo/scripts/deps.sh" test >/dev/null 2>&1 || true
fi
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$scratch/mosquitto.conf"
"$mosquitto" -c "$scratch/mosquitto.conf" >"$scratch/mosquitto.log" 2>&1 &
mosq_pid=$!
trap 'kill "$mosq_pid" 2>/dev/null; wait "$mosq_pid" 2>/dev/null; rm -rf "$scratch"' EXIT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done

t0=$(date +%s%N)
(cd "$scratch" && run_arm 120 demo --cameras 1 --seconds 5 --source 320x180@10 \
    --broker "mqtt://127.0.0.1:$port" --out "$scratch/frames") >"$scratch/demo.log" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# The table's "received" column is the second last ("... 42.7 ms  21  320x180").
received=$(awk '$1 == "cam0" { r = $(NF - 1) } END { print r + 0 }' "$scratch/demo.log")
first=$(sed -n 's/.*first frame received after \([0-9-]*\) ms.*/\1/p' "$scratch/demo.log" | tail -1)
jpegs=("$scratch"/frames/*)
sizes_ok=1
[ -e "${jpegs[0]}" ] || sizes_ok=0
for j in "${jpegs[@]}"; do
    [ -e "$j" ] || continue
    [[ $(file -b "$j") == "JPEG image data"*"320x180"* ]] || sizes_ok=0
done
if [ $rc -eq 0 ] && [ "$received" -gt 0 ] && [ $sizes_ok -eq 1 ]; then
    pass "qemu: edgecam demo --cameras 1 --seconds 5 --source 320x180@10 --broker mosquitto: exit 0 in $ms ms, $received frames received, first after ${first:-?} ms, ${#jpegs[@]} JPEGs 320x180"
    tail -4 "$scratch/demo.log" | grep -v '^$' | indent
else
    fail "qemu: edgecam demo --broker mosquitto (rc=$rc, received=$received, jpegs 320x180: $sizes_ok):"
    tail -30 "$scratch/demo.log" | indent
    tail -5 "$scratch/mosquitto.log" | indent
fi

# --- 4. sizes ------------------------------------------------------------------
# What `make release` ships (no features); cheap when `cargo test --release` built it.
(cd "$repo" && cargo build --release) >"$scratch/x86.log" 2>&1 \
    || { fail "cargo build --release (x86_64) failed:"; tail -30 "$scratch/x86.log" | indent; }
check_size() { # label binary strip-tool
    local label=$1 bin=$2 strip=$3 bytes
    if [ ! -x "$bin" ]; then fail "$label: $bin missing"; return; fi
    "$strip" -o "$scratch/stripped" "$bin" || { fail "$label: $strip failed"; return; }
    bytes=$(stat -c %s "$scratch/stripped")
    if [ "$bytes" -le $max_bytes ]; then
        pass "$label stripped static binary: $bytes bytes ($(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1048576 }') MiB) <= 8 MiB ($max_bytes bytes)"
    else
        fail "$label stripped static binary: $bytes bytes > 8 MiB ($max_bytes bytes)"
    fi
}
check_size x86_64 "$x86_bin" strip
check_size aarch64 "$arm_bin" aarch64-linux-gnu-strip

finish
