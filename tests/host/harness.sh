#!/usr/bin/env bash
# tests/host/harness.sh - checks the host side of the QEMU harness: that bad
# command lines, kernel faults, stack overflows (the boot stack's, and a task
# frame larger than the gap below its stack) and experiment results all
# come out as the right exit status and message. Run by `make test`.
# make itself exits 2 whenever a recipe fails; the kernel's own status is
# in qemu-run's last line.
set -uo pipefail
cd "$(dirname "$0")/../.."

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
check tests.unknown_selection 2 "no test matches 'nosuch'" \
	-- make -s test-qemu TESTS=nosuch

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
