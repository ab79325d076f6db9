# Image builders shared by the read-path interop scripts (read-*.sh).
# Sourced after tests/lib.sh; every builder sets IMG, records the regions
# it leaves holding a constant pattern with expect_pattern, and returns
# non-zero when qemu-img/qemu-io fail.  Sizes are in bytes.

# read_setup: scratch dir, the oracle, and the -s source files.
read_setup() {
	setup_work
	require_qemu
	mkdata rnd.bin 4093 1 || exit 1                 # repeats: compressible
	mkdata big.bin 200003 2 || exit 1               # incompressible
	mkdata text.bin 70001 3 compressible || exit 1  # text-like
}

max() { [ "$1" -gt "$2" ] && echo "$1" || echo "$2"; }

# ws_basic IMG CS SIZE [FLAGS]: the common workload, cluster indices
# 0..12, one big write (across L2 tables for small clusters) at cluster
# 24 or the middle, and one at the very end.  SIZE >= 40 clusters.
# Unaligned and cluster-crossing writes, zero writes (partial and whole
# cluster, on allocated and unallocated clusters), discards (aligned and
# unaligned), compressed clusters partly overwritten.  FLAGS: "nocomp" no
# compressed writes; "ctail" the image ends mid-cluster and that partial
# last cluster is written compressed.
ws_basic() {
	local img=$1 cs=$2 size=$3 flags=${4:-} nocomp='' ctail='' c=()
	case " $flags " in *" nocomp "*) nocomp=1 ;; esac
	case " $flags " in *" ctail "*) ctail=$((size % cs)) ;; esac
	local a=$((cs / 2 + 100)) big blen
	big=$(($(max $((size / 2)) $((24 * cs))) - 100))
	blen=$((size / 4 > 3 << 20 ? 3 << 20 : size / 4))
	c+=("write -P 0x11 $a $((2 * cs))")
	c+=("write -z $((a + 2 * cs - 250)) 200")
	c+=("write -s rnd.bin $((3 * cs + 1000)) $cs")
	c+=("write -z $((5 * cs + 512)) $cs")
	c+=("write -P 0x22 $((7 * cs)) $((2 * cs))")
	c+=("discard $((8 * cs)) $cs")
	c+=("discard $((7 * cs + 17)) 100")
	c+=("write -P 0x66 $((9 * cs)) $cs")
	c+=("write -z $((9 * cs)) $cs")
	if [ -z "$nocomp" ]; then
		c+=("write -c -P 0x33 $((10 * cs)) $((2 * cs))")
		c+=("write -c -s rnd.bin $((12 * cs)) $cs")
	else
		c+=("write -P 0x33 $((10 * cs)) $((2 * cs))")
		c+=("write -s big.bin $((12 * cs)) $cs")
	fi
	c+=("write -P 0x44 $((11 * cs + 100)) 200")
	c+=("write -P 0x77 $big $blen")
	c+=("write -s big.bin $((big + blen / 2)) 5000")
	if [ -n "$ctail" ]; then
		c+=("write -P 0x55 $((size - 3000)) $((3000 - ctail))")
		c+=("write -c -P 0x55 $((size - ctail)) $ctail")
	else
		c+=("write -P 0x55 $((size - 3000)) 3000")
	fi
	qio "$img" "${c[@]}" || return 1
	expect_pattern 0x11 $a $cs
	expect_pattern 0x22 $((7 * cs)) $cs
	expect_pattern 0x33 $((10 * cs)) $cs
	expect_pattern 0x44 $((11 * cs + 100)) 200
	expect_pattern 0x77 $big $((blen / 2))
	expect_pattern 0x55 $((size - 3000)) 3000
	expect_pattern 0x00 $((9 * cs)) $cs
}

# basic_size CS: at least 4 MiB, at least 40 clusters.
basic_size() { max $((4 << 20)) $((40 * $1)); }

# b_plain CS COMPAT [extra -o options [SIZE [FLAGS]]]: fresh image +
# ws_basic.
b_plain() {
	local cs=$1 compat=$2 opts=${3:-} size=${4:-} flags=${5:-}
	[ -n "$size" ] || size=$(basic_size "$cs")
	IMG=$CFG.qcow2
	qimg create -f qcow2 -o "cluster_size=$cs,compat=$compat${opts:+,$opts}" \
		"$IMG" "$size" || return 1
	ws_basic "$IMG" "$cs" "$size" "$flags"
}

# ws_subcluster IMG CS: extended-L2 workload in clusters 14..21 (free in
# ws_basic): single subclusters, runs crossing
# cluster boundaries, zeroed and discarded subclusters, a compressed
# cluster.
ws_subcluster() {
	local img=$1 cs=$2 sc=$(($2 / 32)) b=$((14 * $2)) c=()
	c+=("write -P 0x61 $((b + 3 * sc)) $sc")
	c+=("write -P 0x62 $((b + 5 * sc + 7)) $((2 * sc))")
	c+=("write -P 0x63 $((b + cs - sc / 2)) $sc")
	c+=("write -P 0x64 $((b + 2 * cs)) $cs")
	c+=("write -z $((b + 2 * cs + 4 * sc)) $((3 * sc))")
	c+=("discard $((b + 2 * cs + 10 * sc)) $((2 * sc))")
	c+=("write -z $((b + 3 * cs + 8 * sc)) $((4 * sc))")
	c+=("write -P 0x65 $((b + 3 * cs + 9 * sc)) $((sc / 2))")
	c+=("write -c -P 0x66 $((b + 4 * cs)) $cs")
	c+=("write -P 0x67 $((b + 4 * cs + 31 * sc)) $((sc + 100))")
	c+=("write -z -u $((b + 6 * cs)) $((3 * sc))")
	c+=("write -P 0x68 $((b + 7 * cs - 3 * sc)) $((6 * sc))")
	c+=("write -z $((b + 7 * cs)) $sc")
	qio "$img" "${c[@]}" || return 1
	expect_pattern 0x61 $((b + 3 * sc)) $sc
	expect_pattern 0x62 $((b + 5 * sc + 7)) $((2 * sc))
	expect_pattern 0x63 $((b + cs - sc / 2)) $sc
	expect_pattern 0x64 $((b + 2 * cs)) $((4 * sc))
	expect_pattern 0x66 $((b + 4 * cs)) $((31 * sc))
	expect_pattern 0x68 $((b + 7 * cs - 3 * sc)) $((3 * sc))
}

# ws_after_snapshot IMG CS: writes into clusters a snapshot shares
# (copy-on-write of refcount > 1 clusters), a discard and a zero write of
# shared clusters, all outside the regions ws_basic expects.
ws_after_snapshot() {
	local img=$1 cs=$2
	qio "$img" "write -P 0x9a $((4 * cs)) 100" \
		"write -z $((12 * cs)) $cs" \
		"discard $((3 * cs)) $cs" \
		"write -P 0x9b $((13 * cs - 50)) 100" || return 1
	expect_pattern 0x9a $((4 * cs)) 100
	expect_pattern 0x9b $((13 * cs - 50)) 100
}

# ws_compress IMG CS: more compressed writes in clusters 13..16 (free in
# ws_basic): text-like data, incompressible data (qemu stores such
# clusters uncompressed), all-zero data, and one partly overwritten.
ws_compress() {
	local img=$1 cs=$2
	qio "$img" "write -c -s text.bin $((13 * cs)) $cs" \
		"write -c -s big.bin $((14 * cs)) $((2 * cs))" \
		"write -c -P 0 $((16 * cs)) $cs" \
		"write -c -P 0x3c $((17 * cs)) $cs" \
		"write -P 0x3d $((17 * cs + cs / 2)) 17" || return 1
	expect_pattern 0x00 $((16 * cs)) $cs
	expect_pattern 0x3c $((17 * cs)) $((cs / 2))
}

# b_compress_io CS COMPAT TYPE: qemu-io write -c on an image with
# compression_type=TYPE.
b_compress_io() {
	b_plain "$1" "$2" "compression_type=$3" && ws_compress "$IMG" "$1"
}

# b_compress_convert CS COMPAT TYPE: `qemu-img convert -c` of a raw file
# of text-like, random, zero and constant data whose size is not a
# multiple of the cluster size.
b_compress_convert() {
	local cs=$1 compat=$2 type=$3 size=$(((3 << 20) + 1536))
	local src=$CFG.src.raw
	IMG=$CFG.qcow2
	qimg create -f raw "$src" $size || return 1
	qio -f raw "$src" "write -s text.bin 0 1M" \
		"write -s big.bin 1M 512k" \
		"write -P 0x5a 2M 512k" \
		"write -s rnd.bin $(((2 << 20) + (512 << 10))) 256k" \
		"write -P 0x21 $((size - 3000)) 3000" || return 1
	qimg convert -c -f raw -O qcow2 \
		-o "cluster_size=$cs,compat=$compat,compression_type=$type" \
		"$src" "$IMG" || return 1
	rm -f "$src"
	expect_pattern 0x5a 2M 512k
	expect_pattern 0x21 $((size - 3000)) 3000
	expect_pattern 0x00 1536k 512k
}
