# [usb] auto = true: a camera plugged in after start becomes a camera named from its stable id and
# streams; unplugged it goes offline (the process lives on), replugged it resumes under the same
# name. vivid stands in for the USB camera (any_bus = true: it is a platform device); a
# v4l2loopback node (an output node) appearing meanwhile must not become a camera.
# vm-modules: vivid
# vm-timeout: 200

first=$(vm_node '^vivid-') || { vm_fail auto-setup "no vivid"; exit 1; }
pdev=$(basename "$(readlink -f /sys/class/video4linux/$(basename "$first")/device)")
echo "$pdev" >/sys/bus/platform/drivers/vivid/unbind # plugged in only after edgecam starts
ec_broker || exit 1
ec_config /tmp/c.toml <<EOT
[usb]
auto = true
any_bus = true
fps = 3
capture = "format=yuyv&size=640x480"
EOT
ec_run /tmp/c.toml
edgecam subscribe --seconds 50 >/tmp/sub.txt 2>&1 &
SUB=$!
MARK=1
wait_lines() { # PATTERN SECONDS
	_i=0
	while ! tail -n +"$MARK" /tmp/sub.txt | grep -q -- "$1"; do
		_i=$((_i + 1))
		[ "$_i" -gt $(($2 * 10)) ] && return 1
		usleep 100000
	done
}
cam=platform_vivid-000
sleep 2
modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=not-a-camera
echo "$pdev" >/sys/bus/platform/drivers/vivid/bind
if wait_lines "FRAME edgecam/vm/$cam/frame" 30; then vm_pass auto-plugged-camera-streams; else vm_fail auto-plugged-camera-streams "$(tail -n 5 /tmp/edgecam.log)"; fi
grep -q '\[usb\] auto: new camera' /tmp/edgecam.log && vm_pass auto-logged || vm_fail auto-logged "$(grep auto /tmp/edgecam.log)"
MARK=$(($(wc -l </tmp/sub.txt) + 1))
echo "$pdev" >/sys/bus/platform/drivers/vivid/unbind
wait_lines "$cam/status.*\"state\":\"offline\"" 15 && vm_pass auto-unplug-offline || vm_fail auto-unplug-offline "$(tail -n 5 /tmp/edgecam.log)"
kill -0 "$EC_PID" 2>/dev/null && vm_pass auto-process-alive || vm_fail auto-process-alive "$(tail -n 5 /tmp/edgecam.log)"
MARK=$(($(wc -l </tmp/sub.txt) + 1))
echo "$pdev" >/sys/bus/platform/drivers/vivid/bind
wait_lines "FRAME edgecam/vm/$cam/frame" 30 && vm_pass auto-replug-same-name || vm_fail auto-replug-same-name "$(tail -n 5 /tmp/edgecam.log)"
kill "$SUB" 2>/dev/null
ec_stop
cams=$(grep '^MSG edgecam/vm/cameras' /tmp/sub.txt | tail -n 1)
echo "$cams"
echo "$cams" | grep -q "\"$cam\"" && ! echo "$cams" | grep -q 'loopback\|not-a-camera' &&
	vm_pass auto-only-capture-nodes || vm_fail auto-only-capture-nodes "$cams"
grep -E 'auto|unplugged|streaming' /tmp/edgecam.log | sed 's/^/  | /' | cut -c1-220
