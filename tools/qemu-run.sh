#!/usr/bin/env bash
# tools/qemu-run.sh [options] ISO - boots a tricolor ISO in QEMU with the
# serial console on stdout, and turns how the kernel ended into an exit code.
#
#   --machine pc|q35   QEMU machine type (default q35)
#   --uefi             boot under UEFI firmware (OVMF) instead of SeaBIOS:
#                      OVMF_CODE read-only and a private copy of OVMF_VARS
#                      as pflash (never -bios), the copy removed on exit
#   --pci-serial       no ISA serial port (-serial none): the console on a
#                      PCI 16550 card (QEMU's pci-serial) instead
#   --legacy-free      a PC without the legacy devices: q35 with pit=off,
#                      hpet=off, i8042=off; implies --pci-serial and --uefi
#   --monitor PATH     the QEMU monitor on a unix socket at PATH (for
#                      screendump; tools/screencheck.py), not -monitor none
#   --mem SIZE         RAM, e.g. 128M or 4G (default 512M)
#   --smp N            N CPUs (default 1); under TCG each is a host thread
#   --timeout SECONDS  a run still going then is a hang: failure (default 300)
#   --boot-timeout SECONDS  the kernel's first line not seen by then: GRUB
#                      did not start it, failure (default 120; 0 = no bound)
#   --tests            a self-test run: also require the "N passed, N failed"
#                      summary line with 0 failed
#   --debug            start the gdb stub (-s -S) and wait for a debugger
#   --display          also open a window showing the screen (the
#                      framebuffer console; keys typed there reach the
#                      kernel's PS/2 keyboard): GTK, else SDL, whichever this
#                      QEMU has (Debian: qemu-system-gui); without either, a
#                      note and headless. The serial console stays on stdout.
#   --log FILE         also write the console output to FILE
#   --print-accel      print the accelerator a run would use, and exit
#
# The kernel leaves through isa-debug-exit: status s makes QEMU exit with
# 2*(s+16)+1 (arch/x86_64/cpu.c). QEMU's own exit 0 means the guest reset
# (-no-reboot turns a triple fault into that) and is a failure, like a hang,
# unless the kernel announced the reset as its last line (the shell's
# `reboot`, kernel/shell.c): then the run ends there, cleanly, with status 0.
# A GRUB that never reaches the kernel fails fast: see "Boot watch" below.
# Without --log the console goes to a temporary file, removed on exit.
# Accelerator: TCG unless ACCEL=kvm, or the CPU shows vmx/svm and /dev/kvm
# is usable (a nested, software /dev/kvm runs this kernel far slower than TCG).
set -uo pipefail

machine=q35 mem=512M timeout=300 boot_timeout=120 tests=0 debug=0 log="" print_accel=0 uefi=0
legacy_free=0 pci_serial=0 monitor="" display=0 smp=1
[ "${1:-}" = --print-accel ] && print_accel=1 && set -- --print-accel none
while [ $# -gt 1 ]; do
	case $1 in
	--machine) machine=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--smp) smp=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--boot-timeout) boot_timeout=$2; shift 2 ;;
	--tests) tests=1; shift ;;
	--uefi) uefi=1; shift ;;
	--pci-serial) pci_serial=1; shift ;;
	--legacy-free) legacy_free=1 pci_serial=1 uefi=1; shift ;;
	--monitor) monitor=$2; shift 2 ;;
	--debug) debug=1; shift ;;
	--display) display=1; shift ;;
	--log) log=$2; shift 2 ;;
	--print-accel) shift ;;
	*) echo "qemu-run: unknown option $1" >&2; exit 2 ;;
	esac
done
iso=${1:?usage: qemu-run.sh [options] ISO}

accel=${ACCEL:-}
if [ -z "$accel" ]; then
	accel=tcg
	if grep -qwE 'vmx|svm' /proc/cpuinfo && [ -w /dev/kvm ]; then accel=kvm; fi
fi
case $accel in
kvm) [ -w /dev/kvm ] || { echo "qemu-run: ACCEL=kvm but /dev/kvm is not usable" >&2; exit 2; }
     cpu=host ;;
tcg) cpu=max ;;
*) echo "qemu-run: ACCEL must be tcg or kvm, not '$accel'" >&2; exit 2 ;;
esac
if [ "$print_accel" = 1 ]; then echo "$accel"; exit 0; fi

# OVMF from Debian's ovmf package: the 4 MiB build first (the one Debian
# recommends), else the 2 MiB one; code and vars must come from the same.
ovmf_code="" ovmf_vars=""
if [ "$uefi" = 1 ]; then
	for suffix in _4M ""; do
		c=${OVMF_DIR:-/usr/share/OVMF}/OVMF_CODE$suffix.fd
		v=${OVMF_DIR:-/usr/share/OVMF}/OVMF_VARS$suffix.fd
		if [ -f "$c" ] && [ -f "$v" ]; then ovmf_code=$c ovmf_vars=$v; break; fi
	done
	if [ -z "$ovmf_code" ]; then
		echo "qemu-run: --uefi needs OVMF: no OVMF_CODE_4M.fd + OVMF_VARS_4M.fd or" \
			"OVMF_CODE.fd + OVMF_VARS.fd in ${OVMF_DIR:-/usr/share/OVMF}" \
			"(install the ovmf package: make deps)" >&2
		exit 2
	fi
fi
machine_opt=$machine serial=(-serial stdio)
if [ "$legacy_free" = 1 ]; then
	[ "$machine" = q35 ] || { echo "qemu-run: --legacy-free needs --machine q35" >&2; exit 2; }
	# isa-debug-exit stays (the exit status); it is QEMU's, not the PC's.
	machine_opt=q35,pit=off,hpet=off,i8042=off
fi
if [ "$pci_serial" = 1 ]; then
	serial=(-serial none -chardev stdio,id=console,signal=off
		-device pci-serial,chardev=console)
fi
case $smp in
''|*[!0-9]*|0) echo "qemu-run: --smp needs a CPU count of 1 or more, not '$smp'" >&2; exit 2 ;;
esac
echo "qemu-run: machine $machine_opt, $mem RAM, $smp CPU$([ "$smp" = 1 ] || echo s), accelerator $accel," \
	"firmware $([ "$uefi" = 1 ] && echo "UEFI ($ovmf_code)" || echo BIOS)"

ui=none
if [ "$display" = 1 ]; then
	backends=$(qemu-system-x86_64 -display help 2>/dev/null)
	for b in gtk sdl; do
		if grep -qx "$b" <<<"$backends"; then ui=$b; break; fi
	done
	[ "$ui" != none ] || echo "qemu-run: no QEMU window (this QEMU has neither GTK nor SDL;" \
		"Debian: apt-get install qemu-system-gui); running headless" >&2
fi
args=(-machine "$machine_opt" -accel "$accel" -cpu "$cpu" -m "$mem" -smp "$smp"
	-cdrom "$iso" -boot d -no-reboot -display "$ui" "${serial[@]}"
	-device isa-debug-exit,iobase=0xf4,iosize=0x04)
if [ -n "$monitor" ]; then
	args+=(-monitor "unix:$monitor,server=on,wait=off")
else
	args+=(-monitor none)
fi
if [ "$debug" = 1 ]; then
	args+=(-s -S)
	timeout=0
fi

tmp=$(mktemp -d -t qemu-run.XXXXXX) || exit 2
watch_pid=""
cleanup() {
	[ -z "$watch_pid" ] || kill "$watch_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
[ -n "$log" ] || log=$tmp/console.log
: >"$log" || exit 2
args+=(-pidfile "$tmp/qemu.pid")
if [ "$uefi" = 1 ]; then
	# OVMF writes its variables (boot entries) into the vars flash: a
	# private copy, so runs neither share nor keep state.
	cp "$ovmf_vars" "$tmp/OVMF_VARS.fd" || exit 2
	args+=(-drive "if=pflash,format=raw,readonly=on,file=$ovmf_code"
		-drive "if=pflash,format=raw,file=$tmp/OVMF_VARS.fd")
fi

# ---- Boot watch ----
# GRUB prints its messages on the serial console too (boot/grub.cfg) and the
# kernel's first line starts "tricolor: " (arch/x86_64/start.c). A GRUB that
# cannot start the kernel either prints "error: ..." and then waits for a
# key or sits at its grub> prompt, or shows nothing on the serial port at
# all; either way the run used to wait for --timeout (10 minutes for the
# self-tests) and end as a "hang". This watcher reads the console log until
# the banner appears: 2 s after a GRUB error or prompt (GRUB prints all its
# errors at once, and so a kernel that starts after all is not stopped), or
# --boot-timeout seconds after QEMU starts with no banner, it records why
# and stops QEMU. The bound: the banner comes 0.7-1.4 s after QEMU starts on
# an idle machine (SeaBIOS and GRUB under TCG) and 7-8 s with four busy
# loops on the 2 cores (measured); 120 s leaves 15 times that, and still
# fails five times sooner than the self-tests' limit. Off under --debug
# (gdb holds the CPU).
boot_watch() {
	local start=$SECONDS err_at="" why="" pid
	while ! grep -qa '^tricolor: ' "$log"; do
		if [ -z "$err_at" ] && grep -qaE '^error: |^grub> ' "$log"; then
			err_at=$SECONDS
		fi
		if [ -n "$err_at" ] && [ $((SECONDS - err_at)) -ge 2 ]; then
			why=$(grep -aE '^error: ' "$log" | awk '!seen[$0]++' | head -5 |
				paste -sd '|' | sed 's/|/; /g')
			if grep -qa '^grub> ' "$log"; then
				why="${why:+$why; }GRUB stopped at its grub> prompt"
			fi
			break
		fi
		if [ "$boot_timeout" != 0 ] && [ $((SECONDS - start)) -ge "$boot_timeout" ]; then
			why="no kernel banner within $boot_timeout s of QEMU's start"
			break
		fi
		sleep 0.2
	done
	[ -n "$why" ] || return 0
	printf '%s\n' "$why" >"$tmp/boot-failed"
	until pid=$(cat "$tmp/qemu.pid" 2>/dev/null) && [ -n "$pid" ]; do sleep 0.2; done
	kill "$pid" 2>/dev/null
}
if [ "$debug" = 0 ]; then
	boot_watch &
	watch_pid=$!
fi
# ---- end of boot watch ----

# stdbuf: tr would hold a shell prompt (no newline yet) in its buffer.
if [ "$timeout" = 0 ]; then
	qemu-system-x86_64 "${args[@]}" | stdbuf -o0 tr -d '\r' | tee "$log"
else
	timeout --foreground "$timeout" qemu-system-x86_64 "${args[@]}" | stdbuf -o0 tr -d '\r' | tee "$log"
fi
rc=${PIPESTATUS[0]}

fail() { echo "qemu-run: FAILED: $*" >&2; exit 1; }
if [ -n "$watch_pid" ]; then
	kill "$watch_pid" 2>/dev/null
	wait "$watch_pid" 2>/dev/null
	watch_pid=""
	[ ! -s "$tmp/boot-failed" ] || fail "GRUB did not start the kernel: $(cat "$tmp/boot-failed")"
fi
if [ "$rc" = 124 ]; then
	fail "no exit after ${timeout}s (hang)"
elif [ "$rc" = 0 ]; then
	if [ "$tests" = 0 ] &&
		[ "$(grep -v '^$' "$log" | tail -1)" = "reboot: resetting the machine" ]; then
		echo "qemu-run: the kernel reset the machine as asked; QEMU runs with -no-reboot," \
			"so the run ends here (status 0)"
		exit 0
	fi
	fail "QEMU exited without a kernel status (triple fault or reset)"
elif [ $((rc % 2)) = 0 ] || [ "$rc" -lt 33 ]; then
	fail "QEMU itself failed (exit $rc)"
fi
status=$(((rc - 33) / 2))
case $status in
2) fail "bad kernel command line (see the message above)" ;;
3) fail "kernel panic" ;;
esac
if [ "$tests" = 1 ]; then
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
	[ -n "$summary" ] || fail "the self-tests ended without a summary line"
	case $summary in
	*" 0 failed") ;;
	*) fail "$summary" ;;
	esac
	[ "$status" = 0 ] || fail "kernel exit status $status"
fi
[ "$status" = 0 ] || echo "qemu-run: kernel exit status $status" >&2
exit "$status"
