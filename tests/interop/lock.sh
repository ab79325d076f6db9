#!/bin/bash
# Image locking against QEMU's: an image held open by qemu-io, qemu-nbd
# or one of ours is refused, or not, by our tools exactly as by qemu's,
# and the other way round.
#
#   bytes/CONFIG       the bytes a holder locks (/proc/locks), ours equal
#                      to qemu-io's: qcow2, raw, legacy qcow, read-write
#                      and read-only, an overlay and its backing file, an
#                      external data file
#   HOLDER/PROBE       a command run while HOLDER keeps the image open:
#                      ours and qemu's end alike (exit status; refused or
#                      not, naming the same lock, `Failed to get "write"
#                      lock`); with our holder as with qemu-io's; the
#                      files are unchanged afterwards
#   commit/...         qemu-img commit and ours refused while the base is
#                      in use; ours then commits once it is free
#   force-share-rw     -U without -r refused by both
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

QEMU_NBD=${QEMU_NBD:-qemu-nbd}

require_qemu
require_cmd mkfifo sha256sum awk stat
have_cmd "$QEMU_NBD" || QEMU_NBD=
[ -r /proc/locks ] || skip_all "/proc/locks is not readable"
setup_work

# ------------------------------------------------------------ the locks

# locked_bytes FILE: the bytes of FILE under OFD read locks, sorted.
locked_bytes() {
	local dev ino id
	read -r dev ino < <(stat -L -c '%d %i' "$1")
	id=$(printf '%02x:%02x:%s' \
		$(((dev >> 8 & 0xfff) | (dev >> 32 & ~0xfff))) \
		$(((dev & 0xff) | (dev >> 12 & ~0xff))) "$ino")
	awk -v id="$id" '$2 == "OFDLCK" && $4 == "READ" && $6 == id {
		for (b = $7; b <= $8; b++) print b }' /proc/locks |
		sort -n | tr '\n' ' ' | sed 's/ $//'
}

# ------------------------------------------------------------ holders

HOLD_PID=
HOLD_FD=
HOLD_NBD=

# hold FILE CMD...: runs CMD (a qemu-io-like program reading commands
# from stdin) with stdin a fifo we keep open, until FILE shows locks.
hold() {
	local file=$1 i
	shift
	rm -f hold.fifo hold.out
	mkfifo hold.fifo || return 1
	"$@" <hold.fifo >hold.out 2>&1 &
	HOLD_PID=$!
	exec {HOLD_FD}>hold.fifo
	hold_wait "$file"
}

# hold_nbd FILE ARGS...: qemu-nbd serving FILE on a socket.
hold_nbd() {
	local file=$1
	shift
	rm -f nbd.sock hold.out
	"$QEMU_NBD" --socket="$WORK/nbd.sock" "$@" >hold.out 2>&1 &
	HOLD_PID=$!
	HOLD_NBD=1
	hold_wait "$file"
}

# hold_wait FILE: until FILE shows locks, and the same ones three times
# running: qemu changes them while it opens (a raw image read-write shows
# each byte twice for a moment, the new descriptor's locks taken before
# the old one closes).
hold_wait() {
	local i last= cur same=0
	for i in $(seq 200); do
		cur=$(locked_bytes "$1")
		if [ -n "$cur" ] && [ "$cur" = "$last" ]; then
			same=$((same + 1))
			[ "$same" -ge 2 ] && return 0
		else
			same=0
		fi
		last=$cur
		kill -0 "$HOLD_PID" 2>/dev/null || break
		sleep 0.05
	done
	note "the holder did not lock $1:"
	{ cat hold.out; echo; } | diag 5
	release
	return 1
}

release() {
	[ -n "$HOLD_FD" ] && exec {HOLD_FD}>&-
	[ -n "$HOLD_NBD" ] && kill "$HOLD_PID" 2>/dev/null
	[ -n "$HOLD_PID" ] && wait "$HOLD_PID" 2>/dev/null
	HOLD_PID=
	HOLD_FD=
	HOLD_NBD=
	rm -f hold.fifo
}

trap release EXIT

# ------------------------------------------------------------ outcomes

LOCK_RE='Failed to get (shared )?"[a-z ]*" lock'

# outcome RC ERRFILE: ok, busy RC "phrase", or failed RC.
outcome() {
	local rc=$1 phrase
	if [ "$rc" -eq 0 ]; then
		echo ok
		return
	fi
	phrase=$(grep -oE "$LOCK_RE" "$2" | head -n 1)
	if [ -n "$phrase" ]; then
		echo "busy $rc $phrase"
	else
		echo "failed $rc"
	fi
}

# our_message ERRFILE PROG: a refusal is one line "PROG: ...image is busy".
our_message() {
	local n
	n=$(grep -c . "$1")
	if [ "$n" -ne 1 ]; then
		echo "$n lines on stderr instead of one"
		return 1
	fi
	if ! grep -qE "^$2: .*image is busy: .*$LOCK_RE" "$1"; then
		echo "unexpected message: $(head -c 300 "$1")"
		return 1
	fi
}

# ------------------------------------------------------------ probes
# NAME|qemu command|our command; @ is the target image, FMT its -f.

declare -A PROBE=(
	[info]="qemu-img info FMT @|qcow-img info FMT @"
	[info-U]="qemu-img info -U FMT @|qcow-img info -U FMT @"
	[check]="qemu-img check FMT @|qcow-img check FMT @"
	[check-U]="qemu-img check -U FMT @|qcow-img check -U FMT @"
	[check-r]="qemu-img check -r leaks FMT @|qcow-img check -r leaks FMT @"
	[map]="qemu-img map --output=json FMT @|qcow-img map --output=json FMT @"
	[map-U]="qemu-img map -U --output=json FMT @|qcow-img map -U --output=json FMT @"
	[compare]="qemu-img compare FMT @ @|qcow-img compare FMT @ @"
	[compare-U]="qemu-img compare -U FMT @ @|qcow-img compare -U FMT @ @"
	[convert]="qemu-img convert FMT -O raw @ ref.out|qcow-img convert FMT -O raw @ ours.out"
	[convert-U]="qemu-img convert -U FMT -O raw @ ref.out|qcow-img convert -U FMT -O raw @ ours.out"
	[read]="qemu-io -r FMT -c 'read -P 0x5a 0 64k' @|qcow-io -r FMT -c 'read -P 0x5a 0 64k' @"
	[read-U]="qemu-io -r -U FMT -c 'read -P 0x5a 0 64k' @|qcow-io -r -U FMT -c 'read -P 0x5a 0 64k' @"
	[write]="qemu-io FMT -c 'write -P 0x11 0 4k' @|qcow-io FMT -c 'write -P 0x11 0 4k' @"
	[resize]="qemu-img resize FMT @ 128M|qcow-img resize FMT @ 128M"
	[amend]="qemu-img amend FMT -o lazy_refcounts=on @|qcow-img amend FMT -o lazy_refcounts=on @"
	[commit]="qemu-img commit @|qcow-img commit @"
)
READERS=(info info-U check check-U map map-U compare compare-U convert
	convert-U read read-U)
WRITERS=(check-r write resize amend)

# probe CMD TARGET FMTARG OUT: runs one probe command; prints its outcome.
probe() {
	local cmd=$1 target=$2 fmt=$3 out=$4 rc
	cmd=${cmd//@/$target}
	cmd=${cmd//FMT/$fmt}
	cmd=${cmd/#qemu-img/\"\$QEMU_IMG\"}
	cmd=${cmd/#qemu-io/\"\$QEMU_IO\"}
	cmd=${cmd/#qcow-img/\"\$QCOW_IMG\"}
	cmd=${cmd/#qcow-io/\"\$QCOW_IO\"}
	rm -f ref.out ours.out
	eval "timeout -k 5 $CMD_TIMEOUT $cmd" >"$out" 2>"$out.err"
	rc=$?
	outcome "$rc" "$out.err"
}

declare -A SEEN

# probe_all HOLDER KIND TARGET FMTARG PROBES...: every probe with qemu's
# command and ours while the holder keeps the image; KIND names what
# holds it (ours and qemu-io's holders of one kind must be refused alike).
probe_all() {
	local holder=$1 kind=$2 target=$3 fmt=$4 name qcmd ocmd ref ours
	local f why
	shift 4
	for name in "$@"; do
		IFS='|' read -r qcmd ocmd <<<"${PROBE[$name]}"
		f=$(case_file "$holder-$name")
		ref=$(probe "$qcmd" "$target" "$fmt" "$f.ref")
		ours=$(probe "$ocmd" "$target" "$fmt" "$f.ours")
		why=
		if [ "$ours" != "$ref" ]; then
			why="qemu: $ref; ours: $ours ($(head -c 200 "$f.ours.err"))"
		elif [ "${ours%% *}" = busy ]; then
			why=$(our_message "$f.ours.err" "${ocmd%% *}")
		fi
		if [ -z "$why" ] && [ -n "${SEEN[$kind/$name]:-}" ] &&
			[ "${SEEN[$kind/$name]}" != "$ref" ]; then
			why="qemu's tools: '$ref' here, '${SEEN[$kind/$name]}' with the other holder"
		fi
		SEEN[$kind/$name]=$ref
		if [ -n "$why" ]; then
			fail "$holder/$name" "$why"
		else
			pass "$holder/$name"
		fi
	done
}

# files_sum FILE...: one checksum line per file.
files_sum() { sha256sum "$@" 2>&1; }

# session NAME KIND HOLDFILE TARGET FMTARG HOLDER-CMD... -- PROBES...
session() {
	local name=$1 kind=$2 hfile=$3 target=$4 fmt=$5 before after
	local -a cmd=()
	shift 5
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		cmd+=("$1")
		shift
	done
	shift
	before=$(files_sum ./*.qcow* ./*.raw)
	if [ "${cmd[0]}" = qemu-nbd ]; then
		if [ -z "$QEMU_NBD" ]; then
			skip "$name" "qemu-nbd not found"
			return
		fi
		hold_nbd "$hfile" "${cmd[@]:1}"
	else
		hold "$hfile" "${cmd[@]}"
	fi || {
		fail "$name" "the holder did not start"
		return
	}
	probe_all "$name" "$kind" "$target" "$fmt" "$@"
	release
	after=$(files_sum ./*.qcow* ./*.raw)
	if [ "$before" = "$after" ]; then
		pass "$name/unchanged"
	else
		fail "$name/unchanged" "files changed while held: $(diff <(echo "$before") <(echo "$after") | grep '^>' | head -n 3 | tr '\n' ' ')"
	fi
}

# ------------------------------------------------------------ images

mk() { setup_cmd setup.log "$@"; }

mk "$QEMU_IMG" create -f qcow2 a.qcow2 64M &&
	mk "$QEMU_IO" -c 'write -P 0x5a 0 1M' a.qcow2 &&
	mk "$QEMU_IMG" create -f raw r.raw 16M &&
	mk "$QEMU_IO" -f raw -c 'write -P 0x5a 0 1M' r.raw &&
	mk "$QEMU_IMG" create -f qcow2 base.qcow2 64M &&
	mk "$QEMU_IO" -c 'write -P 0x5a 0 1M' base.qcow2 &&
	mk "$QEMU_IMG" create -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 &&
	mk "$QEMU_IO" -c 'write -P 0x33 1M 1M' top.qcow2 &&
	mk "$QEMU_IMG" create -f qcow2 -o data_file=ext.data.raw ext.qcow2 64M &&
	mk "$QEMU_IO" -c 'write -P 0x5a 0 1M' ext.qcow2 &&
	mk "$QEMU_IMG" create -f qcow v1.qcow 64M ||
	skip_all "cannot build the images with qemu-img"

# ------------------------------------------------------------ bytes

# bytes NAME FILES -- ARGS...: qemu-io ARGS and qcow-io ARGS lock the
# same bytes of each of FILES.
bytes() {
	local name=$1 f ref ours prog
	local -a files=()
	shift
	while [ "$1" != -- ]; do
		files+=("$1")
		shift
	done
	shift
	for prog in "$QEMU_IO" "$QCOW_IO"; do
		if ! hold "${files[0]}" "$prog" "$@"; then
			fail "bytes/$name" "$prog $* did not lock ${files[0]}"
			return
		fi
		for f in "${files[@]}"; do
			if [ "$prog" = "$QEMU_IO" ]; then
				ref+="$f: $(locked_bytes "$f"); "
			else
				ours+="$f: $(locked_bytes "$f"); "
			fi
		done
		release
	done
	if [ "$ref" = "$ours" ]; then
		pass "bytes/$name"
		note "$ours"
	else
		fail "bytes/$name" "qemu-io: $ref ours: $ours"
	fi
}

bytes qcow2-rw a.qcow2 -- a.qcow2
bytes qcow2-ro a.qcow2 -- -r a.qcow2
bytes raw-rw r.raw -- -f raw r.raw
bytes raw-ro r.raw -- -f raw -r r.raw
bytes qcow1-ro v1.qcow -- -r v1.qcow
bytes overlay-rw top.qcow2 base.qcow2 -- top.qcow2
bytes overlay-ro top.qcow2 base.qcow2 -- -r top.qcow2
bytes datafile-rw ext.qcow2 ext.data.raw -- ext.qcow2
bytes datafile-ro ext.qcow2 ext.data.raw -- -r ext.qcow2
bytes datafile-ro-U ext.qcow2 ext.data.raw -- -r -U ext.qcow2

# ------------------------------------------------------------ probes

# Read-write and read-only holders refuse writers; a read-write one
# refuses readers too, except with -U; a reader with -U refuses nothing
# (its writers would change the files: readers only).  A raw image is
# shared, except with convert's source.  A backing file and an external
# data file are locked by the overlay's holder.
for h in "qemu-io|$QEMU_IO" "qcow-io|$QCOW_IO"; do
	IFS='|' read -r hn hp <<<"$h"
	session "held-rw-by-$hn" rw a.qcow2 a.qcow2 "" "$hp" a.qcow2 -- \
		"${READERS[@]}" "${WRITERS[@]}"
	session "held-ro-by-$hn" ro a.qcow2 a.qcow2 "" "$hp" -r a.qcow2 -- \
		"${READERS[@]}" "${WRITERS[@]}"
	session "held-ro-U-by-$hn" ro-U a.qcow2 a.qcow2 "" \
		"$hp" -r -U a.qcow2 -- "${READERS[@]}"
	session "raw-held-rw-by-$hn" raw-rw r.raw r.raw "-f raw" \
		"$hp" -f raw r.raw -- "${READERS[@]}"
	session "base-held-by-$hn" backing top.qcow2 base.qcow2 "" \
		"$hp" top.qcow2 -- "${READERS[@]}" "${WRITERS[@]}"
	session "data-file-held-by-$hn" data-file ext.qcow2 ext.data.raw \
		"-f raw" "$hp" ext.qcow2 -- "${READERS[@]}" resize
done
session held-rw-by-qemu-nbd nbd-rw a.qcow2 a.qcow2 "" \
	qemu-nbd -f qcow2 "$WORK/a.qcow2" -- "${READERS[@]}" "${WRITERS[@]}"
session held-ro-by-qemu-nbd nbd-ro a.qcow2 a.qcow2 "" \
	qemu-nbd -r -f qcow2 "$WORK/a.qcow2" -- "${READERS[@]}" "${WRITERS[@]}"
session raw-held-rw-by-qemu-nbd nbd-raw r.raw r.raw "-f raw" \
	qemu-nbd -f raw "$WORK/r.raw" -- "${READERS[@]}" resize

# ------------------------------------------------------------ commit

cp top.qcow2 ctop.qcow2 && cp base.qcow2 cbase.qcow2 &&
	mk "$QEMU_IMG" rebase -u -b cbase.qcow2 -F qcow2 ctop.qcow2 ||
	fail commit/setup "cannot copy the overlay"
for h in "qemu-io|$QEMU_IO" "qcow-io|$QCOW_IO"; do
	IFS='|' read -r hn hp <<<"$h"
	session "commit-base-held-by-$hn" commit cbase.qcow2 ctop.qcow2 "" \
		"$hp" -r cbase.qcow2 -- commit
done
if run_to res/commit.out "$QCOW_IMG" commit ctop.qcow2 &&
	run_to res/commit-check.out "$QEMU_IMG" check cbase.qcow2 &&
	run_to res/commit-read.out "$QEMU_IO" -r \
		-c 'read -P 0x33 1M 1M' -c 'read -P 0x5a 0 1M' cbase.qcow2 &&
	[ -z "$(locked_bytes cbase.qcow2)" ]; then
	pass commit/after-release
else
	fail commit/after-release "$(cat res/commit*.err | head -n 3 | tr '\n' ' ')"
fi

# ------------------------------------------------------------ -U rw

f=$(case_file force-share-rw)
ref=$(probe "qemu-io -U -c 'read 0 512' @" a.qcow2 "" "$f.ref")
ours=$(probe "qcow-io -U -c 'read 0 512' @" a.qcow2 "" "$f.ours")
if [ "$ref" != "$ours" ] || [ "$ours" = ok ]; then
	fail force-share-rw "qemu-io: $ref; ours: $ours"
elif ! why=$(err_kind "$f.ref.err" "$f.ours.err" qcow-io -U a.qcow2); then
	fail force-share-rw "$why"
else
	pass force-share-rw
fi

finish
