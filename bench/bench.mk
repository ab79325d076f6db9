# bench/: the engine's own benchmark programs (make bench).
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)

$(BUILD)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

all: $(BENCH_BINS)

# the engine against qemu-img bench on the host, then the block device
# against qemu-nbd and loop in the test guest, then the bitmaps' cost
bench: all
	bench/run.sh
	bench/ublk.sh 5 1 3
	bench/ublk-bitmap.sh 5 1 7

bench-engine: all
	bench/run.sh

# the sector ciphers, each backend that runs here (kcapi needs AF_ALG)
.PHONY: bench-crypto
bench-crypto: all
	$(BUILD)/bench/crypto-bench

bench-ublk: all
	bench/ublk.sh 5 1 3

# the cost of persistent dirty bitmaps behind the block device
.PHONY: bench-bitmap
bench-bitmap: all
	bench/ublk-bitmap.sh 5 1 7
