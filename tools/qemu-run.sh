#!/usr/bin/env bash
# tools/qemu-run.sh [options] ISO - boots a tricolor ISO in QEMU with the
# serial console on stdout, and turns how the kernel ended into an exit code.
#
#   --machine pc|q35   QEMU machine type (default q35)
#   --mem SIZE         RAM, e.g. 128M or 4G (default 512M)
#   --timeout SECONDS  a run still going then is a hang: failure (default 300)
#   --tests            a self-test run: also require the "N passed, N failed"
#                      summary line with 0 failed
#   --debug            start the gdb stub (-s -S) and wait for a debugger
#   --log FILE         also write the console output to FILE
#   --print-accel      print the accelerator a run would use, and exit
#
# The kernel leaves through isa-debug-exit: status s makes QEMU exit with
# 2*(s+16)+1 (arch/x86_64/cpu.c). QEMU's own exit 0 means the guest reset
# (-no-reboot turns a triple fault into that) and is a failure, like a hang,
# unless the kernel announced the reset as its last line (the shell's
# `reboot`, kernel/shell.c): then the run ends there, cleanly, with status 0.
# Accelerator: TCG unless ACCEL=kvm, or the CPU shows vmx/svm and /dev/kvm
# is usable (a nested, software /dev/kvm runs this kernel far slower than TCG).
set -uo pipefail

machine=q35 mem=512M timeout=300 tests=0 debug=0 log="" print_accel=0
[ "${1:-}" = --print-accel ] && print_accel=1 && set -- --print-accel none
while [ $# -gt 1 ]; do
	case $1 in
	--machine) machine=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--tests) tests=1; shift ;;
	--debug) debug=1; shift ;;
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
echo "qemu-run: machine $machine, $mem RAM, accelerator $accel"

args=(-machine "$machine" -accel "$accel" -cpu "$cpu" -m "$mem"
	-cdrom "$iso" -boot d -no-reboot -display none -serial stdio
	-monitor none -device isa-debug-exit,iobase=0xf4,iosize=0x04)
if [ "$debug" = 1 ]; then
	args+=(-s -S)
	timeout=0
fi

[ -n "$log" ] || log=$(mktemp)
# stdbuf: tr would hold a shell prompt (no newline yet) in its buffer.
if [ "$timeout" = 0 ]; then
	qemu-system-x86_64 "${args[@]}" | stdbuf -o0 tr -d '\r' | tee "$log"
else
	timeout --foreground "$timeout" qemu-system-x86_64 "${args[@]}" | stdbuf -o0 tr -d '\r' | tee "$log"
fi
rc=${PIPESTATUS[0]}

fail() { echo "qemu-run: FAILED: $*" >&2; exit 1; }
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
