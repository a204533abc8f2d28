# tests/fuzz/fuzz.mk - the heap fuzzer (heap_fuzz.c, next to this file).
# Included by the top Makefile (`make fuzz`); also works alone from the
# repository root:
#
#   make -f tests/fuzz/fuzz.mk fuzz                  # libFuzzer on the heap, 60 s
#   make -f tests/fuzz/fuzz.mk fuzz FUZZ_TIME=600    # longer
#
# Built with clang -fsanitize=fuzzer,address,undefined over FUZZ_SRCS
# (sources.mk: the hosted arch without its main, the rooms below demo/).
# Its corpus lives in $(FUZZ_OUT)/corpus and grows across runs. It installs
# nothing: without clang or its libFuzzer runtime it stops and names the
# packages (tools/deps.sh --check fuzz; `make deps` installs them).
#
# Only optional variables come from outside: FUZZ_CC, FUZZ_OUT, FUZZ_TIME.

include sources.mk

FUZZ_CC ?= clang
FUZZ_OUT ?= build/fuzz
FUZZ_TIME ?= 60

FUZZ_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -DTRICOLOR_HOSTED \
	-fstack-clash-protection -Wframe-larger-than=32768 \
	-I. -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
FUZZ_OBJS := $(patsubst %,$(FUZZ_OUT)/%.o,$(FUZZ_SRCS))
FUZZ_BIN := $(FUZZ_OUT)/heap_fuzz

fuzz_saved_default_goal := $(.DEFAULT_GOAL)

.PHONY: fuzz fuzz-check-runtime

fuzz: $(FUZZ_BIN)
	@mkdir -p $(FUZZ_OUT)/corpus
	$(FUZZ_BIN) -max_total_time=$(FUZZ_TIME) -max_len=4096 \
		-print_final_stats=1 $(FUZZ_OUT)/corpus

# clang links a libFuzzer target, or the fuzzer stops here naming what to
# install (the same lookup `make deps` installs by).
fuzz-check-runtime:
	@FUZZ_CC=$(FUZZ_CC) tools/deps.sh --check fuzz

$(FUZZ_BIN): $(FUZZ_OBJS) | fuzz-check-runtime
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^

$(FUZZ_OUT)/%.c.o: %.c | fuzz-check-runtime
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MD -MP -c $< -o $@

$(FUZZ_OUT)/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -DTRICOLOR_HOSTED -I. -c $< -o $@

-include $(FUZZ_OBJS:.o=.d)

.DEFAULT_GOAL := $(fuzz_saved_default_goal)
