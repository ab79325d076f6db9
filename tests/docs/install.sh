#!/bin/bash
# make install and make uninstall (scripts/install.mk) into a DESTDIR
# tree: exactly the expected files, with their modes, at the default
# prefix and at chosen directories; the installed programs run and print
# the version of tools/common/version.h; the man pages render and the
# completions are the sources; systemd/'s files are installed by kind (a
# scratch tree with a made-up systemd/ checks the kinds and the path
# substitution); uninstall leaves no file behind; debian/changelog names
# the version of the programs.
set -u
. "$(dirname "$0")/../lib.sh"

require_cmd scdoc make install
for p in qcow-img qcow-io ublk-qcow; do
	[ -x "$REPO_ROOT/bin/$p" ] || skip_all "bin/$p not built (make all)"
done
setup_work
VERSION=$(sed -n 's/^#define QCOW_UBLK_VERSION "\(.*\)"/\1/p' \
	"$REPO_ROOT/tools/common/version.h")

# the Debian package's version is the programs'
deb=$(sed -n '1s/^qcow-ublk (\([^)]*\)).*/\1/p' "$REPO_ROOT/debian/changelog")
if [ "$deb" = "$VERSION" ]; then
	pass "install/debian-version ($VERSION)"
else
	fail install/debian-version "debian/changelog says '$deb', tools/common/version.h '$VERSION'"
fi

# mk DIR ARGS...: make in DIR, not part of any make running this test
mk() {
	local dir=$1
	shift
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		make --no-print-directory -s -C "$dir" "$@"
}

# expected SRC BINDIR SBINDIR MAN1 MAN8 COMPDIR UNITDIR RULESDIR:
# the files install must write, "MODE PATH" sorted, from the tree SRC
expected() {
	local src=$1 f
	{
		echo "755 $2/qcow-img"
		echo "755 $2/qcow-io"
		echo "755 $3/ublk-qcow"
		for f in "$src"/docs/man/*.1.scd; do
			f=${f##*/}
			echo "644 $4/${f%.scd}"
		done
		for f in "$src"/docs/man/*.8.scd; do
			f=${f##*/}
			echo "644 $5/${f%.scd}"
		done
		for f in "$src"/completion/*.bash; do
			f=${f##*/}
			echo "644 $6/${f%.bash}"
		done
		for f in "$src"/systemd/* "$src"/udev/*.rules; do
			[ -f "$f" ] || continue
			case $f in
			*.service | *.socket | *.target | *.path | *.timer)
				echo "644 $7/${f##*/}" ;;
			*.rules) echo "644 $8/${f##*/}" ;;
			*) [ -x "$f" ] && echo "755 $3/${f##*/}" ;;
			esac
		done
	} | sort
}

# installed ROOT: "MODE PATH" of every file and link under ROOT, sorted
installed() {
	(cd "$1" && find . \( -type f -o -type l \) -printf '%m /%P\n') | sort
}

# same NAME WANT GOT: one case comparing two lists
same() {
	if cmp -s "$2" "$3"; then
		pass "$1 ($(wc -l <"$2") files)"
	else
		fail "$1" "installed files differ from the expected ones:"
		diff "$2" "$3" | diag
	fi
}

# runs NAME ROOT BINDIR SBINDIR: the installed programs print the version
runs() {
	local p out bad=0
	for p in "$3/qcow-img" "$3/qcow-io" "$4/ublk-qcow"; do
		out=$("$2$p" --version 2>&1)
		if [ "$out" != "${p##*/} version $VERSION" ]; then
			fail "$1" "$p --version printed '$out', not version $VERSION"
			bad=1
		fi
	done
	[ $bad -eq 0 ] && pass "$1 (version $VERSION)"
}

# gone NAME ROOT: nothing but directories left under ROOT
gone() {
	local left
	left=$(cd "$2" && find . ! -type d)
	if [ -z "$left" ]; then
		pass "$1"
	else
		fail "$1" "left behind:"
		diag <<<"$left"
	fi
}

# the default: prefix /usr/local
R=$WORK/root
if mk "$REPO_ROOT" install DESTDIR="$R" >make.log 2>&1; then
	U=/usr/local
	expected "$REPO_ROOT" $U/bin $U/sbin $U/share/man/man1 $U/share/man/man8 \
		$U/share/bash-completion/completions $U/lib/systemd/system \
		$U/lib/udev/rules.d >want
	installed "$R" >got
	same install/default-prefix want got
	runs install/programs-run "$R" $U/bin $U/sbin
	bad=0
	for f in qcow-img.1 qcow-io.1 ublk-qcow.8 ublk-qcow-attach.8; do
		# all but the .TH line, which holds the day it was made
		scdoc <"$REPO_ROOT/docs/man/$f.scd" | grep -v '^\.TH' >"$f"
		sec=${f##*.}
		if ! grep -v '^\.TH' "$R$U/share/man/man$sec/$f" | cmp -s "$f" -; then
			fail install/man "$f is not docs/man's page"
			bad=1
		elif [ -n "$(MANWIDTH=80 man --warnings -l "$R$U/share/man/man$sec/$f" 2>&1 >/dev/null)" ]; then
			fail install/man "$f warns when rendered"
			bad=1
		fi
	done
	[ $bad -eq 0 ] && pass install/man
	bad=0
	for f in "$REPO_ROOT"/completion/*.bash; do
		b=${f##*/}
		cmp -s "$f" "$R$U/share/bash-completion/completions/${b%.bash}" ||
			{ fail install/completion "${b%.bash} is not $b"; bad=1; }
	done
	[ $bad -eq 0 ] && pass install/completion
	if mk "$REPO_ROOT" uninstall DESTDIR="$R" >>make.log 2>&1; then
		gone install/uninstall "$R"
	else
		fail install/uninstall "make uninstall failed:"
		diag <make.log
	fi
else
	fail install/default-prefix "make install failed:"
	diag <make.log
fi

# chosen directories (PREFIX, then GNU variables), in a scratch tree whose
# systemd/ holds one file of each kind and one that is not installed
T=$WORK/tree
mkdir -p "$T/systemd"
for f in "$REPO_ROOT"/* "$REPO_ROOT"/.[!.]*; do
	case ${f##*/} in systemd | udev | .git | tests) continue ;; esac
	[ -e "$f" ] && ln -s "$f" "$T/${f##*/}"
done
printf '[Service]\nExecStart=@sbindir@/ublk-qcow add --name %%i\nExecStop=@sbindir@/helper @sysconfdir@/ublk-qcow/%%i\n' \
	>"$T/systemd/ublk-qcow@.service"
printf 'KERNEL=="ublkb*", RUN+="@bindir@/qcow-img info"\n' >"$T/systemd/99-ublk-qcow.rules"
printf '#!/bin/sh\n' >"$T/systemd/helper"
chmod 755 "$T/systemd/helper"
echo "not installed" >"$T/systemd/README"
R=$WORK/root2
P=/opt/qu
args=(PREFIX=$P bindir=$P/b sbindir=$P/sb mandir=$P/m
	bashcompdir=$P/bc systemdunitdir=/lib/systemd/system udevrulesdir=$P/udev
	libexecdir=$P/lx)
if mk "$T" install DESTDIR="$R" "${args[@]}" >make.log 2>&1; then
	expected "$T" $P/b $P/sb $P/m/man1 $P/m/man8 $P/bc /lib/systemd/system \
		$P/udev >want
	installed "$R" >got
	same install/chosen-dirs want got
	runs install/chosen-dirs-run "$R" $P/b $P/sb
	unit=$R/lib/systemd/system/ublk-qcow@.service
	if grep -qxF "ExecStart=$P/sb/ublk-qcow add --name %i" "$unit" &&
		grep -qxF "ExecStop=$P/sb/helper $P/etc/ublk-qcow/%i" "$unit" &&
		grep -qF "RUN+=\"$P/b/qcow-img info\"" "$R$P/udev/99-ublk-qcow.rules"; then
		pass install/systemd-paths
	else
		fail install/systemd-paths "@dir@ names not replaced:"
		cat "$unit" "$R$P/udev/99-ublk-qcow.rules" | diag
	fi
	if mk "$T" uninstall DESTDIR="$R" "${args[@]}" >>make.log 2>&1; then
		gone install/chosen-dirs-uninstall "$R"
	else
		fail install/chosen-dirs-uninstall "make uninstall failed:"
		diag <make.log
	fi
else
	fail install/chosen-dirs "make install failed:"
	diag <make.log
fi

finish
