#!/usr/bin/env bash
# tests/host/shell.sh - drives the serial shell (kernel/shell.c) from a
# script and checks what each command prints and how the run ends: in the
# hosted build (stdin/stdout) and in QEMU (the real 16550 UART through
# -serial stdio). Each command is sent only once the prompt is back, since
# bytes that reach the UART before the kernel sets it up are lost. In QEMU
# the shell is also typed at through the PS/2 keyboard (the monitor's
# sendkey), and booted without an 8042 (q35 and pc, i8042=off).
#
#   tests/host/shell.sh [hosted|qemu|all]     (default: all)
#
# BUILD (default build) is the build directory; the kernel and the hosted
# binary are built first. SHELL_TIMEOUT (default 120) bounds each step, in
# seconds (boot under TCG on a loaded machine included).
set -uo pipefail
cd "$(dirname "$0")/../.."

BUILD=${BUILD:-build}
STEP_TIMEOUT=${SHELL_TIMEOUT:-120}
which=${1:-all}
PROMPT='tricolor> '

pass=0 fail=0
out=""   # what the last step printed
ok() { echo "ok $1"; pass=$((pass + 1)); }
not_ok() {
	echo "not ok $1: $2"
	fail=$((fail + 1))
	tail -25 <<<"$out" | sed 's/^/    /'
}

# Reads the session's output until the prompt ends it, or until the step's
# deadline (false). Carriage returns are dropped.
read_to_prompt() {
	local deadline=$((SECONDS + STEP_TIMEOUT)) ch
	out=""
	while [ "$SECONDS" -lt "$deadline" ]; do
		if IFS= read -r -N 1 -t 1 ch <&"$SH_RD"; then
			[ "$ch" = $'\r' ] && continue
			out+=$ch
			[[ "$out" == *"$PROMPT" ]] && return 0
		elif ! kill -0 "$session_pid" 2>/dev/null; then
			# The session ended; take what is left.
			while IFS= read -r -N 1 -t 1 ch <&"$SH_RD"; do out+=$ch; done
			return 1
		fi
	done
	return 1
}

# step NAME INPUT PATTERN... : sends INPUT (a line; printf escapes allowed),
# waits for the prompt and checks each extended regex against the output.
# A pattern starting with '!' must match no line.
step() {
	local name=$1 input=$2
	shift 2
	printf "$input\n" >&"$SH_WR"
	if ! read_to_prompt; then
		not_ok "$name" "no prompt after the command"
		return
	fi
	local why=""
	for p in "$@"; do
		if [ "${p:0:1}" = "!" ]; then
			! grep -qE -- "${p:1}" <<<"$out" || why="${why:+$why; }a line matches '${p:1}'"
		else
			grep -qE -- "$p" <<<"$out" || why="${why:+$why; }no line matches '$p'"
		fi
	done
	if [ -z "$why" ]; then ok "$name"; else not_ok "$name" "$why"; fi
}

# The `tasks` listing: its closing line counts what it listed, and every
# task shows a stack use above zero (main's boot stack included).
check_tasks() {
	local name=$1 listed live idle dead shown
	read -r listed live idle dead < <(sed -nE \
		's/^tasks: ([0-9]+) listed: ([0-9]+) live \(task_count\), ([0-9]+) idle, ([0-9]+) dead awaiting a join$/\1 \2 \3 \4/p' \
		<<<"$out")
	shown=$(grep -cE "^task [0-9]+ '" <<<"$out")
	if [ -z "$listed" ]; then
		not_ok "$name" "no closing count line"
	elif [ "$listed" != "$shown" ] || [ $((live + idle + dead)) != "$listed" ] ||
		[ "$idle" != 1 ]; then
		not_ok "$name" "$shown tasks shown; the count line says $listed = $live live + $idle idle + $dead dead"
	elif grep -qE "stack 0 of" <<<"$out"; then
		not_ok "$name" "a task shows 'stack 0 of'"
	else
		ok "$name"
	fi
}

# Keeps the coprocess's pipes and pid: bash drops SH when it ends.
attach() {
	session_pid=$SH_PID
	exec {SH_RD}<&"${SH[0]}" {SH_WR}>&"${SH[1]}"
}

# The same script for every session.
drive() {
	local where=$1 want_status=$2
	if ! read_to_prompt; then
		not_ok "$where.boot" "no prompt after boot"
		kill "$session_pid" 2>/dev/null
		return
	fi
	ok "$where.boot"
	# A fresh shell: the heap is empty, and the commands that show it say
	# where to get something to look at.
	step "$where.fresh_why" "why 0x10" "not in an allocated heap object" \
		"the heap is empty: run a demo first \(\`demo list\`\)"
	step "$where.fresh_heapprof" "heapprof" "no samples yet" "run a demo first"
	step "$where.fresh_leaks" "leaks" "no leaked tasks" "demo taskleak"
	step "$where.why_task" "why task 1" "task 1 'main' is running: it can run, so it is a root"
	step "$where.help" "help" "^  gctrace on\|off" "^  why ADDR \| task ID" "^  heapprof" "^  reboot"
	step "$where.mem" "mem" "in use \(slots\)" "goal" "spans in use" "free frames" \
		"task stacks" "cycles" "last pauses" "GC CPU fraction" "^  live +[0-9]+"
	step "$where.gc" "gc" "^gc: [0-9]+ cycle\(s\) run, now [0-9]+ total" "objects freed"
	step "$where.gctrace_on" "gctrace on" "^gctrace on"
	step "$where.gctrace_line" "gc" "^gc [0-9]+ @[0-9.]+s [0-9]+%: .* KiB goal"
	step "$where.gctrace_off" "gctrace off" "^gctrace off"
	step "$where.gctrace_bad" "gctrace maybe" "expected on or off" "usage: gctrace on\|off"
	step "$where.tasks" "tasks" "^tasks: [0-9]+ listed" "task 1 'main'" \
		"stack [1-9][0-9]* of [0-9]+ bytes in use now \(the boot stack"
	check_tasks "$where.tasks_count"
	step "$where.profile" "profile" "^task profile: total [0-9]+" "^# created by" \
		"^task count: now [0-9]+, max [0-9]+"
	step "$where.heapprof_rate" "heapprof rate 1" "rate [0-9]+ -> 1 bytes"
	step "$where.heapprof_alloc" "test gc.survives_in_globals_only" "^1 passed, 0 failed"
	step "$where.heapprof" "heapprof 5" "^heap profile: rate 1 bytes" "in-use objs" \
		"[0-9]+/[0-9]+ +test_gc_survives_in_globals_only\+0x"
	step "$where.heapprof_restore" "heapprof rate 524288" "-> 524288 bytes"
	step "$where.why_bad" "why zz" "ADDR must be a hex address" "usage: why ADDR"
	step "$where.why_not_heap" "why 0x10" "0x10 is not in an allocated heap object"
	step "$where.unknown" "bogus" "unknown command 'bogus'"
	step "$where.too_many" "mem a b c d" "too many words"
	step "$where.backspace" 'mex\x7fm' "^memstats at"
	step "$where.backspace_bs" 'tasx\bks' "^tasks: [0-9]+ listed"
	step "$where.too_long" "$(printf 'a%.0s' {1..200})" "line too long \(at most 120"
	step "$where.after_too_long" "help" "^commands:"
	step "$where.demo" "demo nosuch" "no demos in this build|no such demo"
	step "$where.test" "test kprintf" "^ok [0-9]+ kprintf\." "^[0-9]+ passed, 0 failed"
	step "$where.test_bad" "test nosuch" "no test matches 'nosuch'"
	step "$where.bench_list" "bench list" "^[0-9]+ benchmarks:" "^  sched\.yield_switch$"
	step "$where.bench_bad" "bench nosuch" "try: bench list"
	# Demos whose text states facts the numbers do not show.
	step "$where.demo_stack" "demo stack" "Go starts a goroutine on a small stack" \
		"task stacks are fixed-size" "=> the guard region caught it"
	step "$where.demo_switches" "demo switches" "^  semaphore +wait for I/O completion" \
		"no user mode and no system calls" "'semaphore' above is what stands in for it"
	step "$where.leaks" "leaks" "(no leaked tasks|can never wake)"
	if [ "$where" = qemu ]; then
		step "$where.platform" "platform" "^platform: ACPI via multiboot2 tag 1[45]" \
			"^platform: 1 CPU \(1 enabled\), APIC ids 0;" \
			"^platform: CPUs: 1 online \(APIC ids 0\); cpus=256, none skipped" \
			"I/O APIC \[id [0-9]+ at 0xfec00000, GSI base 0\], overrides IRQ0->GSI2" \
			"^platform: timers: HPET at 0xfed00000, ACPI PM timer at port 0x[0-9a-f]+" \
			"^platform: calibration: TSC rate from " "!problem"
	else
		step "$where.platform" "platform" "^platform: hosted: a Linux process, [1-9][0-9]* CPUs online"
	fi
	step "$where.help_platform" "help" "^  platform +CPUs, APIC ids"
	step "$where.help_reboot" "help" "^  reboot +reset the machine \(under make run: QEMU ends, status 0\)"
	printf 'halt\n' >&"$SH_WR"
	read_to_prompt # reads to the end: there is no prompt after halt
	wait "$session_pid"
	local status=$?
	exec {SH_RD}<&- {SH_WR}>&-
	if grep -q "^halting" <<<"$out" && [ "$status" = "$want_status" ]; then
		ok "$where.halt"
	else
		not_ok "$where.halt" "exit status $status (want $want_status), or no 'halting'"
	fi
}

if [ "$which" = hosted ] || [ "$which" = all ]; then
	bin=$BUILD/hosted/tricolor-test
	make -s BUILD="$BUILD" HOSTED_OUT="$BUILD/hosted" "$bin" >/dev/null ||
		{ echo "not ok hosted.build"; exit 1; }
	coproc SH { exec "$bin" shell=1 2>&1; }
	attach
	drive hosted 0

	# help=1: the parser's own test options are hidden; each option shows
	# the values it accepts and its default.
	out=$("$bin" help=1 hz=500 2>&1)
	if grep -qE "^  test\." <<<"$out"; then
		not_ok hosted.cmdline_help "test.* options listed"
	elif ! grep -qE "^  hz=500 .*\[10\.\.10000; default 1000\]$" <<<"$out" ||
		! grep -qE "^  gctrace=off .*\[on/off; default off\]$" <<<"$out" ||
		! grep -qE "^  demo=\(unset\) .*\[text; default \(unset\)\]$" <<<"$out"; then
		not_ok hosted.cmdline_help "an option without its accepted values and default"
	elif grep -E "^  [a-z_]+=" <<<"$out" | grep -vqE "; default [^]]+\]$"; then
		not_ok hosted.cmdline_help "$(grep -E "^  [a-z_]+=" <<<"$out" | grep -vE "; default" | head -1)"
	else
		ok hosted.cmdline_help
	fi

	# reboot: a process cannot reset its machine; it ends cleanly.
	out=$(printf 'reboot\n' | timeout "$STEP_TIMEOUT" "$bin" shell=1 2>&1)
	status=$?
	if [ "$status" = 0 ] && grep -q "^reboot: resetting the machine" <<<"$out"; then
		ok hosted.reboot
	else
		not_ok hosted.reboot "exit status $status (want 0), or no 'reboot:' line"
	fi
fi

if [ "$which" = qemu ] || [ "$which" = all ]; then
	elf=$BUILD/kernel/tricolor.elf
	iso=$BUILD/kernel/shell.iso
	make -s BUILD="$BUILD" "$elf" >/dev/null && tools/mkiso.sh "$elf" "$iso" shell=1 ||
		{ echo "not ok qemu.build"; exit 1; }
	accel=$(tools/qemu-run.sh --print-accel)
	cpu=max
	[ "$accel" = kvm ] && cpu=host
	# The arguments of tools/qemu-run.sh, whose output pipe buffers a
	# prompt that ends without a newline.
	coproc SH { exec qemu-system-x86_64 -machine q35 -accel "$accel" -cpu "$cpu" -m 512M \
		-cdrom "$iso" -boot d -no-reboot -display none -serial stdio -monitor none \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 2>&1; }
	attach
	# isa-debug-exit: status s leaves QEMU with 2*(s+16)+1; 33 is status 0.
	drive qemu 33

	# reboot under tools/qemu-run.sh (what make run uses): QEMU runs with
	# -no-reboot, so the reset ends the run, which must end cleanly.
	coproc SH { exec tools/qemu-run.sh --timeout "$STEP_TIMEOUT" "$iso" 2>&1; }
	attach
	if ! read_to_prompt; then
		not_ok qemu.reboot "no prompt after boot"
		kill "$session_pid" 2>/dev/null
	else
		printf 'reboot\n' >&"$SH_WR"
		read_to_prompt # reads to the end: there is no prompt after reboot
		wait "$session_pid"
		status=$?
		if [ "$status" = 0 ] && grep -q "^reboot: resetting the machine" <<<"$out" &&
			grep -q "the kernel reset the machine as asked" <<<"$out"; then
			ok qemu.reboot
		else
			not_ok qemu.reboot "qemu-run exit status $status (want 0), or no message"
		fi
	fi
	exec {SH_RD}<&- {SH_WR}>&-

	# The PS/2 keyboard (arch/x86_64/i8042.c): keys pressed through QEMU's
	# monitor (sendkey, into the emulated i8042) reach the shell like
	# serial bytes; the serial side only reads. The monitor is a pair of
	# FIFOs (-monitor pipe:), opened read-write here so no open blocks.
	# Each step waits for the prompt (no fixed sleeps): QEMU holds each
	# key 100 ms and queues the next behind it, so the order is kept.
	kbd_session() { # kbd_session MACHINE
		mon=$(mktemp -d -t tricolor-kbd.XXXXXX)
		mkfifo "$mon/m.in" "$mon/m.out"
		coproc SH { exec qemu-system-x86_64 -machine "$1" -accel "$accel" -cpu "$cpu" \
			-m 512M -cdrom "$iso" -boot d -no-reboot -display none -serial stdio \
			-monitor "pipe:$mon/m" -device isa-debug-exit,iobase=0xf4,iosize=0x04 2>&1; }
		attach
		exec {MON}<>"$mon/m.in"
		cat <>"$mon/m.out" >/dev/null &
		mon_cat=$!
	}
	kbd_end() {
		kill "$mon_cat" "$session_pid" 2>/dev/null
		wait "$session_pid" 2>/dev/null
		exec {SH_RD}<&- {SH_WR}>&- {MON}>&-
		rm -rf "$mon"
	}
	# kbd_step NAME "KEY KEY ..." PATTERN... : presses the keys (QEMU key
	# names), waits for the prompt and checks like step.
	kbd_step() {
		local name=$1 k
		# After a step without a prompt, the rest would each wait out
		# the whole timeout: they are reported as skipped instead.
		if [ "$fail" -gt "$kbd_fail0" ]; then
			not_ok "$name" "skipped after the failure above"
			return
		fi
		for k in $2; do printf 'sendkey %s\n' "$k" >&"$MON"; done
		shift 2
		if ! read_to_prompt; then
			not_ok "$name" "no prompt after the keys"
			return
		fi
		local why=""
		for p in "$@"; do
			grep -qE -- "$p" <<<"$out" || why="${why:+$why; }no line matches '$p'"
		done
		if [ -z "$why" ]; then ok "$name"; else not_ok "$name" "$why"; fi
	}
	kbd_session q35
	kbd_fail0=$fail
	if ! read_to_prompt; then
		not_ok qemu.kbd.boot "no prompt after boot"
	elif ! grep -qE "^keyboard: i8042 PS/2, scan code set 1 \(translated\), config 0x[0-9a-f]+, IRQ 1 -> vector" <<<"$out"; then
		not_ok qemu.kbd.boot "no 'keyboard: i8042 PS/2 ... IRQ 1' line"
	else
		ok qemu.kbd.boot
		# Shifted characters, and the line reaches the command table.
		kbd_step qemu.kbd.shift "b o g u s shift-minus shift-x ret" \
			"^bogus_X$" "unknown command 'bogus_X'"
		kbd_step qemu.kbd.command "h e l p ret" "^commands:" "^  platform +CPUs"
		# Backspace edits; Ctrl+C cancels the line.
		kbd_step qemu.kbd.backspace "m e x backspace m ret" "^memstats at"
		kbd_step qemu.kbd.ctrl_c "a b c ctrl-c" "abc\^C"
		# Shift+PgUp/PgDn scroll the screen and type nothing: the next
		# line is exactly what was typed after them.
		kbd_step qemu.kbd.scroll_keys "shift-pgup shift-pgup shift-pgdn x y z ret" \
			"unknown command 'xyz'"
		# caps lock: letters upper case, digits not.
		kbd_step qemu.kbd.caps "caps_lock a b 1 caps_lock c ret" "unknown command 'AB1c'"
		status=none
		if [ "$fail" = "$kbd_fail0" ]; then
			for k in h a l t ret; do printf 'sendkey %s\n' "$k" >&"$MON"; done
			read_to_prompt # to the end: no prompt after halt
			# Bounded: QEMU still running after the read is a failure.
			kill -0 "$session_pid" 2>/dev/null || { wait "$session_pid"; status=$?; }
		fi
		if grep -q "^halting" <<<"$out" && [ "$status" = 33 ]; then
			ok qemu.kbd.halt
		else
			not_ok qemu.kbd.halt "exit status $status (want 33), or no 'halting'"
		fi
	fi
	kbd_end

	# No 8042: one line why, and the serial shell works. q35's FADT says
	# there is none; pc's (revision 1) cannot say, so the kernel probes
	# and port 0x64 reads 0xff.
	for run in "q35,i8042=off:the FADT says there is no 8042" \
		"pc,i8042=off:no controller: port 0x64 reads 0xff"; do
		m=${run%%:*}
		name=qemu.kbd.none_${m%%,*}
		kbd_session "$m"
		if ! read_to_prompt; then
			not_ok "$name" "no prompt after boot"
		elif ! grep -q "^keyboard: none: ${run#*:}" <<<"$out"; then
			not_ok "$name" "no 'keyboard: none: ${run#*:}' line"
		else
			ok "$name"
			step "${name}_serial" "help" "^commands:"
		fi
		kbd_end
	done
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
