# qcow-ublk: qcow2 images as ublk block devices.
# `make` builds bin/, `make check` runs every test, `make deps` installs
# what the build and the tests need on Debian.

CC ?= cc
PKGS := liburing zlib libdeflate libzstd json-c libcrypto libkcapi nettle
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wformat-security -Werror -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(WARN) \
	-I. -Iinclude -MMD -MP $(PKG_CFLAGS)
LDLIBS := $(PKG_LIBS) -lpthread

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer

# BUILD selects the object tree; the sanitizer build lives in build-asan/.
BUILD ?= build
BIN ?= bin
ifeq ($(SAN),1)
BUILD := build-asan
BIN := build-asan/bin
EXTRA_CFLAGS := $(SAN_FLAGS) -O1
EXTRA_LDFLAGS := $(SAN_FLAGS)
endif
# ThreadSanitizer (make check-tsan): build-tsan/
ifeq ($(TSAN),1)
BUILD := build-tsan
BIN := build-tsan/bin
EXTRA_CFLAGS := $(TSAN_FLAGS) -O1 -Wno-maybe-uninitialized
EXTRA_LDFLAGS := $(TSAN_FLAGS)
endif

ALL_CFLAGS = $(BASE_CFLAGS) $(PRIV_INC) $(CFLAGS) $(EXTRA_CFLAGS)
ALL_LDFLAGS = $(LDFLAGS) $(EXTRA_LDFLAGS)

# include/qcow.h is the engine's public header; the headers of qcow/ and
# of its driver folders (qcow/qcow2/, qcow/qcow1/, qcow/raw/) are seen only
# by the engine and by the engine tests that reach into it
LIB_SRCS := $(wildcard qcow/*.c qcow/*/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libqcow.a

TOOL_COMMON := $(wildcard tools/common/*.c)
TOOL_COMMON_OBJS := $(TOOL_COMMON:%.c=$(BUILD)/%.o)
IMG_SRCS := $(wildcard tools/img/*.c)
IMG_OBJS := $(IMG_SRCS:%.c=$(BUILD)/%.o)
IO_SRCS := $(wildcard tools/io/*.c)
IO_OBJS := $(IO_SRCS:%.c=$(BUILD)/%.o)

# the ublk server
UBLK_SRCS := $(wildcard ublksrv/*.c)
UBLK_OBJS := $(UBLK_SRCS:%.c=$(BUILD)/%.o)

# black-box tests of the engine, one program per file
ENGINE_TEST_SRCS := $(wildcard tests/engine/*.c)
ENGINE_TEST_BINS := $(ENGINE_TEST_SRCS:tests/engine/%.c=$(BUILD)/tests/%)

# programs the test scripts run (tests/helpers/NAME.c), not tests themselves
TEST_HELPER_SRCS := $(wildcard tests/helpers/*.c)
TEST_HELPER_BINS := $(TEST_HELPER_SRCS:tests/helpers/%.c=$(BUILD)/tests/helpers/%)

# private headers for the engine and its tests only, never the programs
$(LIB_OBJS) $(ENGINE_TEST_BINS): PRIV_INC := -Iqcow

# a program is built once its sources exist
PROGS := $(if $(IMG_SRCS),$(BIN)/qcow-img) $(if $(IO_SRCS),$(BIN)/qcow-io) \
	$(if $(UBLK_SRCS),$(BIN)/ublk-qcow)

.PHONY: all check check-valgrind check-tsan check-batch deps clean run bench bench-engine \
	bench-ublk
all: $(PROGS) $(ENGINE_TEST_BINS) $(TEST_HELPER_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN)/qcow-img: $(IMG_OBJS) $(TOOL_COMMON_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/qcow-io: $(IO_OBJS) $(TOOL_COMMON_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# the snapshot table printed as qemu-img prints it, shared with the tools
UBLK_TOOL_OBJS := $(BUILD)/tools/common/size.o \
	$(BUILD)/tools/common/snapshot_table.o

$(BIN)/ublk-qcow: $(UBLK_OBJS) $(UBLK_TOOL_OBJS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

# the dependency file is named after the source, not the program: the
# stale one of a source that moved (build/tests/NAME.d of tests/unit/, of
# the layout before tests/engine/) is never read, and cannot name a file
# that is gone; a program without one is built again
ENGINE_TEST_DEPS := $(ENGINE_TEST_SRCS:%.c=$(BUILD)/%.d)
$(ENGINE_TEST_DEPS):
$(BUILD)/tests/%: tests/engine/%.c $(BUILD)/tests/engine/%.d $(LIB)
	@mkdir -p $(dir $@) $(BUILD)/tests/engine
	$(CC) $(ALL_CFLAGS) -MF $(BUILD)/tests/engine/$*.d -MT $@ $(ALL_LDFLAGS) \
		-o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $<

# Every test: engine tests in the normal and the sanitizer build, then the
# interop tests against qemu-img with the sanitizer build of the tools.
# Both trees are built with one job per CPU unless make was given -j.
CHECK_J = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))
check:
	$(MAKE) $(CHECK_J) all
	$(MAKE) $(CHECK_J) SAN=1 all
	tests/run.sh

# The full valgrind sweep: every damaged image of tests/interop/bad-*.sh
# under memcheck (make check runs a fixed sample of each corpus).
check-valgrind:
	$(MAKE) $(CHECK_J) all
	QCOW_VG_SAMPLE=1 tests/run.sh valgrind/

# ublk's batched commands in the test guest on Linux 7.2 (not in make
# check: about 10 minutes of TCG)
check-batch: all
	tests/run.sh guest/ublk-batch

# The engine's multi-threaded tests under ThreadSanitizer (not in make
# check: a build of its own, and slow): any data race it reports fails.
TSAN_TESTS := lock_stress write_multiqueue encrypt_io compress_concurrent \
	pool_steal pool_wake pool_affinity
check-tsan:
	$(MAKE) $(CHECK_J) TSAN=1 $(TSAN_TESTS:%=build-tsan/tests/%)
	@fail=0; for t in $(TSAN_TESTS); do \
		echo "== build-tsan/$$t"; \
		TSAN_OPTIONS="halt_on_error=1 exitcode=66 $$TSAN_OPTIONS" \
			build-tsan/tests/$$t || fail=1; \
	done; exit $$fail

deps:
	scripts/deps.sh

# The main job: an image as a ublk block device, in the test guest when
# the host kernel has no ublk (scripts/main-job.sh says which).
run: all
	scripts/main-job.sh

clean:
	rm -rf build build-asan build-tsan bin tests/out

-include $(LIB_OBJS:.o=.d) $(TOOL_COMMON_OBJS:.o=.d) $(IMG_OBJS:.o=.d) \
	$(IO_OBJS:.o=.d) $(UBLK_OBJS:.o=.d) $(wildcard $(ENGINE_TEST_DEPS))

include scripts/install.mk

-include bench/bench.mk

-include tests/fuzz/fuzz.mk
