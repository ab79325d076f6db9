#!/bin/bash
# The main job (`make run`, after `make deps` and `make`): a qcow2 image
# served as a block device by ublk-qcow, with an ext4 filesystem, files
# written and read back, the device removed and the image checked.
#
# It needs a kernel with ublk_drv.  This host's has none, so the job runs
# inside the test guest (a Debian 6.12 kernel under qemu-system-x86_64,
# tests/guest/run.sh), and the image it leaves is checked here too.
set -eu
cd "$(dirname "$0")/.."

for f in bin/ublk-qcow bin/qcow-img; do
	[ -x "$f" ] || { echo "main-job: $f is missing: run make first" >&2; exit 1; }
done

if [ -c /dev/ublk-control ]; then
	echo "main-job: this kernel has ublk: running on the host"
	exec env BIN="$PWD/bin" tests/guest/main-job.sh
fi

echo "main-job: this kernel has no ublk (no /dev/ublk-control): the job runs"
echo "main-job: inside the test guest, Linux 6.12 under QEMU (TCG), with this"
echo "main-job: repository at /host:  tests/guest/run.sh tests/guest/main-job.sh"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
st=0
GUEST_KEEP=1 tests/guest/run.sh tests/guest/main-job.sh 2>&1 | tee "$LOG" |
	grep -v '^\[ *[0-9.]*\]\|^GUEST-' || true
st=${PIPESTATUS[0]}
RUN_DIR=$(sed -n 's/^ *# run directory kept: //p' "$LOG" | tail -n 1)
if [ "$st" != 0 ]; then
	echo "main-job: FAILED in the guest (exit $st); see ${RUN_DIR:-tests/out/guest}/console.log"
	exit 1
fi

printf '\n== back on the host: the image the guest wrote\n'
IMG=$RUN_DIR/disk.qcow2
echo "\$ bin/qcow-img check $IMG"
bin/qcow-img check "$IMG"
if command -v qemu-img >/dev/null; then
	echo "\$ qemu-img check $IMG"
	qemu-img check "$IMG"
fi
rm -rf "$RUN_DIR"
echo
echo "main-job: OK"
