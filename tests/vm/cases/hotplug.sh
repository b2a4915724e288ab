# Plug-and-play with vivid standing in for a USB camera. Camera "cam" is `usb:platform:vivid-000`
# (matched by stable id, not node number); camera "other" is a synthetic camera in the same
# process. While both stream, vivid.0 is unbound from its driver (what a USB unplug looks like to an
# open node: ENODEV, the node disappears, a remove uevent; rmmod would refuse while the node is
# open): "cam" must go offline (retained status), the process live on and "other" keep streaming.
# vivid.0 comes back on another node number (v4l2loopback takes the old one meanwhile): "cam"
# resumes under the same name. Twice.
# vm-modules: vivid
# vm-timeout: 240

first=$(vm_nodes | grep 'vivid-000' | cut -d: -f1)
[ -n "$first" ] || { vm_fail hotplug-setup "no vivid node: $(vm_nodes)"; exit 1; }
pdev=$(basename "$(readlink -f /sys/class/video4linux/$first/device)")
echo "cam is /dev/$first ($pdev)"
ec_broker || exit 1
ec_config /tmp/c.toml <<EOT
[defaults]
stall_timeout_s = 5
[[camera]]
name = "cam"
source = "usb:platform:vivid-000?format=yuyv&size=640x480"
fps = 4
[[camera]]
name = "other"
source = "synthetic:320x176@8"
fps = 4
EOT
ec_run /tmp/c.toml
edgecam subscribe --seconds 60 >/tmp/sub.txt 2>&1 &
SUB=$!

wait_lines() { # PATTERN SECONDS: until a line after the mark matches
	_i=0
	while ! tail -n +"${MARK:-1}" /tmp/sub.txt | grep -q -- "$1"; do
		_i=$((_i + 1))
		[ "$_i" -gt $(($2 * 10)) ] && return 1
		usleep 100000
	done
}
frames_since() { tail -n +"$MARK" /tmp/sub.txt | grep -c "^FRAME edgecam/vm/$1/frame"; }

MARK=1
wait_lines 'FRAME edgecam/vm/cam/frame' 30 && vm_pass hotplug-streaming || vm_fail hotplug-streaming "$(tail -n 5 /tmp/edgecam.log)"

for round in 1 2; do
	MARK=$(($(wc -l </tmp/sub.txt) + 1))
	t0=$(vm_uptime)
	echo "$pdev" >/sys/bus/platform/drivers/vivid/unbind
	if wait_lines 'cam/status.*"state":"offline"' 15; then
		vm_pass "hotplug-$round-unplug-offline"
		echo "offline after $(echo "$(vm_uptime) - $t0" | bc) s: $(tail -n +"$MARK" /tmp/sub.txt | grep 'cam/status' | grep offline | head -n 1 | cut -c1-300)"
	else
		vm_fail "hotplug-$round-unplug-offline" "$(tail -n 8 /tmp/edgecam.log)"
	fi
	sleep 3
	kill -0 "$EC_PID" 2>/dev/null && vm_pass "hotplug-$round-process-alive" || vm_fail "hotplug-$round-process-alive" "edgecam exited: $(tail -n 5 /tmp/edgecam.log)"
	n=$(frames_since other)
	[ "$n" -ge 6 ] && vm_pass "hotplug-$round-other-camera-unaffected" || vm_fail "hotplug-$round-other-camera-unaffected" "$n frames of other while cam was unplugged"
	if [ "$round" = 1 ]; then
		# Take the freed node number so that vivid.0 comes back as another node.
		modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=squatter
	fi
	MARK=$(($(wc -l </tmp/sub.txt) + 1))
	t0=$(vm_uptime)
	echo "$pdev" >/sys/bus/platform/drivers/vivid/bind
	now=$(vm_nodes | grep 'vivid-000' | cut -d: -f1)
	echo "vivid.0 is back as /dev/$now"
	if wait_lines 'FRAME edgecam/vm/cam/frame' 30; then
		vm_pass "hotplug-$round-replug-resumes"
		echo "frames again after $(echo "$(vm_uptime) - $t0" | bc) s"
	else
		vm_fail "hotplug-$round-replug-resumes" "$(tail -n 8 /tmp/edgecam.log)"
	fi
	wait_lines 'cam/status.*"state":"online"' 10 && vm_pass "hotplug-$round-online-again" || vm_fail "hotplug-$round-online-again" "no online status"
	[ "$round" = 1 ] && [ "$now" != "$first" ] && vm_pass hotplug-new-node-number-same-camera
done
kill "$SUB" 2>/dev/null
ec_stop
grep -E 'unplugged|waiting|streaming|capturing' /tmp/edgecam.log | sed 's/^/  | /' | cut -c1-220
