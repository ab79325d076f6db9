#!/bin/bash
# The engine against its peers, each row measured in the same run (issue #14):
#   - `qcow-img bench ARGS` against `qemu-img bench -i io_uring ARGS` on the
#     same image (a fresh copy for writes), REPEAT times alternately, the
#     best time of each; ratio = qemu's time / ours (above 1: we are faster);
#   - qcow-img bench's O_DIRECT 4K reads against fio on the raw file holding
#     the same data, same stride, same depth; ratio = our IOPS / fio's;
#   - counted, not timed: bytes written per guest byte, metadata writes and
#     fsyncs per 1,000 allocating writes (strace of the image file's
#     pwrite/fsync calls, the engine on plain pwrite (QCOW_SYNC_IO=1),
#     qemu-img with -i threads), instructions per 4K cached read
#     (callgrind), and the memory of the metadata cache per TiB (peak RSS).
#
#   bench/run.sh [REPEAT]      REPEAT default 3; BENCH_QUICK=1: 1 and
#                              smaller counts; BENCH_DIR: where the images
#                              go (default /var/tmp: a disk, not tmpfs)
#   BENCH_GUEST=1 bench/run.sh also runs bench/ublk.sh, bench/ublk-batch.sh and
#                              bench/ublk-queues.sh in the test guest
#                              (1 and 2 queues, both kernels: ~65 minutes)
set -eu
cd "$(dirname "$0")/.."
TOP=$PWD
QUICK=${BENCH_QUICK:-0}
REPEAT=${1:-$([ "$QUICK" = 1 ] && echo 1 || echo 3)}
SCALE=$([ "$QUICK" = 1 ] && echo 4 || echo 1)
OURS=$TOP/bin/qcow-img
[ -x "$OURS" ] || { echo "bench: build bin/qcow-img first (make)" >&2; exit 1; }
for c in qemu-img qemu-io fio strace valgrind python3 /usr/bin/time; do
	command -v "$c" >/dev/null || { echo "bench: $c is missing" >&2; exit 1; }
done
DIR=$(mktemp -d "${BENCH_DIR:-/var/tmp}/qcow-bench.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
cd "$DIR"
M=$((1024 * 1024))

log() { echo "# $*" >&2; }

make_images() {
	log "making images in $DIR"
	head -c $((512 * M)) /dev/urandom >full.raw
	qemu-img convert -O qcow2 full.raw full.qcow2
	head -c $((192 * M)) /dev/urandom | base64 -w 0 >text.raw
	qemu-img convert -c -O qcow2 text.raw compressed.qcow2
	qemu-img create -q -f qcow2 big.qcow2 1T
	# one 4 KiB cluster in every 512 MiB: each of the 2048 L2 tables
	# exists, and a read anywhere needs its table
	qemu-img bench -q -w -c 2048 -d 1 -s 4k -S 512M big.qcow2 >/dev/null
	cat full.qcow2 compressed.qcow2 >/dev/null
}

mk_empty() { qemu-img create -q -f qcow2 "$1" 1G; }
mk_overlay() { qemu-img create -q -f qcow2 -b full.raw -F raw "$1"; }
mk_overlay_x() {
	qemu-img create -q -f qcow2 -o extended_l2=on -b full.raw -F raw "$1"
}

elapsed() { sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p' "$1"; }

# one_run TOOL MAKER IMG ARGS...: seconds of one bench run; its peak RSS
# (KiB) is the last line of the file rss
one_run() {
	local tool=$1 mk=$2 img=$3 t
	shift 3
	[ "$mk" = - ] || { rm -f "$img"; "$mk" "$img"; }
	if [ "$tool" = ours ]; then
		/usr/bin/time -f %M -o rss "$OURS" bench "$@" "$img" >out 2>err ||
			{ cat err >&2; return 1; }
	else
		/usr/bin/time -f %M -o rss qemu-img bench -i io_uring "$@" "$img" \
			>out 2>err || { cat err >&2; return 1; }
	fi
	elapsed out
}

min() { printf '%s\n' "$@" | sort -g | head -n 1; }
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
quotient() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# row NAME MAKER IMG ARGS...: RUNS (default REPEAT) alternating runs of
# both, which goes first alternating too; the ratio of the best times and
# that of the medians
row() {
	local name=$1 mk=$2 img=$3 i o q ours=() qemu=() ro=0 rq=0
	shift 3
	for ((i = 0; i < ${RUNS:-$REPEAT}; i++)); do
		if ((i % 2)); then
			q=$(one_run qemu "$mk" "$img" "$@")
			rq=$(tail -n 1 rss)
		fi
		o=$(one_run ours "$mk" "$img" "$@")
		ours+=("$o")
		ro=$(tail -n 1 rss)
		if ((i % 2 == 0)); then
			q=$(one_run qemu "$mk" "$img" "$@")
			rq=$(tail -n 1 rss)
		fi
		qemu+=("$q")
	done
	o=$(min "${ours[@]}")
	q=$(min "${qemu[@]}")
	printf '| %-44s | %9s | %9s | %7s | %7s |\n' "$name" "$o" "$q" \
		"$(quotient "$q" "$o")" \
		"$(quotient "$(median "${qemu[@]}")" "$(median "${ours[@]}")")"
	echo "$name|$ro|$rq" >>rss.log
}

# threads_row NAME ARGS...: ours on 2 threads (each its ring, as 2 ublk
# queues) against ours on 1, same requests; ratio = 1 thread's time / 2's
threads_row() {
	local name=$1 i one=() two=() a b
	shift
	for ((i = 0; i < REPEAT; i++)); do
		one+=("$(one_run ours - full.qcow2 "$@" --threads 1)")
		two+=("$(one_run ours - full.qcow2 "$@" --threads 2)")
	done
	a=$(min "${one[@]}")
	b=$(min "${two[@]}")
	printf '| %-44s | %9s | %9s | %7s | %7s |\n' "$name" "$b" "$a" \
		"$(quotient "$a" "$b")" \
		"$(quotient "$(median "${one[@]}")" "$(median "${two[@]}")")"
}

# The engine's O_DIRECT reads against fio on the raw file, same stride
# (4 KiB read, 1 MiB skipped), same depth, IOPS.
fio_row() {
	local n=$((200000 / SCALE)) i ours=() fio=() t o f
	for ((i = 0; i < REPEAT; i++)); do
		t=$(one_run ours - full.qcow2 -c "$n" -d 32 -s 4k -S 1028k -t none)
		ours+=("$(awk -v n="$n" -v t="$t" 'BEGIN { printf "%d", n / t }')")
		fio --name=raw --filename=full.raw --readonly --direct=1 \
			--ioengine=io_uring --iodepth=32 --bs=4k --rw=read:1024k \
			--time_based --runtime=$((4 / SCALE + 1)) --output-format=terse \
			--terse-version=3 >fio.out 2>&1
		fio+=("$(awk -F';' '{ print $8 }' fio.out | head -n 1)")
	done
	o=$(printf '%s\n' "${ours[@]}" | sort -g | tail -n 1)
	f=$(printf '%s\n' "${fio[@]}" | sort -g | tail -n 1)
	printf '| %-44s | %9s | %9s | %7s | %7s |\n' \
		"4K reads O_DIRECT, IOPS: ours vs fio on raw" "$o" "$f" \
		"$(quotient "$o" "$f")" \
		"$(quotient "$(median "${ours[@]}")" "$(median "${fio[@]}")")"
}

# count_writes TOOL MAKER COUNT SIZE [ARGS...]: strace of one write bench
# on a fresh image; prints "bytes_per_guest_byte other_writes_per_1000
# fsyncs_per_1000"
count_writes() {
	local tool=$1 mk=$2 count=$3 size=$4
	shift 4
	rm -f cnt.qcow2
	"$mk" cnt.qcow2
	if [ "$tool" = ours ]; then
		QCOW_SYNC_IO=1 strace -f -qq -y -o trace \
			-e trace=pwrite64,pwritev,pwritev2,write,fsync,fdatasync \
			"$OURS" bench -w -t none -c "$count" -s "$size" -S 64k \
			-d 32 "$@" cnt.qcow2 >/dev/null
	else
		strace -f -qq -y -o trace \
			-e trace=pwrite64,pwritev,pwritev2,write,fsync,fdatasync \
			qemu-img bench -i threads -w -t none -c "$count" -s "$size" \
			-S 64k -d 32 "$@" cnt.qcow2 >/dev/null
	fi
	qemu-img map --output=json cnt.qcow2 >map.json
	python3 "$TOP/bench/count-writes.py" trace map.json cnt.qcow2 \
		"$count" "$size"
}

counts() {
	local n=$((2000 / SCALE)) c mk size name
	echo
	echo "| allocating writes (-t none, -d 32, 64K apart) | ours: bytes written per guest byte | ours: other writes per 1000 | ours: fsyncs per 1000 | qemu-img: bytes per guest byte | qemu-img: other writes per 1000 | qemu-img: fsyncs per 1000 |"
	echo "|---|---|---|---|---|---|---|"
	for c in "4K, empty image|mk_empty|4096|" "64K, empty image|mk_empty|65536|" \
		"4K, empty image, a flush every 64|mk_empty|4096|--flush-interval=64" \
		"4K, overlay on raw|mk_overlay|4096|" "64K, overlay on raw|mk_overlay|65536|" \
		"4K, overlay on raw, extended L2|mk_overlay_x|4096|"; do
		IFS='|' read -r name mk size extra <<<"$c"
		# shellcheck disable=SC2046,SC2086,SC2183
		printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" \
			$(count_writes ours "$mk" "$n" "$size" $extra) \
			$(count_writes qemu "$mk" "$n" "$size" $extra)
	done
}

# instructions of N and 3N cached 4K reads: their difference over 2N
callgrind_reads() {
	local n=$((20000 / SCALE)) a b k
	for k in 1 3; do
		valgrind --tool=callgrind --callgrind-out-file=cg.$k \
			"$OURS" bench -c $((k * n)) -d 32 -s 4k -S 1028k \
			full.qcow2 >/dev/null 2>cg.err.$k
	done
	a=$(python3 "$TOP/bench/callgrind-ours.py" "$TOP" cg.1)
	b=$(python3 "$TOP/bench/callgrind-ours.py" "$TOP" cg.3)
	echo
	echo "| instructions per 4K cached read (callgrind, -d 32, page cache) | ours: our code | ours: all user space | qemu-img: all user space |"
	echo "|---|---|---|---|"
	for k in 1 3; do
		valgrind --tool=callgrind --callgrind-out-file=/dev/null \
			qemu-img bench -c $((k * n)) -d 32 -s 4k -S 1028k \
			-i io_uring full.qcow2 >/dev/null 2>qcg.err.$k
	done
	printf '| qcow-img bench / qemu-img bench -c N and 3N | %s | %s | %s |\n' \
		$(( (${b% *} - ${a% *}) / (2 * n) )) \
		$(( (${b#* } - ${a#* }) / (2 * n) )) \
		$(( ($(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' qcg.err.3) - \
		     $(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' qcg.err.1)) / (2 * n) ))
}

memory() {
	local o1 q1 ob qb
	IFS='|' read -r _ o1 q1 < <(grep '^4K reads, page cache' rss.log)
	IFS='|' read -r _ ob qb < <(grep '^1 TiB' rss.log)
	echo
	echo "| peak RSS (KiB)                                 | ours | qemu-img |"
	echo "|------------------------------------------------|------|----------|"
	echo "| 4K reads, 512 MiB image (1 L2 table)           | $o1 | $q1 |"
	echo "| 4K reads over a 1 TiB image (2048 L2 tables)   | $ob | $qb |"
	echo "| difference: metadata cache for 1 TiB           | $((ob - o1)) | $((qb - q1)) |"
}

make_images
N=$((200000 / SCALE))
W=$((16000 / SCALE))
echo "# $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1); Linux $(uname -r); $(qemu-img --version | head -n 1)"
echo "# images in $(df -T "$DIR" | awk 'NR == 2 { print $2 }') ($DIR); load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
echo "# command: $([ "$QUICK" = 1 ] && echo 'BENCH_QUICK=1 ')bench/run.sh $REPEAT   ($(date -u +%Y-%m-%d))"
echo
printf '| %-44s | %9s | %9s | %7s | %7s |\n' "workload (qcow-img bench vs qemu-img bench)" "ours (s)" "qemu (s)" "ratio" "median"
echo "|----------------------------------------------|-----------|-----------|---------|---------|"
row "4K reads O_DIRECT, full image, QD32" - full.qcow2 -c "$N" -d 32 -s 4k -S 1028k -t none
row "4K reads, page cache, QD32" - full.qcow2 -c "$N" -d 32 -s 4k -S 1028k
row "4K allocating writes O_DIRECT, QD32" mk_empty new.qcow2 -w -c "$W" -d 32 -s 4k -S 64k -t none
row "64K allocating writes O_DIRECT, QD16" mk_empty new.qcow2 -w -c "$W" -d 16 -s 64k -t none
row "4K writes into overlay on raw (COW), QD32" mk_overlay new.qcow2 -w -c $((W / 2)) -d 32 -s 4k -S 64k -t none
row "same, extended L2" mk_overlay_x new.qcow2 -w -c $((W / 2)) -d 32 -s 4k -S 64k -t none
row "64K reads, compressed image, QD16" - compressed.qcow2 -c $((N / 20)) -d 16 -s 64k
# disk-bound: the disk's best second varies more than the engine, so
# three times the runs (and the median beside the best)
RUNS=$((3 * REPEAT)) row "1M sequential reads O_DIRECT, QD8" - full.qcow2 -c $((N / 100)) -d 8 -s 1M -t none
RUNS=$((3 * REPEAT)) row "1M sequential writes O_DIRECT, empty, QD8" mk_empty new.qcow2 -w -c $((N / 200)) -d 8 -s 1M -t none
row "1 TiB image, 4K reads over all of it, QD32" - big.qcow2 -c $((N / 4)) -d 32 -s 4k -S 1610616832 -t none
fio_row
threads_row "4K reads, page cache: 2 threads vs 1 (ours)" -c "$N" -d 32 -s 4k -S 1028k
threads_row "4K reads O_DIRECT: 2 threads vs 1 (ours)" -c "$N" -d 32 -s 4k -S 1028k -t none
counts
callgrind_reads
memory
if [ "${BENCH_GUEST:-0}" = 1 ]; then
	cd "$TOP"
	echo
	bench/ublk.sh 5 1 3
	bench/ublk.sh 5 2 3
	GUEST_KERNEL=forky bench/ublk.sh 5 1 3
	GUEST_KERNEL=forky bench/ublk.sh 5 2 3
	bench/ublk-batch.sh 5 3
	bench/ublk-queues.sh 3 6
	GUEST_KERNEL=forky bench/ublk-queues.sh 3 6
fi
