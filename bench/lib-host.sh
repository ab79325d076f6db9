# Sourced by the bench/ublk*.sh wrappers, on the host, from the top of the
# tree.

# guest_bench GUEST_SCRIPT TIMEOUT PATTERN ARGS...: boots the test guest
# on GUEST_SCRIPT ARGS (GUEST_TIMEOUT, default TIMEOUT seconds) after a
# line naming the host and one naming the command ($0 and ARGS), and
# prints the lines of its output that match PATTERN (grep's); the
# guest's exit status.
guest_bench() {
	local script=$1 timeout=$2 pattern=$3

	shift 3
	[ -x bin/ublk-qcow ] || { echo "$0: run make first" >&2; return 1; }
	echo "# host: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)"
	echo "# command: ${GUEST_KERNEL:+GUEST_KERNEL=$GUEST_KERNEL }$0$(printf " %q" "$@")"
	GUEST_TIMEOUT=${GUEST_TIMEOUT:-$timeout} tests/guest/run.sh "$script" "$@" 2>&1 |
		{ grep "$pattern" || true; }
	return "${PIPESTATUS[0]}"
}
