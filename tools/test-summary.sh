#!/usr/bin/env bash
# tools/test-summary.sh STATUS_DIR STAGE[=LOG[,LOG...]]... - the end of
# `make test`: one line per stage, then the stages that failed, then the
# total "N passed, N failed" as the last line; exits 1 if any stage failed.
#
# STATUS_DIR/STAGE holds the stage's exit status (written by the Makefile's
# test-stage-NAME wrapper; missing: the stage did not run). A stage's count
# is the sum of the last "N passed, N failed" line of each of its LOGs. A
# stage fails if it did not run, exited non-zero, left a log without a
# summary line (it crashed or was killed before the end) or counted a
# failure; a failed stage whose logs count no failure (a crash, a non-zero
# exit after a clean summary, a stage without test counts) adds one to the
# total, so the total shows 0 failed only when every stage passed.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: test-summary.sh STATUS_DIR STAGE[=LOG,...]..." >&2; exit 2; }
dir=$1
shift

passed=0 failed=0 stages=0 failed_stages=""
for arg in "$@"; do
	name=${arg%%=*} logs=""
	[[ $arg == *=* ]] && logs=${arg#*=}
	stages=$((stages + 1))
	status=$(cat "$dir/$name" 2>/dev/null)
	p=0 f=0 counted=0 notes="" log_list=()
	if [ -z "$status" ]; then
		notes="did not run (no exit status)"
	else
		IFS=, read -ra log_list <<<"$logs"
		for log in "${log_list[@]}"; do
			line=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$log" 2>/dev/null | tail -1)
			if [ -z "$line" ]; then
				if [ -e "$log" ]; then
					notes+="; no summary line in $log (crashed or killed?)"
				else
					notes+="; no log $log"
				fi
				continue
			fi
			lp=${line%% passed*}
			lf=${line#*, }
			lf=${lf%% failed*}
			p=$((p + lp)) f=$((f + lf)) counted=$((counted + 1))
		done
		[ "$status" = 0 ] || notes+="; exit status $status"
		notes=${notes#; }
	fi

	if [ "$counted" -gt 0 ]; then
		detail="$p passed, $f failed"
		[ "${#log_list[@]}" -le 1 ] || detail+=" ($counted of ${#log_list[@]} runs)"
	elif [ -z "$logs" ]; then
		detail="no test count"
	else
		detail=""
	fi
	if [ -n "$notes" ] || [ "$f" -gt 0 ]; then
		verdict=FAILED
		failed_stages+=" $name"
		[ "$f" -gt 0 ] || f=1
	else
		verdict=ok
	fi
	detail=${detail:+$detail${notes:+; }}$notes
	printf 'stage %-18s %-7s %s\n' "$name" "$verdict" "$detail"
	passed=$((passed + p)) failed=$((failed + f))
done

if [ -n "$failed_stages" ]; then
	n=$(wc -w <<<"$failed_stages")
	echo "make test: $n of $stages stages failed:$failed_stages"
else
	echo "make test: all $stages stages passed"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
