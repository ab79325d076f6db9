#!/bin/bash
# Read-path interop: extended L2 entries (32 subclusters per cluster) for
# cluster sizes 16k..2M, with subcluster-sized data, zero and discard
# requests besides the common workload.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/read-workloads.bash
. "$(dirname "$0")/read-workloads.bash"

# b_extl2 CS
b_extl2() {
	b_plain "$1" 1.1 extended_l2=on && ws_subcluster "$IMG" "$1"
}

read_setup
for cs in 16k 32k 64k 512k 2M; do
	config "c$cs-v3-extl2" b_extl2 "$(to_bytes $cs)"
done
finish
