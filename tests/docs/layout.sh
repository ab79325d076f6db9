#!/bin/bash
# The engine's boundaries (docs/design.md, "Shape"): the programs
# (tools/, ublksrv/, bench/) include no engine header but include/qcow.h,
# and no engine file outside a driver's folder (qcow/DRIVER/) includes a
# header of that folder (the crypto library's crypto.h excepted: the drivers
# call it).  Fails naming each include that crosses.
set -u
cd "$(dirname "$0")/../.." || exit 2

# includes FILE...: "file:line:header" for each #include "header"
includes() {
	grep -Hn '^#include "' "$@" 2>/dev/null |
		sed 's|^\([^:]*\):\([0-9]*\):#include "\([^"]*\)".*|\1:\2:\3|'
}

bad=0
while IFS=: read -r f line h; do
	# the crypto library's own benchmark measures the library itself
	case $f:$h in bench/crypto-*:qcow/crypto/crypto.h) continue ;; esac
	case $h in
	qcow/*) ;;
	*) [ -f "qcow/$h" ] || [ -f "qcow/${h#*/}" ] || continue ;;
	esac
	echo "FAIL: layout/public-only $f:$line includes engine header $h"
	bad=1
done < <(includes $(find tools ublksrv bench -name '*.[ch]'))
[ $bad -eq 0 ] && echo "PASS: layout/public-only"

bad=0
# crypto/ is a library under the engine, not a driver: its crypto.h is
# for every engine file (its crypto_internal.h stays inside)
drivers=$(cd qcow && find . -mindepth 1 -maxdepth 1 -type d | sed 's|^\./||')
for d in $drivers; do
	while IFS=: read -r f line h; do
		case $f in qcow/"$d"/*) continue ;; esac
		[ "$d/$(basename "$h")" = crypto/crypto.h ] && continue
		[ -f "qcow/$d/$(basename "$h")" ] || continue
		case $h in */*) [ "${h%%/*}" = "$d" ] || continue ;; esac
		echo "FAIL: layout/driver-private $f:$line includes $d's $h"
		bad=1
	done < <(includes $(find qcow -name '*.[ch]'))
done
[ $bad -eq 0 ] && echo "PASS: layout/driver-private ($(wc -w <<<"$drivers") drivers)"
exit 0
