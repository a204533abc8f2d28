# mm/mm.mk - mm/'s own target. Included by the top Makefile; also works
# alone from the repository root:
#
#   make -f mm/mm.mk sizeclasses           # regenerate mm/sizeclasses.inc
#
# (The heap fuzzer's rules are next to the fuzzer, in tests/fuzz/fuzz.mk.)

mm_saved_default_goal := $(.DEFAULT_GOAL)

.PHONY: sizeclasses

# The size-class table is generated; the script checks its own bounds.
sizeclasses:
	python3 tools/mksizeclasses.py > mm/sizeclasses.inc

.DEFAULT_GOAL := $(mm_saved_default_goal)
