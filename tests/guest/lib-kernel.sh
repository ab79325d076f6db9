# shellcheck shell=bash
# Which kernel the test guest boots; sourced by fetch-kernel.sh,
# mkinitrd.sh and run.sh after they set CACHE.
#
# GUEST_KERNEL names the Debian suite the kernel comes from: unset or
# "trixie" is the default, trixie's 6.12 (cache .cache/guest/kernel/,
# initramfs .cache/guest/initrd.img); another suite, e.g. forky or
# trixie-backports, takes that suite's linux-image-amd64, whatever its
# version, cached apart (.cache/guest/kernel-SUITE/, apt-SUITE/,
# initrd-SUITE.img).
#
# Sets GUEST_KERNEL, KERNEL_TAG ("" or "-SUITE") and KDIR; exits 1 on a
# malformed name.

GUEST_KERNEL=${GUEST_KERNEL:-trixie}
case $GUEST_KERNEL in
-* | *[!a-z0-9-]*)
	echo "GUEST_KERNEL='$GUEST_KERNEL': not a Debian suite name (e.g. forky)" >&2
	exit 1
	;;
trixie) KERNEL_TAG= ;;
*) KERNEL_TAG=-$GUEST_KERNEL ;;
esac
# shellcheck disable=SC2034 # used by the scripts that source this
KDIR=$CACHE/kernel$KERNEL_TAG
