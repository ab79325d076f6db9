#!/bin/bash
# Untrusted images, part 2c: backing chains.  Loops (a->a, a->./a,
# a->/abs/a, a->symlink->a, a->b->a, a->b->c->b, qcow v1 a->a), a chain
# deeper than 256 (and one of 200 that must work), missing backing files,
# backing names with control characters, unknown or wrong backing formats,
# a backing file that is a directory or a broken image.  The top image
# opens on its own (`info`), every program that needs the chain must end
# with a one-line error naming the image (class badchain of `robust` in
# bad-lib.bash).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/bad-lib.bash
. "$(dirname "$0")/bad-lib.bash"

require_qemu
setup_work
SETUP_LOG=$WORK/res/setup.log

# proto.qcow2: 512-byte clusters (small files), 1M, backing file name
# "PLACEHOLDER.qcow2" with format qcow2, pattern 1 at 0+64k.
# plain.qcow2, q1.qcow: images without a backing file.
build_bases() {
	mkdir -p base
	cd base || return 1
	qimg create -f qcow2 -o cluster_size=512 plain.qcow2 1M &&
		qio plain.qcow2 "write -P 1 0 64k" &&
		qimg create -f qcow2 -o cluster_size=512 -u -b PLACEHOLDER.qcow2 \
			-F qcow2 proto.qcow2 1M &&
		qimg create -f qcow q1.qcow 1M
	local rc=$?
	cd "$WORK" || exit 1
	return $rc
}

if ! build_bases; then
	fail "chain/setup" "qemu could not build the base images (log: $SETUP_LOG)"
	finish
fi

# link FILE NAME: a qpoke.py line giving FILE the backing file name NAME
# (a Python bytes literal), written at offset 0x100 of the header cluster
# (512 bytes, free from 0xa0).
link() {
	local off=0x100 f=h
	case $1 in *.qcow) off=0x100 f=q1 ;; esac
	printf "%s 'raw@%s=%s' '%s.backing_file_offset=%s' '%s.backing_file_size=len(%s)'\n" \
		"$1" "$off" "$2" "$f" "$off" "$f" "$2"
}

# fmt FILE FORMAT: the backing format extension of proto.qcow2 (it is the
# first extension, at 112) says FORMAT instead of "qcow2".
fmt() {
	printf "%s 'raw@120=%s+bytes(-len(%s)%%8)' 'u32@116=len(%s)'\n" "$1" "$2" "$2" "$2"
}

# new DIR FILE [BASE]: a copy of base/BASE (default proto.qcow2).
new() {
	mkdir -p "c/$1"
	cp "base/${3:-proto.qcow2}" "c/$1/$2"
}

CASES=()
# case NAME CLASS TOP: robust on c/NAME/TOP later
add_case() { CASES+=("$1 $2 $3"); }

make_cases() {
	new loop-self a.qcow2
	link c/loop-self/a.qcow2 'b"a.qcow2"'
	add_case loop-self badchain a.qcow2

	new loop-self-dot a.qcow2
	link c/loop-self-dot/a.qcow2 'b"./a.qcow2"'
	add_case loop-self-dot badchain a.qcow2

	new loop-self-abs a.qcow2
	link c/loop-self-abs/a.qcow2 "b\"$WORK/c/loop-self-abs/a.qcow2\""
	add_case loop-self-abs badchain a.qcow2

	new loop-symlink a.qcow2
	ln -s a.qcow2 c/loop-symlink/l.qcow2
	link c/loop-symlink/a.qcow2 'b"l.qcow2"'
	add_case loop-symlink badchain a.qcow2

	new loop-two a.qcow2
	new loop-two b.qcow2
	link c/loop-two/a.qcow2 'b"b.qcow2"'
	link c/loop-two/b.qcow2 'b"a.qcow2"'
	add_case loop-two badchain a.qcow2

	new loop-three a.qcow2
	new loop-three b.qcow2
	new loop-three c.qcow2
	link c/loop-three/a.qcow2 'b"b.qcow2"'
	link c/loop-three/b.qcow2 'b"c.qcow2"'
	link c/loop-three/c.qcow2 'b"b.qcow2"'
	add_case loop-three badchain a.qcow2

	new loop-q1 a.qcow q1.qcow
	link c/loop-q1/a.qcow 'b"a.qcow"'
	add_case loop-q1 badchain a.qcow

	# l000 (no backing, pattern 1 at 0) <- l001 <- ... <- l300
	local i
	mkdir -p c/deep-300
	cp base/plain.qcow2 c/deep-300/l000.qcow2
	for i in $(seq 1 300); do
		cp base/proto.qcow2 "c/deep-300/$(printf 'l%03d' "$i").qcow2"
		link "c/deep-300/$(printf 'l%03d' "$i").qcow2" "b\"$(printf 'l%03d' $((i - 1))).qcow2\""
	done
	add_case deep-300 badchain l300.qcow2
	mkdir -p c/deep-200
	cp base/plain.qcow2 c/deep-200/l000.qcow2
	for i in $(seq 1 200); do
		cp base/proto.qcow2 "c/deep-200/$(printf 'l%03d' "$i").qcow2"
		link "c/deep-200/$(printf 'l%03d' "$i").qcow2" "b\"$(printf 'l%03d' $((i - 1))).qcow2\""
	done
	add_case deep-200 open l200.qcow2

	new missing a.qcow2
	link c/missing/a.qcow2 'b"not-there.qcow2"'
	add_case missing badchain a.qcow2

	new name-newline a.qcow2
	link c/name-newline/a.qcow2 'b"x\ny.qcow2"'
	add_case name-newline badchain a.qcow2

	new name-escape a.qcow2
	link c/name-escape/a.qcow2 'b"\x1b]0;title\x07\x1b[2J\x1b[31mred.qcow2"'
	add_case name-escape badchain a.qcow2

	new name-high-bytes a.qcow2
	link c/name-high-bytes/a.qcow2 'b"\xff\xfe\x80\x9b[2J.qcow2"'
	add_case name-high-bytes badchain a.qcow2

	new name-dir a.qcow2
	link c/name-dir/a.qcow2 'b"."'
	add_case name-dir badchain a.qcow2

	new name-dev a.qcow2
	link c/name-dev/a.qcow2 'b"/dev/null"'
	add_case name-dev badchain a.qcow2

	new fmt-unknown a.qcow2
	new fmt-unknown b.qcow2 plain.qcow2
	link c/fmt-unknown/a.qcow2 'b"b.qcow2"'
	fmt c/fmt-unknown/a.qcow2 'b"vmdk"'
	add_case fmt-unknown badchain a.qcow2

	new fmt-garbage a.qcow2
	new fmt-garbage b.qcow2 plain.qcow2
	link c/fmt-garbage/a.qcow2 'b"b.qcow2"'
	fmt c/fmt-garbage/a.qcow2 'b"\xff\n\x1b[2J"'
	add_case fmt-garbage badchain a.qcow2

	new fmt-mismatch a.qcow2
	head -c 65536 /dev/zero >c/fmt-mismatch/b.raw
	link c/fmt-mismatch/a.qcow2 'b"b.raw"'
	add_case fmt-mismatch badchain a.qcow2

	new to-broken a.qcow2
	new to-broken b.qcow2 plain.qcow2
	link c/to-broken/a.qcow2 'b"b.qcow2"'
	echo "c/to-broken/b.qcow2 h.l1_table_offset=0x12345678"
	add_case to-broken badchain a.qcow2

	new to-encrypted a.qcow2
	new to-encrypted b.qcow2 plain.qcow2
	link c/to-encrypted/a.qcow2 'b"b.qcow2"'
	echo "c/to-encrypted/b.qcow2 h.crypt_method=1"
	add_case to-encrypted badchain a.qcow2
}

make_cases >"$WORK/res/links" || exit 1
poke_batch <"$WORK/res/links" 2>"$WORK/res/poke.err"

vg_sample chain "$(printf '%s\n' "${CASES[@]}")"
while read -r name class top; do
	[ -n "$name" ] || continue
	poke_failed "chain/$name" "c/$name/" "$WORK/res/poke.err" && continue
	nfail=$N_FAIL
	robust "chain/$name" "$class" "c/$name" "$top"
	if [ "$name" = deep-200 ]; then
		io_expect "chain/deep-200/read-good-0" c/deep-200 l200.qcow2 good 0x01 0 64k
	fi
	[ "$N_FAIL" -eq "$nfail" ] && [ "${KEEP_TMP:-0}" != 1 ] && rm -rf "c/$name"
done <<<"$VG_TABLE"
finish
