# tools/compare/compare.mk - `make compare` and `make plots`, included by
# the top Makefile. From the repository root:
#
#   make compare               tricolor vs Go (GOMAXPROCS=1 and default),
#                              Boehm and glibc malloc on the same workloads,
#                              interleaved; tables on stdout and in
#                              build/compare/results.md
#   make compare QUICK=1       smaller workloads, one repeat: a quick check
#   make compare REPEATS=5     more repeats (default 3)
#   make plots                 PNGs under build/plots/ from the trace run
#                              (reuses build/compare/trace/ if it is newer
#                              than the tricolor binary, else runs it)
#
# Both first install what they need (`tools/deps.sh compare`: golang-go,
# libgc-dev, gnuplot-nox) and fail if they cannot. The tricolor side is the
# hosted -O2 build (hosted-bench, arch/hosted/hosted.mk).

COMPARE_OUT := build/compare
PLOTS_OUT := build/plots
COMPARE_REPEATS := $(or $(REPEATS),3)
COMPARE_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror
COMPARE_BINS := $(COMPARE_OUT)/gowork $(COMPARE_OUT)/boehmwork $(COMPARE_OUT)/mallocwork
COMPARE_TRACE := $(COMPARE_OUT)/trace/trace-tricolor.out
COMPARE_PLOTS := $(PLOTS_OUT)/pauses.png $(PLOTS_OUT)/heap.png $(PLOTS_OUT)/gccpu.png
# The tricolor binary (hosted.mk names it; the default keeps this file
# usable if that name ever moves).
COMPARE_TRICOLOR := $(or $(HOSTED_BENCH_BIN),build/hosted/tricolor-bench)

# Keep the including Makefile's default goal.
compare_saved_default_goal := $(.DEFAULT_GOAL)

.PHONY: compare plots compare-deps

compare-deps:
	@tools/deps.sh compare

# Go: no modules to download (GOPROXY=off proves it); the build cache
# stays under build/.
$(COMPARE_OUT)/gowork: tools/compare/go/main.go tools/compare/go/go.mod | compare-deps
	@mkdir -p $(@D)
	cd tools/compare/go && GOPROXY=off GOFLAGS=-mod=mod \
		GOCACHE=$(abspath $(COMPARE_OUT))/go-cache go build -o $(abspath $@) .

$(COMPARE_OUT)/boehmwork: tools/compare/workloads.c | compare-deps
	@mkdir -p $(@D)
	$(CC) $(COMPARE_CFLAGS) -DSIDE_BOEHM $< -o $@ -lgc

$(COMPARE_OUT)/mallocwork: tools/compare/workloads.c | compare-deps
	@mkdir -p $(@D)
	$(CC) $(COMPARE_CFLAGS) -DSIDE_MALLOC $< -o $@

compare: compare-deps $(COMPARE_TRICOLOR) $(COMPARE_BINS)
	@python3 tools/compare/compare.py run --out $(COMPARE_OUT) \
		--repeats $(if $(QUICK),1,$(COMPARE_REPEATS)) $(if $(QUICK),--quick)

# The trace run: tricolor and Go on churn at ~64 MiB live with 1,000
# tasks. `make compare` writes it too; it is redone when the binary changes.
$(COMPARE_TRACE): $(COMPARE_TRICOLOR) $(COMPARE_OUT)/gowork | compare-deps
	@python3 tools/compare/compare.py trace --out $(COMPARE_OUT)

plots: compare-deps $(COMPARE_TRACE)
	@python3 tools/compare/compare.py plotdata --out $(COMPARE_OUT) --plots $(PLOTS_OUT)
	@gnuplot -e "dir='$(PLOTS_OUT)'" tools/compare/plots.gp
	@for f in $(COMPARE_PLOTS); do test -s $$f || { echo "plots: $$f not written" >&2; exit 1; }; \
		echo "plots: $$f"; done

.DEFAULT_GOAL := $(compare_saved_default_goal)
