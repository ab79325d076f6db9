#!/bin/bash
# Downloads (once) the Debian trixie 6.12 kernel, whose modules include
# ublk_drv, and unpacks what the test guest needs into .cache/guest/kernel/:
#     vmlinuz          the kernel
#     modules/*.ko     decompressed modules (only those in MODULES + deps)
#     modules.order    their names, one a line, in load (dependency) order
#     version          the kernel release, e.g. 6.12.38+deb13-amd64
#
# GUEST_KERNEL=SUITE (e.g. forky, trixie-backports) takes instead the
# kernel of that Debian suite's linux-image-amd64, whatever its version,
# into .cache/guest/kernel-SUITE/ (apt state in apt-SUITE/); see
# lib-kernel.sh.
#
# The system's apt configuration is not touched: a private sources file
# (URIs copied at run time from the system's Debian sources, suite trixie)
# and private lists/cache directories live in .cache/guest/apt/.
# The .deb files stay cached there, so changing MODULES re-extracts offline.
#
# Usage: [GUEST_KERNEL=SUITE] tests/guest/fetch-kernel.sh [--force]
#        (--force: fetch again)
# Exit status: 0 ready, 1 could not fetch or unpack (message on stderr).
set -eu

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$GUEST_DIR/../.." && pwd)
CACHE=$REPO_ROOT/.cache/guest
# shellcheck source=tests/guest/lib-kernel.sh
. "$GUEST_DIR/lib-kernel.sh"
APT_DIR=$CACHE/apt$KERNEL_TAG
SYSTEM_SOURCES=/etc/apt/sources.list.d/debian.sources
SUITE=$GUEST_KERNEL
# The image package: trixie's 6.12 series, elsewhere whatever
# linux-image-amd64 depends on (a shell glob and the same as a regex).
if [ "$SUITE" = trixie ]; then
	KGLOB='6.12.*'
	KREGEX='^linux-image-6\.12\.[^ ]*-amd64$'
else
	KGLOB='[0-9]*'
	KREGEX='^linux-image-[0-9][^ ]*-amd64$'
fi

# What the guest loads; their dependencies are added automatically.
# A module the kernel has built in (modules.builtin) is left out; "A|B"
# takes the first of A, B the kernel has (crc32c_generic was renamed
# crc32c-cryptoapi in 6.15).
MODULES="ublk_drv loop nbd netfs 9pnet 9pnet_virtio 9p \
jbd2 crc16 mbcache crc32c_generic|crc32c_cryptoapi ext4 \
af_alg algif_skcipher algif_hash"

say() { echo "fetch-kernel: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# ------------------------------------------------------------ apt setup

# archive_uri: the URIs of the first stanza of the system's Debian sources
# that lists a plain release suite (not -security / -updates).
archive_uri() {
	[ -r "$SYSTEM_SOURCES" ] || die "$SYSTEM_SOURCES not found: cannot tell which mirror to use"
	awk '
		/^[ \t]*$/ { if (uri != "" && main) { print uri; exit } uri = ""; main = 0; next }
		/^URIs:/ { uri = $2 }
		/^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-/) main = 1 }
		END { if (uri != "" && main) print uri }
	' "$SYSTEM_SOURCES" | head -n 1
}

# signed_by: the keyring of the system's sources (same archive keys).
signed_by() {
	awk '/^Signed-By:/ { print $2; exit }' "$SYSTEM_SOURCES"
}

write_sources() {
	local uri key
	uri=$(archive_uri)
	[ -n "$uri" ] || die "no archive URIs found in $SYSTEM_SOURCES"
	key=$(signed_by)
	mkdir -p "$APT_DIR/sources.list.d" "$APT_DIR/lists/partial" \
		"$APT_DIR/cache/archives/partial" "$APT_DIR/preferences.d"
	{
		echo "Types: deb"
		echo "URIs: $uri"
		echo "Suites: $SUITE"
		echo "Components: main"
		[ -n "$key" ] && echo "Signed-By: $key"
	} >"$APT_DIR/sources.list.d/$SUITE.sources"
}

# Every apt command runs with private sources, lists and caches
# (pkgcache.bin included), so the system's apt state is left alone.
apt_priv() {
	local cmd=$1
	shift
	"$cmd" -q \
		-o Dir::Etc::sourcelist=/dev/null \
		-o Dir::Etc::sourceparts="$APT_DIR/sources.list.d" \
		-o Dir::Etc::preferencesparts="$APT_DIR/preferences.d" \
		-o Dir::State::Lists="$APT_DIR/lists" \
		-o Dir::Cache="$APT_DIR/cache" \
		-o Dir::Cache::archives="$APT_DIR/cache/archives" \
		-o APT::Sandbox::User=root \
		"$@"
}

# image_package: linux-image-<KGLOB>-amd64, resolved from the metapackage.
image_package() {
	apt_priv apt-cache depends linux-image-amd64 2>/dev/null |
		KREGEX=$KREGEX awk '$1 == "Depends:" && $2 ~ ENVIRON["KREGEX"] { print $2; exit }'
}

# parts_of DEB: the packages DEB depends on that carry its kernel's
# release in their names.  trixie's image package holds everything (none);
# from 7.x on it is empty and pulls linux-base-REL (modules.builtin),
# linux-binary-REL (vmlinuz) and linux-modules-REL.
parts_of() {
	local rel
	rel=$(dpkg-deb -f "$1" Package) || return 1
	rel=${rel#linux-image-}
	dpkg-deb -f "$1" Depends | tr ',' '\n' | grep -v '|' |
		awk -v r="$rel" '{ n = $1; if (substr(n, length(n) - length(r)) == "-" r) print n }'
}

# cached_debs IMAGE_DEB: IMAGE_DEB and the .deb of each of its parts,
# one a line, or status 1 when a part is not in the cache.
cached_debs() {
	local part deb
	printf '%s\n' "$1"
	for part in $(parts_of "$1"); do
		deb=$(ls -t "$APT_DIR"/cache/archives/"$part"_*.deb 2>/dev/null | head -n 1 || true)
		[ -n "$deb" ] || return 1
		printf '%s\n' "$deb"
	done
}

# download PKG: PKG's .deb into the private cache.
download() {
	say "downloading $1"
	(cd "$APT_DIR/cache/archives" && apt_priv apt-get download "$1" >&2) ||
		die "apt-get download $1 failed"
}

# fetch_debs: prints the paths of the cached kernel .deb files (the image
# package first, then its parts), downloading them (and the package
# lists) when they are not all there.
fetch_debs() {
	local deb pkg part list
	deb=$(ls -t "$APT_DIR"/cache/archives/linux-image-$KGLOB-amd64_*.deb 2>/dev/null | head -n 1 || true)
	if [ -n "$deb" ] && [ "${FORCE:-0}" != 1 ] && list=$(cached_debs "$deb"); then
		printf '%s\n' "$list"
		return
	fi
	command -v apt-get >/dev/null || die "apt-get not found"
	write_sources
	say "updating private package lists for $SUITE (once)"
	apt_priv apt-get update >&2 || die "apt-get update failed (no network?)"
	pkg=$(image_package)
	[ -n "$pkg" ] || die "no linux-image-$KGLOB-amd64 in $SUITE (apt-cache depends linux-image-amd64 found none)"
	download "$pkg"
	deb=$(ls -t "$APT_DIR"/cache/archives/"$pkg"_*.deb 2>/dev/null | head -n 1 || true)
	[ -n "$deb" ] || die "downloaded $pkg but found no .deb"
	for part in $(parts_of "$deb"); do
		download "$part"
	done
	list=$(cached_debs "$deb") || die "downloaded the parts of $pkg but found no .deb for one"
	printf '%s\n' "$list"
}

# ------------------------------------------------------------- modules

# decompress SRC DST: a module file, whatever its compression.
decompress() {
	case $1 in
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -q -dc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*.ko) cp "$1" "$2" ;;
	*) return 1 ;;
	esac
}

# mod_depends KO: the names in its modinfo depends= entry, one a line.
mod_depends() {
	tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n 1 | tr ',' '\n' | sed '/^$/d'
}

declare -A MOD_PATH=() MOD_DONE=() BUILTIN=()
ORDER=()

# index_modules ROOT: name (with '-' as '_') -> file, for every module.
index_modules() {
	local f n
	while IFS= read -r f; do
		n=${f##*/}
		n=${n%%.ko*}
		MOD_PATH[${n//-/_}]=$f
	done < <(find "$1" -name '*.ko*' -type f)
}

# index_builtin FILE: the names in a modules.builtin (missing: none).
index_builtin() {
	local f n
	[ -f "$1" ] || return 0
	while IFS= read -r f; do
		n=${f##*/}
		n=${n%.ko}
		BUILTIN[${n//-/_}]=1
	done <"$1"
}

# add_wanted ENTRY: an entry of MODULES, "NAME" or "NAME|NAME...": the
# first name the kernel has as a module is added; a built-in one needs
# nothing.
add_wanted() {
	local n
	for n in ${1//|/ }; do
		n=${n//-/_}
		if [ -n "${BUILTIN[$n]:-}" ]; then
			say "$n is built in"
			return 0
		fi
		if [ -n "${MOD_PATH[$n]:-}" ]; then
			add_module "$n"
			return 0
		fi
	done
	die "module ${1//|/ or } not found in the kernel package"
}

# add_module NAME: NAME's dependencies first, then NAME (decompressed).
add_module() {
	local n=${1//-/_} src dep
	[ -n "${MOD_DONE[$n]:-}" ] && return 0
	src=${MOD_PATH[$n]:-}
	[ -n "$src" ] || die "module $n not found in the kernel package"
	MOD_DONE[$n]=1
	decompress "$src" "$KDIR.new/modules/$n.ko" || die "cannot decompress $src"
	for dep in $(mod_depends "$KDIR.new/modules/$n.ko"); do
		add_module "$dep"
	done
	ORDER+=("$n")
}

# ------------------------------------------------------------- extract

# stamp_text DEB...: what the unpacked kernel was made from.
stamp_text() {
	local d
	for d in "$@"; do
		printf 'deb=%s\n' "$(basename "$d")"
	done
	printf 'modules=%s\n' "$MODULES"
}

# extract DEB...: the image package and its parts, unpacked together.
extract() {
	local tmp ver m d mdir vmlinuz
	tmp=$CACHE/tmp.unpack
	rm -rf "$tmp" "$KDIR.new"
	mkdir -p "$tmp" "$KDIR.new/modules"
	for d in "$@"; do
		say "unpacking $(basename "$d")"
		dpkg-deb -x "$d" "$tmp" || die "dpkg-deb -x $d failed"
	done
	mdir=$tmp/lib/modules
	[ -d "$mdir" ] || mdir=$tmp/usr/lib/modules
	ver=$(ls "$mdir" 2>/dev/null | head -n 1)
	[ -n "$ver" ] || die "no lib/modules/<version> in $(basename "$1")"
	vmlinuz=$tmp/boot/vmlinuz-$ver
	[ -f "$vmlinuz" ] || vmlinuz=$mdir/$ver/vmlinuz
	[ -f "$vmlinuz" ] || die "no boot/vmlinuz-$ver or $ver/vmlinuz in the kernel packages"
	cp "$vmlinuz" "$KDIR.new/vmlinuz"
	index_modules "$tmp"
	index_builtin "$mdir/$ver/modules.builtin"
	for m in $MODULES; do
		add_wanted "$m"
	done
	printf '%s\n' "${ORDER[@]}" >"$KDIR.new/modules.order"
	echo "$ver" >"$KDIR.new/version"
	stamp_text "$@" >"$KDIR.new/stamp"
	rm -rf "$tmp" "$KDIR"
	mv "$KDIR.new" "$KDIR"
}

# is_ready DEB...: the unpacked kernel is there and made from DEB...
is_ready() {
	[ -f "$KDIR/stamp" ] && [ -f "$KDIR/vmlinuz" ] && [ -s "$KDIR/modules.order" ] &&
		[ "$(cat "$KDIR/stamp")" = "$(stamp_text "$@")" ]
}

report() {
	echo "kernel:   $KDIR/vmlinuz ($(cat "$KDIR/version"), GUEST_KERNEL=$GUEST_KERNEL)"
	echo "modules:  $KDIR/modules/ ($(wc -l <"$KDIR/modules.order") in $KDIR/modules.order)"
	echo "package:  $1"
}

main() {
	local debs
	FORCE=0
	case ${1:-} in
	--force) FORCE=1 ;;
	"") ;;
	*) die "usage: $0 [--force]" ;;
	esac
	mkdir -p "$CACHE"
	exec 9>"$CACHE/fetch.lock"
	flock 9 # one fetch at a time; a second caller then finds it done
	mapfile -t debs < <(fetch_debs)
	[ ${#debs[@]} -gt 0 ] || exit 1 # fetch_debs said why
	if [ "$FORCE" = 1 ] || ! is_ready "${debs[@]}"; then
		extract "${debs[@]}"
	fi
	report "${debs[0]}"
}

main "$@"
