# libFuzzer targets (tests/fuzz/, see tests/README.md), included by the
# top-level Makefile.  Everything lives in build-fuzz/: the engine built
# with clang and the same sanitizer flags as the targets, the targets, the
# seeds (tests/fuzz/seeds.sh), the growing corpus and the artifacts.
#
#   make fuzz-build    the four targets
#   make fuzz-short    what `make check` runs: FUZZ_SECONDS (20) per target
#   make fuzz          the long run: FUZZ_SECONDS (600) per target
#   make fuzz-seeds    regenerate build-fuzz/seeds/

FUZZ_CC ?= clang
FUZZ_BUILD := build-fuzz
FUZZ_SAN := -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
# -Wno-error: a warning only clang gives must not stop the fuzzing
FUZZ_CFLAGS := $(BASE_CFLAGS) -Iqcow -Wno-error -O1 -g $(FUZZ_SAN)
# The harness (tests/fuzz/*.c) has the sanitizers but no coverage
# instrumentation: its byte loops would otherwise dominate the run time
# and count as coverage of their own.
FUZZ_HARNESS_CFLAGS := $(filter-out -fsanitize=fuzzer%,$(FUZZ_CFLAGS)) \
	-fsanitize=address,undefined
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_LIB := $(FUZZ_BUILD)/libqcow.a
FUZZ_COMMON := $(FUZZ_BUILD)/tests/fuzz/fuzz_common.o
FUZZ_TARGETS := fuzz_open_read fuzz_check fuzz_write fuzz_qcow1
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)
FUZZ_OBJS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/tests/fuzz/%.o) $(FUZZ_COMMON)

.PHONY: fuzz-build fuzz-short fuzz fuzz-seeds fuzz-clean

fuzz-build: $(FUZZ_BINS)
.SECONDARY: $(FUZZ_OBJS)

# new flags here rebuild everything
$(FUZZ_LIB_OBJS) $(FUZZ_OBJS): tests/fuzz/fuzz.mk

$(FUZZ_BUILD)/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_HARNESS_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_COMMON) \
		$(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)

# the script builds the targets itself; exit 77 (no libFuzzer) is a skip
fuzz-short:
	+tests/fuzz/run-short.sh || [ $$? -eq 77 ]

fuzz:
	+FUZZ_SECONDS=$${FUZZ_SECONDS:-600} FUZZ_KEEP_CORPUS=1 \
		tests/fuzz/run-short.sh || \
		[ $$? -eq 77 ]

fuzz-seeds:
	tests/fuzz/seeds.sh

fuzz-clean:
	rm -rf $(FUZZ_BUILD)

clean: fuzz-clean

-include $(FUZZ_LIB_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)
