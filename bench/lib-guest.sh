# Sourced by bench/ublk-queues-guest.sh and bench/ublk-affinity-guest.sh,
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
