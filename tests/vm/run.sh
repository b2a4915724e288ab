#!/usr/bin/env bash
# Boot the test VM (qemu TCG, no network) with one case script and judge its result.
#
#   tests/vm/run.sh --script tests/vm/cases/NAME.sh [--binary PATH[:NAME]]... [--file SRC:DEST]...
#                   [--log FILE] [--timeout SECS] [--modules "LIST"] [--options "MOD PARAMS"]...
#                   [--mem MB] [--append "KERNEL ARGS"] [--quiet]
#
# The case prints "VMTEST PASS <name>" / "VMTEST FAIL <name> <reason>" lines; /init prints
# "VMTEST DONE rc=N" after it. Exit 0 only if there is >= 1 PASS, no FAIL, the DONE marker, and rc=0.
# A timeout, kernel panic or early power-off is a failure with its own message.
# Case header lines (see mkinitrd.sh): "# vm-modules: ...", "# vm-options: MOD PARAMS", "# vm-timeout: SECS".
#
# Environment: EDGECAM_VM_CACHE (see setup.sh), EDGECAM_VM_BOOT=bzimage (force the compressed image).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
SCRIPT='' LOG='' TIMEOUT='' MEM=512 APPEND='' QUIET=''
MK_ARGS=()
while [ $# -gt 0 ]; do
	case $1 in
	--script) SCRIPT=$2; shift 2 ;;
	--binary | --file | --modules | --options) MK_ARGS+=("$1" "$2"); shift 2 ;;
	--log) LOG=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--append) APPEND=$2; shift 2 ;;
	--quiet) QUIET=1; shift ;;
	-h | --help) usage ;;
	*) echo "run.sh: unknown argument $1" >&2; usage ;;
	esac
done
[ -n "$SCRIPT" ] || usage
[ -f "$SCRIPT" ] || vm_die "no such case script: $SCRIPT"
NAME=$(basename "$SCRIPT" .sh)
[ -n "$TIMEOUT" ] || TIMEOUT=$(sed -nE 's/^#[[:space:]]*vm-timeout:[[:space:]]*([0-9]+).*/\1/p' "$SCRIPT" | tail -n 1)
[ -n "$TIMEOUT" ] || TIMEOUT=300
[ -n "$LOG" ] || { mkdir -p "$VM_CACHE/logs"; LOG=$VM_CACHE/logs/$NAME.log; }
mkdir -p "$(dirname "$LOG")"

T0=$(vm_now)
if ! K=$(vm_kernel_dir); then
	vm_log "no prepared kernel in $VM_CACHE: running setup.sh"
	"$VM_DIR/setup.sh"
	K=$(vm_kernel_dir) || vm_die "setup.sh did not prepare a kernel"
fi
. "$K/info"

W=$(mktemp -d "${TMPDIR:-/tmp}/edgecam-vm-run.XXXXXX")
trap 'rm -rf "$W"' EXIT
# the in-VM timeout fires first, so a hung case still gets its dmesg and DONE marker printed
CASE_TIMEOUT=$((TIMEOUT > 40 ? TIMEOUT - 20 : TIMEOUT * 2 / 3))
"$VM_DIR/mkinitrd.sh" --out "$W/initrd.cpio" --script "$SCRIPT" --case-timeout "$CASE_TIMEOUT" ${MK_ARGS[@]+"${MK_ARGS[@]}"}
T_INITRD=$(vm_elapsed "$T0")

KIMG=$K/vmlinuz
if [ "$BOOT" = pvh ] && [ -f "$K/vmlinux" ] && [ "${EDGECAM_VM_BOOT:-}" != bzimage ]; then
	KIMG=$K/vmlinux
fi
QEMU=(qemu-system-x86_64 -accel tcg -cpu max -m "$MEM" -smp 1 -nodefaults -no-reboot
	-display none -monitor none -serial stdio -net none
	-kernel "$KIMG" -initrd "$W/initrd.cpio"
	-append "console=ttyS0 quiet loglevel=4 panic=-1 oops=panic $APPEND")
vm_log "case $NAME: kernel $KV ($DEBIAN_VERSION, $(basename "$KIMG")), initrd $(du -h "$W/initrd.cpio" | cut -f1), timeout ${TIMEOUT}s, log $LOG"

t=$(vm_now)
set +e
if [ -n "$QUIET" ]; then
	timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$LOG" 2>&1
	QRC=$?
else
	timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>&1 | tee "$LOG"
	QRC=${PIPESTATUS[0]}
fi
set -e
T_QEMU=$(vm_elapsed "$t")

# ---------------------------------------------------------------- verdict
tr -d '\r' <"$LOG" >"$W/log"
PASSES=$(grep -acE 'VMTEST PASS [^ ]+' "$W/log" || true)
FAILS=$(grep -aoE 'VMTEST FAIL .*' "$W/log" || true)
NFAILS=$(printf '%s' "$FAILS" | grep -c . || true)
DONE=$(grep -aoE 'VMTEST DONE rc=[0-9]+' "$W/log" | tail -n 1 || true)
BOOT_UP=$(grep -aoE 'VMTEST BOOT .*uptime=[0-9.]+' "$W/log" | sed 's/.*uptime=//' | head -n 1 || true)
DONE_UP=$(grep -aoE 'VMTEST DONE rc=[0-9]+ uptime=[0-9.]+' "$W/log" | sed 's/.*uptime=//' | tail -n 1 || true)
MOD_UP=$(grep -aoE 'VMTEST MODULES .*uptime=[0-9.]+' "$W/log" | sed 's/.*uptime=//' | head -n 1 || true)
PANIC=$(grep -aE 'Kernel panic|BUG: |Oops' "$W/log" | head -n 3 || true)

REASON=
if [ "$QRC" = 124 ] || [ "$QRC" = 137 ]; then
	REASON="TIMEOUT: qemu killed after ${TIMEOUT}s"
elif [ -n "$PANIC" ]; then
	REASON="KERNEL PANIC/OOPS: $(echo "$PANIC" | head -n 1)"
elif [ "$QRC" != 0 ]; then
	REASON="qemu exited with status $QRC"
elif [ -z "$DONE" ]; then
	REASON="the VM stopped before the case finished (no 'VMTEST DONE' marker)"
elif [ "$NFAILS" -gt 0 ]; then
	REASON="$NFAILS check(s) failed"
elif [ "$DONE" != "VMTEST DONE rc=0" ]; then
	REASON="case script exited with ${DONE#VMTEST DONE }"
elif [ "$PASSES" -lt 1 ]; then
	REASON="the case reported no 'VMTEST PASS' line"
fi

if [ -n "$REASON" ] && [ -n "$QUIET" ]; then
	echo "----- last 60 lines of $LOG -----" >&2
	tail -n 60 "$W/log" >&2
	echo "-----" >&2
fi
[ -n "$FAILS" ] && printf '%s\n' "$FAILS" | sed 's/^/vmtest: /' >&2
TIMES="qemu ${T_QEMU}s wall, initrd ${T_INITRD}s, guest: /init at ${BOOT_UP:-?}s, modules by ${MOD_UP:-?}s, done at ${DONE_UP:-?}s"
if [ -n "$REASON" ]; then
	echo "vmtest: case $NAME FAILED: $REASON ($TIMES; log $LOG)"
	# a failure with no FAIL line still counts as one failed check
	[ "$NFAILS" -gt 0 ] || NFAILS=1
	echo "vmtest: $PASSES passed, $NFAILS failed"
	exit 1
fi
echo "vmtest: case $NAME ok ($TIMES)"
echo "vmtest: $PASSES passed, 0 failed"
