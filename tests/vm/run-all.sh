#!/usr/bin/env bash
# Run every VM test case (tests/vm/cases/*.sh), each in its own VM boot, and print one summary.
#
#   tests/vm/run-all.sh [--binary PATH[:NAME]]... [--case NAME]... [--verbose]
#
# Prepares the cache (setup.sh) and builds v4l2check first; every case gets /bin/v4l2check, the
# static release edgecam (target/x86_64-unknown-linux-gnu/release/edgecam, built with
# `cargo build --release` when missing or older than the sources; EDGECAM_VM_BINARY=PATH uses
# another) and the --binary files given here. Logs: $EDGECAM_VM_CACHE/logs/NAME.log.
# The last line is "vmtest: N passed, M failed"; exit status 0 only if every case passed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
BINS=() CASES=() QUIET=--quiet
while [ $# -gt 0 ]; do
	case $1 in
	--binary) BINS+=(--binary "$2"); shift 2 ;;
	--case) CASES+=("$VM_DIR/cases/$2.sh"); shift 2 ;;
	--verbose) QUIET=; shift ;;
	*) vm_die "run-all.sh: unknown argument $1" ;;
	esac
done
[ ${#CASES[@]} -gt 0 ] || CASES=("$VM_DIR"/cases/*.sh)
T0=$(vm_now)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$VM_DIR/setup.sh"
V4L2CHECK=$("$VM_DIR/build-v4l2check.sh")
EDGECAM=${EDGECAM_VM_BINARY:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/x86_64-unknown-linux-gnu/release/edgecam}
if [ -z "${EDGECAM_VM_BINARY:-}" ]; then
	newer=$(find "$REPO_ROOT/src" "$REPO_ROOT/Cargo.toml" "$REPO_ROOT/Cargo.lock" -newer "$EDGECAM" 2>/dev/null | head -n 1 || true)
	if [ ! -x "$EDGECAM" ] || [ -n "$newer" ]; then
		vm_log "building the static release edgecam for the VM (cargo build --release)"
		(cd "$REPO_ROOT" && cargo build --release --features demo-broker >&2)
	fi
fi
[ -x "$EDGECAM" ] || vm_die "no edgecam binary at $EDGECAM"
file -L "$EDGECAM" | grep -qE 'static(-pie)? linked|statically linked' || vm_die "$EDGECAM is not static: $(file -L "$EDGECAM")"
BINS=(--binary "$EDGECAM" ${BINS[@]+"${BINS[@]}"})
P=0 F=0 BAD=()
for c in "${CASES[@]}"; do
	name=$(basename "$c" .sh)
	set +e
	"$VM_DIR/run.sh" $QUIET --script "$c" --binary "$V4L2CHECK" ${BINS[@]+"${BINS[@]}"} | tee "$W/out" >&2
	rc=${PIPESTATUS[0]}
	set -e
	last=$(grep -E '^vmtest: [0-9]+ passed, [0-9]+ failed$' "$W/out" | tail -n 1 || true)
	p=$(echo "$last" | sed -nE 's/^vmtest: ([0-9]+) passed.*/\1/p')
	f=$(echo "$last" | sed -nE 's/.* ([0-9]+) failed$/\1/p')
	P=$((P + ${p:-0}))
	F=$((F + ${f:-0}))
	if [ "$rc" != 0 ]; then
		BAD+=("$name")
		[ "${f:-0}" -gt 0 ] || F=$((F + 1))
	fi
done
echo "vmtest: ${#CASES[@]} case(s) in $(vm_elapsed "$T0") s${BAD[*]:+, failed: ${BAD[*]}}"
echo "vmtest: $P passed, $F failed"
[ ${#BAD[@]} -eq 0 ]
