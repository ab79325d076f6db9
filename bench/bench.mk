# bench/: the engine's own benchmark programs (make bench).
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

all: $(BENCH_BINS)

# one table of ratios against peers measured in the same run: the engine
# (qcow-img bench) against qemu-img bench and fio on the host, counted
# writes, instructions and memory (docs/performance.md); BENCH_QUICK=1 for
# a short pass, BENCH_GUEST=1 adds the block device in the test guest
bench: all
	bench/run.sh

bench-engine: all
	BENCH_GUEST=0 bench/run.sh

# the sector ciphers, each backend that runs here (kcapi needs AF_ALG)
.PHONY: bench-crypto
bench-crypto: all
	$(BUILD)/bench/crypto-bench

bench-ublk: all
	bench/ublk.sh 5 1 3

# UBLK_F_BATCH_IO against the per-tag commands, on the 7.2 guest
.PHONY: bench-ublk-batch
bench-ublk-batch: all
	bench/ublk-batch.sh 5 3

# where the queue threads run (-o affinity=), 1 and 2 queues, in the guest
.PHONY: bench-ublk-affinity
bench-ublk-affinity: all
	bench/ublk-affinity.sh 3 4

# the cost of persistent dirty bitmaps behind the block device
.PHONY: bench-bitmap
bench-bitmap: all
	bench/ublk-bitmap.sh 5 1 7

# where -q 1 and -q 2 differ: fio held on CPU 0, the -q 1 thread free or held
.PHONY: bench-ublk-placement
bench-ublk-placement: all
	GUEST_KERNEL=forky bench/ublk-placement.sh 3 10

# two queues against one, ublk-qcow's defaults, alternating in one guest run
.PHONY: bench-ublk-queues
bench-ublk-queues: all
	bench/ublk-queues.sh 3 6
