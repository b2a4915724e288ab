#!/bin/busybox sh
# /init of the edgecam test VM (initramfs built by tests/vm/mkinitrd.sh).
# Loads the media modules named in /etc/vmtest.env (options from /etc/modprobe.d/vmtest.conf),
# runs /case.sh with the helpers of /lib/vmtest.sh, prints "VMTEST DONE rc=N" and powers off.
/bin/busybox --install -s /bin
export PATH=/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /run /tmp /root
mount -t tmpfs tmpfs /dev/shm
hostname vmtest
ip link set lo up 2>/dev/null # loopback only (qemu has -net none): lets a case run a local MQTT broker
. /etc/vmtest.env
up() { cut -d' ' -f1 /proc/uptime; }
echo "VMTEST BOOT case=$VM_CASE kernel=$(uname -r) cpus=$(nproc) mem=$(free -m | awk '/Mem:/{print $2}')MB uptime=$(up)"
for m in $VM_MODULES; do
	out=$(modprobe "$m" 2>&1) || { echo "VMTEST FAIL boot-modprobe-$m $out"; : >/tmp/.vmtest-failed; }
done
echo "VMTEST MODULES loaded=[$VM_MODULES] uptime=$(up)"
for d in /sys/class/video4linux/*; do
	[ -e "$d/name" ] && echo "VMTEST NODE /dev/$(basename "$d") $(cat "$d/name")"
done
cd /tmp || exit 1
# (no pipe here: a killed case's children would keep it open)
timeout -s KILL "$VM_CASE_TIMEOUT" sh -c '. /lib/vmtest.sh; . /case.sh' 2>&1
rc=$?
[ "$rc" = 137 ] && echo "VMTEST FAIL $VM_CASE case script killed after ${VM_CASE_TIMEOUT}s (in-VM timeout)"
if [ "$rc" != 0 ] || [ -e /tmp/.vmtest-failed ]; then
	echo "----- dmesg (last 40 lines) -----"
	dmesg | tail -n 40
	echo "---------------------------------"
fi
sync
echo "VMTEST DONE rc=$rc uptime=$(up)"
poweroff -f
