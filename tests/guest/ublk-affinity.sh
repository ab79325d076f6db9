#!/bin/bash
# Queue CPU affinity: each queue's thread may run only on the CPUs whose
# requests the kernel sends to that queue.  Compared, per queue: the
# thread's Cpus_allowed_list (/proc/PID/task/TID/status), blk-mq's map
# (/sys/block/ublkbN/mq/Q/cpu_list) and what `list --json` reports; with
# 1 and 2 queues, and after a recovery (new threads).  The guest has 2
# vCPUs (GUEST_SMP).
#     tests/guest/run.sh tests/guest/ublk-affinity.sh
. "$(dirname "$0")/lib-ublk.sh"

# check_queues CASE ID QUEUES: every queue's three views agree.
check_queues() {
	local c=$1 id=$2 nq=$3 q pid tid mq listed allowed seen=
	pid=$(daemon_pid "$id")
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
		note "queue $q: thread $tid allowed on [$allowed], blk-mq [$mq], list [$listed]"
		if [ -z "$mq" ] || [ "$allowed" != "$mq" ] || [ "$listed" != "$mq" ]; then
			fail "$c" "queue $q: thread on [$allowed], blk-mq maps [$mq], list says [$listed]"
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

# affinity_case CASE QUEUES: add -q QUEUES, compare, fio, del.
affinity_case() {
	local c=$1 nq=$2
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	ublk_add "$c-add.log" -f "$c.qcow2" -q "$nq" || { fail "$c" add; return; }
	if check_queues "$c" "$ID" "$nq" &&
		fio_verify "$c-fio.log" "$DEV" --size=16M --numjobs=2 \
			--offset_increment=32M; then
		pass "$c"
	fi
	ublk_del "$ID" || fail "$c" del
}

# After kill -9 and recover, the new daemon's threads are pinned again.
affinity_recover() {
	local c=recover-q2
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	ublk_add "$c-add.log" -f "$c.qcow2" -q 2 || { fail "$c" add; return; }
	kill_daemon "$ID" || { fail "$c" "kill -9"; return; }
	recover_dev "$c" "$ID" || return
	check_queues "$c" "$ID" 2 && pass "$c"
	ublk_del "$ID" || fail "$c" del
}

ublk_init
if [ "$(nproc)" -lt 2 ]; then
	skip all "the guest has $(nproc) vCPU; 2 are needed (GUEST_SMP=2)"
	ublk_main_end
fi
affinity_case q1 1
affinity_case q2 2
affinity_recover
ublk_main_end
