# USB-camera capture through the whole pipeline, against vivid (two instances, so two cameras run at
# once): YUYV 640x480 -> JPEG at the capture size, and NV12 1280x720 -> raw NV12 scaled to 640x360;
# then the same two devices swapped to the other format and size. Frames go to the embedded broker
# inside the VM and are checked by `edgecam subscribe` (JPEGs decode at the right size, raw frames
# have the right length), at about the configured rate.
# vm-modules: vivid
# vm-options: vivid n_devs=2 node_types=0x1,0x1
# vm-timeout: 240

a=$(vm_nodes | grep 'vivid-000' | cut -d: -f1) b=$(vm_nodes | grep 'vivid-001' | cut -d: -f1)
[ -n "$a" ] && [ -n "$b" ] || { vm_fail capture-setup "two vivid nodes expected: $(vm_nodes)"; exit 1; }
ec_broker || exit 1

round() { # NAME FORMAT_A SIZE_A FORMAT_B SIZE_B
	ec_config /tmp/c.toml <<-EOT
	[[camera]]
	name = "a"
	source = "v4l2:/dev/$a?format=$2&size=$3"
	fps = 4
	[[camera]]
	name = "b"
	source = "v4l2:/dev/$b?format=$4&size=$5"
	fps = 3
	format = "nv12"
	width = 640
	EOT
	ec_run /tmp/c.toml
	edgecam subscribe --seconds 14 >/tmp/sub.txt 2>/tmp/sub.err
	ec_stop
	grep -E 'capturing|streaming|ERROR|WARN' /tmp/edgecam.log | sed 's/^/  | /'
	head -n 3 /tmp/sub.txt | sed 's/^/  | /'
	grep '^SUMMARY' /tmp/sub.txt
	wa=${3%x*} ha=${3#*x}
	hb=$((${5#*x} * 640 / ${5%x*}))
	na=$(ec_frames /tmp/sub.txt a "jpeg=${wa}x${ha}")
	nb=$(ec_frames /tmp/sub.txt b "raw=640x${hb}")
	bad=$(grep -c '=bad:' /tmp/sub.txt)
	echo "$1: camera a $na good JPEG frames, camera b $nb good NV12 frames, $bad bad"
	# 14 s at 4 and 3 fps minus start-up (stream start, first keyframe) under TCG.
	if [ "$na" -ge 12 ] && [ "$bad" = 0 ]; then vm_pass "capture-$1-a-$2-$3-jpeg"; else vm_fail "capture-$1-a-$2-$3-jpeg" "$na frames, $bad bad"; fi
	if [ "$nb" -ge 9 ]; then vm_pass "capture-$1-b-$4-$5-nv12-640"; else vm_fail "capture-$1-b-$4-$5-nv12-640" "$nb frames"; fi
	if grep -q 'edgecam/vm/a/status retained=true {"state":"online"' /tmp/sub.txt ||
		grep '^MSG edgecam/vm/a/status' /tmp/sub.txt | grep -q '"state":"online"'; then
		vm_pass "capture-$1-status-online"
	else
		vm_fail "capture-$1-status-online" "$(grep '^MSG edgecam/vm/a/status' /tmp/sub.txt | tail -n 1)"
	fi
}
round 1 yuyv 640x480 nv12 1280x720
round 2 nv12 1280x720 yuyv 640x480
