# sources.mk - the one list of sources, shared by the kernel (Makefile), the
# hosted build (arch/hosted/hosted.mk) and the heap fuzzer
# (tests/fuzz/fuzz.mk). Each of those includes it, so it also works alone.
#
# The folders are layers ("rooms"), bottom to top; a room includes only the
# public header of a room below it (tools/check-layers.py checks that, in
# `make test`). Every build takes every .c and .S of the rooms it links;
# wildcard does not recurse, so a room's subfolders are taken per build:
# arch/ holds two machines (arch/x86_64/ bare metal, arch/hosted/ a Linux
# process) and tests/ has a folder per build for what only that build can run.
#
#   kernel   boot/ + arch/x86_64/ + every room + tests/ + tests/x86/
#   hosted   arch/hosted/ + every room + tests/ + tests/hosted/, with the
#            context switch of arch/x86_64/ (the same assembly)
#   fuzz     arch/hosted/ without its main (libFuzzer brings one) + the rooms
#            below demo/ (it drives the heap itself: no kernel_main, shell,
#            demos or test runners) + tests/fuzz/, with the same switch
#
# The order of the files is the link order, and the link order is the order
# of the linker-section registries (command-line options, tests, benchmarks):
# each build's machine comes first.

ifndef sources_mk_included
sources_mk_included := 1

LAYERS := lib arch mm sched gc chan diag demo kernel

# room_srcs(FOLDERS): the .c files, then the .S files, of each folder in turn.
room_srcs = $(foreach d,$(1),$(sort $(wildcard $(d)/*.c)) $(sort $(wildcard $(d)/*.S)))

# Every room and the tests that run on any machine.
PORTABLE_FOLDERS := $(LAYERS) tests
FUZZ_ROOMS := $(filter-out demo kernel,$(LAYERS))

KERNEL_SRCS := boot/boot.S $(call room_srcs,arch/x86_64 $(PORTABLE_FOLDERS) tests/x86)
HOSTED_SRCS := $(call room_srcs,arch/hosted $(PORTABLE_FOLDERS) tests/hosted) \
	arch/x86_64/switch.S
FUZZ_SRCS := $(filter-out arch/hosted/main.c,$(call room_srcs,arch/hosted)) \
	$(call room_srcs,$(FUZZ_ROOMS) tests/fuzz) arch/x86_64/switch.S

endif
