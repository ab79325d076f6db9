# Helpers shared by the write-path interop scripts (write-*.sh).  Sourced
# after tests/lib.sh.  The pattern: two copies of one image, "ours" and
# "ref"; the same operation is done by the tool under test on ours and by
# qemu on ref; then qemu-img must call the two identical and find ours
# clean.  Every helper reports one case and returns non-zero on FAIL.

# write_setup: scratch dir, the oracle, the -s source files.
write_setup() {
	setup_work
	require_qemu
	mkdata rnd.bin 4093 1 || exit 1                 # repeats: compressible
	mkdata big.bin 200003 2 || exit 1               # incompressible
	SETUP_LOG=$WORK/res/setup.log
	: >"$SETUP_LOG"
}

# QEMU_IO_WORDING: a sed program that turns the messages qemu-io prints on
# stdout about refused commands into ours (tools/io/ words them itself;
# "write failed: REASON" and the like are qemu-io's own).
# shellcheck disable=SC2034 # used by the scripts that source this file
QEMU_IO_WORDING='
s/^-([un]) requires -z to be specified$/write: -\1 only works together with -z/
s/^([0-9]+) is not a sector-aligned value for .(offset|count).$/\2 \1 is not a multiple of 512/
s/^-b and -z cannot be specified at the same time$/write: -b and -z exclude each other/
s/^-f and -b or -c cannot be specified at the same time$/write: -f does not go with -b or -c/
s/^Only one of -z, -P, and -s can be specified at the same time$/write: -z, -P and -s exclude each other/
s/^(.*) is not a valid pattern byte$/pattern '"'"'\1'"'"' is not a byte value (0 to 255)/
s/^length cannot exceed ([0-9]+) without -n, given (.*)$/length \2 is over the limit of \1 bytes (only -z -n may go past it)/
s/^length cannot exceed ([0-9]+), given (.*)$/length \2 is over the limit of \1 bytes/
s/^Parsing error: non-numeric argument, or extraneous.unrecognized suffix -- (.*)$/'"'"'\1'"'"' is not a number of bytes (optional suffix k, M, G, T, P or E)/
s/^Parsing error: argument too large -- (.*)$/'"'"'\1'"'"' is too large a number/
s/^pattern verification range exceeds end of read data$/read: the range to check (-s, -l) goes past the data read/
s/^-z supports only a single length parameter$/aio_write: -z takes one length only/
s/^Argument '"'"'(.*)'"'"' exceeds maximum size ([0-9]+)$/length \1 is over the limit of \2 bytes/
s/^(.*) is not a valid number$/sleep: '"'"'\1'"'"' is not a number of milliseconds/
s/^signal argument '"'"'(.*)'"'"' is too large to be a valid signal$/sigraise: \1 is not a signal number/
s/^command (.*) not found$/help: there is no command '"'"'\1'"'"'/
'

# io_run TOOL FMT IMG CMD...: one qemu-io style run, one -c per CMD.
io_run() {
	local tool=$1 fmt=$2 img=$3 a args=()
	shift 3
	for a in "$@"; do
		args+=(-c "$a")
	done
	# shellcheck disable=SC2086 # IO_FLAGS: options for both tools (-n)
	timeout -k 5 "$CMD_TIMEOUT" "$tool" ${IO_FLAGS:-} -f "$fmt" "${args[@]}" "$img"
}

# io_lines FILE: a qemu-io transcript without its timing lines.
io_lines() {
	grep -v -e ' ops; ' -e '^[0-9]*,[0-9]*,[0-9:.]*,' "$1"
}

# io_both NAME FMT OURS REF CMD...: the commands with $QEMU_IO on REF, then
# with $QCOW_IO on OURS: same exit status, same stdout (timing aside),
# stderr alike in kind (err_kind).
io_both() {
	local name=$1 fmt=$2 ours=$3 ref=$4 f rc rrc why
	shift 4
	f=$(case_file "$name")
	io_run "$QEMU_IO" "$fmt" "$ref" "$@" >"$f.ref" 2>"$f.ref.err"
	rrc=$?
	if [ $rrc -ne 0 ] || grep -q ' failed' "$f.ref" "$f.ref.err"; then
		fail "$name" "qemu-io fails on the script (exit $rrc): test bug"
		cat "$f.ref" "$f.ref.err" | diag 5
		return 1
	fi
	io_run "$QCOW_IO" "$fmt" "$ours" "$@" >"$f.ours" 2>"$f.ours.err"
	rc=$?
	if [ $rc -ne $rrc ]; then
		fail "$name" "exit status $rc, qemu-io's $rrc"
		io_lines "$f.ours" | tail -n 8 | diag
		diag 4 <"$f.ours.err"
		return 1
	fi
	if ! diff <(io_lines "$f.ref") <(io_lines "$f.ours") >"$f.diff"; then
		fail "$name" "output differs from qemu-io's (< qemu-io, > ours)"
		diag 12 <"$f.diff"
		return 1
	fi
	sed -i "s|^$(basename "$QCOW_IO"):|qemu-io:|" "$f.ours.err"
	if ! why=$(err_kind "$f.ref.err" "$f.ours.err" qemu-io "$ours" "$@"); then
		fail "$name" "stderr: $why"
		return 1
	fi
	pass "$name"
}

# same_content NAME OURS REF [-f FMT -F FMT]: qemu-img compare calls the
# images identical.
same_content() {
	local name=$1 ours=$2 ref=$3 f rc
	shift 3
	f=$(case_file "$name")
	run_to "$f" "$QEMU_IMG" compare "$@" "$ref" "$ours"
	rc=$?
	if [ $rc -eq 0 ] && grep -q '^Images are identical\.$' "$f"; then
		pass "$name"
		return 0
	fi
	fail "$name" "qemu-img compare (qemu's image first) exits $rc: $(cat "$f" "$f.err" | head -c 200 | tr '\n' ' ')"
	return 1
}

# clean_check NAME IMG: qemu-img check finds no error and no leak (exit 0).
clean_check() {
	local name=$1 img=$2 f rc
	f=$(case_file "$name")
	run_to "$f" "$QEMU_IMG" check "$img"
	rc=$?
	if [ $rc -eq 0 ]; then
		pass "$name"
		return 0
	fi
	fail "$name" "qemu-img check exits $rc"
	cat "$f" "$f.err" | diag 10
	return 1
}

# info_equal NAME OURS REF: qemu-img info --output=json of both images is
# equal on every key but filename, actual-size, and the backing file
# names when they are relative (they differ by directory).
info_equal() {
	local name=$1 ours=$2 ref=$3 f out
	f=$(case_file "$name")
	run_to "$f.ours" "$QEMU_IMG" info --output=json "$ours" &&
		run_to "$f.ref" "$QEMU_IMG" info --output=json "$ref"
	if [ $? -ne 0 ]; then
		fail "$name" "qemu-img info fails"
		cat "$f.ours.err" "$f.ref.err" | diag 5
		return 1
	fi
	out=$(python3 - "$f.ref" "$f.ours" <<'EOF'
import json, sys
IGNORED = {"filename", "actual-size", "full-backing-filename"}
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in IGNORED}
    if isinstance(v, list):
        return [strip(x) for x in v]
    if isinstance(v, str):
        return v.replace("/ours/", "/@DIR@/").replace("/ref/", "/@DIR@/")
    return v
ref, ours = (strip(json.load(open(p))) for p in sys.argv[1:3])
def walk(r, o, path):
    if isinstance(r, dict) and isinstance(o, dict):
        for k in sorted(set(r) | set(o)):
            if k not in o:
                print(f"{path}{k}: missing (qemu: {json.dumps(r[k])})")
            elif k not in r:
                print(f"{path}{k}: extra (ours: {json.dumps(o[k])})")
            else:
                walk(r[k], o[k], f"{path}{k}.")
    elif r != o or type(r) is not type(o):
        print(f"{path.rstrip('.')}: ours {json.dumps(o)}, qemu {json.dumps(r)}")
walk(ref, ours, "")
EOF
)
	if [ -z "$out" ]; then
		pass "$name"
		return 0
	fi
	fail "$name" "qemu-img info differs"
	printf '%s\n' "$out" | diag 10
	return 1
}

# map_shape NAME OURS REF: qemu-img map --output=json agrees on every
# extent's start, length, depth, present, zero and data (not on host
# offsets): both tools allocated the same guest ranges.
map_shape() {
	local name=$1 ours=$2 ref=$3 f out
	f=$(case_file "$name")
	run_to "$f.ours" "$QEMU_IMG" map --output=json "$ours" &&
		run_to "$f.ref" "$QEMU_IMG" map --output=json "$ref"
	if [ $? -ne 0 ]; then
		fail "$name" "qemu-img map fails"
		return 1
	fi
	out=$(python3 - "$f.ref" "$f.ours" <<'EOF'
import json, sys
KEYS = ("depth", "present", "zero", "data")
def shape(path):
    out = []
    for e in json.load(open(path)):
        k = tuple(e[x] for x in KEYS)
        if out and out[-1][2] == k and out[-1][0] + out[-1][1] == e["start"]:
            out[-1][1] += e["length"]
        else:
            out.append([e["start"], e["length"], k])
    return out
ref, ours = shape(sys.argv[1]), shape(sys.argv[2])
if ref != ours:
    for r, o in zip(ref + [None] * len(ours), ours + [None] * len(ref)):
        if r != o:
            print(f"first difference: qemu {r}, ours {o}")
            break
EOF
)
	if [ -z "$out" ]; then
		pass "$name"
		return 0
	fi
	fail "$name" "allocation differs from qemu's"
	printf '%s\n' "$out" | diag 5
	return 1
}

# side_args SIDE ARGS...: ARGS with @DIR@ replaced by $WORK/SIDE, in SA.
SA=()
side_args() {
	local side=$1 a
	shift
	SA=()
	for a in "$@"; do
		SA+=("${a//@DIR@/$WORK/$side}")
	done
}

# normalize FILE SIDE TOOL: the program name as qemu-img's, $WORK/SIDE as
# @DIR@.
normalize() {
	sed -i -e "s|^$(basename "$3"):|qemu-img:|" -e "s|$WORK/$2|@DIR@|g" "$1"
}

# QEMU_IMG_WORDING: a sed program that turns the explanatory lines
# qemu-img prints on stdout into ours (tools/img/check.c words them
# itself; the count lines above them are qemu-img's own).
QEMU_IMG_WORDING='
s/^Data may be corrupted, or further writes to the image may corrupt it\.$/The metadata is inconsistent: data may be damaged already, and writes may damage more./
s/^This means waste of disk space, but no harm to data\.$/Leaked clusters only take up space in the file; no data is affected./
s/^Double checking the fixed image now\.\.\.$/Checking the repaired image once more.../
'

# tool_both NAME ARGS...: runs "$QEMU_IMG ARGS" in ref/ and "$QCOW_IMG
# ARGS" in ours/ (same relative file names; @DIR@ in ARGS is the side's
# directory): same exit status, same stdout (qemu-img's explanations in
# our words, QEMU_IMG_WORDING), stderr alike in kind (err_kind: the same
# per-cluster lines; an error message from both or from neither, ours one
# line naming a file or option of ARGS).  What the engine does not support
# yet is a SKIP.
tool_both() {
	local name=$1 f rc rrc why
	shift
	f=$(case_file "$name")
	side_args ref "$@"
	(cd ref && run_to "$f.ref" "$QEMU_IMG" "${SA[@]}")
	rrc=$?
	side_args ours "$@"
	(cd ours && run_to "$f.ours" "$QCOW_IMG" "${SA[@]}")
	rc=$?
	if [ $rc -ne 0 ] && [ $rrc -eq 0 ] &&
	   grep -q 'not supported yet' "$f.ours.err"; then
		skip "$name" "$(grep -m1 'not supported yet' "$f.ours.err")"
		return 1
	fi
	if [ $rc -ne $rrc ]; then
		fail "$name" "exit status $rc, qemu-img's $rrc"
		cat "$f.ours" "$f.ours.err" | diag 8
		return 1
	fi
	normalize "$f.ours" ours "$QCOW_IMG"
	normalize "$f.ours.err" ours "$QCOW_IMG"
	normalize "$f.ref" ref "$QEMU_IMG"
	normalize "$f.ref.err" ref "$QEMU_IMG"
	sed -i -e "$QEMU_IMG_WORDING" "$f.ref"
	if ! diff "$f.ref" "$f.ours" >"$f.diff"; then
		fail "$name" "stdout differs from qemu-img's (< qemu-img, > ours)"
		diag 10 <"$f.diff"
		return 1
	fi
	if ! why=$(err_kind "$f.ref.err" "$f.ours.err" qemu-img "$@"); then
		fail "$name" "stderr: $why"
		{ sed 's/^/qemu-img: /' "$f.ref.err"; sed 's/^/ours: /' "$f.ours.err"; } | diag 8
		return 1
	fi
	pass "$name"
}

# ws_write CS SIZE [nocomp]: the write workload in two halves, W1 and W2
# (run as two processes: the second reopens what the first wrote).
# Unaligned and cluster-crossing writes, overlapping rewrites, zero writes
# with and without -u on allocated and unallocated ranges, aligned and
# unaligned discards, flushes, compressed writes partly overwritten, a
# long write across L2 tables (small clusters), the very end.
W1=()
W2=()
ws_write() {
	local cs=$1 size=$2 nocomp=${3:-} a big blen
	a=$((cs / 2 + 100))
	big=$((size / 2 > 24 * cs ? size / 2 - 100 : 24 * cs - 100))
	blen=$((size / 4 > 3 << 20 ? 3 << 20 : size / 4))
	W1=("write -P 0x11 $a $((2 * cs))"
		"write -z $((a + 2 * cs - 250)) 200"
		"write -s rnd.bin $((3 * cs + 1000)) $cs"
		"write -P 0x22 $((5 * cs)) $cs"
		"write -z -u $((5 * cs)) $cs"
		"write -z $((6 * cs + 512)) $cs"
		"write -P 0x33 $((8 * cs)) $((2 * cs))"
		"discard $((9 * cs)) $cs"
		"discard $((8 * cs + 17)) 100"
		"flush"
		"write -P 0x44 $((8 * cs + cs / 4)) $((cs / 2))"
		"write -z -u $((10 * cs + 100)) $((2 * cs))"
		"write -P 0x55 $((12 * cs - 1)) 2"
		"write -P 0x66 $((13 * cs)) $((3 * cs))"
		"write -P 0x67 $((14 * cs + 7)) 512"
		"write -P 0x77 $big $blen")
	W2=("discard $((13 * cs)) $((2 * cs))"
		"write -s big.bin $((big + blen / 2)) 5000"
		"write -P 0x78 $((big + 100)) $((3 * cs))"
		"write -z $((big + 2 * cs)) $((4 * cs))"
		"write -P 0x99 $((size - 3000)) 3000"
		"write -z -u $((size - 2 * cs + 100)) $cs")
	if [ -z "$nocomp" ]; then
		W2+=("write -c -P 0x88 $((20 * cs)) $((2 * cs))"
			"write -c -s rnd.bin $((22 * cs)) $cs"
			"write -P 0x89 $((20 * cs + 100)) 50"
			"write -z $((21 * cs)) $cs"
			"discard $((22 * cs)) $cs")
	fi
	W2+=("flush" "write -P 0x9a $((17 * cs + 3)) $((cs + 5))")
}

# ws_size CS: at least 4 MiB, at least 40 clusters.
ws_size() {
	local s=$((40 * $1))
	echo $((s > 4 << 20 ? s : 4 << 20))
}

# io_pair NAME FMT OURS REF CS SIZE [nocomp]: the workload on both
# images, then NAME/compare and NAME/check.
io_pair() {
	local name=$1 fmt=$2 ours=$3 ref=$4 cs=$5 size=$6 nocomp=${7:-}
	ws_write "$cs" "$size" "$nocomp"
	io_both "$name/io-1" "$fmt" "$ours" "$ref" "${W1[@]}" || return 1
	io_both "$name/io-2" "$fmt" "$ours" "$ref" "${W2[@]}" || return 1
	same_content "$name/compare" "$ours" "$ref"
	clean_check "$name/check" "$ours"
}
