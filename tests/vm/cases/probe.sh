# `edgecam probe` against the kernel's virtual drivers: vivid is a camera (capture node with a
# stable id), vicodec's stateful decoder is a stateful FWHT decoder (not used for H.264 cameras),
# its stateless decoder is reported as not supported, its encoder and vim2m are not decoders, and
# decoder = "auto" settles on software with a reason naming what it saw.
# vm-timeout: 120

if [ ! -x /bin/edgecam ]; then
	vm_fail probe-binary "no /bin/edgecam: pass --binary target/x86_64-unknown-linux-gnu/release/edgecam"
	exit 1
fi
vivid=$(vm_node '^vivid-') || vm_fail probe-setup "no vivid node"
dec=$(vm_node '^stateful-decoder$') || vm_fail probe-setup "no vicodec stateful decoder"
sdec=$(vm_node '^stateless-decoder$') || vm_fail probe-setup "no vicodec stateless decoder"
enc=$(vm_node '^stateful-encoder$') || vm_fail probe-setup "no vicodec encoder"
scaler=$(vm_node '^vim2m$') || vm_fail probe-setup "no vim2m"

vm_check probe-text edgecam probe
edgecam probe --json >/tmp/p.json 2>/tmp/p.err || vm_fail probe-json "$(cat /tmp/p.err)"
# One JSON object per line, whitespace dropped: easy to grep with busybox.
tr -d ' \n' </tmp/p.json | sed 's/},{/}\n{/g' >/tmp/p.lines
obj() { grep "\"device\":\"$1\"" /tmp/p.lines | grep -- "$2"; }
expect() { # NAME DEVICE PATTERN...
	_n=$1 _d=$2
	shift 2
	for _p in "$@"; do
		if ! obj "$_d" "$_p" >/dev/null; then
			vm_fail "$_n" "$_d: no '$_p' in: $(grep "\"device\":\"$_d\"" /tmp/p.lines)"
			return
		fi
	done
	vm_pass "$_n"
}
expect probe-vivid-is-a-camera "$vivid" '"kind":"capture"' '"stable_id":"platform:vivid-000"'
expect probe-vicodec-stateful-fwht-decoder "$dec" '"backend":"v4l2m2m"' '"role":"stateful-decoder"' '"codecs":\["FWHT"\]' '"available":false' 'notH.264'
expect probe-vicodec-stateless-not-supported "$sdec" '"role":"stateless-decoder"' 'notsupportedyet'
expect probe-vicodec-encoder-not-a-decoder "$enc" '"role":"encoder"'
expect probe-vim2m-not-a-decoder "$scaler" '"role":"converter"' 'notadecoder'
if grep -q '"auto_choice":"software"' /tmp/p.lines && grep -q "nothing\|noV4L2M2Mdevicetakes" /tmp/p.lines; then
	vm_pass probe-auto-is-software-with-reason
else
	vm_fail probe-auto-is-software-with-reason "$(grep auto_ /tmp/p.lines)"
fi
