#!/bin/bash
# The block layer's I/O scheduler in front of a device (-o scheduler=):
# none by default, with one queue as with two, where the kernel itself
# gives a one-queue device mq-deadline (seen with -o scheduler=keep);
# a named one is set; a name the kernel refuses fails the add and leaves
# no device; a malformed one is refused before a device is made; a
# recovered device keeps none.  Read from /sys/block/ublkbN/queue/scheduler.
#     tests/guest/run.sh tests/guest/ublk-scheduler.sh
. "$(dirname "$0")/lib-ublk.sh"

# sched ID: the scheduler in use on /dev/ublkbID ("" if unreadable).
sched() {
	sed -n 's/.*\[\([^]]*\)\].*/\1/p' "/sys/block/ublkb$1/queue/scheduler" 2>/dev/null
}

nr_devs() {
	ls /sys/class/ublk-char 2>/dev/null | grep -c '^ublkc'
}

# expect CASE QUEUES WANT [ADD ARGS...]: add, the scheduler is WANT,
# fio verifies, del.
expect() {
	local c=$1 nq=$2 want=$3 got
	shift 3
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	ublk_add "$c-add.log" -f "$c.qcow2" -q "$nq" "$@" || { fail "$c" add; return; }
	got=$(sched "$ID")
	note "$c: $(cat "/sys/block/ublkb$ID/queue/scheduler")"
	if [ "$got" != "$want" ]; then
		fail "$c" "scheduler [$got], want [$want]"
	elif ! fio_verify "$c-fio.log" "$DEV" --size=16M; then
		fail "$c" "fio verify"
		diag 10 <"$c-fio.log"
	else
		pass "$c"
	fi
	ublk_del "$ID" || fail "$c" del
}

# refused CASE ARGS...: add fails, names the option, leaves no device.
refused() {
	local c=$1 before
	shift
	before=$(nr_devs)
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	if "$UBLK_QCOW" add -f "$c.qcow2" "$@" >"$c.log" 2>&1; then
		fail "$c" "add $* succeeded"
		"$UBLK_QCOW" del -a >/dev/null 2>&1
	elif ! grep -q 'scheduler=' "$c.log"; then
		fail "$c" "the error does not name the option:"
		diag 5 <"$c.log"
	elif [ "$(nr_devs)" != "$before" ]; then
		fail "$c" "devices $before -> $(nr_devs)"
	else
		note "$c: $(head -n 1 "$c.log")"
		pass "$c"
	fi
}

# The kernel's own choice for one queue, seen through keep: the default
# must differ from it for the default case to show anything.
kernel_choice() {
	local c=keep-q1
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	ublk_add "$c-add.log" -f "$c.qcow2" -q 1 -o scheduler=keep ||
		{ fail "$c" add; return; }
	KERNEL_SCHED=$(sched "$ID")
	OFFERED=$(cat "/sys/block/ublkb$ID/queue/scheduler")
	note "$c: $OFFERED"
	if [ -z "$KERNEL_SCHED" ]; then
		fail "$c" "no scheduler in use shown"
	else
		pass "$c"
	fi
	ublk_del "$ID" || fail "$c" del
}

recovered() {
	local c=recover-q1
	qemu-img create -q -f qcow2 "$c.qcow2" 64M
	ublk_add "$c-add.log" -f "$c.qcow2" -q 1 || { fail "$c" add; return; }
	kill_daemon "$ID" || { fail "$c" "kill -9"; return; }
	recover_dev "$c" "$ID" || return
	if [ "$(sched "$ID")" != none ]; then
		fail "$c" "after recover: [$(sched "$ID")]"
	else
		pass "$c"
	fi
	ublk_del "$ID" || fail "$c" del
}

ublk_init
KERNEL_SCHED= OFFERED=
kernel_choice
if [ "$KERNEL_SCHED" = none ]; then
	skip default-q1 "the kernel itself gives a one-queue device none"
else
	expect default-q1 1 none
fi
expect default-q2 2 none
case " $OFFERED " in
*" mq-deadline "* | *"[mq-deadline]"*) expect named-q2 2 mq-deadline -o scheduler=mq-deadline ;;
*) skip named-q2 "the kernel offers no mq-deadline: $OFFERED" ;;
esac
refused unknown -o scheduler=nosuch-sched
refused malformed -o scheduler=a/b
recovered
ublk_main_end
