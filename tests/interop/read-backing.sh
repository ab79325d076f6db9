#!/bin/bash
# Read-path interop: backing chains.  qcow2 over raw; three qcow2 levels
# with mixed cluster sizes and versions, the top one in a subdirectory
# naming its backing file "../"; overlays shorter and longer than their
# backing file; an extended-L2 overlay; a v2 chain.  info is compared
# with and without --backing-chain.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/read-workloads.bash
. "$(dirname "$0")/read-workloads.bash"

# overlay OVERLAY BACKING BACKING_FMT OPTS [SIZE]
overlay() {
	qimg create -f qcow2 -b "$2" -F "$3" -o "$4" "$1" ${5:+"$5"}
}

b_raw_backing() {
	local base=$CFG.base.raw
	IMG=$CFG.qcow2
	CHAIN=1
	qimg create -f raw "$base" 4M || return 1
	qio -f raw "$base" "write -P 0x41 0 1M" "write -s big.bin 1052672 300k" \
		"write -P 0x42 3M 64k" || return 1
	overlay "$IMG" "$base" raw cluster_size=65536 || return 1
	qio "$IMG" "write -P 0x51 100k 10k" "write -z 3146728 2000" \
		"write -z 1M 64k" "discard 0 64k" "write -P 0x52 3700k 200k" || return 1
	expect_pattern 0x41 128k 512k
	expect_pattern 0x51 100k 10k
	expect_pattern 0x42 3148728 60536
	expect_pattern 0x00 1M 64k
	expect_pattern 0x00 2M 512k
}

b_chain3() {
	local base=$CFG.base.qcow2 mid=$CFG.mid.qcow2
	mkdir -p "$CFG"
	IMG=$CFG/top.qcow2
	CHAIN=1
	qimg create -f qcow2 -o cluster_size=512,compat=0.10 "$base" 6M || return 1
	qio "$base" "write -P 0xb1 0 2M" "write -P 0xb2 4194204 200" \
		"write -c -P 0xb3 5M 64k" || return 1
	overlay "$mid" "$base" qcow2 cluster_size=65536 || return 1
	qio "$mid" "write -P 0xc1 1048676 64k" "write -z 1536k 128k" \
		"discard 0 64k" "write -P 0xc2 5275648 64k" || return 1
	overlay "$IMG" "../$mid" qcow2 cluster_size=4096 || return 1
	qio "$IMG" "write -P 0xd1 1048626 100" "write -z 2093056 8192" \
		"write -P 0xd2 5304320 8k" "write -c -P 0xd3 3M 4k" || return 1
	expect_pattern 0xb1 100k 900k
	expect_pattern 0xd1 1048626 100
	expect_pattern 0xc1 1048776 60k
	expect_pattern 0x00 1536k 128k
	expect_pattern 0x00 2093056 8192
	expect_pattern 0xb2 4194204 200
	expect_pattern 0xb3 5M 32k
	expect_pattern 0xc2 5275648 28k
	expect_pattern 0xd2 5304320 8k
	expect_pattern 0xd3 3M 4k
}

b_shorter() {
	local base=$CFG.base.qcow2
	IMG=$CFG.qcow2
	CHAIN=1
	qimg create -f qcow2 -o cluster_size=65536 "$base" 4M || return 1
	qio "$base" "write -P 0xe1 0 4M" || return 1
	overlay "$IMG" "$base" qcow2 cluster_size=4096 2098688 || return 1
	qio "$IMG" "write -P 0xe2 1048476 200" "write -z 2093056 5632" || return 1
	expect_pattern 0xe1 0 1048476
	expect_pattern 0xe2 1048476 200
	expect_pattern 0xe1 1048676 100k
	expect_pattern 0x00 2093056 5632
}

b_longer() {
	local base=$CFG.base.qcow2
	IMG=$CFG.qcow2
	CHAIN=1
	qimg create -f qcow2 -o cluster_size=65536 "$base" 2098688 || return 1
	qio "$base" "write -P 0xf1 0 2098688" || return 1
	overlay "$IMG" "$base" qcow2 cluster_size=65536 6M || return 1
	qio "$IMG" "write -P 0xf2 2096152 3000" "write -z 3M 64k" \
		"write -P 0xf3 5M 64k" "write -P 0xf4 2228224 100" || return 1
	expect_pattern 0xf1 0 1M
	expect_pattern 0xf2 2096152 3000
	expect_pattern 0x00 2099152 120k
	expect_pattern 0x00 2228324 1M
	expect_pattern 0xf3 5M 64k
}

b_extl2_overlay() {
	local base=$CFG.base.qcow2
	IMG=$CFG.qcow2
	CHAIN=1
	qimg create -f qcow2 -o cluster_size=65536 "$base" 4M || return 1
	qio "$base" "write -P 0xa1 0 4M" || return 1
	overlay "$IMG" "$base" qcow2 cluster_size=65536,extended_l2=on || return 1
	qio "$IMG" "write -P 0xa2 4k 2k" "write -z 72k 4k" "discard 132k 4k" \
		"write -P 0xa3 191k 2k" "write -z 256k 64k" \
		"write -c -P 0xa4 384k 64k" "write -P 0xa5 1047552 3k" || return 1
	expect_pattern 0xa1 0 4k
	expect_pattern 0xa2 4k 2k
	expect_pattern 0xa1 6k 58k
	expect_pattern 0x00 72k 4k
	expect_pattern 0xa1 76k 52k
	expect_pattern 0xa3 191k 2k
	expect_pattern 0x00 256k 64k
	expect_pattern 0xa4 384k 64k
	expect_pattern 0xa5 1047552 3k
	expect_pattern 0xa1 1050624 61k
}

b_v2_chain() {
	local base=$CFG.base.qcow2 cs=4096 size
	size=$(basic_size $cs)
	IMG=$CFG.qcow2
	CHAIN=1
	qimg create -f qcow2 -o cluster_size=$cs,compat=0.10 "$base" "$size" || return 1
	ws_basic "$base" $cs "$size" || return 1
	overlay "$IMG" "$base" qcow2 cluster_size=65536,compat=0.10 || return 1
	qio "$IMG" "write -z 52k 8k" "discard 448k 64k" "write -z 640k 64k" \
		"write -P 0x71 3M 100" || return 1
	expect_pattern 0x00 52k 8k
	expect_pattern 0x00 640k 64k
	expect_pattern 0x71 3M 100
}

read_setup
config "raw-backing" b_raw_backing
config "chain3-mixed" b_chain3
config "overlay-shorter" b_shorter
config "overlay-longer" b_longer
config "extl2-overlay" b_extl2_overlay
config "v2-chain" b_v2_chain
finish
