#!/bin/bash
# The engine against QEMU's block layer, same images, same request pattern,
# same run: build/bench/qcow-bench vs `qemu-img bench` (io_uring, O_DIRECT).
# Each case runs both tools REPEAT times alternately; the table shows the
# best time of each and the ratio qemu/ours (above 1: the engine is faster).
#
#   bench/run.sh [REPEAT]        (images in $BENCH_DIR, default /tmp)
set -eu
cd "$(dirname "$0")/.."
REPEAT=${1:-3}
DIR=$(mktemp -d "${BENCH_DIR:-/tmp}/qcow-bench.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
OURS=build/bench/qcow-bench
[ -x "$OURS" ] || make -s "$OURS"
command -v qemu-img >/dev/null || { echo "bench: qemu-img is missing" >&2; exit 1; }

make_images() {
	qemu-img create -q -f qcow2 -o preallocation=full "$DIR/full.qcow2" 1G
	qemu-img create -q -f qcow2 "$DIR/base.qcow2" 1G
	qemu-io -f qcow2 -c 'write -P 0x5a 0 256M' "$DIR/base.qcow2" >/dev/null
	qemu-img convert -c -O qcow2 "$DIR/base.qcow2" "$DIR/compressed.qcow2"
	qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "$DIR/overlay.qcow2"
}

# best wall time of one tool on one case, in seconds
best() {
	local b="" t
	for t in "$@"; do
		if [ -z "$b" ] || awk "BEGIN{exit !($t < $b)}"; then b=$t; fi
	done
	echo "$b"
}

elapsed() {
	sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p'
}

run_case() {
	local name=$1 img=$2 fresh=$3; shift 3
	local ours=() qemu=() i t
	for ((i = 0; i < REPEAT; i++)); do
		[ "$fresh" = fresh ] && qemu-img create -q -f qcow2 "$DIR/$img" 1G
		t=$("$OURS" "$@" -t none "$DIR/$img" | elapsed)
		ours+=("$t")
		[ "$fresh" = fresh ] && qemu-img create -q -f qcow2 "$DIR/$img" 1G
		t=$(qemu-img bench -f qcow2 -i io_uring -t none "$@" "$DIR/$img" \
			2>/dev/null | elapsed)
		qemu+=("$t")
	done
	local o q
	o=$(best "${ours[@]}")
	q=$(best "${qemu[@]}")
	printf '%-34s %10s %10s %8.2f\n' "$name" "$o" "$q" \
		"$(awk "BEGIN{print $q / $o}")"
}

make_images
echo "# $(nproc) cores; $(uname -r); qemu-img $(qemu-img --version | head -1 | awk '{print $3}')"
echo "# command: bench/run.sh $REPEAT"
printf '%-34s %10s %10s %8s\n' case "ours (s)" "qemu (s)" "qemu/ours"
run_case "4k read QD32, full image" full.qcow2 keep -c 200000 -d 32 -s 4k -S 12k
run_case "4k write QD32, full image" full.qcow2 keep -c 200000 -d 32 -s 4k -S 12k -w
run_case "4k allocating write QD32" empty.qcow2 fresh -c 8000 -d 32 -s 4k -S 64k -w
run_case "4k allocating write, flush/64" empty.qcow2 fresh -c 8000 -d 32 -s 4k -S 64k -w --flush-interval 64
run_case "64k write QD16 into empty image" empty.qcow2 fresh -c 8000 -d 16 -s 64k -w
run_case "1M sequential read QD8" full.qcow2 keep -c 2000 -d 8 -s 1M
run_case "64k read QD16, compressed" compressed.qcow2 keep -c 4000 -d 16 -s 64k
run_case "4k read QD32, through overlay" overlay.qcow2 keep -c 60000 -d 32 -s 4k -S 4k
