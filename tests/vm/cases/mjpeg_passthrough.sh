# MJPEG pass-through: a "USB camera" that delivers MJPEG (v4l2loopback fed with JPEG files) and a
# JPEG output at the camera's size: edgecam must publish the camera's bytes as they are, no decode,
# no re-encode. The JPEGs are real ones, made in the VM by edgecam itself from vivid. Then frames
# without Huffman tables (allowed by UVC's MJPEG): published with the standard tables added.
# vm-modules: vivid v4l2loopback
# vm-timeout: 240

grep -qw v4l2loopback /etc/vmtest.env || { vm_fail mjpeg-setup "v4l2loopback was not built"; exit 1; }
vivid=$(vm_node '^vivid-') loop=$(vm_node '^edgecam-loopback$')
[ -n "$vivid" ] && [ -n "$loop" ] || { vm_fail mjpeg-setup "nodes: $(vm_nodes)"; exit 1; }
ec_broker || exit 1

# 1. Real JPEGs: vivid YUYV 640x480 through edgecam.
ec_config /tmp/v.toml <<EOT
[[camera]]
name = "vivid"
source = "v4l2:$vivid?format=yuyv&size=640x480"
fps = 5
EOT
ec_run /tmp/v.toml
edgecam subscribe --topic edgecam/vm/vivid/frame --count 6 --seconds 40 --save /tmp/src >/tmp/s1.txt
ec_stop
ls /tmp/src/*.jpg >/dev/null 2>&1 || { vm_fail mjpeg-source-jpegs "$(cat /tmp/s1.txt)"; exit 1; }
md5sum /tmp/src/*.jpg | cut -d' ' -f1 | sort >/tmp/src.md5

run_loop() { # NAME DIR: feed DIR's JPEGs into the loopback, capture it as camera "usbcam"
	# shellcheck disable=SC2046
	v4l2check mjpeg-feed "$loop" 8 45 $(ls "$2"/*.jpg) >/tmp/feed.log 2>&1 &
	feed=$!
	sleep 1
	ec_config /tmp/l.toml <<-EOT
	[[camera]]
	name = "usbcam"
	source = "v4l2:$loop"
	fps = 4
	EOT
	ec_run /tmp/l.toml
	rm -rf /tmp/got && edgecam subscribe --topic edgecam/vm/usbcam/frame --count 12 --seconds 40 --save /tmp/got >/tmp/s2.txt
	ec_stop
	kill "$feed" 2>/dev/null
	wait "$feed" 2>/dev/null
	grep -E 'capturing|WARN|ERROR' /tmp/edgecam.log | sed 's/^/  | /' | cut -c1-250
	grep '^SUMMARY' /tmp/s2.txt
}

run_loop whole /tmp/src
grep -q 'capturing MJPG 640x480: published as is' /tmp/edgecam.log && vm_pass mjpeg-chosen-as-is ||
	vm_fail mjpeg-chosen-as-is "$(grep capturing /tmp/edgecam.log)"
n=$(ls /tmp/got/*.jpg 2>/dev/null | wc -l)
md5sum /tmp/got/*.jpg | cut -d' ' -f1 | sort -u >/tmp/got.md5
foreign=$(grep -cvxFf /tmp/src.md5 /tmp/got.md5)
if [ "$n" -ge 10 ] && [ "$foreign" = 0 ]; then
	vm_pass mjpeg-published-byte-exact
else
	vm_fail mjpeg-published-byte-exact "$n frames received, $foreign not byte-identical to a fed JPEG"
fi

# 2. The same frames without their DHT segments.
mkdir -p /tmp/bare
for f in /tmp/src/*.jpg; do v4l2check strip-dht "$f" "/tmp/bare/$(basename "$f")" || exit 1; done
run_loop bare /tmp/bare
good=$(grep -c 'jpeg=640x480' /tmp/s2.txt)
sizes_ok=1
for f in /tmp/got/*.jpg; do
	g=$(wc -c <"$f")
	# Each received frame is one bare frame plus the 420-byte standard table segment.
	match=0
	for b in /tmp/bare/*.jpg; do [ $(($(wc -c <"$b") + 420)) = "$g" ] && match=1; done
	[ "$match" = 1 ] || sizes_ok=0
done
if [ "$good" -ge 10 ] && [ "$sizes_ok" = 1 ]; then
	vm_pass mjpeg-missing-tables-added
else
	vm_fail mjpeg-missing-tables-added "$good decodable frames, sizes_ok=$sizes_ok"
fi
