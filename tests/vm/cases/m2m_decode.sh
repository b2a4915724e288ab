# The V4L2 M2M stateful decoder backend against vicodec: a FWHT stream made in the VM by vicodec's
# encoder (10 frames 640x480, then 6 frames 1280x720: a mid-stream resolution change) goes through
# edgecam's decoder (SOURCE_CHANGE, CAPTURE setup, resolution change, DEC_CMD_STOP drain), and every
# picture is compared with the frame it was made from (Y-PSNR). Then the error paths: H.264 asked of
# vicodec falls back to software with the reason; a decoder unbound mid-stream is reported.
# vm-modules: vicodec
# vm-timeout: 200

dec=$(vm_node '^stateful-decoder$') || { vm_fail m2m-setup "no vicodec stateful decoder"; exit 1; }
segs="640x480:10 1280x720:6"
# shellcheck disable=SC2086
vm_check m2m-encode-fwht v4l2check fwht-encode /tmp/clip.fwht $segs || exit 1

t0=$(vm_uptime)
edgecam decode --codec fwht --decoder v4l2m2m --device "$dec" --input /tmp/clip.fwht --output /tmp/dec.i420 >/tmp/d.json 2>/tmp/d.log
rc=$?
t1=$(vm_uptime)
cat /tmp/d.json
grep -E 'CAPTURE side ready|resolution change' /tmp/d.log
tr -d ' \n' </tmp/d.json >/tmp/d.line
if [ "$rc" = 0 ] && grep -q '"pictures":16,' /tmp/d.line && grep -q '"errors":0' /tmp/d.line &&
	grep -q '"sizes":\[\[640,480\],\[1280,720\]\]' /tmp/d.line; then
	vm_pass m2m-decode-16-pictures-two-sizes
else
	vm_fail m2m-decode-16-pictures-two-sizes "rc=$rc $(cat /tmp/d.line) $(tail -n 5 /tmp/d.log)"
fi
echo "m2m decode took $(echo "$t1 - $t0" | bc) s (guest clock)"
grep -q 'resolution change' /tmp/d.log && vm_pass m2m-resolution-change-seen || vm_fail m2m-resolution-change-seen "$(cat /tmp/d.log)"
# shellcheck disable=SC2086
vm_check m2m-psnr v4l2check psnr /tmp/dec.i420 30 $segs

# Found by probing, without --device.
edgecam decode --codec fwht --input /tmp/clip.fwht >/tmp/d2.json 2>/dev/null &&
	grep -q "\"decoder\": \"v4l2m2m $dec" /tmp/d2.json && vm_pass m2m-probed-device ||
	vm_fail m2m-probed-device "$(cat /tmp/d2.json)"

# H.264 asked of a decoder that only takes FWHT: the hardware path fails, software takes over,
# the reason is logged and shown as the decoder.
edgecam decode --codec h264 --decoder v4l2m2m --device "$dec" --input synthetic:320x180@10 >/tmp/f.json 2>/tmp/f.log
if grep -q '"pictures": 80' /tmp/f.json && grep -q 'openh264 (software; v4l2m2m .*offered FWHT instead' /tmp/f.json &&
	grep -q "v4l2m2m $dec failed, switching to software" /tmp/f.log; then
	vm_pass m2m-h264-falls-back-to-software
else
	vm_fail m2m-h264-falls-back-to-software "$(cat /tmp/f.json) $(tail -n 3 /tmp/f.log)"
fi

# FWHT has no software decoder: a decoder that disappears mid-stream is an error, reported with
# the device. (Unbinding the driver is what a vanishing hardware block looks like.)
v4l2check fwht-encode /tmp/part.fwht 640x480:60 >/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do cat /tmp/part.fwht; done >/tmp/long.fwht # ~10 s of decoding
edgecam decode --codec fwht --device "$dec" --input /tmp/long.fwht >/tmp/u.json 2>/tmp/u.log &
pid=$!
sleep 1.5
pdev=$(basename "$(readlink -f /sys/class/video4linux/$(basename "$dec")/device)")
echo "$pdev" >/sys/bus/platform/drivers/vicodec/unbind
wait $pid
rc=$?
cat /tmp/u.json
if grep -q '"errors": [1-9]' /tmp/u.json && grep -q "first_error.*$dec" /tmp/u.json; then
	vm_pass m2m-vanished-decoder-reported
else
	vm_fail m2m-vanished-decoder-reported "rc=$rc $(cat /tmp/u.json) $(tail -n 3 /tmp/u.log)"
fi
