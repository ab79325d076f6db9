#!/bin/bash
# Untrusted images, part 3: persistent dirty bitmaps (issue #19, "Bad
# input").  A good image made by qemu-img (v3, 64k clusters, 16M; bitmap
# b0 "auto" with a data cluster, b1 disabled, both made by `qemu-img
# bitmap --add`, data written by qemu-io) gets exactly one rule of the
# spec's "Bitmap directory"/"Bitmap table" broken per case (qpoke.py's
# bme./bm[]/bmt[] targets).  Per case NAME (labels bitmap/NAME/...):
#   info, io-read   read-only `qcow-img info` and `qcow-io -r -c 'read -P 1
#                   0 64k'` succeed (at most one warning line naming the
#                   bitmap or the image); the file is unchanged;
#   io-write        `qcow-io -c 'write 0 4k'` on a copy is refused with one
#                   line naming the image, the bitmap and the field, and
#                   the copy stays byte-identical;
#   check           `qcow-img check` reports a corruption (exit 2; qemu-img's
#                   exit status where qemu-img opens the image and finds
#                   one too) naming the field (and the bitmap);
#   r-all           `qcow-img check -r all` on a copy: a line naming the
#                   broken bitmap, then `qemu-img check` clean and `qemu-img
#                   info --output=json` lists exactly the bitmaps in KEEP,
#                   none in use;
#   remove          `qcow-img bitmap --remove IMG BROKEN` on a copy (when
#                   qcow-img has the verb): then as r-all, except that
#                   leaks are tolerated where the damage hides which
#                   clusters were the bitmap's (all but $INTACT).
# The stale extension (autoclear bit 0 clear) is the exception: it reads
# fine and our read-write open drops it as qemu-io's does (case stale/*).
# Under valgrind (QCOW_VALGRIND=1) the same six programs run per case.
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/bad-lib.bash
. "$(dirname "$0")/bad-lib.bash"

require_qemu
setup_work
SETUP_LOG=$WORK/res/setup.log

# bm.qcow2: header, reftable 0x10000, refblock 0x20000, L1 0x30000, L2
# 0x40000, data 0x50000.., b0's data cluster, b0's table, b1's table, the
# directory (b0 first, 32 bytes an entry) in the last cluster.
build_base() {
	mkdir -p base
	cd base || return 1
	qimg create -f qcow2 -o cluster_size=64k bm.qcow2 16M &&
		qimg bitmap --add bm.qcow2 b0 &&
		qimg bitmap --add --disable bm.qcow2 b1 &&
		qio bm.qcow2 "write -P 1 0 64k" "write -P 2 1M 128k"
	local rc=$?
	cd "$WORK" || exit 1
	return $rc
}

# bm_list JSON: the bitmaps of `qemu-img info --output=json`, as
# "name:flag+flag" words in directory order ("-" when none; "!" when the
# output is not JSON).
bm_list() {
	python3 - "$1" <<'EOF'
import json, sys
try:
    j = json.load(open(sys.argv[1]))
except Exception:
    print("!")
    sys.exit()
bms = j.get("format-specific", {}).get("data", {}).get("bitmaps", [])
print(",".join(b["name"] + ":" + "+".join(b["flags"]) for b in bms) or "-")
EOF
}

if ! build_base; then
	fail "bitmap/setup" "qemu could not build the base image (log: $SETUP_LOG)"
	finish
fi
trun res/base.info "$QEMU_IMG" info --output=json base/bm.qcow2
got=$(bm_list res/base.info)
b0data=$(python3 "$QPOKE" base/bm.qcow2 --get 'bmt(0,0)' 2>&1)
if [ "$got" != "b0:auto,b1:" ] || [ "${b0data:-0}" = 0 ]; then
	fail "bitmap/setup" "qemu-img made bitmaps '$got' (want b0:auto,b1:), b0's table entry $b0data (want a data cluster)"
	finish
fi
pass "bitmap/setup"

# Does qcow-img have the bitmap verb (branch bm-tools)?
HAVE_BITMAP_VERB=1
"$(probe_tool)" bitmap 2>&1 </dev/null | grep -q "unknown command" && HAVE_BITMAP_VERB=

# NAME BROKEN KEEP FIELD ASSIGNMENT...
#   BROKEN  the bitmap the messages must name ("-": none can be named)
#   KEEP    the bitmaps `check -r all` must leave, as bm_list prints them
#           (alternatives split by "|"); "?" when the directory itself is
#           broken: any of b0:auto, b1:
#   FIELD   an extended regexp (no blanks, case-insensitive) the refusal
#           and the check report must match: the field
# The directory is b0 (32 bytes: 24 + "b0" + padding) then b1.
CASES=$(cat <<'EOF'
nb-0              -  ?       nb_bitmaps|number.of.bitmaps       bme.nb_bitmaps=0
nb-65536          -  ?       nb_bitmaps|number.of.bitmaps       bme.nb_bitmaps=65536
nb-1-of-2         -  ?       nb_bitmaps|number.of.bitmaps|director  bme.nb_bitmaps=1
nb-3-of-2         -  ?       nb_bitmaps|number.of.bitmaps|director  bme.nb_bitmaps=3
dir-size-64m      -  -       director                          bme.dir_size=64*1024*1024+8
dir-off-unaligned -  -       director                          bme.dir_offset=E+8
dir-off-eof       -  -       director                          bme.dir_offset=0x10000000
flags-bit3        b0 b1:     flags                             'bm[0].flags|=1<<3'
flags-bit31       b0 b1:     flags                             'bm[0].flags|=1<<31'
type-0            b0 b1:     type                              bm[0].type=0
type-2            b0 b1:     type                              bm[0].type=2
gran-8            b0 b1:     granularity                       bm[0].granularity_bits=8
gran-32           b0 b1:     granularity                       bm[0].granularity_bits=32
name-size-0       -  b1:     name                              'raw@bmdir=bment(0,name=b"")+bment(1)' bme.dir_size=24+32
name-size-1024    b0 b1:     name                              'raw@bmdir=bment(0,name=b"b0"+b"x"*1022)+bment(1)' bme.dir_size=24+1024+32
name-dup          b0 b0:auto name|duplicate|exists             'raw@bmdir+32+24=b"b0"'
padding           b0 b1:     padding|reserved                  u8@bmdir+24+3=1
extra-data        b0 b1:     extra                             'raw@bmdir=bment(0,extra=bytes(8))+bment(1)' bme.dir_size=24+8+8+32
table-off-unalign b0 b1:     table                             bm[0].table_offset+=0x200
table-off-eof     b0 b1:     table                             bm[0].table_offset=0x10000000
table-size-2      b0 b1:     table_size|table.size             bm[0].table_size=2
table-size-0      b0 b1:     table_size|table.size             bm[0].table_size=0
entry-reserved    b0 b1:     reserved|entry                    'bmt[0][0]|=1<<1'
entry-reserved-hi b0 b1:     reserved|entry                    'bmt[0][0]|=1<<56'
entry-bit0-offset b0 b1:     entry|bit.0|all.ones|offset       'bmt[0][0]|=1'
data-off-unalign  b0 b1:     offset|entry|align                bmt[0][0]+=0x200
data-off-eof      b0 b1:     offset|entry|end                  bmt[0][0]=0x10000000
autoclear-no-ext  -  -       autoclear|extension               'raw@bmext-8=bytes(8)'
EOF
)

# The cases whose damage leaves the broken bitmap's table and data
# clusters recognisable: `bitmap --remove` must free them (elsewhere it
# may leave leaks, which `check -r all` repairs).
INTACT="flags-bit3 flags-bit31 type-0 type-2 gran-8 gran-32 name-dup padding extra-data"

# ok_read NAME OUT RC IMG BROKEN: a read-only program that must succeed:
# exit 0, at most one warning line naming the bitmap or the image.
ok_read() {
	local name=$1 out=$2 rc=$3 img=$4 broken=$5 n
	if [ "$rc" -ne 0 ]; then
		fail "$name" "exit status $rc: $(head -n 2 "$out.err" | tr '\n' ' ')"
		return 1
	fi
	n=$(nlines "$out.err")
	if [ "$n" -gt 1 ]; then
		fail "$name" "$n lines on stderr (at most one warning)"
		diag 4 <"$out.err"
		return 1
	fi
	if [ "$n" -eq 1 ] && ! grep -qF -e "$img" -e "'$broken'" "$out.err"; then
		fail "$name" "the warning names neither the image nor the bitmap: $(head -c 200 "$out.err")"
		return 1
	fi
	return 0
}

# keep_ok NAME IMG KEEP WHAT [LEAKS_OK]: after a repair: qemu-img check
# clean (exit 0, no leaks; with LEAKS_OK leaks are only noted) and
# qemu-img info's bitmaps as KEEP.
keep_ok() {
	local name=$1 img=$2 keep=$3 what=$4 leaks_ok=${5:-} f got rc
	f=$(case_file "$name")
	trun "$f.qcheck" "$QEMU_IMG" check "$img"
	rc=$?
	if [ $rc -eq 3 ] && [ -n "$leaks_ok" ]; then
		note "$name: after $what: $(grep -h 'leaked clusters were found' "$f.qcheck")"
	elif [ $rc -ne 0 ]; then
		fail "$name" "after $what, qemu-img check is not clean: $(grep -hv '^$' "$f.qcheck" "$f.qcheck.err" | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	trun "$f.qinfo" "$QEMU_IMG" info --output=json "$img"
	got=$(bm_list "$f.qinfo")
	if [ "$keep" = "?" ]; then
		case ,$got, in
		,-, | ,b0:auto, | ,b1:, | ,b0:auto,b1:,) ;;
		*)
			fail "$name" "after $what, qemu-img info lists bitmaps '$got' (want a part of b0:auto,b1:): $(head -n 1 "$f.qinfo.err")"
			return 1 ;;
		esac
	elif [[ "|$keep|" != *"|$got|"* ]]; then
		fail "$name" "after $what, qemu-img info lists bitmaps '$got', want '$keep': $(head -n 1 "$f.qinfo.err")"
		return 1
	fi
	if grep -q "lacking bitmap support" "$f.qinfo.err"; then
		fail "$name" "after $what, qemu-img warns: $(head -n 1 "$f.qinfo.err")"
		return 1
	fi
	return 0
}

# bad_case NAME BROKEN KEEP FIELD: the six programs on c/NAME/NAME.qcow2.
bad_case() {
	local name=$1 broken=$2 keep=$3 field=$4 p=bitmap/$1 dir=c/$1 img=$1.qcow2
	local f st rc rrc nm
	f=$(case_file "$p")
	st=$(sums "$dir/$img")
	nm=$broken
	[ "$nm" = - ] && nm=$img

	(cd "$dir" && trun "$f.info" "$QCOW_IMG" info "$img")
	rc=$?
	if ! broke "$p/info" "$f.info" $rc && ok_read "$p/info" "$f.info" $rc "$img" "$nm"; then
		if [ "$(sums "$dir/$img")" != "$st" ]; then
			fail "$p/info" "read-only info modified the image"
		else
			pass "$p/info"
		fi
	fi

	(cd "$dir" && trun "$f.read" "$QCOW_IO" -r -c "read -P 1 0 64k" "$img")
	rc=$?
	if ! broke "$p/io-read" "$f.read" $rc && ok_read "$p/io-read" "$f.read" $rc "$img" "$nm"; then
		if ! grep -q '^read 65536/65536 bytes at offset 0' "$f.read" ||
		   grep -q 'Pattern verification failed' "$f.read"; then
			fail "$p/io-read" "read -P 1 0 64k: no verified read line: $(head -n 2 "$f.read" | tr '\n' ' ')"
		elif [ "$(sums "$dir/$img")" != "$st" ]; then
			fail "$p/io-read" "a read-only qcow-io modified the image"
		else
			pass "$p/io-read"
		fi
	fi

	rm -rf w && mkdir w && cp "$dir/$img" w/
	(cd w && trun "$f.write" "$QCOW_IO" -c "write 0 4k" "$img")
	rc=$?
	if ! broke "$p/io-write" "$f.write" $rc; then
		if [ $rc -eq 0 ]; then
			fail "$p/io-write" "the write went through (exit 0) on an image with broken bitmap metadata"
		elif ! cmp -s "$dir/$img" "w/$img"; then
			fail "$p/io-write" "refused (exit $rc), but the image changed: $(cmp "$dir/$img" "w/$img" 2>&1 | head -n 1)"
		elif one_line_err "$p/io-write" "$f.write" "$img"; then
			if [ "$broken" != - ] && ! grep -qF "'$broken" "$f.write.err"; then
				fail "$p/io-write" "the refusal does not name bitmap '$broken': $(head -c 300 "$f.write.err")"
			elif ! grep -qiE "$field" "$f.write.err"; then
				fail "$p/io-write" "the refusal does not name the field ($field): $(head -c 300 "$f.write.err")"
			else
				pass "$p/io-write"
			fi
		fi
	fi

	trun "$f.qcheck" "$QEMU_IMG" check "$dir/$img"
	rrc=$?
	(cd "$dir" && trun "$f.check" "$QCOW_IMG" check "$img")
	rc=$?
	if ! broke "$p/check" "$f.check" $rc; then
		local want=2
		# qemu-img opens it and finds a corruption too: its status
		[ $rrc -ne 1 ] && [ $rrc -ne 0 ] && [ $rrc -ne 3 ] && want=$rrc
		if [ $rc -ne $want ]; then
			fail "$p/check" "exit status $rc, want $want (a corruption; qemu-img check exits $rrc)"
			cat "$f.check" "$f.check.err" | grep -v '^$' | diag 6
		elif ! cat "$f.check" "$f.check.err" | grep -qiE "$field"; then
			fail "$p/check" "the report does not name the field ($field)"
			cat "$f.check" "$f.check.err" | grep -v '^$' | diag 6
		elif [ "$broken" != - ] && ! grep -qF "$broken" "$f.check" "$f.check.err"; then
			fail "$p/check" "the report does not name bitmap '$broken'"
			cat "$f.check" "$f.check.err" | grep -v '^$' | diag 6
		elif [ "$(sums "$dir/$img")" != "$st" ]; then
			fail "$p/check" "check without -r modified the image"
		else
			pass "$p/check"
			[ $rrc -ne "$want" ] && note "$p/check: qemu-img check exits $rrc: $(grep -hv '^$' "$f.qcheck" "$f.qcheck.err" | head -n 1)"
		fi
	fi

	rm -rf w && mkdir w && cp "$dir/$img" w/
	(cd w && trun "$f.repair" "$QCOW_IMG" check -r all "$img")
	rc=$?
	if ! broke "$p/r-all" "$f.repair" $rc; then
		if [ $rc -ne 0 ]; then
			fail "$p/r-all" "check -r all exits $rc (want 0: repaired)"
			cat "$f.repair" "$f.repair.err" | grep -v '^$' | diag 6
		elif [ "$broken" != - ] && ! grep -qF "$broken" "$f.repair" "$f.repair.err"; then
			fail "$p/r-all" "no line names the removed bitmap '$broken'"
			cat "$f.repair" "$f.repair.err" | grep -v '^$' | diag 6
		elif keep_ok "$p/r-all" "w/$img" "$keep" "check -r all"; then
			pass "$p/r-all"
		fi
	fi

	if [ "$broken" = - ] || [ "$name" = name-size-1024 ]; then
		return 0   # nothing -remove can name (name-size-1024: too long)
	fi
	if [ -z "$HAVE_BITMAP_VERB" ]; then
		skip "$p/remove" "qcow-img has no bitmap verb yet"
		return 0
	fi
	rm -rf w && mkdir w && cp "$dir/$img" w/
	# (name-dup: either of the two may go, by name)
	[ "$name" = name-dup ] && keep="b0:auto|b0:"
	(cd w && trun "$f.remove" "$QCOW_IMG" bitmap --remove "$img" "$broken")
	rc=$?
	if ! broke "$p/remove" "$f.remove" $rc; then
		if [ $rc -ne 0 ]; then
			fail "$p/remove" "bitmap --remove $broken exits $rc: $(head -n 2 "$f.remove.err" | tr '\n' ' ')"
		elif keep_ok "$p/remove" "w/$img" "$keep" "bitmap --remove $broken" \
			"$([[ " $INTACT " == *" $name "* ]] || echo leaks-ok)"; then
			pass "$p/remove"
		fi
	fi
}

# stale_case: autoclear bit 0 clear, the extension still there: reads
# fine; a read-write open drops it as qemu-io's does.
stale_case() {
	local p=bitmap/stale dir=c/stale img=stale.qcow2 f st rc ql ol qc oc
	f=$(case_file "$p")
	st=$(sums "$dir/$img")
	(cd "$dir" && trun "$f.info" "$QCOW_IMG" info "$img")
	rc=$?
	if ! broke "$p/info" "$f.info" $rc && ok_read "$p/info" "$f.info" $rc "$img" "$img"; then
		pass "$p/info"
	fi
	(cd "$dir" && trun "$f.read" "$QCOW_IO" -r -c "read -P 1 0 64k" "$img")
	rc=$?
	if ! broke "$p/io-read" "$f.read" $rc && ok_read "$p/io-read" "$f.read" $rc "$img" "$img"; then
		if ! grep -q '^read 65536/65536 bytes at offset 0' "$f.read"; then
			fail "$p/io-read" "read -P 1 0 64k: no verified read line"
		elif [ "$(sums "$dir/$img")" != "$st" ]; then
			fail "$p/io-read" "a read-only qcow-io modified the image"
		else
			pass "$p/io-read"
		fi
	fi
	rm -rf w ref && mkdir w ref && cp "$dir/$img" w/ && cp "$dir/$img" ref/
	(cd ref && trun "$f.qwrite" "$QEMU_IO" -c "write 0 4k" "$img")
	(cd w && trun "$f.write" "$QCOW_IO" -c "write 0 4k" "$img")
	rc=$?
	if ! broke "$p/io-write" "$f.write" $rc; then
		trun "$f.qinfo" "$QEMU_IMG" info --output=json ref/$img
		trun "$f.oinfo" "$QEMU_IMG" info --output=json w/$img
		trun "$f.qcheck" "$QEMU_IMG" check --output=json ref/$img
		trun "$f.ocheck" "$QEMU_IMG" check --output=json w/$img
		ql=$(jget "$f.qcheck" leaks) ol=$(jget "$f.ocheck" leaks)
		qc=$(jget "$f.qcheck" corruptions) oc=$(jget "$f.ocheck" corruptions)
		# (qemu-img leaves out zero counts)
		[ -s "$f.ocheck" ] && oc=${oc:-0}
		if [ $rc -ne 0 ] || ! grep -q '^wrote 4096/4096 bytes at offset 0' "$f.write"; then
			fail "$p/io-write" "write 0 4k exits $rc (qemu-io writes): $(head -n 1 "$f.write.err")"
		elif [ "$(bm_list "$f.oinfo")" != "$(bm_list "$f.qinfo")" ]; then
			fail "$p/io-write" "afterwards qemu-img info lists bitmaps '$(bm_list "$f.oinfo")', after qemu-io's write '$(bm_list "$f.qinfo")'"
		elif grep -q "lacking bitmap support" "$f.oinfo.err"; then
			fail "$p/io-write" "afterwards qemu-img still warns: $(head -n 1 "$f.oinfo.err")"
		elif [ -z "$oc" ] || [ "$oc" -ne 0 ] || [ "${ol:-0}" -gt "${ql:-0}" ]; then
			fail "$p/io-write" "afterwards qemu-img check: corruptions ${oc:-?}, leaks ${ol:-?} (after qemu-io's write: ${qc:-?}, ${ql:-?})"
		else
			pass "$p/io-write"
			note "$p/io-write: leaks ${ol:-0}, after qemu-io's write ${ql:-0}"
		fi
	fi
	# check: what qemu-img says (the extension is ignored: its clusters leak)
	trun "$f.qc" "$QEMU_IMG" check --output=json "$dir/$img"
	qc=$?
	(cd "$dir" && trun "$f.check" "$QCOW_IMG" check --output=json "$img")
	rc=$?
	if ! broke "$p/check" "$f.check" $rc; then
		if [ $rc -ne $qc ]; then
			fail "$p/check" "exit status $rc, qemu-img's $qc"
		elif [ "$(jget "$f.check" leaks)" != "$(jget "$f.qc" leaks)" ] ||
		     [ "$(jget "$f.check" corruptions)" != "$(jget "$f.qc" corruptions)" ]; then
			fail "$p/check" "leaks $(jget "$f.check" leaks), corruptions $(jget "$f.check" corruptions); qemu-img's $(jget "$f.qc" leaks), $(jget "$f.qc" corruptions)"
		elif [ "$(sums "$dir/$img")" != "$st" ]; then
			fail "$p/check" "check without -r modified the image"
		else
			pass "$p/check"
		fi
	fi
	rm -rf w && mkdir w && cp "$dir/$img" w/
	(cd w && trun "$f.repair" "$QCOW_IMG" check -r all "$img")
	rc=$?
	if ! broke "$p/r-all" "$f.repair" $rc; then
		if [ $rc -ne 0 ]; then
			fail "$p/r-all" "check -r all exits $rc (qemu-img's repair ends clean)"
		elif keep_ok "$p/r-all" "w/$img" - "check -r all"; then
			pass "$p/r-all"
		fi
	fi
}

# Build every damaged copy with one python run.
{
	while read -r name broken keep field assigns; do
		[ -n "$name" ] || continue
		mkdir -p "c/$name"
		cp base/bm.qcow2 "c/$name/$name.qcow2"
		printf 'c/%s/%s.qcow2 %s\n' "$name" "$name" "$assigns"
	done <<<"$CASES"
	mkdir -p c/stale
	cp base/bm.qcow2 c/stale/stale.qcow2
	echo "c/stale/stale.qcow2 'h.autoclear_features&=~1'"
} | poke_batch 2>res/poke.err

# bm_worker W JOBS: the cases i with i % JOBS == W (and stale in worker 0).
bm_worker() {
	local w=$1 jobs=$2 i=0 name broken keep field assigns nfail
	mkdir -p "wk$w" && cd "wk$w" || return 1
	ln -s ../c c
	ln -s ../res res
	[ "$w" -eq 0 ] && stale_case
	while read -r name broken keep field assigns; do
		[ -n "$name" ] || continue
		i=$((i + 1))
		[ $((i % jobs)) -eq "$w" ] || continue
		poke_failed "bitmap/$name" "c/$name/" "$WORK/res/poke.err" && continue
		nfail=$N_FAIL
		bad_case "$name" "$broken" "$keep" "$field"
		[ "$N_FAIL" -eq "$nfail" ] && [ "${KEEP_TMP:-0}" != 1 ] && rm -rf "../c/$name"
	done <<<"$CASES"
}

vg_sample bitmap "$CASES"
CASES=$VG_TABLE
jobs=${BAD_JOBS:-2}
for ((w = 0; w < jobs; w++)); do
	(
		# shellcheck disable=SC2030  # the worker's own counts
		N_PASS=0 N_FAIL=0 N_SKIP=0
		bm_worker "$w" "$jobs"
	) >"res/worker$w.log" 2>&1 &
done
wait
# shellcheck disable=SC2031  # added up from the workers' logs
for ((w = 0; w < jobs; w++)); do
	log=res/worker$w.log
	cat "$log"
	N_PASS=$((N_PASS + $(grep -ac '^PASS: ' "$log")))
	N_FAIL=$((N_FAIL + $(grep -ac '^FAIL: ' "$log")))
	N_SKIP=$((N_SKIP + $(grep -ac '^SKIP: ' "$log")))
done
finish
