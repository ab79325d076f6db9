#!/bin/bash
# Downloads (once) the Debian trixie 6.12 kernel, whose modules include
# ublk_drv, and unpacks what the test guest needs into .cache/guest/kernel/:
#     vmlinuz          the kernel
#     modules/*.ko     decompressed modules (only those in MODULES + deps)
#     modules.order    their names, one a line, in load (dependency) order
#     version          the kernel release, e.g. 6.12.38+deb13-amd64
#
# The system's apt configuration is not touched: a private sources file
# (URIs copied at run time from the system's Debian sources, suite trixie)
# and private lists/cache directories live in .cache/guest/apt/.
# The .deb stays cached there, so changing MODULES re-extracts offline.
#
# Usage: tests/guest/fetch-kernel.sh [--force]   (--force: fetch again)
# Exit status: 0 ready, 1 could not fetch or unpack (message on stderr).
set -eu

GUEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$GUEST_DIR/../.." && pwd)
CACHE=$REPO_ROOT/.cache/guest
APT_DIR=$CACHE/apt
KDIR=$CACHE/kernel
SYSTEM_SOURCES=/etc/apt/sources.list.d/debian.sources
SUITE=trixie
KSERIES=6.12

# What the guest loads; their dependencies are added automatically.
MODULES="ublk_drv loop nbd netfs 9pnet 9pnet_virtio 9p \
jbd2 crc16 mbcache crc32c_generic ext4 af_alg algif_skcipher algif_hash"

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

# image_package: linux-image-6.12.*-amd64, resolved from the metapackage.
image_package() {
	apt_priv apt-cache depends linux-image-amd64 2>/dev/null |
		awk -v s="linux-image-$KSERIES." '$1 == "Depends:" && index($2, s) == 1 { print $2; exit }'
}

# fetch_deb: prints the path of the cached kernel .deb, downloading it
# (and the package lists) when there is none.
fetch_deb() {
	local deb pkg
	deb=$(ls -t "$APT_DIR"/cache/archives/linux-image-"$KSERIES".*-amd64_*.deb 2>/dev/null | head -n 1 || true)
	if [ -n "$deb" ] && [ "${FORCE:-0}" != 1 ]; then
		printf '%s\n' "$deb"
		return
	fi
	command -v apt-get >/dev/null || die "apt-get not found"
	write_sources
	say "updating private package lists for $SUITE (once)"
	apt_priv apt-get update >&2 || die "apt-get update failed (no network?)"
	pkg=$(image_package)
	[ -n "$pkg" ] || die "no linux-image-$KSERIES.*-amd64 in $SUITE (apt-cache depends linux-image-amd64 found none)"
	say "downloading $pkg"
	(cd "$APT_DIR/cache/archives" && apt_priv apt-get download "$pkg" >&2) ||
		die "apt-get download $pkg failed"
	deb=$(ls -t "$APT_DIR"/cache/archives/"$pkg"_*.deb 2>/dev/null | head -n 1 || true)
	[ -n "$deb" ] || die "downloaded $pkg but found no .deb"
	printf '%s\n' "$deb"
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

declare -A MOD_PATH=() MOD_DONE=()
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

stamp_text() {
	printf 'deb=%s\nmodules=%s\n' "$(basename "$1")" "$MODULES"
}

extract() {
	local deb=$1 tmp ver m
	tmp=$CACHE/tmp.unpack
	rm -rf "$tmp" "$KDIR.new"
	mkdir -p "$tmp" "$KDIR.new/modules"
	say "unpacking $(basename "$deb")"
	dpkg-deb -x "$deb" "$tmp" || die "dpkg-deb -x $deb failed"
	ver=$(ls "$tmp/lib/modules" 2>/dev/null | head -n 1)
	[ -n "$ver" ] || ver=$(ls "$tmp/usr/lib/modules" 2>/dev/null | head -n 1)
	[ -n "$ver" ] || die "no lib/modules/<version> in $deb"
	[ -f "$tmp/boot/vmlinuz-$ver" ] || die "no boot/vmlinuz-$ver in $deb"
	cp "$tmp/boot/vmlinuz-$ver" "$KDIR.new/vmlinuz"
	index_modules "$tmp"
	for m in $MODULES; do
		add_module "$m"
	done
	printf '%s\n' "${ORDER[@]}" >"$KDIR.new/modules.order"
	echo "$ver" >"$KDIR.new/version"
	stamp_text "$deb" >"$KDIR.new/stamp"
	rm -rf "$tmp" "$KDIR"
	mv "$KDIR.new" "$KDIR"
}

is_ready() {
	[ -f "$KDIR/stamp" ] && [ -f "$KDIR/vmlinuz" ] && [ -s "$KDIR/modules.order" ] &&
		[ "$(cat "$KDIR/stamp")" = "$(stamp_text "$1")" ]
}

report() {
	echo "kernel:   $KDIR/vmlinuz ($(cat "$KDIR/version"))"
	echo "modules:  $KDIR/modules/ ($(wc -l <"$KDIR/modules.order") in $KDIR/modules.order)"
	echo "package:  $1"
}

main() {
	local deb
	FORCE=0
	case ${1:-} in
	--force) FORCE=1 ;;
	"") ;;
	*) die "usage: $0 [--force]" ;;
	esac
	mkdir -p "$CACHE"
	exec 9>"$CACHE/fetch.lock"
	flock 9 # one fetch at a time; a second caller then finds it done
	deb=$(fetch_deb)
	if [ "$FORCE" = 1 ] || ! is_ready "$deb"; then
		extract "$deb"
	fi
	report "$deb"
}

main "$@"
