#!/bin/bash
# qcow-img's writing verbs against qemu-img's: create, convert, resize,
# commit, rebase and amend run by qemu-img in ref/ and by qcow-img in
# ours/ on copies of the same inputs.  Same exit status and stdout,
# stderr alike in kind (tool_both); the results must be identical for
# qemu-img compare, clean for qemu-img check, and equal in qemu-img info
# (filenames and disk usage aside).
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"
# shellcheck source=tests/interop/write-workloads.bash
. "$(dirname "$0")/write-workloads.bash"

# fresh FILE...: copies of the inputs in ours/ and ref/, nothing else.
fresh() {
	rm -rf ours ref
	mkdir ours ref
	[ $# -gt 0 ] && cp "$@" ours/ && cp "$@" ref/
}

# results NAME IMG...: for each image, identical content, equal info, and
# a clean check for qcow2 ones.
results() {
	local name=$1 img
	shift
	for img in "$@"; do
		same_content "$name/compare-$img" "ours/$img" "ref/$img"
		info_equal "$name/info-$img" "ours/$img" "ref/$img"
		case $img in
		*.raw) ;;
		*) clean_check "$name/check-$img" "ours/$img" ;;
		esac
	done
}

# ---------------------------------------------------------------- create

# create_ok NAME ARGS...: qcow-img create ARGS (the image: img.qcow2, or
# img.raw) makes the image qemu-img makes.
create_ok() {
	local name=create/$1 img=img.qcow2
	shift
	case " $* " in *" img.raw "*) img=img.raw ;; esac
	fresh base.qcow2 base.raw
	tool_both "$name" create "$@" && results "$name" $img
}

# create_info NAME ARGS...: only info compared (no backing file to read).
create_info() {
	local name=create/$1
	shift
	fresh
	tool_both "$name" create "$@" &&
		info_equal "$name/info-img.qcow2" ours/img.qcow2 ref/img.qcow2
}

create_err() {
	local name=create/$1
	shift
	fresh base.qcow2
	tool_both "$name" create "$@"
}

test_create() {
	local o i=0
	for o in "" cluster_size=512 cluster_size=4k,compat=0.10 \
		cluster_size=2M compat=v2 refcount_bits=1 \
		refcount_bits=64,lazy_refcounts=on extended_l2=on \
		extended_l2=on,cluster_size=16k,preallocation=metadata \
		compression_type=zstd preallocation=metadata \
		preallocation=falloc,cluster_size=4k preallocation=full \
		data_file=@DIR@/img.data \
		data_file=@DIR@/img.data,data_file_raw=on \
		data_file=@DIR@/img.data,data_file_raw=on,preallocation=full; do
		i=$((i + 1))
		create_ok "opts-$i-${o:-default}" -f qcow2 ${o:+-o "$o"} img.qcow2 3M
	done
	create_ok size-unaligned -f qcow2 img.qcow2 1000
	create_ok size-128G -f qcow2 -o cluster_size=512 img.qcow2 128G
	create_err size-too-large -f qcow2 -o cluster_size=512 img.qcow2 1T
	create_ok quiet -q -f qcow2 img.qcow2 1M
	create_ok backing-size -f qcow2 -b base.qcow2 -F qcow2 img.qcow2
	create_ok backing-raw -f qcow2 -b base.raw -F raw -o cluster_size=4k img.qcow2 8M
	create_ok backing-opts -f qcow2 -o backing_file=base.qcow2,backing_fmt=qcow2,extended_l2=on img.qcow2
	create_info backing-unsafe -f qcow2 -u -b missing.qcow2 -F qcow2 img.qcow2 1M
	create_ok raw -f raw img.raw 2M
	create_ok raw-falloc -f raw -o preallocation=falloc img.raw 2M
	create_err no-backing-format -f qcow2 -b base.qcow2 img.qcow2
	create_err no-size -f qcow2 img.qcow2
	create_err unsafe-no-size -f qcow2 -u -b base.qcow2 -F qcow2 img.qcow2
	create_err v2-refcount -f qcow2 -o compat=0.10,refcount_bits=1 img.qcow2 1M
	create_err v2-lazy -f qcow2 -o compat=0.10,lazy_refcounts=on img.qcow2 1M
	create_err bad-cluster -f qcow2 -o cluster_size=1000 img.qcow2 1M
	create_err small-extl2 -f qcow2 -o cluster_size=4k,extended_l2=on img.qcow2 1M
	create_err bad-param -f qcow2 -o foo=bar img.qcow2 1M
	create_err bad-bool -f qcow2 -o lazy_refcounts=maybe img.qcow2 1M
	create_err bad-compat -f qcow2 -o compat=2 img.qcow2 1M
	create_err raw-only -f qcow2 -o data_file_raw=on img.qcow2 1M
	create_err missing-backing -f qcow2 -b missing.qcow2 -F qcow2 img.qcow2 1M
}

# --------------------------------------------------------------- convert

# convert_case NAME SRC shape|- ARGS...: qcow-img convert ARGS SRC to
# out.qcow2 (out.raw with -O raw); "shape": allocation as qemu-img's.
convert_case() {
	local name=convert/$1 src=$2 shape=$3 out=out.qcow2
	shift 3
	case " $* " in *" -O raw "*) out=out.raw ;; esac
	fresh
	tool_both "$name" convert "$@" "../$src" $out || return
	results "$name" $out
	same_content "$name/source" ours/$out "$src"
	[ "$shape" = shape ] && map_shape "$name/map" ours/$out ref/$out
}

test_convert() {
	convert_case qcow2 src.qcow2 shape -O qcow2
	convert_case compressed src.qcow2 shape -O qcow2 -c
	convert_case c4k-v2 src.qcow2 shape -O qcow2 -o cluster_size=4k,compat=0.10
	convert_case extl2-r1 src.qcow2 shape -O qcow2 -o extended_l2=on,refcount_bits=1
	convert_case zstd-compressed src.qcow2 shape -O qcow2 -c -o compression_type=zstd
	convert_case raw src.qcow2 - -O raw
	convert_case from-raw src.raw shape -f raw -O qcow2 -o cluster_size=4k
	convert_case sparse-0 src.qcow2 shape -O qcow2 -S 0
	convert_case chain ovl.qcow2 shape -O qcow2
	convert_case backing ovl.qcow2 - -O qcow2 -B ../base.qcow2 -F qcow2
	convert_case backing-compressed ovl.qcow2 - -O qcow2 -c -B ../base.qcow2 -F qcow2
	# -n: into an existing image full of other data
	fresh junk.qcow2
	mv ours/junk.qcow2 ours/out.qcow2
	mv ref/junk.qcow2 ref/out.qcow2
	tool_both convert/existing convert -n -O qcow2 ../src.qcow2 out.qcow2 &&
		results convert/existing out.qcow2 &&
		same_content convert/existing/source ours/out.qcow2 src.qcow2
	fresh
	tool_both convert/compress-raw convert -c -O raw ../src.qcow2 out.raw
	tool_both convert/backing-no-format convert -O qcow2 -B ../base.qcow2 ../ovl.qcow2 out.qcow2
}

# ---------------------------------------------------------------- resize

test_resize() {
	local img=$1 steps=("${@:2}") i=0 s
	fresh base.qcow2 base.raw
	[ -e "ours/$img" ] || { cp "$img" ours/ && cp "$img" ref/; }
	for s in "${steps[@]}"; do
		i=$((i + 1))
		# shellcheck disable=SC2086
		tool_both "resize/$img/$i" resize $s || return
		results "resize/$img/$i" "$(basename "$img")"
	done
}

# ---------------------------------------------------------------- commit

# commit_case NAME FILES ARGS... TOP: commit ARGS TOP in copies of FILES;
# TOP must then be allocated as qemu-img leaves it (not compared over a
# raw base: qemu-img punches holes into it where we write zeros).
commit_case() {
	local name=commit/$1 files=$2 top=${!#}
	shift 2
	# shellcheck disable=SC2086
	fresh $files
	tool_both "$name" commit "$@" || return
	# shellcheck disable=SC2086
	results "$name" $files
	case $files in *.raw*) return ;; esac
	map_shape "$name/map-top" "ours/$top" "ref/$top"
}

test_commit() {
	commit_case empty "base.qcow2 top.qcow2" top.qcow2
	commit_case keep "base.qcow2 top.qcow2" -d top.qcow2
	commit_case quiet "base.qcow2 top.qcow2" -q top.qcow2
	commit_case raw-base "base.raw rtop.qcow2" rtop.qcow2
	commit_case grows-base "short.qcow2 long.qcow2" long.qcow2
	commit_case into-base "base.qcow2 mid.qcow2 mtop.qcow2" -b base.qcow2 mtop.qcow2
	commit_case into-mid "base.qcow2 mid.qcow2 mtop.qcow2" mtop.qcow2
	fresh base.qcow2
	tool_both commit/no-backing commit base.qcow2
}

# ---------------------------------------------------------------- rebase

rebase_case() {
	local name=rebase/$1
	shift
	fresh base.qcow2 base.raw base2.qcow2 top.qcow2
	tool_both "$name" rebase "$@" top.qcow2 || return
	case " $* " in
	*missing*) info_equal "$name/info-top.qcow2" ours/top.qcow2 ref/top.qcow2 ;;
	*) results "$name" top.qcow2 ;;
	esac
}

test_rebase() {
	rebase_case new-base -b base2.qcow2 -F qcow2
	rebase_case raw-base -b base.raw -F raw
	rebase_case no-base -b ""
	rebase_case unsafe -u -b base2.qcow2 -F qcow2
	rebase_case unsafe-missing -u -b missing.qcow2 -F qcow2
	rebase_case missing -b missing.qcow2 -F qcow2
}

# ----------------------------------------------------------------- amend

amend_case() {
	local name=amend/$1 img=$2
	shift 2
	fresh "$img" base.qcow2 base2.qcow2
	tool_both "$name" amend "$@" "$img" || return
	results "$name" "$img"
}

test_amend() {
	amend_case to-v2 src.qcow2 -o compat=0.10
	amend_case to-v3 v2.qcow2 -o compat=1.1
	amend_case lazy src.qcow2 -o lazy_refcounts=on
	amend_case refcount-1 src.qcow2 -o refcount_bits=1
	amend_case refcount-64 src.qcow2 -o refcount_bits=64
	amend_case refcount-8-v2 v2.qcow2 -o compat=1.1,refcount_bits=8
	amend_case v3-lazy v2.qcow2 -o compat=v3,lazy_refcounts=on
	amend_case grow src.qcow2 -o size=16M
	amend_case backing top.qcow2 -o backing_file=base2.qcow2,backing_fmt=qcow2
	amend_case create-only src.qcow2 -o cluster_size=4k
	amend_case unknown src.qcow2 -o foo=1
}

# ------------------------------------------------------------- bad usage

# Bad command lines: exit status as qemu-img's, nothing on stdout, and a
# one-line message on stderr naming what is wrong.
test_usage() {
	fresh src.qcow2
	tool_both usage/no-name create -f qcow2
	tool_both usage/extra-arg create -f qcow2 img.qcow2 1M 2M
	tool_both usage/unknown-option create -f qcow2 --frobnicate img.qcow2 1M
	tool_both usage/missing-value create -f qcow2 img.qcow2 1M -o
	tool_both usage/bad-option-list create -f qcow2 -o , img.qcow2 1M
	tool_both usage/bad-repair check -r sometimes src.qcow2
	tool_both usage/bad-output info --output=xml src.qcow2
	tool_both usage/bad-sparse convert -S 3 src.qcow2 out.raw
	tool_both usage/resize-no-size resize src.qcow2
	tool_both usage/amend-no-options amend src.qcow2
	tool_both usage/rebase-no-backing rebase src.qcow2
	tool_both usage/compare-one compare src.qcow2
	tool_both usage/unknown-verb frobnicate src.qcow2
	results usage src.qcow2
}

# ---------------------------------------------------------------- inputs

inputs() {
	local c=()
	ws_write 65536 $((8 << 20))
	qimg create -f qcow2 src.qcow2 8M &&
		qio src.qcow2 "${W1[@]}" "${W2[@]}" &&
		qimg convert -O raw src.qcow2 src.raw &&
		qimg create -f qcow2 -o compat=0.10,cluster_size=4k v2.qcow2 8M &&
		qio v2.qcow2 "write -P 0x21 100k 1M" "write -z 2M 1M" &&
		qimg create -f qcow2 base.qcow2 8M &&
		qio base.qcow2 "write -P 0xa1 0 5M" "write -c -P 0xa2 6M 128k" &&
		qimg create -f qcow2 -o cluster_size=4096 base2.qcow2 8M &&
		qio base2.qcow2 "write -P 0xa1 0 1M" "write -P 0xb1 1M 6M" &&
		qimg create -f raw base.raw 8M &&
		qio -f raw base.raw "write -P 0xa1 0 2M" "write -P 0xc1 3M 1M" || return 1
	c=("write -P 0xe1 64k 64k" "write -z 1M 64k" "discard 1536k 64k"
		"write -P 0xe2 3M 100" "write -c -P 0xe3 5M 128k"
		"write -z 7M 1M")
	qimg create -f qcow2 -b base.qcow2 -F qcow2 top.qcow2 &&
		qio top.qcow2 "${c[@]}" &&
		qimg create -f qcow2 -b base.raw -F raw -o cluster_size=4k rtop.qcow2 &&
		qio rtop.qcow2 "${c[@]}" &&
		qimg create -f qcow2 -b base.qcow2 -F qcow2 -o cluster_size=16k ovl.qcow2 &&
		qio ovl.qcow2 "${c[@]}" "write -P 0xa1 2M 64k" &&
		qimg create -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 &&
		qio mid.qcow2 "write -P 0xd1 1M 2M" "write -z 4M 64k" &&
		qimg create -f qcow2 -b mid.qcow2 -F qcow2 mtop.qcow2 &&
		qio mtop.qcow2 "${c[@]}" &&
		qimg create -f qcow2 short.qcow2 2M &&
		qio short.qcow2 "write -P 0x51 0 2M" &&
		qimg create -f qcow2 -b short.qcow2 -F qcow2 long.qcow2 6M &&
		qio long.qcow2 "write -P 0x52 1M 2M" "write -P 0x53 5M 64k" &&
		qimg create -f qcow2 junk.qcow2 8M &&
		qio junk.qcow2 "write -P 0x5a 0 8M"
}

write_setup
if ! inputs; then
	fail "write-img/setup" "qemu could not build the inputs (log: $SETUP_LOG)"
	finish
fi
test_create
test_convert
test_resize src.qcow2 "src.qcow2 +3M" "src.qcow2 -1M" "--shrink src.qcow2 -2M" \
	"src.qcow2 1G" "--shrink src.qcow2 9M" "-q src.qcow2 10M" "src.qcow2 0"
test_resize v2.qcow2 "v2.qcow2 2G" "--shrink v2.qcow2 4M" "v2.qcow2 +100M"
test_resize base.raw "-f raw base.raw 12M" "-f raw --shrink base.raw 1M"
test_resize top.qcow2 "top.qcow2 12M" "--shrink top.qcow2 3M" "top.qcow2 +5M"
test_commit
test_rebase
test_amend
test_usage
finish
