#!/usr/bin/env bash
# Build the static v4l2check test binary (tests/vm/v4l2check) with v4l2r bound to the vendored
# UAPI headers. Its own target dir in the VM cache (not the repository's target/).
# Prints the path of the binary on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
TARGET_DIR=${V4L2CHECK_TARGET_DIR:-$VM_CACHE/v4l2check-target}
t=$(vm_now)
(
	cd "$VM_DIR/v4l2check"
	V4L2R_VIDEODEV2_H_PATH="$REPO_ROOT/third_party/v4l2-uapi" \
	RUSTFLAGS='-C target-feature=+crt-static' \
	CARGO_TARGET_DIR="$TARGET_DIR" \
		cargo build --release --locked --target x86_64-unknown-linux-gnu >&2
)
BIN=$TARGET_DIR/x86_64-unknown-linux-gnu/release/v4l2check
file -L "$BIN" | grep -qE 'static(-pie)? linked|statically linked' || vm_die "$BIN is not static: $(file -L "$BIN")"
vm_log "v4l2check built in $(vm_elapsed "$t") s: $(du -h "$BIN" | cut -f1)"
echo "$BIN"
