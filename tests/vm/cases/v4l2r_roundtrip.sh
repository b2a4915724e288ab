# End-to-end proof of the vendored UAPI headers + v4l2r + the VM recipe: /bin/v4l2check
# (tests/vm/v4l2check, built by tests/vm/build-v4l2check.sh) enumerates every node, streams vivid
# YUYV 640x480 and NV12 1280x720 (MMAP), round-trips 12 frames through vicodec's stateful
# FWHT encoder and decoder (source-change event, DEC_CMD_STOP drain, Y-PSNR check) and, when
# v4l2loopback is loaded, writes MJPG frames into the loopback and reads them back byte-exact.
# It prints its own VMTEST PASS/FAIL lines.
#   tests/vm/run.sh --binary "$(tests/vm/build-v4l2check.sh)" --script tests/vm/cases/v4l2r_roundtrip.sh
# vm-timeout: 180

if [ ! -x /bin/v4l2check ]; then
	vm_fail v4l2check-missing "no /bin/v4l2check: pass --binary \$(tests/vm/build-v4l2check.sh)"
	exit 1
fi
v4l2check
rc=$?
[ "$rc" = 0 ] || vm_fail v4l2check-exit "v4l2check exited with $rc"
exit "$rc"
