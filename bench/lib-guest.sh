# Sourced by bench/ublk-queues-guest.sh, bench/ublk-affinity-guest.sh and
# bench/ublk-placement-guest.sh,
# INSIDE the test guest.

die() {
	echo "ublk-bench: $*" >&2
	exit 1
}

# fio_run DEV RW BS DEPTH: JOBS fio jobs (default 1) of SECS seconds, each
# with its own part of DEV, on the CPUs in FIO_CPUS if set (fio's
# cpus_allowed); their IOPS (4k) or MB/s together on stdout.
fio_run() {
	local jobs=${JOBS:-1} part=$((100 / ${JOBS:-1}))

	fio --name=b --filename="$1" --rw="$2" --bs="$3" --iodepth="$4" \
		--numjobs="$jobs" --group_reporting --size=$part% \
		--offset_increment=$part% ${FIO_CPUS:+--cpus_allowed="$FIO_CPUS"} \
		--ioengine=io_uring --direct=1 --runtime="$SECS" --time_based \
		--randrepeat=0 --output-format=terse --terse-version=3 \
		2>/dev/null | awk -F';' -v bs="$3" -v rw="$2" '{
		w = rw ~ /write/; iops = w ? $49 : $8; bw = w ? $48 : $7
		if (bs == "4k") printf "%d\n", iops; else printf "%d\n", bw * 1024 / 1e6 }'
}

# full_image DIR: DIR/full.qcow2, 256 MiB of random data, every cluster
# allocated.
full_image() {
	head -c $((256 << 20)) /dev/urandom >"$1/full.raw"
	qemu-img convert -O qcow2 "$1/full.raw" "$1/full.qcow2" ||
		die "qemu-img convert failed"
	rm -f "$1/full.raw"
}

# Of figures or ratios: the best, the lowest, the median; ratio A B: A/B.
best() { printf '%s\n' "$@" | sort -n | tail -n 1; }
lowest() { printf '%s\n' "$@" | sort -n | head -n 1; }
# at_least_1 RATIO...: how many are 1 or more, as "N/COUNT"
at_least_1() { printf '%s\n' "$@" | awk '$1 >= 1 { n++ } END { print n + 0 "/" NR }'; }
median() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
		END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}
