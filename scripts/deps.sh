#!/usr/bin/env bash
# Installs the Debian packages edgecam needs for a job: `build` (compile the
# static binary), `gstreamer` (the dynamically linked GStreamer variant:
# headers to build against, avdec_h264 to run), `test` (the whole test suite:
# real mosquitto, GStreamer RTSP server, ffmpeg for clips, qemu for the V4L2
# VM, and the GStreamer variant's tests) or `bench`.
# Quiet and quick when everything is already there.
set -euo pipefail

job=${1:-build}
build=(nasm cmake g++ pkg-config libclang-dev clang)
test=(mosquitto mosquitto-clients ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0
      gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
      gstreamer1.0-plugins-bad gstreamer1.0-libav
      qemu-system-x86 busybox-static kmod cpio xz-utils file bc systemd)
gstreamer=(libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
           gstreamer1.0-plugins-base gstreamer1.0-plugins-bad gstreamer1.0-libav)
bench=(python3-paho-mqtt python3-pil)

case "$job" in
  build) want=("${build[@]}") ;;
  gstreamer) want=("${build[@]}" "${gstreamer[@]}") ;;
  test) want=("${build[@]}" "${gstreamer[@]}" "${test[@]}") ;;
  bench) want=("${build[@]}" "${gstreamer[@]}" "${test[@]}" "${bench[@]}") ;;
  *) echo "usage: $0 build|gstreamer|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
