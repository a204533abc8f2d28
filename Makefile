# tricolor - build, boot and test. `make help` lists the targets.
#
# The kernel is linked twice: the first link's symbols become the .ksyms
# table (tools/gensyms.sh) that backtraces print names from; the second link
# adds it. .ksyms comes last in linker.ld, so nothing else moves (checked).

CC := gcc
BUILD := build
# DEBUG=1: DASSERTs on, every spinlock checked against the lock order
# (arch/arch.h), freed heap slots poisoned and checked on reuse.
DEBUG ?=
DEBUG_CFLAGS := $(if $(DEBUG),-DTRICOLOR_DEBUG)
CMDLINE ?=
EXP ?=
MACHINE ?= q35
MEM ?= 512M
# CPUs QEMU gives make run, debug and test-qemu (the APs start, then idle).
SMP ?= 1
TEST_TIMEOUT ?= 600

# -fstack-clash-protection: a frame larger than a page probes every page on
# its way down, so it faults in the unmapped gap below its stack instead of
# writing into whatever lies below; -Wframe-larger-than: no fixed frame
# comes near that gap (MSTACK_GAP_BYTES, mm/mm.h: 64 KiB).
KERNEL_CFLAGS := -std=gnu11 -O2 -g -ffreestanding -nostdlib -nostdinc \
	-isystem $(shell $(CC) -print-file-name=include) \
	-mno-red-zone -mcmodel=kernel -fno-pic -fno-pie -mgeneral-regs-only \
	-fno-omit-frame-pointer -fstack-protector-strong \
	-mstack-protector-guard=global -fstack-clash-protection -fno-common -fno-strict-aliasing \
	-Wall -Wextra -Werror -Wframe-larger-than=32768 -MD -MP -I. $(DEBUG_CFLAGS)
KERNEL_LDFLAGS := -nostdlib -static -no-pie -T linker.ld \
	-Wl,-z,max-page-size=0x1000 -Wl,--build-id=none -Wl,-z,noexecstack \
	-Wl,--no-warn-rwx-segments

# KERNEL_SRCS: boot/, arch/x86_64/, every room, tests/ and tests/x86/.
include sources.mk

ifneq ($(EXP),)
# Each experiment gets its own build directory: the same objects plus one.
KBUILD := $(BUILD)/exp/$(subst /,_,$(basename $(EXP)))
KERNEL_SRCS += $(EXP)
else
KBUILD := $(BUILD)/kernel$(if $(DEBUG),-debug)
endif

KERNEL_OBJS := $(patsubst %,$(KBUILD)/%.o,$(KERNEL_SRCS))
KERNEL_ELF := $(KBUILD)/tricolor.elf

.PHONY: all deps iso usb run test test-build test-qemu test-matrix test-harness test-shell \
	hosted-test-debug fuzz-short check-layers bench debug clean help FORCE

# A make value as one shell word: single-quoted, with each ' as '\''. With
# $(value VAR) it reaches the command exactly as typed: make expands
# nothing in it ($x stays $x) and the shell sees no ; # & | < > or quotes.
sh_quote = '$(subst ','\'',$(1))'
comma := ,

all: $(KERNEL_ELF) $(BUILD)/tricolor.iso

# Every target of every fragment (tests/host/harness.sh checks that each
# .PHONY target is here).
help:
	@echo "Build (installs nothing; a missing tool is named, with its package):"
	@echo "  make all        (or just make) the kernel ELF, symbols, disassembly and build/tricolor.iso"
	@echo "  make iso        build/tricolor.iso only (one ISO for BIOS and UEFI)"
	@echo "  make usb DEV=/dev/sdX [CONFIRM=yes]  write the ISO to a removable, unmounted USB stick"
	@echo "  make hosted-bench  the hosted -O2 binary, no sanitizers (build/hosted/tricolor-bench)"
	@echo "  make sizeclasses   regenerate mm/sizeclasses.inc (tools/mksizeclasses.py)"
	@echo "Run (run, debug and bench install missing host packages first: make deps):"
	@echo "  make run        boot the ISO in QEMU (CMDLINE='key=value ...', EXP=file.c, DEMO=name); a window too if DISPLAY/WAYLAND_DISPLAY is set"
	@echo "  make debug      QEMU waiting for gdb (prints how to attach)"
	@echo "  make hosted-run EXP=file.c [CMDLINE=...]  an experiment in the hosted build"
	@echo "  make bench      benchmarks: native (hosted, the honest numbers), then QEMU (emulated)"
	@echo "  make compare [QUICK=1]  tricolor vs Go, Boehm and malloc (installs its extras: make compare-deps)"
	@echo "  make plots      PNG plots under build/plots/ from the compare trace run"
	@echo "Test:"
	@echo "  make test       every stage below (each runs even if another failed), then one summary"
	@echo "  make test-build      the kernel and the hosted test binary, once, for all stages"
	@echo "  make check-layers    every #include follows the layers (tools/check-layers.py)"
	@echo "  make test-qemu       the QEMU self-tests only (TESTS=suite,suite.name to select)"
	@echo "  make test-matrix     boot the platform suites on pc/q35 with 128M and 4G, BIOS and UEFI, PCI serial, 4 CPUs"
	@echo "  make test-harness    host-side checks: command lines through GRUB, faults, experiments, build files"
	@echo "  make test-shell      the serial shell driven by a script, in QEMU and natively"
	@echo "  make hosted-test     the suites natively under ASan+UBSan"
	@echo "  make hosted-test-debug  the same with DEBUG=1 (lock order, heap poisoning, DASSERTs)"
	@echo "  make fuzz-short      20 s of the heap fuzzer"
	@echo "  make test-stage-NAME one stage as make test runs it; NAME: $(TEST_STAGES)"
	@echo "  make fuzz [FUZZ_TIME=60]  libFuzzer on the heap against a shadow model"
	@echo "  make fuzz-check-runtime   clang links a fuzz target, or the packages are named"
	@echo "Host packages and the rest:"
	@echo "  make deps       install missing host packages (tools/deps.sh)"
	@echo "  make compare-deps  install what make compare and make plots need (tools/deps.sh compare)"
	@echo "  make clean      remove $(BUILD)/"
	@echo "  make help       this list"

deps:
	@tools/deps.sh

# Objects depend on the flags too: a changed flag rebuilds everything.
$(KBUILD)/cflags.txt: FORCE
	@mkdir -p $(KBUILD)
	@echo '$(KERNEL_CFLAGS)' | cmp -s - $@ || echo '$(KERNEL_CFLAGS)' > $@
FORCE:

$(KBUILD)/%.c.o: %.c $(KBUILD)/cflags.txt
	@mkdir -p $(dir $@)
	$(CC) $(KERNEL_CFLAGS) -c $< -o $@

$(KBUILD)/%.S.o: %.S $(KBUILD)/cflags.txt
	@mkdir -p $(dir $@)
	$(CC) $(KERNEL_CFLAGS) -c $< -o $@

$(KBUILD)/tricolor.pass1.elf: $(KERNEL_OBJS) linker.ld
	$(CC) $(KERNEL_LDFLAGS) -o $@ $(KERNEL_OBJS) -lgcc

$(KBUILD)/ksyms.S: $(KBUILD)/tricolor.pass1.elf tools/gensyms.sh
	tools/gensyms.sh $< > $@

$(KERNEL_ELF): $(KBUILD)/tricolor.pass1.elf $(KBUILD)/ksyms.S.o
	$(CC) $(KERNEL_LDFLAGS) -o $@ $(KERNEL_OBJS) $(KBUILD)/ksyms.S.o -lgcc
	@nm -n $< | grep -vE 'ksym|__kernel_(phys_)?end' > $(KBUILD)/syms1.txt
	@nm -n $@ | grep -vE 'ksym|__kernel_(phys_)?end' > $(KBUILD)/syms2.txt
	@cmp -s $(KBUILD)/syms1.txt $(KBUILD)/syms2.txt || \
		{ echo "the symbol table moved other symbols (see linker.ld)"; exit 1; }
	nm -n $@ > $(KBUILD)/tricolor.sym
	objdump -d --no-show-raw-insn $@ > $(KBUILD)/tricolor.dis

$(KBUILD)/ksyms.S.o: $(KBUILD)/ksyms.S
	$(CC) $(KERNEL_CFLAGS) -c $< -o $@

# Installs nothing: tools/mkiso.sh names what is missing (`make deps`).
$(BUILD)/tricolor.iso: $(KERNEL_ELF) boot/grub.cfg tools/mkiso.sh
	tools/mkiso.sh $(KERNEL_ELF) $@

iso: $(BUILD)/tricolor.iso

# The device is checked first (tools/usb-write.sh names every refusal),
# the ISO built, then the device checked again and written after a "yes".
usb:
	@tools/usb-write.sh $(call sh_quote,$(value DEV))
	@$(MAKE) --no-print-directory $(BUILD)/tricolor.iso
	@tools/usb-write.sh $(call sh_quote,$(value DEV)) $(BUILD)/tricolor.iso

# With a terminal on stdin, the shell runs after boot (shell=1 comes first,
# so CMDLINE=shell=0 still wins). DEMO=name runs one demo (demo=name).
# CMDLINE goes to mkiso.sh as typed (sh_quote), after the two, if not empty.
# With a display (DISPLAY or WAYLAND_DISPLAY set) QEMU also opens a window
# on the framebuffer console, whose keyboard reaches the shell too;
# otherwise it stays headless. The serial console is on stdio either way.
run: deps $(KERNEL_ELF)
	@set -- $$([ -t 0 ] && echo shell=1) $(if $(DEMO),$(call sh_quote,demo=$(value DEMO))); \
		line=$(call sh_quote,$(value CMDLINE)); \
		tools/mkiso.sh $(KERNEL_ELF) $(KBUILD)/run.iso "$$@" $${line:+"$$line"}
	@if [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then tools/deps.sh gui; fi
	@tools/qemu-run.sh --machine $(MACHINE) --mem $(MEM) --smp $(SMP) --timeout 0 \
		$$([ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ] && echo --display) $(KBUILD)/run.iso

debug: deps $(KERNEL_ELF)
	@tools/mkiso.sh $(KERNEL_ELF) $(KBUILD)/run.iso $(call sh_quote,$(value CMDLINE))
	@echo "QEMU waits for gdb. In another terminal:"
	@echo "  gdb $(KERNEL_ELF) -ex 'target remote :1234' -ex 'break kmain' -ex continue"
	@tools/qemu-run.sh --machine $(MACHINE) --mem $(MEM) --smp $(SMP) --debug $(KBUILD)/run.iso

TESTS ?= all
# The ISO and the log are named after the selection, so the harness's
# test-qemu runs never overwrite the ISO a parallel `make -j test` boots.
TESTS_NAME = $(subst /,_,$(subst $(comma),_,$(value TESTS)))
test-qemu: deps $(KERNEL_ELF)
	@tools/mkiso.sh $(KERNEL_ELF) $(call sh_quote,$(KBUILD)/test-$(TESTS_NAME).iso) \
		$(call sh_quote,tests=$(value TESTS))
	@tools/qemu-run.sh --tests --machine $(MACHINE) --mem $(MEM) --smp $(SMP) \
		--timeout $(TEST_TIMEOUT) --log $(call sh_quote,$(KBUILD)/test-$(TESTS_NAME).log) \
		$(call sh_quote,$(KBUILD)/test-$(TESTS_NAME).iso)

# The platform suites under both machine types and a small and a large RAM
# under SeaBIOS, on q35 under UEFI (OVMF, tools/qemu-run.sh --uefi) and,
# on the legacy-free q35 (below; its ISO also says expect_legacy_free=1).
# Each firmware gets its own ISO (the same hybrid image) whose command line
# says which firmware boot.firmware_kind must see. Every run happens even
# if one fails.
MATRIX_TESTS := boot,pmm,vmm,fault,timer,acpi,ioapic,kbd,pci,serial,smp
MATRIX_MACHINES := pc q35
MATRIX_MEMS := 128M 4G
# UEFI at 4G passes too but takes ~38 s under TCG (OVMF sets up all of
# RAM; 128M: ~10 s), so only on request: make test-matrix MATRIX_UEFI_MEMS='128M 4G'.
MATRIX_UEFI_MACHINES := q35
MATRIX_UEFI_MEMS ?= 128M
# The legacy-free PC (tools/qemu-run.sh --legacy-free: q35 under UEFI with
# no PIT, HPET, i8042 or COM1; the console on a PCI serial card; the TSC
# calibrated against the ACPI PM timer).
MATRIX_LEGACY_FREE_MEMS ?= 128M
# The PCI console under SeaBIOS too: q35 with no COM1 and a pci-serial card
# (tools/qemu-run.sh --pci-serial).
MATRIX_PCI_SERIAL_MEMS ?= 128M
# Four CPUs (tools/qemu-run.sh --smp 4: every AP started, then idle) on
# q35 under SeaBIOS; the runs above have one. ~6 s.
MATRIX_SMP_MEMS ?= 128M
MATRIX_LOGS = $(foreach m,$(MATRIX_MACHINES),$(foreach mem,$(MATRIX_MEMS),$(KBUILD)/matrix-$(m)-$(mem).log)) \
	$(foreach m,$(MATRIX_UEFI_MACHINES),$(foreach mem,$(MATRIX_UEFI_MEMS),$(KBUILD)/matrix-$(m)-uefi-$(mem).log)) \
	$(foreach mem,$(MATRIX_LEGACY_FREE_MEMS),$(KBUILD)/matrix-q35-legacy-free-$(mem).log) \
	$(foreach mem,$(MATRIX_PCI_SERIAL_MEMS),$(KBUILD)/matrix-q35-pci-serial-$(mem).log) \
	$(foreach mem,$(MATRIX_SMP_MEMS),$(KBUILD)/matrix-q35-smp4-$(mem).log)
MATRIX_RUNS = $(foreach m,$(MATRIX_MACHINES),$(foreach mem,$(MATRIX_MEMS),$(m):$(mem):bios)) \
	$(foreach m,$(MATRIX_UEFI_MACHINES),$(foreach mem,$(MATRIX_UEFI_MEMS),$(m):$(mem):uefi)) \
	$(foreach mem,$(MATRIX_LEGACY_FREE_MEMS),q35:$(mem):legacy-free) \
	$(foreach mem,$(MATRIX_PCI_SERIAL_MEMS),q35:$(mem):pci-serial) \
	$(foreach mem,$(MATRIX_SMP_MEMS),q35:$(mem):smp4)
# The timer suite once more per forced calibration source (clocksource=;
# the runs above use auto, which picks the HPET under QEMU TCG), on q35
# with 128M: ~5 s each.
MATRIX_CLOCKSOURCES := pmtimer pit
MATRIX_LOGS += $(foreach cs,$(MATRIX_CLOCKSOURCES),$(KBUILD)/matrix-q35-clocksource-$(cs).log)
# cpus=2 on four CPUs: two started, two left out and named (~4 s).
MATRIX_LOGS += $(KBUILD)/matrix-q35-smp4-cpus2.log
test-matrix: deps $(KERNEL_ELF)
	@tools/mkiso.sh $(KERNEL_ELF) $(KBUILD)/matrix.iso tests=$(MATRIX_TESTS) expect_firmware=bios
	@tools/mkiso.sh $(KERNEL_ELF) $(KBUILD)/matrix-uefi.iso tests=$(MATRIX_TESTS) expect_firmware=uefi
	@tools/mkiso.sh $(KERNEL_ELF) $(KBUILD)/matrix-legacy-free.iso tests=$(MATRIX_TESTS) \
		expect_firmware=uefi expect_legacy_free=1
	@failed=0; for run in $(MATRIX_RUNS); do \
		m=$${run%%:*}; mem=$${run#*:}; mem=$${mem%:*}; fw=$${run##*:}; \
		if [ $$fw = uefi ]; then log=$(KBUILD)/matrix-$$m-uefi-$$mem.log; \
			opt=--uefi; iso=$(KBUILD)/matrix-uefi.iso; \
		elif [ $$fw = legacy-free ]; then log=$(KBUILD)/matrix-$$m-legacy-free-$$mem.log; \
			opt=--legacy-free; iso=$(KBUILD)/matrix-legacy-free.iso; \
		elif [ $$fw = pci-serial ]; then log=$(KBUILD)/matrix-$$m-pci-serial-$$mem.log; \
			opt=--pci-serial; iso=$(KBUILD)/matrix.iso; \
		elif [ $$fw = smp4 ]; then log=$(KBUILD)/matrix-$$m-smp4-$$mem.log; \
			opt="--smp 4"; iso=$(KBUILD)/matrix.iso; \
		else log=$(KBUILD)/matrix-$$m-$$mem.log; opt=; iso=$(KBUILD)/matrix.iso; fi; \
		if tools/qemu-run.sh --tests $$opt --machine $$m --mem $$mem --timeout 300 \
			--log $$log $$iso >/dev/null 2>$$log.err; then \
			echo "matrix $$m $$mem $$fw: $$(grep -E '^[0-9]+ passed' $$log)"; \
		else \
			cat $$log $$log.err; echo "matrix $$m $$mem $$fw: FAILED"; failed=1; \
		fi; \
	done; \
	for cs in $(MATRIX_CLOCKSOURCES); do \
		iso=$(KBUILD)/matrix-clocksource-$$cs.iso; log=$(KBUILD)/matrix-q35-clocksource-$$cs.log; \
		if tools/mkiso.sh $(KERNEL_ELF) $$iso tests=timer clocksource=$$cs && \
			tools/qemu-run.sh --tests --machine q35 --mem 128M --timeout 300 \
			--log $$log $$iso >/dev/null 2>$$log.err; then \
			echo "matrix q35 128M clocksource=$$cs: $$(grep -E '^[0-9]+ passed' $$log)"; \
		else \
			cat $$log $$log.err; echo "matrix q35 128M clocksource=$$cs: FAILED"; failed=1; \
		fi; \
	done; \
	iso=$(KBUILD)/matrix-smp4-cpus2.iso; log=$(KBUILD)/matrix-q35-smp4-cpus2.log; \
	if tools/mkiso.sh $(KERNEL_ELF) $$iso tests=smp,acpi cpus=2 expect_cpus=2 && \
		tools/qemu-run.sh --tests --machine q35 --mem 128M --smp 4 --timeout 300 \
		--log $$log $$iso >/dev/null 2>$$log.err; then \
		echo "matrix q35 128M smp 4 cpus=2: $$(grep -E '^[0-9]+ passed' $$log)"; \
	else \
		cat $$log $$log.err; echo "matrix q35 128M smp 4 cpus=2: FAILED"; failed=1; \
	fi; exit $$failed

# Benchmarks: natively in the hosted build (-O2, no sanitizers: the numbers
# to quote), then in QEMU (emulated: labelled, never the product's speed).
# Every BENCH line gets an env= field saying which.
BENCH ?= all
# Under emulation the collector benchmarks take minutes a round: one round.
QEMU_BENCH_REPEATS ?= 1
bench: deps hosted-bench $(KERNEL_ELF)
	@echo "== native: hosted build, -O2, $$(nproc) CPUs, $$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
	@$(HOSTED_BENCH_BIN) bench=$(BENCH) | sed '/^BENCH /s/$$/ env=native/'
	@tools/mkiso.sh $(KERNEL_ELF) $(KBUILD)/bench.iso bench=$(BENCH) bench_repeats=$(QEMU_BENCH_REPEATS)
	@echo "== emulated: QEMU (timings under emulation are not the product's speed)"
	@tools/qemu-run.sh --machine $(MACHINE) --mem $(MEM) --timeout $(TEST_TIMEOUT) \
		--log $(KBUILD)/bench.log $(KBUILD)/bench.iso >/dev/null
	@acc=$$(tools/qemu-run.sh --print-accel); \
		grep -E '^(BENCH|#)' $(KBUILD)/bench.log | sed "/^BENCH /s/\$$/ env=qemu-$$acc/"

test-harness: deps $(KERNEL_ELF)
	@mkdir -p $(BUILD)
	@BUILD=$(BUILD) KERNEL_ELF=$(KERNEL_ELF) \
		bash -o pipefail -c 'tests/host/harness.sh | tee $(BUILD)/harness.log'

# The debug build's heap poisoning and DASSERTs, natively, and a short
# fuzzing run of the heap against its shadow model.
hosted-test-debug:
	@$(MAKE) --no-print-directory hosted-test DEBUG=1 HOSTED_OUT=$(BUILD)/hosted-debug

fuzz-short: deps
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk fuzz FUZZ_TIME=20

# No #include goes up a layer, reaches into a lower room's internals, forms
# a cycle between folders or brings libc into the kernel image.
check-layers:
	@python3 tools/check-layers.py

# The serial shell driven by a script, in QEMU and natively (shell.sh
# builds the hosted binary itself; it does not need the hosted suites run).
test-shell: deps $(KERNEL_ELF)
	@bash -o pipefail -c 'BUILD=$(BUILD) tests/host/shell.sh | tee $(BUILD)/shell.log'

# make test: every stage runs, even after another failed, and
# tools/test-summary.sh ends with a line per stage and then the total
# "N passed, N failed" (non-zero exit if any stage failed). Each stage runs
# in its own make through test-stage-NAME, which deletes the stage's old
# logs, always succeeds and writes the stage's exit status to
# $(TEST_STATUS)/NAME. What several stages need (the kernel, the hosted test
# binary) is built first, once, by test-build (a stage of its own), so that
# under make -j no two stages compile the same objects at the same time.
TEST_STAGES := check-layers test-qemu test-matrix test-harness test-shell \
	hosted-test hosted-test-debug fuzz-short
TEST_STATUS := $(BUILD)/test-status
# The logs whose last "N passed, N failed" line counts for each stage; a
# stage with none (check-layers, fuzz-short) counts only if it fails.
test_logs.test-qemu = $(KBUILD)/test-$(TESTS_NAME).log
test_logs.test-matrix = $(MATRIX_LOGS)
test_logs.test-harness = $(BUILD)/harness.log
test_logs.test-shell = $(BUILD)/shell.log
test_logs.hosted-test = $(HOSTED_OUT)/test.log
test_logs.hosted-test-debug = $(BUILD)/hosted-debug/test.log
empty :=
space := $(empty) $(empty)
test_stage_arg = $(1)$(if $(strip $(test_logs.$(1))),=$(subst $(space),$(comma),$(strip $(test_logs.$(1)))))
TEST_STAGE_TARGETS := $(addprefix test-stage-,$(TEST_STAGES))
.PHONY: $(TEST_STAGE_TARGETS)

test-build: deps
	@rm -rf $(TEST_STATUS) && mkdir -p $(TEST_STATUS)
	@$(MAKE) --no-print-directory $(KERNEL_ELF) $(HOSTED_TEST_BIN); \
		echo $$? >$(TEST_STATUS)/build

$(TEST_STAGE_TARGETS): test-stage-%: | test-build
	@rm -f $(TEST_STATUS)/$* $(foreach l,$(test_logs.$*),$(call sh_quote,$(l)))
	@$(MAKE) --no-print-directory $*; echo $$? >$(TEST_STATUS)/$*

test: $(TEST_STAGE_TARGETS)
	@tools/test-summary.sh $(TEST_STATUS) build \
		$(foreach s,$(TEST_STAGES),$(call sh_quote,$(call test_stage_arg,$(s))))

clean:
	rm -rf $(BUILD)

include arch/hosted/hosted.mk
include mm/mm.mk
include tests/fuzz/fuzz.mk
include tools/compare/compare.mk
-include $(KERNEL_OBJS:.o=.d) $(KBUILD)/ksyms.S.d
