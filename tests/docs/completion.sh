#!/bin/bash
# The bash completions (completion/*.bash): each file sourced in a clean
# bash, its function called as bash calls it (COMP_WORDS, COMP_CWORD), and
# the words it offers compared with the expected ones; and every option
# a verb's usage (--help) names is offered after "VERB -".
set -u
. "$(dirname "$0")/../lib.sh"

prog() {
	local b
	for b in "$REPO_ROOT/bin" "$REPO_ROOT/build-asan/bin"; do
		[ -x "$b/$1" ] && { echo "$b/$1"; return 0; }
	done
	return 1
}

require_cmd python3
setup_work
touch a.qcow2 a.raw b.img
mkdir adir

# offered FILE WORD...: the completion of the command line WORD... (the
# last word is the one completed), sorted, one line
offered() {
	local file=$1
	shift
	env -i PATH="$PATH" bash --norc --noprofile -c '
		. "$1" || exit 1
		f=$(complete -p "$2" | sed "s/.* -F \([^ ]*\) .*/\1/")
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		"$f" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' \
		_ "$REPO_ROOT/completion/$file.bash" "$@"
}

# expect FILE "WORD..." "EXPECTED WORDS"
expect() {
	local got want words
	eval "words=($2)"
	got=$(offered "$1" "${words[@]}" 2>&1)
	got=${got% }
	want=$(tr ' ' '\n' <<<"$3" | sed '/^$/d' | sort | tr '\n' ' ')
	want=${want% }
	if [ "$got" = "$want" ]; then
		pass "completion/$1 '$2'"
	else
		fail "completion/$1 '$2'" "offered '$got', expected '$want'"
	fi
}

expect qcow-img "qcow-img con" "convert"
expect qcow-img "qcow-img co" "commit compare convert"
expect qcow-img "qcow-img convert -O ''" "qcow2 qcow raw"
expect qcow-img "qcow-img info -f q" "qcow2 qcow"
expect qcow-img "qcow-img check -r ''" "leaks all"
expect qcow-img "qcow-img info --output = ''" "human json"
expect qcow-img "qcow-img map --output=j" "json"
expect qcow-img "qcow-img convert --crypto-backend o" "openssl"
expect qcow-img "qcow-img create -o cluster_size=64k,ext" "cluster_size=64k,extended_l2="
expect qcow-img "qcow-img resize --sh" "--shrink"
expect qcow-img "qcow-img commit -d a" "a.qcow2 a.raw adir"
expect qcow-img "qcow-img snapshot -c ''" ""
expect qcow-img "qcow-img info --allow-dir a" "adir"
expect qcow-io "qcow-io -t w" "writeback writethrough"
expect qcow-io "qcow-io -c re" "read readv remove_break reopen resume"
expect qcow-io "qcow-io -c aio" "aio_flush aio_read aio_write"
expect qcow-io "qcow-io -d ''" "ignore off unmap on"
expect qcow-io "qcow-io --aio=i" "io_uring"
expect qcow-io "qcow-io -T ''" ""
expect qcow-io "qcow-io --copy" "--copy-on-read"
expect qcow-io "qcow-io --rea" "--read-only"
expect qcow-io "qcow-io -r b" "b.img"
expect ublk-qcow "ublk-qcow d" "del"
expect ublk-qcow "ublk-qcow add -F q" "qcow2 qcow"
expect ublk-qcow "ublk-qcow add --key" "--key-file --key-keyring"
expect ublk-qcow "ublk-qcow add -f a" "a.qcow2 a.raw adir"
expect ublk-qcow "ublk-qcow del -" "-n -a --name -h --help"
expect ublk-qcow "ublk-qcow add -o zero_copy=on,for" "zero_copy=on,format="

# every option of a verb's usage is offered after "VERB -"
# covers FILE LABEL HELPFILE WORD...: one case; the words of $SUBCMDS
# are commands run inside the program, whose options ("write -z -u")
# the usage may name but the program does not take
covers() {
	local file=$1 label=$2 help=$3 missing
	shift 3
	missing=$(python3 - "$help" "$(offered "$file" "$@" -)" "${SUBCMDS:-}" <<'EOF'
import re, sys
opts = set()
# "as qemu-nbd -l": another program's option
text = re.sub(r'qemu-\S+ -+\w+', '', open(sys.argv[1]).read())
for w in sys.argv[3].split():
	text = re.sub(r'(?<![\w-])' + re.escape(w) + r'(\s+-\w+)+', w, text)
for t in re.findall(r'(?<![\w-])(--?[A-Za-z][\w-]*)', text):
	opts.update('-' + c for c in t[1:]) if not t.startswith('--') and len(t) > 2 else opts.add(t)
offered = {w.rstrip('=') for w in sys.argv[2].split()}
print(' '.join(sorted(opts - offered)))
EOF
	)
	if [ -n "$missing" ]; then
		fail "completion/$label" "not offered: $missing"
	else
		pass "completion/$label"
	fi
}

if IMG=$(prog qcow-img) && IO=$(prog qcow-io) && UBLK=$(prog ublk-qcow); then
	"$IMG" --help >img.help
	awk '/^Commands:/ { on = 1; next } on && /^$/ { exit }
		on && /^  [a-z]/ { v = $1 } on { print v "\t" $0 }' img.help >img.verbs
	for v in $(cut -f1 img.verbs | sort -u); do
		awk -F'\t' -v v="$v" '$1 == v { print $2 }' img.verbs |
			sed "s/^ *$v//" >"img-$v.help"
		covers qcow-img "qcow-img/$v" "img-$v.help" qcow-img "$v"
	done
	"$IO" --help >io.help
	cmds=$("$IO" -c help | awk '/ -- / { print $1 }')
	[ -n "$cmds" ] || fail "completion/qcow-io/commands" "no commands in 'help'"
	SUBCMDS=$cmds covers qcow-io qcow-io io.help qcow-io
	for v in add del list recover snapshot; do
		"$UBLK" "$v" --help 2>&1 | sed "s/ublk-qcow $v//" >"ublk-$v.help"
		covers ublk-qcow "ublk-qcow/$v" "ublk-$v.help" ublk-qcow "$v"
	done
else
	skip "completion/usage" "programs not built (make all)"
fi

finish
