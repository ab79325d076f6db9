#!/bin/bash
# Queue CPU affinity: by default (-o affinity=others) each queue's thread
# may run only on the CPUs of the other queues (every CPU with one
# queue); with -o affinity=queue only on the CPUs whose requests the
# kernel sends to its own queue, with -o affinity=any on every CPU.  Compared, per queue:
# the thread's Cpus_allowed_list (/proc/PID/task/TID/status), blk-mq's
# map (/sys/block/ublkbN/mq/Q/cpu_list) and what `list --json` reports
# (queue-affinity, and affinity: the mode); with 1 and 2 queues, and
# after a recovery (new threads, the mode recorded).  The guest has 2
# vCPUs (GUEST_SMP).
#     tests/guest/run.sh tests/guest/ublk-affinity.sh
. "$(dirname "$0")/lib-ublk.sh"

# want_cpus MODE MQ: the CPUs a queue thread may use, for blk-mq's MQ.
want_cpus() {
	local all others
	all=$(cpu_set "0-$(($(nproc) - 1))")
	case $1 in
	queue) echo "$2" ;;
	any) echo "$all" ;;
	others)
		others=$(awk -v q=" $2" 'BEGIN { n = split(ARGV[1], a, " ")
			for (i = 1; i <= n; i++)
				if (index(q " ", " " a[i] " ") == 0) printf "%s ", a[i]
			exit }' "$all")
		if [ -z "$others" ]; then echo "$all"; else cpu_set "$others"; fi
		;;
	esac
}

# check_queues CASE ID QUEUES [MODE]: every queue's three views agree,
# the thread placed as MODE (default others) says.
check_queues() {
	local c=$1 id=$2 nq=$3 mode=${4:-others} q pid tid mq listed allowed want seen= got
	pid=$(daemon_pid "$id")
	got=$(list_flat "$id" | sed -n 's/.*"affinity":"\([a-z]*\)".*/\1/p')
	if [ "$got" != "$mode" ]; then
		fail "$c" "list --json says affinity \"$got\", not $mode"
		return 1
	fi
	for ((q = 0; q < nq; q++)); do
		tid=$(queue_field "$id" "$q" tid)
		mq=$(cpu_set "$(cat "/sys/block/ublkb$id/mq/$q/cpu_list" 2>/dev/null)")
		listed=$(cpu_set "$(queue_field "$id" "$q" cpus)")
		if [ -z "$tid" ] || [ ! -f "/proc/$pid/task/$tid/status" ]; then
			fail "$c" "queue $q: no thread $tid in pid $pid (list --json)"
			return 1
		fi
		allowed=$(cpu_set "$(sed -n 's/^Cpus_allowed_list:\s*//p' \
			"/proc/$pid/task/$tid/status")")
		want=$(want_cpus "$mode" "$mq")
		note "queue $q: thread $tid allowed on [$allowed], blk-mq [$mq], list [$listed], $mode: [$want]"
		if [ -z "$mq" ] || [ "$allowed" != "$want" ] || [ "$listed" != "$mq" ]; then
			fail "$c" "queue $q: thread on [$allowed], blk-mq maps [$mq], list says [$listed], $mode wants [$want]"
			return 1
		fi
		seen+=$mq
	done
	# every CPU maps to some queue
	if [ "$(cpu_set "$seen")" != "$(cpu_set "0-$(($(nproc) - 1))")" ]; then
		fail "$c" "the queues cover CPUs [$seen], not all $(nproc)"
		return 1
	fi
}

# affinity_case CASE QUEUES [MODE]: add -q QUEUES [-o affinity=MODE],
# compare, fio, del.
affinity_case() {
	local c=$1 nq=$2 mode=${3:-} opt=()
	[ -n "$mode" ] && opt=(-o "affinity=$mode")
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	ublk_add "$c-add.log" -f "$c.qcow2" -q "$nq" "${opt[@]}" ||
		{ fail "$c" add; return; }
	if check_queues "$c" "$ID" "$nq" "${mode:-others}" &&
		fio_verify "$c-fio.log" "$DEV" --size=16M --numjobs=2 \
			--offset_increment=32M; then
		pass "$c"
	fi
	ublk_del "$ID" || fail "$c" del
}

# After kill -9 and recover, the new daemon's threads are placed again
# as add was told (MODE, default others).
affinity_recover() {
	local c=recover-q2${1:+-$1} mode=${1:-} opt=()
	[ -n "$mode" ] && opt=(-o "affinity=$mode")
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	ublk_add "$c-add.log" -f "$c.qcow2" -q 2 "${opt[@]}" ||
		{ fail "$c" add; return; }
	kill_daemon "$ID" || { fail "$c" "kill -9"; return; }
	recover_dev "$c" "$ID" || return
	check_queues "$c" "$ID" 2 "${mode:-others}" && pass "$c"
	ublk_del "$ID" || fail "$c" del
}

# A mode that is none of them is refused before a device is made.
affinity_bad() {
	local c=bad-mode
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	if "$UBLK_QCOW" add -f "$c.qcow2" -o affinity=nearby >"$c.out" 2>&1; then
		fail "$c" "-o affinity=nearby was accepted"
		"$UBLK_QCOW" del -a >/dev/null 2>&1
	elif ! grep -q "affinity=nearby" "$c.out"; then
		fail "$c" "the error does not name the option: $(head -n 1 "$c.out")"
	elif [ -n "$("$UBLK_QCOW" list 2>/dev/null | sed 1d)" ]; then
		fail "$c" "a device was made"
	else
		pass "$c"
	fi
}

ublk_init
if [ "$(nproc)" -lt 2 ]; then
	skip all "the guest has $(nproc) vCPU; 2 are needed (GUEST_SMP=2)"
	ublk_main_end
fi
affinity_case q1 1
affinity_case q2 2
affinity_case q1-any 1 any
affinity_case q2-any 2 any
affinity_case q1-queue 1 queue
affinity_case q2-queue 2 queue
affinity_recover
affinity_recover queue
affinity_bad
ublk_main_end
