#!/usr/bin/env bash
# One-time (cached, idempotent) preparation of the V4L2 test VM:
#   1. host packages (apt): qemu-system-x86, busybox-static, kmod, compiler for kernel modules, ...
#   2. resolves the CURRENT Debian bookworm kernel ABI (linux-image-amd64 -> linux-image-6.1.0-NN-amd64)
#      and downloads its image, headers, kbuild and the matching linux-source
#   3. builds v4l2-mem2mem.ko, vicodec.ko, vim2m.ko (Debian leaves them disabled) and
#      v4l2loopback.ko (from Debian's v4l2loopback-dkms) out of tree against those headers
#   4. keeps only what the VM needs under $EDGECAM_VM_CACHE/kernels/KV:
#      vmlinuz, vmlinux (for PVH boot), modroot/lib/modules/KV (the media modules + modules.dep),
#      hdr/ (kernel headers, to build more modules), info (what was resolved/built)
#   5. test-boots the kernel once to find out whether PVH (uncompressed vmlinux) boot works.
# A second run with the same resolved kernel does nothing (stamp kernels/KV/.ok-rRECIPE).
#
# Environment:
#   EDGECAM_VM_CACHE       cache dir (default ~/.cache/edgecam-vm)
#   EDGECAM_VM_KERNEL_ABI  force a kernel ABI, e.g. 6.1.0-56-amd64 or 6.12.57+deb12-amd64
#   EDGECAM_VM_NO_APT=1    never call apt-get install/update (fail instead if something is missing)
#   EDGECAM_VM_KEEP_OLD=1  keep previously built kernels in the cache (default: pruned)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

T0=$(vm_now)
HOST_PKGS="qemu-system-x86 busybox-static kmod cpio xz-utils gzip file bc binutils make gcc-12 libc6-dev
libelf1 libssl3 libclang-dev util-linux"

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
APT_UPDATED=
apt_update() {
	[ -n "$APT_UPDATED" ] && return 0
	[ "${EDGECAM_VM_NO_APT:-}" = 1 ] && return 0
	vm_log "apt-get update"
	$SUDO apt-get update -qq >&2
	APT_UPDATED=1
}

# ---------------------------------------------------------------- 1. host packages
# shellcheck disable=SC2086
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $HOST_PKGS 2>/dev/null | awk -v want="$(echo $HOST_PKGS)" '
	$NF == "installed" { ok[$1] = 1 }
	END { n = split(want, w, " "); for (i = 1; i <= n; i++) if (!(w[i] in ok)) printf " %s", w[i] }' || true)
if [ -n "$missing" ]; then
	[ "${EDGECAM_VM_NO_APT:-}" = 1 ] && vm_die "missing host packages:$missing (EDGECAM_VM_NO_APT=1)"
	apt_update
	vm_log "apt-get install$missing"
	# busybox-static replaces the dynamic busybox package if that one is installed
	mkdir -p "$VM_CACHE"
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
		>"$VM_CACHE/apt-install.log" 2>&1 || { cat "$VM_CACHE/apt-install.log" >&2; vm_die "apt-get install failed"; }
fi
file -L /bin/busybox | grep -q 'statically linked' || vm_die "/bin/busybox is not static (install busybox-static)"

mkdir -p "$VM_CACHE/kernels"
exec 9>"$VM_CACHE/.lock"
flock 9 # one setup at a time per cache

# ---------------------------------------------------------------- 2. resolve the kernel
# Debian images switch apt's binary cache off, which makes every apt-cache call parse all
# package lists (~1.5 s); a private one in the cache dir brings that to ~0.3 s.
APTC=(apt-cache -o "Dir::Cache::pkgcache=$VM_CACHE/apt-pkgcache.bin")
resolve_kv() {
	if [ -n "${EDGECAM_VM_KERNEL_ABI:-}" ]; then
		KV=$EDGECAM_VM_KERNEL_ABI
	elif [ -s "$VM_CACHE/resolved" ] && [ -z "$(find /var/lib/apt/lists -maxdepth 1 -newer "$VM_CACHE/resolved" -print -quit)" ]; then
		# the answer depends only on apt's package lists: none changed since the last resolution
		KV=$(cat "$VM_CACHE/resolved")
	else
		KV=$("${APTC[@]}" depends linux-image-amd64 2>/dev/null |
			sed -nE 's/^ *\|?Depends: linux-image-([0-9][^ ]*-amd64)$/\1/p' | head -n1)
		[ -z "$KV" ] || echo "$KV" >"$VM_CACHE/resolved"
	fi
	[ -n "$KV" ] || return 1
	K=$VM_CACHE/kernels/$KV
	HV='' SERIES=''
	[ -f "$K/info" ] && . "$K/info" && HV=$DEBIAN_VERSION
	return 0
}
resolve() {
	resolve_kv || return 1
	HV=$("${APTC[@]}" show --no-all-versions "linux-headers-$KV" 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
	[ -n "$HV" ] || return 1
	SERIES=$(echo "$KV" | cut -d. -f1,2)
}
done_already() { [ -f "$K/.ok-r$VM_RECIPE" ]; }
finish_fast() {
	ln -sfn "kernels/$KV" "$VM_CACHE/current"
	vm_log "kernel $KV ($HV) already prepared in $K ($(vm_elapsed "$T0") s)"
	exit 0
}
if resolve_kv && done_already; then finish_fast; fi
# Cold path: refresh the package lists first (an old ABI vanishes from the archive), then resolve again.
apt_update
resolve || vm_die "cannot resolve the kernel: linux-image-amd64 -> linux-image-${KV:-?} -> linux-headers-${KV:-?} not found by apt-cache"
if done_already; then finish_fast; fi
vm_log "preparing kernel $KV (Debian linux $HV, series $SERIES) in $K"

W=$VM_CACHE/work.$$
# leftovers of a killed run (we hold the lock) and of an older recipe ($K)
rm -rf "$VM_CACHE"/work.* "$VM_CACHE"/kernels/*.new "$K"
trap 'rm -rf "$W" "$K.new"; [ -L "$K" ] && rm -f "$K"; true' EXIT
mkdir -p "$W/dl" "$K.new"
N=$K.new

# ---------------------------------------------------------------- downloads
t=$(vm_now)
(cd "$W/dl" && apt-get download -o APT::Sandbox::User=root -qq \
	"linux-image-$KV" "linux-headers-$KV=$HV" "linux-headers-${KV%-amd64}-common=$HV" \
	"linux-kbuild-$SERIES=$HV" "linux-source-$SERIES=$HV" >&2)
# v4l2loopback: optional (gives an MJPEG-capable "camera" fed from inside the VM)
LOOP_PKG=
if (cd "$W/dl" && apt-get download -o APT::Sandbox::User=root -qq v4l2loopback-dkms >&2); then
	LOOP_PKG=$(cd "$W/dl" && ls v4l2loopback-dkms_*.deb)
fi
T_DL=$(vm_elapsed "$t")
vm_log "downloaded $(du -sh "$W/dl" | cut -f1) in $T_DL s"

# ---------------------------------------------------------------- driver sources (background)
# the whole 1 GB linux-source tarball is decompressed (single-threaded xz) to get a few files:
# the slowest step, so it runs while the image and headers are unpacked
t=$(vm_now)
dpkg-deb --fsys-tarfile "$W"/dl/linux-source-"$SERIES"_*.deb |
	tar -xO "./usr/src/linux-source-$SERIES.tar.xz" |
	tar -xJ -C "$W" "linux-source-$SERIES/drivers/media/v4l2-core/v4l2-mem2mem.c" \
		"linux-source-$SERIES/drivers/media/test-drivers/vim2m.c" \
		"linux-source-$SERIES/drivers/media/test-drivers/vicodec" \
		"linux-source-$SERIES/scripts/extract-vmlinux" &
SRC_PID=$!

# ---------------------------------------------------------------- kernel image + modules
dpkg-deb -x "$W"/dl/linux-image-"$KV"_*.deb "$W/img"
cp "$W/img/boot/vmlinuz-$KV" "$N/vmlinuz"
cp "$W/img/boot/config-$KV" "$N/config"
IMGMOD=$W/img/lib/modules/$KV
grep -q '^CONFIG_VIDEO_VIVID=m' "$N/config" || vm_die "$KV has no vivid module (CONFIG_VIDEO_VIVID)"

# ---------------------------------------------------------------- headers (relocated)
for p in "linux-headers-$KV" "linux-headers-${KV%-amd64}-common" "linux-kbuild-$SERIES"; do
	dpkg-deb -x "$W"/dl/"$p"_*.deb "$N/hdr"
done
KDIR=$N/hdr/usr/src/linux-headers-$KV
# the arch Makefile includes the -common tree by absolute path: point it into the cache
sed -i "s#include /usr/src/#include $K/hdr/usr/src/#" "$KDIR/Makefile"
# the build runs before $N is renamed to $K: make the final path resolve meanwhile
ln -sfn "$(basename "$N")" "$K" 2>/dev/null || true
[ -L "$K" ] || vm_die "$K exists and is not ours"

# ---------------------------------------------------------------- driver sources (wait)
wait "$SRC_PID" || vm_die "extracting the driver sources from linux-source-$SERIES failed"
S=$W/linux-source-$SERIES
T_EXTRACT=$(vm_elapsed "$t")

# ---------------------------------------------------------------- out-of-tree builds
t=$(vm_now)
B=$N/build/media
mkdir -p "$B"
cp "$S/drivers/media/v4l2-core/v4l2-mem2mem.c" "$S/drivers/media/test-drivers/vim2m.c" \
	"$S"/drivers/media/test-drivers/vicodec/*.[ch] "$B/"
cp "$VM_DIR/Kbuild.media" "$B/Kbuild"
make -s -C "$KDIR" M="$K/build/media" -j"$(nproc)" modules >"$W/build-media.log" 2>&1 ||
	{ cat "$W/build-media.log" >&2; vm_die "out-of-tree build of vicodec/vim2m/v4l2-mem2mem failed"; }
T_BUILD=$(vm_elapsed "$t")
mkdir -p "$IMGMOD/extra"
cp "$B/v4l2-mem2mem.ko" "$B/vicodec.ko" "$B/vim2m.ko" "$IMGMOD/extra/"
TOPS="vivid vicodec vim2m"

LOOP_STATUS="not available"
T_LOOP=0
if [ -n "$LOOP_PKG" ]; then
	t=$(vm_now)
	dpkg-deb -x "$W/dl/$LOOP_PKG" "$W/loop"
	LS=$(ls -d "$W"/loop/usr/src/v4l2loopback-* | head -n1)
	mkdir -p "$N/build/v4l2loopback"
	cp -r "$LS"/. "$N/build/v4l2loopback/"
	if make -s -C "$KDIR" M="$K/build/v4l2loopback" -j"$(nproc)" modules >"$W/build-loop.log" 2>&1; then
		cp "$N/build/v4l2loopback/v4l2loopback.ko" "$IMGMOD/extra/"
		TOPS="$TOPS v4l2loopback"
		LOOP_STATUS="built from ${LOOP_PKG%.deb}"
	else
		tail -n 30 "$W/build-loop.log" >&2
		LOOP_STATUS="build FAILED (${LOOP_PKG%.deb})"
		vm_log "WARNING: v4l2loopback did not build; continuing without it"
	fi
	T_LOOP=$(vm_elapsed "$t")
fi
strip --strip-debug "$IMGMOD"/extra/*.ko

# ---------------------------------------------------------------- module closure + modules.dep
depmod -b "$W/img" "$KV"
MR=$N/modroot/lib/modules/$KV
mkdir -p "$MR"
: >"$N/modules.order.txt"
for m in $TOPS; do
	modprobe -C /dev/null -d "$W/img" -S "$KV" --show-depends "$m" | sed -n 's/^insmod \([^ ]*\).*/\1/p'
done | awk '!seen[$0]++' | while read -r ko; do
	rel=${ko#"$IMGMOD"/}
	mkdir -p "$MR/$(dirname "$rel")"
	cp "$ko" "$MR/$rel"
	echo "$rel" >>"$N/modules.order.txt"
done
cp "$IMGMOD"/modules.builtin "$IMGMOD"/modules.builtin.modinfo "$IMGMOD"/modules.order "$MR/" 2>/dev/null || true
depmod -b "$N/modroot" "$KV"
echo "$TOPS" >"$N/modules.top"

# ---------------------------------------------------------------- vmlinux for PVH boot
sh "$S/scripts/extract-vmlinux" "$N/vmlinuz" >"$N/vmlinux" 2>/dev/null || rm -f "$N/vmlinux"
BOOT=bzimage
T_PVH=0
if [ -s "$N/vmlinux" ]; then
	# test boot: does qemu's PVH entry reach /init?
	t=$(vm_now)
	R=$W/pvh-root
	mkdir -p "$R/bin"
	cp /bin/busybox "$R/bin/"
	printf '#!/bin/busybox sh\n/bin/busybox echo PVH-BOOT-OK\n/bin/busybox poweroff -f\n' >"$R/init"
	chmod 755 "$R/init"
	(cd "$R" && find . | cpio -o -H newc --quiet) >"$W/pvh.cpio"
	timeout 120 qemu-system-x86_64 -accel tcg -cpu max -m 512 -smp 1 -no-reboot -nodefaults \
		-display none -monitor none -serial "file:$W/pvh.log" -net none \
		-kernel "$N/vmlinux" -initrd "$W/pvh.cpio" -append 'console=ttyS0 quiet panic=-1' </dev/null >&2 || true
	if grep -aq PVH-BOOT-OK "$W/pvh.log"; then BOOT=pvh; else rm -f "$N/vmlinux"; fi
	T_PVH=$(vm_elapsed "$t")
else
	rm -f "$N/vmlinux"
fi
vm_log "boot mode: $BOOT"

rm -rf "$N/build/media"/*.o "$N/build/media"/.*.cmd "$N/build/v4l2loopback"/*.o "$N/build/v4l2loopback"/.*.cmd 2>/dev/null || true
cat >"$N/info" <<EOF
KV=$KV
DEBIAN_VERSION=$HV
SERIES=$SERIES
BOOT=$BOOT
MODULES="$TOPS"
V4L2LOOPBACK="$LOOP_STATUS"
PREPARED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
T_DOWNLOAD=$T_DL
T_EXTRACT=$T_EXTRACT
T_BUILD_MEDIA=$T_BUILD
T_BUILD_V4L2LOOPBACK=$T_LOOP
T_PVH_CHECK=$T_PVH
T_TOTAL=$(vm_elapsed "$T0")
EOF
touch "$N/.ok-r$VM_RECIPE"
rm -f "$K"
mv "$N" "$K"
ln -sfn "kernels/$KV" "$VM_CACHE/current"
if [ "${EDGECAM_VM_KEEP_OLD:-}" != 1 ]; then
	for d in "$VM_CACHE"/kernels/*; do
		[ "$d" = "$K" ] || { vm_log "pruning old $d"; rm -rf "$d"; }
	done
fi
cat "$K/info" >&2
vm_log "setup done: $KV, $(du -sh "$K" | cut -f1) in $K, $(vm_elapsed "$T0") s"
