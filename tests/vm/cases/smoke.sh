# VM smoke test: the media test drivers loaded and their nodes carry the expected names.
# Runs under busybox sh in the guest, with /lib/vmtest.sh sourced (vm_pass, vm_fail, vm_node, ...).
# vm-timeout: 120

vm_nodes

expect() { # NAME REGEX: a /dev/video* node whose sysfs name matches
	if n=$(vm_node "$2"); then
		if [ -c "$n" ]; then vm_pass "smoke-$1"; else vm_fail "smoke-$1" "$n is not a character device"; fi
	else
		vm_fail "smoke-$1" "no video node named like /$2/ (have: $(vm_nodes | tr '\n' ' '))"
	fi
}
expect vivid '^vivid-[0-9]+-vid-cap$'
expect vicodec-encoder '^stateful-encoder$'
expect vicodec-decoder '^stateful-decoder$'
expect vim2m '^vim2m$'
if grep -qw v4l2loopback /etc/vmtest.env; then
	expect v4l2loopback '^edgecam-loopback$'
fi

# hotplug works: vivid goes away and comes back with other parameters
vivid=$(vm_node '^vivid-') || vivid=
if [ -n "$vivid" ] && vm_unplug vivid && ! vm_node '^vivid-' >/dev/null &&
	vm_plug vivid n_devs=2 node_types=0x1,0x1 && [ "$(vm_nodes | grep -c vivid)" = 2 ]; then
	vm_pass smoke-vivid-replug
else
	vm_fail smoke-vivid-replug "rmmod/modprobe vivid did not give 2 vivid nodes: $(vm_nodes | tr '\n' ' ')"
fi
vm_nodes
