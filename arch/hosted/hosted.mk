# arch/hosted/hosted.mk - the hosted build: every room and tests/ over
# arch/hosted as a Linux process (HOSTED_SRCS, sources.mk). Included by the
# top Makefile; also works alone from the repository root:
#
#   make -f arch/hosted/hosted.mk hosted-test     # ASan+UBSan, tests=all
#   make -f arch/hosted/hosted.mk hosted-bench    # -O2 build, no sanitizers
#   make -f arch/hosted/hosted.mk hosted-run EXP=path/file.c CMDLINE='hz=100'
#
# hosted-run links EXP (a file defining `int experiment(void)`) into the
# sanitized build, runs it with CMDLINE as arguments and exits with the
# experiment's result. The binaries carry their own ASan/UBSan defaults
# (arch/hosted/fault.c): ASan must leave SIGSEGV, SIGBUS, SIGFPE and SIGILL
# to arch_try(), and leak checking is off (the heap is ours, not malloc's);
# no ASAN_OPTIONS is needed, one given still overrides them.
#
# Only optional variables come from outside: HOSTED_CC, HOSTED_OUT.

HOSTED_CC ?= cc
HOSTED_OUT ?= build/hosted

# HOSTED_SRCS: arch/hosted/, every room, tests/ and tests/hosted/, with the
# context switch of arch/x86_64/ (the same assembly as on bare metal).
include sources.mk

# Stack-clash probes as in the kernel (a frame larger than a page touches
# every page on its way down, so it faults in the gap below its stack rather
# than writing into the next stack), and no frame above half that gap
# (MSTACK_GAP_BYTES, mm/mm.h).
HOSTED_CFLAGS := -std=gnu11 -g -fno-omit-frame-pointer -DTRICOLOR_HOSTED -I. \
	-fstack-clash-protection -Wframe-larger-than=32768 \
	-Wall -Wextra -Werror $(if $(DEBUG),-DTRICOLOR_DEBUG)
HOSTED_TEST_CFLAGS := $(HOSTED_CFLAGS) -O1 -fsanitize=address,undefined \
	-fno-sanitize-recover=all
HOSTED_BENCH_CFLAGS := $(HOSTED_CFLAGS) -O2 -DNDEBUG

HOSTED_TEST_OBJS := $(patsubst %,$(HOSTED_OUT)/test/%.o,$(HOSTED_SRCS))
HOSTED_BENCH_OBJS := $(patsubst %,$(HOSTED_OUT)/bench/%.o,$(HOSTED_SRCS))
HOSTED_TEST_BIN := $(HOSTED_OUT)/tricolor-test
HOSTED_BENCH_BIN := $(HOSTED_OUT)/tricolor-bench
HOSTED_EXP_BIN := $(HOSTED_OUT)/exp

# Keep the including Makefile's default goal: targets defined here must not
# become it.
hosted_saved_default_goal := $(.DEFAULT_GOAL)

.PHONY: hosted-test hosted-bench hosted-run

hosted-test: $(HOSTED_TEST_BIN)
	@bash -o pipefail -c '$(HOSTED_TEST_BIN) tests=all | tee $(HOSTED_OUT)/test.log'

hosted-bench: $(HOSTED_BENCH_BIN)

ifneq ($(filter hosted-run,$(MAKECMDGOALS)),)
ifeq ($(EXP),)
$(error hosted-run needs EXP=path/to/experiment.c)
endif
endif

# The experiment is compiled on every run: EXP may name a different file
# each time, and one file compiles in a moment.
hosted-run: $(HOSTED_TEST_OBJS)
	@mkdir -p $(HOSTED_OUT)
	$(HOSTED_CC) $(HOSTED_TEST_CFLAGS) -c $(EXP) -o $(HOSTED_OUT)/exp.o
	$(HOSTED_CC) $(HOSTED_TEST_CFLAGS) -o $(HOSTED_EXP_BIN) \
		$(HOSTED_TEST_OBJS) $(HOSTED_OUT)/exp.o
	$(HOSTED_EXP_BIN) $(CMDLINE)

$(HOSTED_TEST_BIN): $(HOSTED_TEST_OBJS)
	$(HOSTED_CC) $(HOSTED_TEST_CFLAGS) -o $@ $^

$(HOSTED_BENCH_BIN): $(HOSTED_BENCH_OBJS)
	$(HOSTED_CC) $(HOSTED_BENCH_CFLAGS) -o $@ $^

# Objects depend on the flags too: a changed flag rebuilds everything.
$(HOSTED_OUT)/test/cflags.txt: FORCE
	@mkdir -p $(dir $@)
	@echo '$(HOSTED_TEST_CFLAGS)' | cmp -s - $@ || echo '$(HOSTED_TEST_CFLAGS)' > $@
$(HOSTED_OUT)/bench/cflags.txt: FORCE
	@mkdir -p $(dir $@)
	@echo '$(HOSTED_BENCH_CFLAGS)' | cmp -s - $@ || echo '$(HOSTED_BENCH_CFLAGS)' > $@
FORCE:

$(HOSTED_OUT)/test/%.o: % $(HOSTED_OUT)/test/cflags.txt
	@mkdir -p $(dir $@)
	$(HOSTED_CC) $(HOSTED_TEST_CFLAGS) -MD -MP -c $< -o $@

$(HOSTED_OUT)/bench/%.o: % $(HOSTED_OUT)/bench/cflags.txt
	@mkdir -p $(dir $@)
	$(HOSTED_CC) $(HOSTED_BENCH_CFLAGS) -MD -MP -c $< -o $@

-include $(HOSTED_TEST_OBJS:.o=.d) $(HOSTED_BENCH_OBJS:.o=.d)

.DEFAULT_GOAL := $(hosted_saved_default_goal)
