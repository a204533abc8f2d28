#!/bin/sh
# tools/gensyms.sh KERNEL.elf > ksyms.S
# Emits the .ksyms table (address-sorted function and data symbols) that
# arch/x86_64/symbols.c searches to name code addresses in backtraces and
# globals in the collector's diagnostics.
set -eu
nm -n --defined-only "$1" | awk '
	$2 ~ /^[tTwWdDbBrR]$/ && $3 !~ /^\./ { addr[n] = $1; name[n] = $3; n++ }
	END {
		print "\t.section .ksyms, \"a\""
		print "\t.balign 8"
		print "\t.global ksyms_count, ksyms_table"
		print "ksyms_count:\n\t.quad " n
		print "ksyms_table:"
		for (i = 0; i < n; i++)
			printf "\t.quad 0x%s, ksym_name_%d\n", addr[i], i
		for (i = 0; i < n; i++)
			printf "ksym_name_%d:\n\t.asciz \"%s\"\n", i, name[i]
		print "\t.section .note.GNU-stack, \"\", @progbits"
	}'
