# Helpers for VM test cases: installed as /lib/vmtest.sh in the guest and sourced before /case.sh.
# Cases run under busybox sh (ash), from /tmp, with PATH=/bin (busybox applets + --binary files).
# shellcheck shell=sh

# vm_pass NAME                 -> "VMTEST PASS NAME"
# vm_fail NAME REASON...       -> "VMTEST FAIL NAME REASON" (the run fails)
vm_pass() { echo "VMTEST PASS $1"; }
vm_fail() {
	_n=$1
	shift
	echo "VMTEST FAIL $_n ${*:-failed}"
	VM_FAILED=1
	: >/tmp/.vmtest-failed # tells /init to dump dmesg
}

# vm_check NAME CMD [ARGS...]: runs CMD, PASS if it exits 0, else FAIL with rc and last output line.
# CMD's output is shown, indented.
vm_check() {
	_n=$1
	shift
	_out=$("$@" 2>&1)
	_rc=$?
	[ -n "$_out" ] && echo "$_out" | sed 's/^/  | /'
	if [ "$_rc" = 0 ]; then
		vm_pass "$_n"
	else
		vm_fail "$_n" "rc=$_rc: $(echo "$_out" | tail -n 1)"
	fi
	return "$_rc"
}

# vm_node NAME-REGEX: prints /dev/videoN of the first node whose sysfs name matches (grep -E).
vm_node() {
	for _d in /sys/class/video4linux/video*; do
		[ -e "$_d/name" ] || continue
		if grep -qE -- "$1" "$_d/name"; then
			echo "/dev/$(basename "$_d")"
			return 0
		fi
	done
	return 1
}

# vm_nodes: "videoN: name" for every video node.
vm_nodes() {
	for _d in /sys/class/video4linux/video*; do
		[ -e "$_d/name" ] && echo "$(basename "$_d"): $(cat "$_d/name")"
	done
}

# vm_wait_for PATH [SECONDS=5]: waits until PATH exists (e.g. a node after modprobe).
vm_wait_for() {
	_i=0
	while [ ! -e "$1" ]; do
		_i=$((_i + 1))
		[ "$_i" -gt $((${2:-5} * 10)) ] && return 1
		usleep 100000
	done
}

# Hotplug helpers. Module options default to /etc/modprobe.d/vmtest.conf; extra args override.
#   vm_unplug vivid            (rmmod: fails while a process holds the device open)
#   vm_plug vivid [PARAMS...]  (modprobe; e.g. vm_plug vivid n_devs=2 node_types=0x1,0x1)
vm_unplug() { rmmod "$1"; }
vm_plug() { modprobe "$@"; }

# vm_uptime: seconds since boot (guest clock).
vm_uptime() { cut -d' ' -f1 /proc/uptime; }

# ---- edgecam helpers (cases that run the static edgecam binary, passed with --binary) ----
# ec_broker: the embedded MQTT broker (`edgecam broker`) on 127.0.0.1:1883; waits until it listens.
ec_broker() {
	edgecam broker --port 1883 >/tmp/broker.log 2>&1 &
	EC_BROKER=$!
	_i=0
	until grep -q 'MQTT 5 on' /tmp/broker.log 2>/dev/null; do
		_i=$((_i + 1))
		[ "$_i" -gt 100 ] && { vm_fail broker-start "$(cat /tmp/broker.log)"; return 1; }
		usleep 100000
	done
}

# ec_config FILE: a config for device "vm" on the local broker; camera tables follow on stdin.
ec_config() {
	{
		printf '[device]\nid = "vm"\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\nstats_interval_s = 2\n'
		cat
	} >"$1"
}

# ec_run CONFIG: `edgecam run` in the background (EC_PID), log in /tmp/edgecam.log.
ec_run() {
	EDGECAM_LOG=${EDGECAM_LOG:-info,rumqttd=off} edgecam run --config "$1" >/tmp/edgecam.log 2>&1 &
	EC_PID=$!
}

# ec_stop: SIGTERM to edgecam run, waits for it.
ec_stop() {
	[ -n "${EC_PID:-}" ] || return 0
	kill -TERM "$EC_PID" 2>/dev/null
	wait "$EC_PID" 2>/dev/null
	EC_PID=
}

# ec_frames FILE CAMERA [CHECK]: number of FRAME lines of CAMERA in a subscribe log (with CHECK, e.g.
# "jpeg=640x480", only those).
ec_frames() {
	grep "^FRAME edgecam/vm/$2/frame " "$1" | grep -c -- "${3:- }"
}
