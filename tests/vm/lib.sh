# Shared bits of the VM test scripts (sourced by setup.sh, mkinitrd.sh, run.sh, build-v4l2check.sh).
# shellcheck shell=bash

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$VM_DIR/../.." && pwd)
VM_CACHE=${EDGECAM_VM_CACHE:-${HOME:-/root}/.cache/edgecam-vm}

# Bump when the way setup.sh builds a kernel directory changes: every cached kernel is rebuilt.
VM_RECIPE=1

vm_log() { printf 'vm: %s\n' "$*" >&2; }
vm_die() { printf 'vm: ERROR: %s\n' "$*" >&2; exit 1; }

# Seconds since the epoch with milliseconds, for timings.
vm_now() { date +%s.%N | cut -c1-14; }
vm_elapsed() { echo "$(vm_now) - $1" | bc | sed 's/^\./0./'; }

# The kernel directory the last successful setup.sh prepared ($VM_CACHE/current -> kernels/KV).
vm_kernel_dir() {
	local k="$VM_CACHE/current"
	[ -f "$k/.ok-r$VM_RECIPE" ] || return 1
	readlink -f "$k"
}
