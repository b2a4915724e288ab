#!/usr/bin/env bash
# The whole test suite: formatting and lints, unit and integration tests
# against real mosquitto and GStreamer RTSP servers, the V4L2 tests inside a
# qemu VM with the kernel's own virtual drivers, and the packaging checks.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh test

step() { printf '\n== %s\n' "$*"; }

step "format and lints"
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo clippy --all-targets --features demo-broker -- -D warnings

step "release binary for the VM tests (with the embedded broker they run inside the VM)"
cargo build --release --features demo-broker
mkdir -p target/vm && cp target/x86_64-unknown-linux-gnu/release/edgecam target/vm/edgecam

step "unit and integration tests"
cargo test --release --no-fail-fast

step "the GStreamer build variant: lints, its unit tests, and the RTSP pipeline tests through avdec_h264"
bash scripts/build-gstreamer.sh clippy --all-targets -- -D warnings
bash scripts/build-gstreamer.sh test --no-fail-fast --lib --test rtsp_pipeline

if [ -d tests/vm/cases ] && [ -x tests/vm/run-all.sh ]; then
  step "V4L2 tests in a VM"
  EDGECAM_VM_BINARY=target/vm/edgecam tests/vm/run-all.sh
fi

for check in tests/ship/*.sh; do
  [ -e "$check" ] || continue
  step "packaging: $check"
  bash "$check"
done
