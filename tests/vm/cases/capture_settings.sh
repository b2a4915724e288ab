# A USB camera's capture mode follows its settings at run time: camera "cam" starts at 2 fps, so
# vivid is asked for 2 frames a second; an operator then asks for 8 fps over MQTT
# (edgecam/vm/cam/set). edgecam must choose the capture mode again (the camera set to a faster
# frame interval) rather than keep delivering 2 fps.
# vm-modules: vivid
# vm-timeout: 150

cam=$(vm_node '^vivid-') || { vm_fail settings-setup "no vivid"; exit 1; }
ec_broker || exit 1
ec_config /tmp/c.toml <<EOT
[[camera]]
name = "cam"
source = "v4l2:$cam?format=yuyv&size=640x480"
fps = 2
EOT
ec_run /tmp/c.toml
edgecam subscribe --topic edgecam/vm/cam/frame --seconds 22 >/tmp/sub.txt 2>&1 &
SUB=$!
sleep 6
before=$(grep -c '^FRAME' /tmp/sub.txt)
vm_check settings-publish edgecam publish --topic edgecam/vm/cam/set --message '{"fps":8}'
wait "$SUB"
ec_stop
after=$(($(grep -c '^FRAME' /tmp/sub.txt) - before))
grep -E 'capturing|choosing' /tmp/edgecam.log | sed 's/^/  | /' | cut -c1-250
echo "frames: $before in the first 6 s at 2 fps, $after in the 16 s after asking for 8 fps"
grep -q 'choosing the capture mode again' /tmp/edgecam.log && vm_pass settings-mode-chosen-again ||
	vm_fail settings-mode-chosen-again "$(grep capturing /tmp/edgecam.log)"
# At 2 fps the 16 s would give about 32 frames; at 8 fps about 128 (TCG permitting).
[ "$after" -ge 60 ] && vm_pass settings-faster-after-change || vm_fail settings-faster-after-change "$after frames in 16 s"
