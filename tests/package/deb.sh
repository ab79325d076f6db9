#!/bin/bash
# The Debian package that `make deb` left in build/deb/ (`make check-deb`
# builds it, then runs this): its name and version; its files are those
# `make install` writes with Debian's directories (man pages compressed)
# plus its changelog and copyright; lintian finds no error; installed
# into a scratch root with `dpkg --root` (never into this system), its
# programs run and print the version, and purged, it leaves nothing.
# The scratch root's /bin/sh is busybox, so that maintainer scripts, if
# the package has any, run inside it (dpkg chroots into it).
set -u
. "$(dirname "$0")/../lib.sh"

require_cmd dpkg dpkg-deb make scdoc
VERSION=$(sed -n 's/^#define QCOW_UBLK_VERSION "\(.*\)"/\1/p' \
	"$REPO_ROOT/tools/common/version.h")
ARCH=$(dpkg --print-architecture)
DEB=$REPO_ROOT/build/deb/qcow-ublk_${VERSION}_$ARCH.deb
[ -f "$DEB" ] || skip_all "no $DEB (make deb, or make check-deb)"
setup_work

# the package's name and version: the programs' version
if [ "$(dpkg-deb -f "$DEB" Package Version | tr '\n' ' ')" = \
	"Package: qcow-ublk Version: $VERSION " ]; then
	pass "deb/version ($VERSION)"
else
	fail deb/version "$(dpkg-deb -f "$DEB" Package Version | tr '\n' ' ')"
fi

# its files against make install's, from the tree it was built from
SRC=$REPO_ROOT/build/deb/qcow-ublk
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory -s \
	-C "$SRC" install DESTDIR="$WORK/mi" prefix=/usr \
	systemdunitdir=/lib/systemd/system udevrulesdir=/lib/udev/rules.d \
	>make.log 2>&1; then
	{
		(cd mi && find . ! -type d | sed 's|^\.||') |
			sed 's|^\(/usr/share/man/.*\.[0-9]\)$|\1.gz|'
		echo /usr/share/doc/qcow-ublk/changelog.gz
		echo /usr/share/doc/qcow-ublk/copyright
	} | sort >want
	dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { print $6 }' |
		sed 's|^\.||' | sort >got
	if cmp -s want got; then
		pass "deb/files ($(wc -l <want) files, as make install)"
	else
		fail deb/files "the package's files differ from make install's:"
		diff want got | diag
	fi
else
	fail deb/files "make install from $SRC failed:"
	diag <make.log
fi

if have_cmd lintian; then
	lintian "$DEB" >lintian.out 2>&1
	if grep -q '^E: ' lintian.out; then
		fail deb/lintian "errors:"
		grep '^E: ' lintian.out | diag
	else
		pass "deb/lintian ($(grep -c '^[WIP]: ' lintian.out) warnings or notes)"
		grep '^W: ' lintian.out | sed 's/^/NOTE: /'
	fi
else
	skip deb/lintian "lintian not found; install lintian"
fi

# dpkg --root: a scratch root with an empty dpkg database
R=$WORK/root
if [ "$(id -u)" != 0 ]; then
	skip deb/install "dpkg --root changes owners and chroots: needs root"
elif ! have_cmd busybox; then
	skip deb/install "busybox not found; install busybox-static"
else
	mkdir -p "$R"/var/lib/dpkg/{info,updates,triggers} "$R/bin" "$R/tmp"
	touch "$R/var/lib/dpkg/status" "$R/var/lib/dpkg/available"
	cp "$(command -v busybox)" "$R/bin/busybox"
	ln -s busybox "$R/bin/sh"
	(cd "$R" && find . ! -type d | sort) >before
	# the dependencies are this system's libraries, not the scratch root's
	if dpkg --root="$R" --force-depends -i "$DEB" >dpkg.log 2>&1; then
		dpkg --root="$R" -L qcow-ublk | sort >listed
		bad=0
		while read -r f; do
			[ -d "$R$f" ] && continue
			[ -f "$R$f" ] || { fail deb/install "$f listed, not installed"; bad=1; }
		done <listed
		[ $bad -eq 0 ] && pass "deb/install ($(wc -l <listed) paths)"
		bad=0
		for p in usr/bin/qcow-img usr/bin/qcow-io usr/sbin/ublk-qcow; do
			out=$("$R/$p" --version 2>&1)
			[ "$out" = "${p##*/} version $VERSION" ] ||
				{ fail deb/programs-run "/$p --version: '$out'"; bad=1; }
		done
		[ $bad -eq 0 ] && pass deb/programs-run
		if dpkg --root="$R" --purge qcow-ublk >>dpkg.log 2>&1; then
			(cd "$R" && find . ! -type d | sort |
				grep -v '^\./var/lib/dpkg/\|^\./var/log/') >after
			grep -v '^\./var/lib/dpkg/' before | cmp -s - after &&
				[ -z "$(dpkg --root="$R" -l 2>/dev/null | grep '^[a-z][a-z] *qcow-ublk')" ] &&
				pass deb/purge ||
				{ fail deb/purge "files left:"; diff before after | diag; }
		else
			fail deb/purge "dpkg --purge failed:"
			diag <dpkg.log
		fi
	else
		fail deb/install "dpkg -i failed:"
		diag <dpkg.log
	fi
fi

finish
