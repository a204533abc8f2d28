#!/bin/sh
# tools/mkiso.sh KERNEL.elf OUT.iso [CMDLINE...]
# Builds a GRUB rescue ISO (BIOS boot, multiboot2) that boots KERNEL.elf with
# the given kernel command line. Takes well under a second, so every run
# gets an ISO with its own command line.
set -eu
kernel=$1 out=$2
shift 2
cmdline="$*"
case "$cmdline" in
*\"* | *\\*) echo "mkiso: the command line may not contain quotes or backslashes" >&2; exit 1 ;;
esac
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/boot/grub"
cp "$kernel" "$dir/boot/tricolor.elf"
sed "s|@CMDLINE@|$cmdline|" boot/grub.cfg >"$dir/boot/grub/grub.cfg"
grub-mkrescue -o "$out" "$dir" >"$dir.log" 2>&1 || { cat "$dir.log" >&2; rm -f "$dir.log"; exit 1; }
rm -f "$dir.log"
