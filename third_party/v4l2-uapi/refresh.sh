#!/usr/bin/env bash
# Re-vendor the V4L2 UAPI headers from a Debian kernel headers package.
#
#   third_party/v4l2-uapi/refresh.sh                 # newest linux-headers-6.12.*+deb12-common
#   third_party/v4l2-uapi/refresh.sh PKG[=VERSION]   # a given package (any linux-headers-*-common)
#   third_party/v4l2-uapi/refresh.sh ./some.deb      # a downloaded .deb
#
# The headers are sanitised exactly like the kernel's scripts/headers_install.sh does for
# 'make headers_install' (the sed rules below are copied from it, unifdef -U__KERNEL__ is
# Debian's unifdef package), which is what linux-libc-dev ships in /usr/include/linux.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
HEADERS="videodev2.h v4l2-controls.h v4l2-common.h media.h"

command -v unifdef >/dev/null || apt-get install -y -qq --no-install-recommends unifdef >/dev/null
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

ARG=${1:-}
if [ -z "$ARG" ]; then
	ARG=$(apt-cache search --names-only '^linux-headers-6\.12\.[0-9]+\+deb12-common$' | cut -d' ' -f1 | sort -V | tail -n1)
	[ -n "$ARG" ] || { echo "no linux-headers-6.12.*+deb12-common in apt (apt-get update?)" >&2; exit 1; }
fi
if [ -f "$ARG" ]; then
	cp "$ARG" "$W/"
else
	(cd "$W" && apt-get download -o APT::Sandbox::User=root -qq "$ARG")
fi
DEB=$(ls "$W"/*.deb)
PKG=$(dpkg-deb -f "$DEB" Package)
VER=$(dpkg-deb -f "$DEB" Version)
dpkg-deb -x "$DEB" "$W/x"
U=$(ls -d "$W"/x/usr/src/linux-headers-*/include/uapi/linux)

mkdir -p "$HERE/linux"
for h in $HEADERS; do
	in=$U/$h
	if [ -n "$(sed -n -e "/SPDX-License-Identifier:.*GPL-/{/WITH Linux-syscall-note/!p}" "$in")" ]; then
		echo "error: $h: missing \"WITH Linux-syscall-note\"" >&2
		exit 1
	fi
	# --- begin: rules of linux/scripts/headers_install.sh
	sed -E -e '
		s/([[:space:](])(__user|__force|__iomem)[[:space:]]/\1/g
		s/__attribute_const__([[:space:]]|$)/\1/g
		s@^#include <linux/compiler(|_types).h>@@
		s/(^|[^a-zA-Z0-9])__packed([^a-zA-Z0-9_]|$)/\1__attribute__((packed))\2/g
		s/(^|[[:space:](])(inline|asm|volatile)([[:space:](]|$)/\1__\2__\3/g
		s@#(ifndef|define|endif[[:space:]]*/[*])[[:space:]]*_UAPI@#\1 @
	' "$in" >"$W/tmp.h"
	rc=0
	unifdef -U__KERNEL__ -D__EXPORTED_HEADERS__ "$W/tmp.h" >"$HERE/linux/$h" || rc=$?
	[ "$rc" -le 1 ] || { echo "unifdef failed on $h" >&2; exit 1; }
	# --- end
done
# v4l2r's build script watches $V4L2R_VIDEODEV2_H_PATH/videodev2.h: without this link cargo
# would consider that (missing) file changed and re-run bindgen + rebuild v4l2r on every build.
ln -sfn linux/videodev2.h "$HERE/videodev2.h"
printf '%s %s\n' "$PKG" "$VER" >"$HERE/SOURCE"
echo "vendored $HEADERS from $PKG $VER"
