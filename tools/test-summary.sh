#!/bin/sh
# tools/test-summary.sh LOG... - adds up the "N passed, M failed" lines of
# every suite `make test` ran (QEMU, the boot matrix, the host-side checks,
# the hosted builds) into one closing line, and fails if any failed or a
# log is missing.
set -eu
passed=0 failed=0
for log in "$@"; do
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" 2>/dev/null | tail -1) ||
		{ echo "test-summary: no summary in $log" >&2; exit 1; }
	p=${line%% passed*}
	f=${line#*, }; f=${f%% failed*}
	passed=$((passed + p)); failed=$((failed + f))
done
echo "all suites ($# runs):"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
