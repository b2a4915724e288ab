# A camera whose hardware decoder errors falls back to software, says why, and keeps streaming:
# an H.264 camera (the built-in synthetic one) told to use the V4L2 M2M decoder at vicodec's
# stateful-decoder node ([decoder] device), which only takes FWHT. The decoder fails when the camera
# starts decoding; openh264 takes over; the log and the camera's retained status name the device and
# the reason; frames keep arriving.
# vm-modules: vicodec
# vm-timeout: 180

dec=$(vm_node '^stateful-decoder$') || { vm_fail fallback-setup "no vicodec decoder"; exit 1; }
ec_broker || exit 1
ec_config /tmp/c.toml <<EOT
[decoder]
device = "$dec"
[[camera]]
name = "cam"
source = "synthetic:320x176@10"
fps = 5
decoder = "v4l2m2m"
EOT
ec_run /tmp/c.toml
edgecam subscribe --seconds 12 >/tmp/sub.txt 2>&1
kill -0 "$EC_PID" 2>/dev/null && alive=1 || alive=0
ec_stop
grep -E 'failed, switching|decoding with|WARN' /tmp/edgecam.log | sed 's/^/  | /' | cut -c1-300
if grep -q "v4l2m2m $dec failed, switching to software (openh264): cannot open it: $dec: VIDIOC_S_FMT(OUTPUT, H264): .* does not decode H.264: it offered FWHT instead" /tmp/edgecam.log; then
	vm_pass fallback-logged-with-device-and-reason
else
	vm_fail fallback-logged-with-device-and-reason "$(grep -i decoder /tmp/edgecam.log | tail -n 3)"
fi
n=$(ec_frames /tmp/sub.txt cam 'jpeg=320x176')
[ "$n" -ge 30 ] && [ "$alive" = 1 ] && vm_pass fallback-keeps-streaming || vm_fail fallback-keeps-streaming "$n frames, alive=$alive"
if grep '^MSG edgecam/vm/cam/status' /tmp/sub.txt | grep -q "\"decoder\":\"openh264 (software; v4l2m2m $dec failed: cannot open it"; then
	vm_pass fallback-status-shows-software
else
	vm_fail fallback-status-shows-software "$(grep '^MSG edgecam/vm/cam/status' /tmp/sub.txt | tail -n 1)"
fi
