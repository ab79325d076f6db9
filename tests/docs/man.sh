#!/bin/bash
# The man pages (docs/man/*.scd) against the programs: each page is made
# by scdoc and rendered by groff and man with every warning on, and must
# give none; every option the --help of qcow-img, qcow-io and ublk-qcow
# prints appears in its page, and every verb (qcow-img's commands,
# ublk-qcow's verbs with their own --help, qcow-io's -c commands with
# their 'help CMD') has a section of its page naming each of its options.
set -u
. "$(dirname "$0")/../lib.sh"

# prog NAME: the release build's program, else the sanitizer build's
prog() {
	local b
	for b in "$REPO_ROOT/bin" "$REPO_ROOT/build-asan/bin"; do
		[ -x "$b/$1" ] && { echo "$b/$1"; return 0; }
	done
	return 1
}

require_cmd scdoc groff man python3
IMG=$(prog qcow-img) && IO=$(prog qcow-io) && UBLK=$(prog ublk-qcow) ||
	skip_all "programs not built (make all)"
setup_work

# render PAGE: build PAGE.N from docs/man, then text with no line breaks
# (a long line length, no hyphenation) for the option checks
render() {
	local page=$1 src=$REPO_ROOT/docs/man/$1.scd err
	if ! scdoc <"$src" >"$page" 2>scdoc.err; then
		fail "man/render/$page scdoc: $(head -n 1 scdoc.err)"
		return 1
	fi
	err=$(groff -man -ww -z "$page" 2>&1)
	err+=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
	if [ -n "$err" ]; then
		fail "man/render/$page warnings:"
		diag <<<"$err"
	else
		pass "man/render/$page"
	fi
	groff -man -Tascii -P-cbou -rLL=2000n -rHY=0 "$page" >"$page.txt" 2>/dev/null
}

# check LABEL PAGE.txt SECTION HELP: every option the text HELP names
# must appear in PAGE's text, within subsection SECTION when given (which
# must exist; a verb may have no options).
check() {
	local out
	if out=$(python3 "$WORK/opts.py" "$2" "$3" "$4"); then
		pass "man/$1 ($out options)"
	else
		fail "man/$1" "$out"
	fi
}

cat >opts.py <<'EOF'
import re, sys
text = open(sys.argv[1]).read().split('\n')
section = sys.argv[2]
if section:
	lines, on = [], False
	for l in text:
		if on and re.match(r'^(\S| {3}\S+\s*$)', l):
			break
		if l.rstrip() == '   ' + section:
			on = True
		elif on:
			lines.append(l)
	if not lines:
		print('no section "%s"' % section)
		sys.exit(1)
	text = lines
body = '\n'.join(text)
opts = set()
for t in re.findall(r'(?<![\w-])(--?[A-Za-z][\w-]*)', open(sys.argv[3]).read()):
	if not t.startswith('--') and len(t) > 2:
		opts.update('-' + c for c in t[1:])
	else:
		opts.add(t)
if not opts and not section:
	print('no options found in the help text')
	sys.exit(1)
missing = [o for o in sorted(opts)
	   if not re.search(r'(?<![\w-])' + re.escape(o) + r'(?![\w-])', body)]
if missing:
	print('missing ' + ' '.join(missing))
	sys.exit(1)
print(len(opts))
EOF

if render qcow-img.1; then
	"$IMG" --help >img.help 2>&1
	check qcow-img qcow-img.1.txt "" img.help
	# the commands: "  verb [...", continued by lines indented more
	awk '/^Commands:/ { on = 1; next } on && /^$/ { exit }
		on && /^  [a-z]/ { v = $1 } on { print v "\t" $0 }' img.help >img.verbs
	[ -s img.verbs ] || fail "man/qcow-img/verbs" "no Commands: in --help"
	for v in $(cut -f1 img.verbs | sort -u); do
		awk -F'\t' -v v="$v" '$1 == v { print $2 }' img.verbs |
			sed "s/^ *$v//" >"img-$v.help"
		check "qcow-img/$v" qcow-img.1.txt "$v" "img-$v.help"
	done
fi

if render qcow-io.1; then
	"$IO" --help >io.help 2>&1
	check qcow-io qcow-io.1.txt "" io.help
	truncate -s 1M disk.raw
	"$IO" -f raw -r -c help disk.raw >io.cmds 2>&1
	cmds=$(awk '/ -- / { print $1 }' io.cmds)
	[ -n "$cmds" ] || fail "man/qcow-io/commands" "no commands in 'help'"
	for c in $cmds; do
		"$IO" -f raw -r -c "help $c" disk.raw 2>&1 |
			sed -e 's/ -- .*//' -e "s/^$c//" >"io-$c.help"
		check "qcow-io/$c" qcow-io.1.txt "$c" "io-$c.help"
	done
fi

if render ublk-qcow.8; then
	"$UBLK" --help >ublk.help 2>&1
	check ublk-qcow ublk-qcow.8.txt "" ublk.help
	verbs=$(sed -n 's/^ *\(usage:\)\? *ublk-qcow \([a-z]\+\)\b.*/\2/p' ublk.help | sort -u)
	[ -n "$verbs" ] || fail "man/ublk-qcow/verbs" "no verbs in --help"
	for v in $verbs; do
		"$UBLK" "$v" --help 2>&1 | sed "s/ublk-qcow $v//" >"ublk-$v.help"
		check "ublk-qcow/$v" ublk-qcow.8.txt "$v" "ublk-$v.help"
	done
fi

if render ublk-qcow-attach.8; then
	"$REPO_ROOT/systemd/ublk-qcow-attach" --help >attach.help 2>&1
	check ublk-qcow-attach ublk-qcow-attach.8.txt "" attach.help
fi

finish
