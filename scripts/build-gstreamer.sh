#!/usr/bin/env bash
# The GStreamer build variant: `cargo <command> --release --features gstreamer`,
# linked dynamically (GStreamer and its plugins are shared objects loaded at
# run time; a static binary cannot dlopen them). It gets its own target
# directory so that it never mixes with the static build's artefacts.
#
#   scripts/build-gstreamer.sh                 # build target/gst/.../edgecam
#   scripts/build-gstreamer.sh test --test rtsp_pipeline
#   scripts/build-gstreamer.sh clippy --all-targets -- -D warnings
set -euo pipefail
cd "$(dirname "$0")/.."

command=${1:-build}
shift || true
# RUSTFLAGS replaces the `+crt-static` of .cargo/config.toml (a
# CARGO_TARGET_*_RUSTFLAGS would be merged with it, and rustc lets +crt-static
# win). With a target configured, it does not reach build scripts.
export RUSTFLAGS="-C target-feature=-crt-static"
exec cargo "$command" --release --features gstreamer --target-dir target/gst "$@"
