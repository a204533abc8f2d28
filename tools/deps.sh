#!/bin/sh
# tools/deps.sh - installs the host packages the build and QEMU runs need,
# when missing: QEMU, GRUB (BIOS modules), xorriso and mtools for the ISO,
# the compiler/binutils, and clang with libFuzzer for the heap fuzzer. As root it runs apt-get; otherwise it prints the
# exact command and fails.
set -eu

missing=""
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}
need qemu-system-x86_64 qemu-system-x86
need grub-mkrescue grub-common
need xorriso xorriso
need mformat mtools
need gcc gcc
need make make
need nm binutils
need clang clang
[ -d /usr/lib/grub/i386-pc ] || missing="$missing grub-pc-bin"
# libFuzzer's runtime, for the heap fuzzer (make fuzz-short)
ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
	missing="$missing libclang-rt-14-dev"

[ -z "$missing" ] && exit 0
# shellcheck disable=SC2086
set -- $(printf '%s\n' $missing | sort -u)
cmd="apt-get install -y --no-install-recommends $*"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing host packages: $*" >&2
	echo "deps: run as root:  apt-get update && $cmd" >&2
	exit 1
fi
echo "deps: installing $*"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
