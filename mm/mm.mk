# mm/mm.mk - mm/'s own targets. Included by the top Makefile; also works
# alone from the repository root:
#
#   make -f mm/mm.mk fuzz                  # libFuzzer on the heap, 60 s
#   make -f mm/mm.mk fuzz FUZZ_TIME=600    # longer
#   make -f mm/mm.mk sizeclasses           # regenerate mm/sizeclasses.inc
#
# The fuzz target (tests/fuzz/heap_fuzz.c) is built with clang
# -fsanitize=fuzzer,address,undefined over mm/, gc/, kernel/ and the hosted
# arch. Its corpus lives in $(FUZZ_OUT)/corpus and grows across runs.
#
# Only optional variables come from outside: FUZZ_CC, FUZZ_OUT, FUZZ_TIME.

FUZZ_CC ?= clang
FUZZ_OUT ?= build/fuzz
FUZZ_TIME ?= 60

# The hosted arch without its main (libFuzzer brings one) and without the
# benchmarks; kernel/ without kernel_main, the shell and the demos (they drive the
# test and bench runners, which the fuzzer does not link).
FUZZ_SRCS := tests/fuzz/heap_fuzz.c arch/x86_64/switch.S \
	$(filter-out arch/hosted/main.c kernel/%.c demo/%.c, \
		$(wildcard arch/*.c arch/hosted/*.c lib/*.c mm/*.c sched/*.c gc/*.c chan/*.c diag/*.c demo/*.c kernel/*.c))
FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -DTRICOLOR_HOSTED \
	-fstack-clash-protection -Wframe-larger-than=32768 \
	-I. -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
FUZZ_OBJS := $(patsubst %,$(FUZZ_OUT)/%.o,$(FUZZ_SRCS))
FUZZ_BIN := $(FUZZ_OUT)/heap_fuzz
# The libFuzzer runtime clang links for -fsanitize=fuzzer.
FUZZ_RUNTIME = $(shell $(FUZZ_CC) --print-runtime-dir 2>/dev/null)/libclang_rt.fuzzer-x86_64.a

mm_saved_default_goal := $(.DEFAULT_GOAL)

.PHONY: fuzz fuzz-check-runtime sizeclasses

fuzz: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_OUT)/corpus
	$(FUZZ_BIN) -max_total_time=$(FUZZ_TIME) -max_len=4096 \
		-print_final_stats=1 $(FUZZ_OUT)/corpus

fuzz-check-runtime:
	@command -v $(FUZZ_CC) >/dev/null || \
		{ echo "fuzz: $(FUZZ_CC) not found; install it: apt-get install -y clang"; exit 1; }
	@test -f "$(FUZZ_RUNTIME)" || \
		{ echo "fuzz: libFuzzer runtime missing ($(FUZZ_RUNTIME));"; \
		  echo "      install it: apt-get install -y libclang-rt-14-dev"; exit 1; }

$(FUZZ_BIN): $(FUZZ_OBJS) | fuzz-check-runtime
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^

$(FUZZ_OUT)/%.c.o: %.c | fuzz-check-runtime
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MD -MP -c $< -o $@

$(FUZZ_OUT)/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -DTRICOLOR_HOSTED -I. -c $< -o $@

-include $(FUZZ_OBJS:.o=.d)

# The size-class table is generated; the script checks its own bounds.
sizeclasses:
	python3 tools/mksizeclasses.py > mm/sizeclasses.inc

.DEFAULT_GOAL := $(mm_saved_default_goal)
