#!/usr/bin/env bash
# tools/mkiso.sh KERNEL.elf OUT.iso [CMDLINE...]
# Builds a hybrid GRUB rescue ISO that boots KERNEL.elf (multiboot2) with
# the given kernel command line (the arguments joined by single spaces),
# under BIOS firmware (El Torito, i386-pc GRUB; also as a USB stick: the
# image carries an MBR) and under UEFI (an EFI system partition image with
# x86_64-efi GRUB): grub-mkrescue adds every platform whose GRUB modules
# are installed, and tools/deps.sh --check iso requires both.
# Takes well under a second, so every run gets an ISO with its own command
# line. MKISO_GRUB_CFG names another grub.cfg template (the harness's
# broken-GRUB tests); the default is boot/grub.cfg.
#
# The kernel must see exactly the line given. GRUB reads grub.cfg with a
# shell-like parser (`;`, `#`, `$`, `&`, `|`, `{}`, `<>`, quotes and blanks
# all mean something to it), and its multiboot2 command joins the arguments
# it got with one space each, wrapping an argument that contains a space in
# double quotes and putting a backslash before every `\`, `'` and `"`
# (GRUB 2.06, grub_create_loader_cmdline). So the line is split at every
# space (not tab) and each piece, empty ones included, goes into grub.cfg in
# single quotes, inside which GRUB takes every character literally: the
# joined arguments are then the line itself, tabs, runs of spaces and
# leading or trailing spaces included. What cannot come through unchanged
# is refused with the reason, before anything is written:
#   - `'` (it would end the quoting), and `"` and `\` (GRUB adds a backslash);
#   - control characters other than tab (the kernel prints its command line
#     on one line, and splits words at newlines anyway);
#   - lines over 1023 bytes, the kernel's buffer (boot.cmdline in
#     arch/x86_64/x86.h); tests/host/harness.sh checks both sides of it.
set -euo pipefail
export LC_ALL=C
max=1023

die() {
	printf 'mkiso: %s\n' "$*" >&2
	exit 1
}

[ $# -ge 2 ] || die "usage: mkiso.sh KERNEL.elf OUT.iso [CMDLINE...]"
kernel=$1 out=$2
shift 2
cmdline="$*"
root=$(cd "$(dirname "$0")/.." && pwd)
template=${MKISO_GRUB_CFG:-$root/boot/grub.cfg}

[ "${#cmdline}" -le "$max" ] ||
	die "the command line is ${#cmdline} bytes; the kernel takes at most $max"
for ((i = 0; i < ${#cmdline}; i++)); do
	c=${cmdline:i:1}
	case $c in
	\') what="a single quote" ;;
	\") what="a double quote" ;;
	\\) what="a backslash" ;;
	$'\t') continue ;;
	[[:cntrl:]]) what=$(printf 'a control character (byte 0x%02x)' "'$c") ;;
	*) continue ;;
	esac
	case $c in
	[[:cntrl:]]) why="only printable characters, spaces and tabs can be passed: the kernel splits words at newlines and prints its command line on one line" ;;
	*) why="GRUB's multiboot2 command hands every ', \" and \\ to the kernel with a backslash in front, so the kernel could not see the line as typed" ;;
	esac
	die "the command line has $what at offset $i: $why"
done

# The line split at every space; each piece single-quoted, empty ones too.
words=""
if [ -n "$cmdline" ]; then
	rest=$cmdline
	while :; do
		words+=" '${rest%% *}'"
		case $rest in
		*" "*) rest=${rest#* } ;;
		*) break ;;
		esac
	done
fi

cfg=$(cat "$template") || die "cannot read $template"
case $cfg in
*@CMDLINE@*) ;;
*) die "$template has no @CMDLINE@ to replace" ;;
esac

# GRUB, xorriso and mtools: named if missing, never installed here
# (`make deps` installs them).
"$root/tools/deps.sh" --check iso || die "cannot build $out without them"

dir=$(mktemp -d)
trap 'rm -rf "$dir" "$dir.log"' EXIT
mkdir -p "$dir/boot/grub"
cp "$kernel" "$dir/boot/tricolor.elf"
# Not sed: '&', '|' and '\' mean something in its replacement text.
printf '%s%s%s\n' "${cfg%%@CMDLINE@*}" "$words" "${cfg#*@CMDLINE@}" \
	>"$dir/boot/grub/grub.cfg"
grub-mkrescue -o "$out" "$dir" >"$dir.log" 2>&1 || { cat "$dir.log" >&2; exit 1; }
