# The two commands in the README's first lines are `make demo` and `make test`.

.PHONY: demo test bench release gstreamer lint

# Build the static release binary and run the demo: synthetic cameras, an
# embedded broker, the real pipeline, a live table, JPEGs in ./demo-frames.
demo:
	@bash scripts/deps.sh build
	cargo run --release --features demo-broker -- demo --cameras 2 --seconds 20

# The whole test suite, installing what it needs (CI runs exactly this).
test:
	@bash scripts/test.sh

# Issue 6's goals G1-G7 in one table: edgecam (openh264, and libavcodec
# through the GStreamer build) against the decoders alone and the ffmpeg-pipe
# baseline, medians of 3 runs, about 25 minutes (see bench/README.md; add
# BENCH_ARGS="--runs 1 --seconds 10" for a quick look).
bench:
	@bash scripts/deps.sh bench
	cargo build --release
	bash scripts/build-gstreamer.sh build
	/usr/bin/python3 bench/bench.py --goals \
		--edgecam-gst target/gst/x86_64-unknown-linux-gnu/release/edgecam $(BENCH_ARGS)

# The shipped binary: static, stripped (cargo's strip leaves the static-pie's
# symbol table in place, so strip it here).
release:
	@bash scripts/deps.sh build
	cargo build --release
	strip target/x86_64-unknown-linux-gnu/release/edgecam
	@ls -l target/x86_64-unknown-linux-gnu/release/edgecam

# The GStreamer build variant (Jetson nvv4l2decoder, VA-API, stateless V4L2
# decoders, libavcodec): dynamically linked, in target/gst (docs/hardware.md).
gstreamer:
	@bash scripts/deps.sh gstreamer
	bash scripts/build-gstreamer.sh build
	@ls -l target/gst/x86_64-unknown-linux-gnu/release/edgecam

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
