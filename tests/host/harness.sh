#!/usr/bin/env bash
# tests/host/harness.sh - checks the host side of the QEMU harness: that bad
# command lines, kernel faults, stack overflows (the boot stack's, and a task
# frame larger than the gap below its stack), the spinlock's checks (lock
# order, early interrupts, recursion, a wait past its bound: a debug build)
# and experiment results all come out as the right exit status and message;
# that awkward command lines
# reach the kernel byte for byte through GRUB or are refused by
# tools/mkiso.sh; that a GRUB which never starts the kernel fails fast with
# a message (under BIOS and UEFI); that qemu-run leaves no temporary files;
# that the ISO is hybrid (BIOS and UEFI) and make usb refuses every device
# it must not overwrite (never writing to a real disk); and that
# tools/test-summary.sh names every failed or crashed stage; and that the
# framebuffer shows what the console log says (tools/screencheck.py, a QEMU
# screendump compared cell by cell, under BIOS and UEFI). Run by
# `make test`. make itself exits 2 whenever a recipe fails; the kernel's own
# status is in qemu-run's last line.
#
# BUILD (default build) is the build directory, KERNEL_ELF the kernel to
# boot (default $BUILD/kernel/tricolor.elf, built if missing);
# HARNESS_TIMEOUT (default 300) bounds each QEMU run, in seconds.
set -uo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
KERNEL=${KERNEL_ELF:-$BUILD/kernel/tricolor.elf}
RUN_TIMEOUT=${HARNESS_TIMEOUT:-300}
work=$BUILD/harness
mkdir -p "$work"

pass=0 fail=0
check() { # check NAME EXPECTED_STATUS PATTERN... -- COMMAND...
	local name=$1 want=$2
	shift 2
	local patterns=()
	while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
	shift
	local out rc
	out=$("$@" 2>&1)
	rc=$?
	local why=""
	[ "$rc" = "$want" ] || why="exit status $rc, expected $want"
	for p in "${patterns[@]}"; do
		grep -qE -- "$p" <<<"$out" || why="${why:+$why; }no line matches '$p'"
	done
	if [ -z "$why" ]; then
		echo "ok $name"; pass=$((pass + 1))
	else
		echo "not ok $name: $why"; fail=$((fail + 1))
		tail -20 <<<"$out" | sed 's/^/    /'
	fi
}

check cmdline.unknown_key 2 "unknown option 'nosuch=1'" "valid options" "bad kernel command line" \
	-- make -s run CMDLINE='nosuch=1'
check cmdline.malformed 2 "malformed option 'hz'" \
	-- make -s run CMDLINE='hz'
check cmdline.bad_value 2 "bad value in 'hz=abc'" \
	-- make -s run CMDLINE='hz=abc'
check cmdline.help 0 "hz" "tests" \
	-- make -s run CMDLINE='help=1'
check cmdline.clocksource_unknown 2 "clocksource=tsc: not one of auto, cpuid, hpet, pmtimer, pit" \
	"bad kernel command line" -- make -s run CMDLINE='clocksource=tsc'
check cmdline.clocksource_missing 2 "clocksource=hpet: no HPET in the ACPI tables" \
	"bad kernel command line" -- make -s run MACHINE=q35,hpet=off CMDLINE='clocksource=hpet'
check cmdline.lapic_timer_unknown 2 "lapic_timer=oneshot: not one of auto, periodic, deadline" \
	"bad kernel command line" -- make -s run CMDLINE='lapic_timer=oneshot'
# QEMU's TCG CPUs have no TSC-deadline timer, so forcing it is refused
# (under KVM the host CPU's may have one: then there is nothing to refuse).
if [ "$(tools/qemu-run.sh --print-accel)" = tcg ]; then
	check cmdline.lapic_timer_missing 2 "lapic_timer=deadline: this CPU has no TSC-deadline timer" \
		"bad kernel command line" -- make -s run CMDLINE='lapic_timer=deadline'
fi
check experiment.result 2 "hello from an experiment" "kernel exit status 7$" \
	-- make -s run EXP=tests/experiments/hello.c
check experiment.kernel_fault 2 "page fault \(vector 14" "page fault at 0x10: page not present, write" \
	"rip [0-9a-f]{16}" "at 0x[0-9a-f]+ write_through\+0x" "experiment\+0x" "kernel_main\+0x" "kernel panic" \
	-- make -s run EXP=tests/experiments/null_write.c
check experiment.stack_overflow 2 "double fault" "kernel stack overflow" "kernel panic" \
	-- make -s run EXP=tests/experiments/stack_overflow.c
check experiment.stack_clash 0 "task [0-9]+ 'clash' killed: stack overflow in task [0-9]+ 'clash'" \
	"join returned -1000" "experiment returned 0" \
	-- make -s run EXP=tests/experiments/stack_clash.c
# The spinlock's checks end in a panic, so a test cannot run them: a debug
# build (the order is checked only there) makes each mistake on purpose.
lock_exp() { make -s run EXP=tests/experiments/lock_mistakes.c DEBUG=1 CMDLINE="lock_mistake=$1"; }
check lock.order_inversion 2 \
	"lock order: taking 'experiment outer' \(rank sync object, 0x[0-9a-f]+\) at experiment\+0x[0-9a-f]+ while holding 'experiment inner' \(rank mheap, 0x[0-9a-f]+\) taken at experiment\+0x" \
	"kernel panic" -- lock_exp 1
check lock.release_turns_interrupts_on_early 2 \
	"spinlock 'experiment outer': released with interrupts turned back on while 'experiment inner' is still held" \
	"kernel panic" -- lock_exp 2
check lock.taken_twice 2 "spinlock 'experiment outer': taken twice by its holder" "kernel panic" \
	-- lock_exp 3
check lock.wait_is_bounded 2 \
	"spinlock 'experiment outer' \(0x[0-9a-f]+\): still not ours after 65536 spins \(spin_wait_limit\): waiting with ticket 1, ticket 0 holds it, 1 waiting \(this one included\); holder context 0x[0-9a-f]+, in no CPU's held stack" \
	"spin_lock\+0x" "kernel panic" -- lock_exp 4
check tests.unknown_selection 2 "no test matches 'nosuch'" \
	-- make -s test-qemu TESTS=nosuch

# ---- Command lines through GRUB (tools/mkiso.sh, boot/grub.cfg) ----
# The kernel prints the line the boot loader handed it (`command line:
# "..."`) before it parses it, so even a line it then rejects is shown; each
# line below must come out byte for byte, or be refused by mkiso with a
# reason. Lines that are valid end in help=1, so the kernel exits at once.

if [ ! -f "$KERNEL" ]; then
	make -s "$KERNEL" >/dev/null || { echo "not ok harness.build"; exit 1; }
fi

report() { # report NAME WHY OUTPUT: ok when WHY is empty
	if [ -z "$2" ]; then
		echo "ok $1"; pass=$((pass + 1))
	else
		echo "not ok $1: $2"; fail=$((fail + 1))
		tail -20 <<<"$3" | sed 's/^/    /'
	fi
}

# The command line the kernel printed in output $1, or "(none printed)".
printed_cmdline() {
	local l
	l=$(grep -a -m1 '^command line: "' <<<"$1") || { printf '(none printed)'; return; }
	l=${l#'command line: "'}
	printf '%s' "${l%'"'}"
}

# exact NAME LINE: booted with LINE, the kernel prints exactly LINE.
exact() {
	local name=cmdline.exact.$1 line=$2 iso=$work/$1.iso out got why=""
	if ! out=$(tools/mkiso.sh "$KERNEL" "$iso" "$line" 2>&1); then
		report "$name" "mkiso refused $(printf %q "$line")" "$out"
		return
	fi
	out=$(tools/qemu-run.sh --mem 128M --timeout "$RUN_TIMEOUT" "$iso" </dev/null 2>&1)
	got=$(printed_cmdline "$out")
	[ "$got" == "$line" ] ||
		why="the kernel saw $(printf %q "$got"), not $(printf %q "$line")"
	rm -f "$iso"
	report "$name" "$why" "$out"
}

# refused NAME LINE PATTERN: mkiso refuses LINE with a message matching
# PATTERN and writes no ISO.
refused() {
	local name=cmdline.refused.$1 line=$2 pattern=$3 iso=$work/$1.iso out rc why=""
	rm -f "$iso"
	out=$(tools/mkiso.sh "$KERNEL" "$iso" "$line" 2>&1)
	rc=$?
	[ "$rc" != 0 ] || why="mkiso accepted $(printf %q "$line")"
	grep -qE -- "$pattern" <<<"$out" || why="${why:+$why; }no line matches '$pattern'"
	[ ! -e "$iso" ] || why="${why:+$why; }an ISO was written anyway"
	rm -f "$iso"
	report "$name" "$why" "$out"
}

tab=$'\t'
exact semicolon 'gogc=50;hz=5'
exact hash 'gogc=50 #hz=5'
exact dollar 'hz=$x5'
exact dollar_forms 'a=${x} b=$1 c=$? d=$ e=$$'
exact ampersand 'gogc=5&'
exact pipe 'a=1|b=2 |'
exact braces_lt_semicolon '{ } < ;'
exact braces 'x={y} {'
exact angles 'a=<b> > <'
exact semicolon_alone ';'
exact glob 'a=* b=? c=[x] d=~ e=!'
exact parens_backtick 'a=(x) b=`x` c=@CMDLINE@'
exact grub_words 'if then fi menuentry boot }'
exact multiboot2_options '--nounzip --quirk-bad-kludge -- x'
exact tab "help=1${tab}hz=100"
exact tabs_around "${tab}help=1${tab}${tab}"
exact spaces '  help=1   hz=100  '
exact utf8 'x=é€ help=1'
long=$(printf '%*s' 1014 '' | tr ' ' x)
exact longest "help=1 a=$long" # 1023 bytes: the kernel's limit

refused double_quote 'a="b c"' 'quote.*GRUB'
refused single_quote "a='b'" 'quote.*GRUB'
refused backslash 'a=\b' 'backslash.*GRUB'
refused newline $'help=1\nhz=5' 'control character'
refused control_char $'a=\001' 'control character'
refused too_long "help=1 a=${long}x" 'at most 1023'

# Through make: the recipe must not hand the line to a shell or expand it.
out=$(make -s run CMDLINE='help=1 hz=$x5;gogc=50 #y &z|{}<>' </dev/null 2>&1)
got=$(printed_cmdline "$out")
want='help=1 hz=$x5;gogc=50 #y &z|{}<>'
report cmdline.exact.make_run \
	"$([ "$got" == "$want" ] || echo "the kernel saw $(printf %q "$got")")" "$out"
check cmdline.make_tests_selection 2 "no test matches 'nosuch;x'" \
	-- make -s test-qemu 'TESTS=nosuch;x'

# A line longer than the kernel's buffer, written into grub.cfg by hand
# (mkiso refuses it): the kernel must refuse it, not parse the truncated part.
cfg=$work/grub-long.cfg
sed "s|@CMDLINE@|help=1 a=${long}xxxxx @CMDLINE@|" boot/grub.cfg >"$cfg"
MKISO_GRUB_CFG=$cfg tools/mkiso.sh "$KERNEL" "$work/long.iso"
check cmdline.kernel_refuses_truncated 1 "command line too long" "bad kernel command line" \
	-- tools/qemu-run.sh --timeout "$RUN_TIMEOUT" "$work/long.iso"

# ---- A GRUB that never starts the kernel fails fast, with GRUB's reason ----
# Each run has the long time limit; the message shows the boot watch, not
# the limit, stopped it. tests=nosuch ends the run at once should the kernel
# start after all. Run with an empty TMPDIR: qemu-run must leave nothing.
tmpd=$(mktemp -d)
grub_case() { # grub_case NAME CFG EXTRA_QEMU_RUN_ARGS PATTERN...
	local name=$1 cfg=$2 extra=$3
	shift 3
	MKISO_GRUB_CFG=$cfg tools/mkiso.sh "$KERNEL" "$work/$name.iso" tests=nosuch
	# shellcheck disable=SC2086
	check "grub.$name" 1 "GRUB did not start the kernel" "$@" \
		-- env TMPDIR="$tmpd" tools/qemu-run.sh $extra --timeout "$RUN_TIMEOUT" "$work/$name.iso"
	rm -f "$work/$name.iso"
}
sed 's|@CMDLINE@|@CMDLINE@ { } < ;|' boot/grub.cfg >"$work/grub-syntax.cfg"
grub_case syntax_error "$work/grub-syntax.cfg" "" "error: syntax error"
sed 's|/boot/tricolor.elf|/boot/nosuch.elf|' boot/grub.cfg >"$work/grub-nokernel.cfg"
grub_case kernel_missing "$work/grub-nokernel.cfg" "" "file .?/boot/nosuch.elf'? not found"
# The same under UEFI: GRUB EFI's messages reach the serial console too.
grub_case kernel_missing_uefi "$work/grub-nokernel.cfg" "--uefi" "file .?/boot/nosuch.elf'? not found"
# No serial output at all (the menu waits on the VGA screen): only the
# bound can tell. 10 s is plenty for a kernel that never comes.
printf '%s\n' 'set timeout=-1' 'menuentry "tricolor" {' \
	'	multiboot2 /boot/tricolor.elf @CMDLINE@' '	boot' '}' >"$work/grub-silent.cfg"
grub_case silent "$work/grub-silent.cfg" "--boot-timeout 10" "no kernel banner within 10 s"
out=$(env TMPDIR="$tmpd" tools/qemu-run.sh --timeout "$RUN_TIMEOUT" "$work/long.iso" 2>&1)
left=$(ls -A "$tmpd")
report qemu_run.no_temporary_files "${left:+left behind in TMPDIR: $left}" "$out"
rm -rf "$tmpd" "$work/long.iso"

# ---- tools/test-summary.sh: every stage named, crashes counted ----
sdir=$work/summary
rm -rf "$sdir" && mkdir -p "$sdir/status"
printf 'ok x\n3 passed, 0 failed\n' >"$sdir/a.log"; echo 0 >"$sdir/status/a"
printf '1 passed, 2 failed\n' >"$sdir/b.log"; echo 2 >"$sdir/status/b"
printf 'ok y\nSegmentation fault\n' >"$sdir/c.log"; echo 2 >"$sdir/status/c"
echo 0 >"$sdir/status/d"
printf '4 passed, 0 failed\n' >"$sdir/e.log"; echo 1 >"$sdir/status/e"
check summary.failures_and_crashes 1 \
	'^stage a +ok +3 passed, 0 failed' '^stage b +FAILED +1 passed, 2 failed' \
	'^stage c +FAILED .*no summary line' '^stage d +ok' '^stage e +FAILED .*exit status 1' \
	'^stage f +FAILED .*did not run' 'failed: b c e f' '^8 passed, 5 failed$' \
	-- tools/test-summary.sh "$sdir/status" a="$sdir/a.log" b="$sdir/b.log" \
		c="$sdir/c.log" d e="$sdir/e.log" f="$sdir/f.log"
out=$(tools/test-summary.sh "$sdir/status" b="$sdir/b.log" a="$sdir/a.log" 2>&1)
last=$(tail -1 <<<"$out")
report summary.count_is_the_last_line \
	"$([ "$last" = "4 passed, 2 failed" ] || echo "the last line is '$last'")" "$out"
check summary.all_passed 0 '^stage a +ok' '^stage d +ok' '^3 passed, 0 failed$' \
	-- tools/test-summary.sh "$sdir/status" a="$sdir/a.log" d

# ---- Build files: make help, who installs packages, tools/check-layers.py ----
# Every .PHONY target of every makefile fragment is in `make help`
# (test-stage-NAME once, with the stage names).
db=$(make -rpq nosuch-target 2>/dev/null)
help=$(make -s help 2>&1)
listed=$(awk '$1 == "make" { print $2 }' <<<"$help")
phony=$(sed -n 's/^\.PHONY: //p' <<<"$db" | tr ' ' '\n' | sort -u)
why=""
[ -n "$phony" ] || why="no .PHONY targets found in make's database"
for t in $phony; do
	case $t in
	FORCE) ;;
	test-stage-*)
		grep -qE -- "test-stage-NAME .* ${t#test-stage-}( |$)" <<<"$help" ||
			why="${why:+$why; }$t: its stage is not named on the test-stage-NAME line" ;;
	*) grep -qx -- "$t" <<<"$listed" || why="${why:+$why; }$t is not listed" ;;
	esac
done
report build.help_lists_every_target "$why" "$help"

# `make` and `make iso` install nothing; run, debug, bench and every test
# stage that needs QEMU or clang install first (deps), compare and plots
# install their extras (compare-deps). Read from make's database and a dry
# run (-n -B: every command make would run, none run).
why=""
out=$(make -nB all iso 2>&1)
grep -q 'tools/mkiso.sh' <<<"$out" || why="make -nB all iso does not build the ISO"
grep -qE 'deps\.sh|apt-get' <<<"$out" && why="${why:+$why; }make all iso would install packages"
prereqs() { sed -n "s|^$1:\(.*\)|\1|p" <<<"$db" | head -1; }
for t in run debug bench test-build test-qemu test-matrix test-harness test-shell fuzz-short; do
	grep -qw deps <<<"$(prereqs "$t")" || why="${why:+$why; }$t does not depend on deps"
done
for t in compare plots; do
	grep -qw compare-deps <<<"$(prereqs "$t")" || why="${why:+$why; }$t does not depend on compare-deps"
done
report build.only_deps_installs "$why" "$out"

# Without GRUB, xorriso, mtools or clang (a PATH without them, and a clang
# of another version that cannot link a fuzzer): mkiso names the packages
# and writes no ISO; deps.sh --check names the runtime of that clang's
# version; neither runs apt-get.
fakebin=$work/fakebin
rm -rf "$fakebin" && mkdir -p "$fakebin"
for f in /usr/local/bin/* /usr/bin/* /bin/*; do
	b=${f##*/}
	case $b in grub-* | xorriso | mformat | clang* | apt-get) continue ;; esac
	[ -e "$fakebin/$b" ] || ln -s "$f" "$fakebin/$b"
done
printf '%s\n' '#!/bin/sh' 'echo "apt-get must not run" >&2; exit 99' >"$fakebin/apt-get"
printf '%s\n' '#!/bin/sh' \
	'case $1 in --version) echo "Debian clang version 77.0.1" ;; *) echo "no fuzzer runtime" >&2; exit 1 ;; esac' \
	>"$fakebin/clang"
chmod +x "$fakebin/apt-get" "$fakebin/clang"
rm -f "$work/nogrub.iso"
check build.mkiso_names_missing_packages 1 \
	"missing host packages: grub-common (grub-efi-amd64-bin )?(grub-pc-bin )?mtools xorriso$" \
	"make deps" "cannot build" \
	-- env PATH="$fakebin" tools/mkiso.sh "$KERNEL" "$work/nogrub.iso" help=1
report build.mkiso_wrote_no_iso "$([ ! -e "$work/nogrub.iso" ] || echo "an ISO was written")" ""
check build.fuzz_runtime_looked_up 1 "missing host packages: libclang-rt-77-dev$" \
	-- env PATH="$fakebin" tools/deps.sh --check fuzz
rm -f "$fakebin/clang"
check build.fuzz_without_clang 1 "missing host packages: clang libclang-rt-dev$" \
	-- env PATH="$fakebin" tools/deps.sh --check fuzz
rm -rf "$fakebin"

# ---- The hybrid ISO, UEFI runs and make usb ----
# The ISO carries a BIOS and a UEFI El Torito image; --uefi without OVMF
# names what is missing; make usb refuses, writing nothing, every device it
# must not overwrite. Only fake or unusable devices are ever named here: a
# path that does not exist, a regular file, a character device, a loop
# device (not removable), the disk / is on (mounted), and a detached loop
# device that a fake SYSFS calls removable (then only the confirmation
# stops it: no terminal and no CONFIRM=yes).
iso=$work/hybrid.iso
tools/mkiso.sh "$KERNEL" "$iso"
check iso.bios_and_uefi 0 "El Torito boot img : +1 +BIOS" "El Torito boot img : +2 +UEFI" \
	-- xorriso -indev "$iso" -report_el_torito plain
check qemu_run.uefi_without_ovmf 2 "--uefi needs OVMF: no OVMF_CODE_4M.fd" "install the ovmf package" \
	-- env OVMF_DIR=/nonexistent tools/qemu-run.sh --uefi "$iso"
check usb.no_device 2 "usb: no device given: make usb DEV=/dev/sdX" -- make -s usb
check usb.missing_device 2 "usb: /nonexistent/sdz does not exist" -- make -s usb DEV=/nonexistent/sdz
check usb.regular_file 1 "usb: $work/usb-file is not a block device" \
	-- bash -c "touch '$work/usb-file' && tools/usb-write.sh '$work/usb-file' '$iso'"
check usb.char_device 1 "usb: /dev/null is not a block device" \
	-- tools/usb-write.sh /dev/null "$iso"
if [ -b /dev/loop0 ] && [ -d /sys/block/loop0 ]; then
	check usb.not_removable 1 "usb: /dev/loop0 is not removable \(/sys/block/loop0/removable is '0'\)" \
		-- tools/usb-write.sh /dev/loop0 "$iso"
	if [ "$(cat /sys/block/loop0/size)" = 0 ]; then
		fakesys=$work/fakesys
		rm -rf "$fakesys" && mkdir -p "$fakesys/block/loop0"
		echo 1 >"$fakesys/block/loop0/removable"
		check usb.needs_confirmation 1 "usb: this overwrites ALL of /dev/loop0" \
			"usb: not confirmed: run with CONFIRM=yes" \
			-- env SYSFS="$fakesys" CONFIRM=no tools/usb-write.sh /dev/loop0 "$iso" </dev/null
		rm -rf "$fakesys"
	fi
fi
root_disk=$(lsblk -nrpo PKNAME "$(findmnt -nvo SOURCE / 2>/dev/null)" 2>/dev/null | head -1)
[ -n "$root_disk" ] || root_disk=$(findmnt -nvo SOURCE / 2>/dev/null)
if [ -b "$root_disk" ] && [ -d "/sys/block/${root_disk##*/}" ]; then
	check usb.mounted 1 "usb: $root_disk is in use: .* on /[,;]" \
		-- tools/usb-write.sh "$root_disk" "$iso"
fi
rm -f "$work/usb-file" "$iso"

# ---- The framebuffer's pixels (tools/screencheck.py) ----
# The shell booted under SeaBIOS (GRUB's VBE framebuffer) and under UEFI
# (OVMF's GOP), `help` typed so the screen has scrolled, then a QEMU
# screendump: every character cell must show, in the kernel's own font and
# colours, what the console log says was written. The checker must fail on
# a wrong screen: the saved dump against a log with one character changed,
# a dump with one pixel flipped, and a font with one glyph changed.
screen_iso=$work/screen.iso
tools/mkiso.sh "$KERNEL" "$screen_iso" shell=1 >/dev/null
for fw in bios uefi; do
	check "screen.$fw" 0 "^screencheck: [0-9]+x[0-9]+ scale [12]: all [0-9]+x[0-9]+ cells match" \
		-- python3 tools/screencheck.py $([ $fw = uefi ] && echo --uefi) --type help \
		--timeout "$RUN_TIMEOUT" --keep "$work/screen-$fw" "$screen_iso"
done
shot=$work/screen-bios
if [ -s "$shot/screen.ppm" ]; then
	sed 's/^  halt  /  hxlt  /' "$shot/console.log" >"$shot/wrong.log"
	check screen.wrong_text_fails 1 "FAILED: 1 of [0-9]+ cells differ from the log; first: cell \(3,[0-9]+\) should be 'x'" \
		-- python3 tools/screencheck.py --verify "$shot/screen.ppm" "$shot/wrong.log"
	python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[-1] ^= 0xff
open(sys.argv[2], "wb").write(d)' "$shot/screen.ppm" "$shot/wrong.ppm" # the last pixel's blue
	check screen.wrong_pixel_fails 1 "FAILED: 1 of [0-9]+ cells differ from the log" \
		-- python3 tools/screencheck.py --verify "$shot/wrong.ppm" "$shot/console.log"
	sed '/0x74 t /s/{0x[0-9a-f]*,/{0xff,/' arch/x86_64/font8x16.c >"$shot/wrong-font.c"
	check screen.wrong_font_fails 1 "FAILED: [0-9]+ of [0-9]+ cells differ from the log; first: cell \([0-9]+,[0-9]+\) should be 't'" \
		-- python3 tools/screencheck.py --font "$shot/wrong-font.c" --verify "$shot/screen.ppm" "$shot/console.log"
fi
rm -rf "$work/screen-bios" "$work/screen-uefi" "$screen_iso"

# tools/check-layers.py over small trees of its own: a clean one passes;
# each broken copy fails naming the file, the line and the reason.
layers=$work/layers
rm -rf "$layers"
put() { # put TREE FILE LINE...: TREE/FILE holds the LINEs
	local f=$1/$2
	shift 2
	mkdir -p "$(dirname "$f")"
	printf '%s\n' "$@" >"$f"
}
clean=$layers/clean
put "$clean" lib/lib.h '#pragma once' '#include <stdarg.h>' '#include <stdint.h>'
put "$clean" lib/string.c '#include "lib/lib.h"'
put "$clean" arch/arch.h '#include "lib/lib.h"'
put "$clean" arch/x86_64/switch.h '#include <stddef.h>'
put "$clean" arch/x86_64/x86.h '#include "arch/arch.h"' '#include "arch/x86_64/switch.h"'
put "$clean" arch/hosted/hosted.h '#include "arch/arch.h"'
put "$clean" arch/hosted/hosted.c '#include <stdio.h>' '#include "arch/x86_64/switch.h"' '#include "hosted.h"'
put "$clean" boot/boot.S '#include "arch/x86_64/x86.h"'
put "$clean" mm/mm.h '#include "arch/arch.h"'
put "$clean" mm/mm_internal.h '#include "mm/mm.h"' '#include "lib/lib.h"'
put "$clean" mm/heap.c '#include "mm_internal.h"'
put "$clean" gc/gc.h '#include "mm/mm.h"'
put "$clean" gc/gc.c '#include "gc/gc.h"' '#include "arch/arch.h"'
put "$clean" kernel/main.c '#include "gc/gc.h"' '#include "lib/lib.h"'
put "$clean" tests/util.h '#include "mm/mm_internal.h"'
put "$clean" tests/gc_test.c '#include "tests/util.h"' '#include "kernel/main.c"'
put "$clean" tests/x86/pmm_test.c '#include "arch/x86_64/x86.h"' '#include "tests/util.h"'
put "$clean" tests/hosted/bench.c '#include <stdlib.h>' '#include "arch/hosted/hosted.h"'
put "$clean" tests/fuzz/fuzz.c '#include <stdio.h>' '#include "arch/hosted/hosted.h"'
put "$clean" tools/prog.c '#include <stdio.h>'
put "$clean" build/kernel/junk.c '#include "kernel/main.c"' '#include <stdio.h>'
check layers.clean_tree_passes 0 "^check-layers: 20 files, 0 violations$" \
	-- tools/check-layers.py "$clean"
broken() { # broken NAME FILE LINE...: a copy of the clean tree with FILE replaced
	local t=$layers/$1
	cp -r "$clean" "$t"
	shift
	put "$t" "$@"
}
broken up mm/heap.c '#include "mm_internal.h"' '#include "gc/gc.h"'
check layers.upward_include_fails 1 \
	'^mm/heap.c:2: includes "gc/gc.h": goes up a layer: gc/ is above mm/' \
	'^cycle between folders gc/ -> mm/ -> gc/: gc/gc.h:1 -> mm/mm.h; mm/heap.c:2 -> gc/gc.h$' \
	'2 violations$' \
	-- tools/check-layers.py "$layers/up"
broken into_tests lib/string.c '#include "lib/lib.h"' '#include "tests/util.h"'
check layers.include_of_tests_fails 1 \
	'^lib/string.c:2: includes "tests/util.h": tests/ is above every room' \
	-- tools/check-layers.py "$layers/into_tests"
broken internal gc/gc.c '#include "gc/gc.h"' '#include "mm/mm_internal.h"'
check layers.lower_internal_header_fails 1 \
	'^gc/gc.c:2: includes "mm/mm_internal.h": mm/mm_internal.h is internal to mm/: from gc/ only mm/mm.h' \
	'1 violation$' \
	-- tools/check-layers.py "$layers/internal"
broken cycle arch/x86_64/switch.h '#include <stddef.h>' '#include "arch/hosted/hosted.h"'
check layers.folder_cycle_fails 1 \
	'^cycle between folders arch/hosted/ -> arch/x86_64/ -> arch/hosted/: arch/hosted/hosted.c:2 -> arch/x86_64/switch.h; arch/x86_64/switch.h:2 -> arch/hosted/hosted.h$' \
	'1 violation$' \
	-- tools/check-layers.py "$layers/cycle"
broken libc mm/heap.c '#include "mm_internal.h"' '#include <stdio.h>'
put "$layers/libc" tests/x86/pmm_test.c '#include <string.h>'
check layers.system_header_fails 1 \
	'^mm/heap.c:2: includes <stdio.h>: <stdio.h> is not a freestanding header' \
	'^tests/x86/pmm_test.c:1: includes <string.h>' '2 violations$' \
	-- tools/check-layers.py "$layers/libc"
broken missing kernel/main.c '#include "gc/nosuch.h"'
check layers.missing_file_fails 1 '^kernel/main.c:1: includes "gc/nosuch.h": no such file' \
	-- tools/check-layers.py "$layers/missing"
rm -rf "$layers"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
