#!/usr/bin/env bash
# tools/usb-write.sh DEV [ISO] - writes the hybrid ISO (tools/mkiso.sh: it
# boots from a USB stick under BIOS and UEFI alike) onto the whole disk DEV,
# e.g. /dev/sdb (`make usb DEV=/dev/sdb`). Without ISO it only checks DEV
# (`make usb` does that before building the ISO).
#
# Everything on DEV is lost, so it refuses, saying why, and writes nothing
# when:
#   - DEV is empty, does not exist or is not a block device;
#   - DEV is a partition (/dev/sdb1), not a whole disk;
#   - DEV or any of its partitions is mounted or used as swap;
#   - the kernel does not call DEV removable (/sys/block/NAME/removable is
#     not 1: internal disks, NVMe, loop devices, most USB hard disks).
# Then it names the disk (model, size, transport, from lsblk) and asks for
# "yes" on the terminal, or takes CONFIRM=yes for that; anything else
# writes nothing. SYSFS (default /sys) is where /sys/block is looked up.
set -uo pipefail
export LC_ALL=C

die() {
	printf 'usb: %s\n' "$*" >&2
	exit 1
}

dev=${1:-}
iso=${2:-}
sysfs=${SYSFS:-/sys}
[ -n "$dev" ] || die "no device given: make usb DEV=/dev/sdX (the whole USB stick; see lsblk)"
[ -e "$dev" ] || die "$dev does not exist"
[ -b "$dev" ] || die "$dev is not a block device"
real=$(readlink -f -- "$dev") || die "cannot resolve $dev"
name=${real##*/}
if [ ! -d "$sysfs/block/$name" ]; then
	[ -e "$sysfs/class/block/$name/partition" ] &&
		die "$dev is a partition; give the whole disk (e.g. /dev/sdb, not /dev/sdb1)"
	die "$dev ($name) is not a disk the kernel lists in $sysfs/block"
fi

command -v lsblk >/dev/null 2>&1 || die "lsblk (util-linux) is needed to check what is mounted"
mounted=$(lsblk -nrpo NAME,MOUNTPOINT -- "$real" 2>/dev/null | awk 'NF > 1 { print $1 " on " $2 }')
swaps=$(awk 'NR > 1 { print $1 }' /proc/swaps 2>/dev/null)
for part in $(lsblk -nrpo NAME -- "$real" 2>/dev/null); do
	grep -qxF -- "$part" <<<"$swaps" && mounted="${mounted:+$mounted, }$part as swap"
done
[ -z "$mounted" ] || die "$dev is in use: $(paste -sd ',' <<<"$mounted" | sed 's/,/, /g'); unmount it first"

removable=$(cat "$sysfs/block/$name/removable" 2>/dev/null)
[ "$removable" = 1 ] ||
	die "$dev is not removable ($sysfs/block/$name/removable is '${removable:-missing}'): refusing to overwrite what may be an internal disk"

[ -n "$iso" ] || exit 0
[ -f "$iso" ] || die "no ISO at $iso"

what=$(lsblk -dno MODEL,SIZE,TRAN -- "$real" 2>/dev/null | sed 's/  */ /g; s/^ //; s/ $//')
echo "usb: this overwrites ALL of $dev ($real): ${what:-model and size unknown}"
echo "usb: with $iso ($(stat -c %s "$iso") bytes)"
if [ "${CONFIRM:-}" != yes ]; then
	[ -t 0 ] || die "not confirmed: run with CONFIRM=yes, or from a terminal to be asked"
	printf 'usb: type yes to write it: '
	read -r answer || answer=""
	[ "$answer" = yes ] || die "not confirmed ('$answer'): nothing written"
fi
dd if="$iso" of="$real" bs=4M conv=fsync status=progress || die "dd failed: the stick may be unusable; write it again"
sync
echo "usb: done; $dev boots under BIOS and UEFI (README: booting a real PC)"
