#!/bin/bash
# Read-path interop: an external data file (-o data_file=...), with and
# without data_file_raw=on.  Guest data lives in the data file; the qcow2
# file holds only metadata.  Compressed writes are impossible there.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/read-workloads.bash
. "$(dirname "$0")/read-workloads.bash"

# b_datafile CS EXTRA_OPTS
b_datafile() {
	local cs=$1 extra=$2 size
	size=$(basic_size "$cs")
	IMG=$CFG.qcow2
	qimg create -f qcow2 \
		-o "cluster_size=$cs,data_file=$CFG.data${extra:+,$extra}" \
		"$IMG" "$size" || return 1
	ws_basic "$IMG" "$cs" "$size" nocomp || return 1
	case $extra in
	*extended_l2=on*) ws_subcluster_nocomp "$IMG" "$cs" ;;
	esac
}

# ws_subcluster without the compressed write it contains.
ws_subcluster_nocomp() {
	local cs=$2 sc=$(($2 / 32)) b=$((14 * $2))
	qio "$1" "write -P 0x61 $((b + 3 * sc)) $sc" \
		"write -z $((b + 5 * sc)) $((2 * sc))" \
		"discard $((b + cs + 10 * sc)) $((2 * sc))" || return 1
	expect_pattern 0x61 $((b + 3 * sc)) $sc
}

read_setup
config "c64k-v3-datafile" b_datafile 65536 ""
config "c4k-v3-datafile" b_datafile 4096 ""
config "c64k-v3-datafile-raw" b_datafile 65536 "data_file_raw=on"
config "c512-v3-datafile-raw" b_datafile 512 "data_file_raw=on"
config "c64k-v3-datafile-extl2" b_datafile 65536 "extended_l2=on"
finish
