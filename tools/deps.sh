#!/bin/sh
# tools/deps.sh [--check] [GROUP...] - installs the host packages a group of
# targets needs, only those missing. The one place packages are named.
#
#   build    gcc, make, binutils (the kernel ELF, symbols, disassembly)
#   iso      GRUB with its BIOS and its x86-64 UEFI modules, xorriso and
#            mtools (`make iso`: one ISO that boots under both firmwares)
#   qemu     QEMU and OVMF, its UEFI firmware (`make run`, `make test`,
#            `make bench`, `make debug`, tools/qemu-run.sh --uefi)
#   test     python3 (tools/check-layers.py) and the fuzz group
#   fuzz     clang and its libFuzzer runtime (`make fuzz`, `make fuzz-short`)
#   gui      QEMU's GTK window (`make run` installs it when DISPLAY or
#            WAYLAND_DISPLAY is set; never on a headless machine or in CI)
#   compare  Go, the Boehm collector (headers and library), gnuplot without X,
#            python3 and gcc (`make compare`, `make plots`)
#
# No GROUP: build iso qemu test, what `make deps` (and through it `make run`,
# `make test`, `make bench`) and .ci/run install. As root it runs apt-get
# and then checks again (a package that installed without providing what was
# looked for is as fatal as one that did not install); otherwise it prints
# the exact command and fails. --check installs nothing: it prints what is
# missing and how to install it, and fails if anything is (`make iso` and
# `make fuzz` use it to say what to install rather than installing).
#
# The libFuzzer runtime is looked up, not pinned: the test is whether clang
# (FUZZ_CC, default clang) links a fuzz target; the package is the runtime
# of that clang's major version (libclang-rt-N-dev, or libclang-common-N-dev
# where the archive has no libclang-rt-N-dev), or, when clang itself is
# missing, libclang-rt-dev, the runtime of the distribution's default clang
# (libclang-rt-N-dev for FUZZ_CC=clang-N).
set -eu

check_only=0
if [ "${1:-}" = "--check" ]; then
	check_only=1
	shift
fi
[ $# -gt 0 ] || set -- build iso qemu test
fuzz_cc=${FUZZ_CC:-clang}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# clang's major version ("clang version 14.0.6" -> 14); empty if FUZZ_CC
# is not clang.
clang_major() {
	"$fuzz_cc" --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\).*/\1/p' | head -1
}

# Does clang link a libFuzzer target? (The runtime's file name and folder
# differ between clang versions; the link is what the fuzzer needs.)
fuzzer_links() {
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$tmp/fuzz.c"
	"$fuzz_cc" -fsanitize=fuzzer "$tmp/fuzz.c" -o "$tmp/fuzz" >/dev/null 2>&1
}

missing=""
need() { # need COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || missing="$missing $2"
}

# Collect the missing packages of each group into $missing.
scan() {
	missing=""
	for group in "$@"; do
		case $group in
		build)
			need gcc gcc
			need make make
			need nm binutils
			need objdump binutils
			;;
		iso)
			need grub-mkrescue grub-common
			need xorriso xorriso
			need mformat mtools
			[ -d /usr/lib/grub/i386-pc ] || missing="$missing grub-pc-bin"
			[ -d /usr/lib/grub/x86_64-efi ] || missing="$missing grub-efi-amd64-bin"
			;;
		qemu)
			need qemu-system-x86_64 qemu-system-x86
			# The same lookup as tools/qemu-run.sh --uefi.
			{ [ -f /usr/share/OVMF/OVMF_CODE_4M.fd ] || [ -f /usr/share/OVMF/OVMF_CODE.fd ]; } ||
				missing="$missing ovmf"
			;;
		gui)
			ls /usr/lib/*/qemu/ui-gtk.so >/dev/null 2>&1 || missing="$missing qemu-system-gui"
			;;
		test)
			need python3 python3
			scan_fuzz
			;;
		fuzz)
			scan_fuzz
			;;
		compare)
			need go golang-go
			need gnuplot gnuplot-nox
			need python3 python3
			need gcc gcc
			# libgc-dev has no command: its header and its linker symlink.
			{ [ -f /usr/include/gc.h ] || [ -f /usr/include/gc/gc.h ]; } &&
				ls /usr/lib/*/libgc.so >/dev/null 2>&1 || missing="$missing libgc-dev"
			;;
		*)
			echo "deps: unknown group '$group' (build, iso, qemu, test, fuzz, compare)" >&2
			exit 2
			;;
		esac
	done
	# shellcheck disable=SC2086 # one package a word
	missing=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
	missing=${missing% }
}

scan_fuzz() {
	if ! command -v "$fuzz_cc" >/dev/null 2>&1; then
		case $fuzz_cc in
		clang-[0-9]*) missing="$missing $fuzz_cc libclang-rt-${fuzz_cc#clang-}-dev" ;;
		*) missing="$missing $fuzz_cc libclang-rt-dev" ;;
		esac
	elif ! fuzzer_links; then
		major=$(clang_major)
		if [ -n "$major" ]; then
			missing="$missing libclang-rt-$major-dev"
		else # FUZZ_CC is no clang: the distribution's clang
			missing="$missing clang libclang-rt-dev"
		fi
	fi
}

scan "$@"
[ -z "$missing" ] && exit 0

if [ "$check_only" = 1 ]; then
	# `make deps` installs every group but compare.
	case " $* " in
	*" compare "*) how="tools/deps.sh $*" ;;
	*) how="make deps" ;;
	esac
	echo "deps: missing host packages: $missing" >&2
	echo "deps: install them as root with \`$how\`, or:" >&2
	echo "deps:   apt-get update && apt-get install -y --no-install-recommends $missing" >&2
	exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing host packages: $missing" >&2
	echo "deps: run as root:  apt-get update && apt-get install -y --no-install-recommends $missing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Older archives ship clang's runtime in libclang-common-N-dev.
pkgs=""
for p in $missing; do
	case $p in
	libclang-rt-[0-9]*-dev)
		apt-cache show "$p" >/dev/null 2>&1 ||
			p="libclang-common-${p#libclang-rt-}"
		;;
	esac
	pkgs="$pkgs $p"
done
pkgs=${pkgs# }
echo "deps: installing $pkgs"
# shellcheck disable=SC2086
if ! apt-get install -y -qq --no-install-recommends $pkgs >"$tmp/apt.log" 2>&1; then
	cat "$tmp/apt.log" >&2
	echo "deps: could not install $pkgs (see above)" >&2
	exit 1
fi
scan "$@"
if [ -n "$missing" ]; then
	echo "deps: still missing after the install: $missing" >&2
	exit 1
fi
