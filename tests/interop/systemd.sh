#!/bin/bash
# The systemd/ folder on the host (no ublk here: the commands themselves
# run in the guest, tests/guest/ublk-service.sh).
#
#   verify/UNIT        systemd-analyze verify of each unit, installed in a
#                      scratch root with its programs: no word printed
#   verify/catches     a copy with a misspelt setting is reported (the
#                      check can fail)
#   conf/all-keys      a conf with every key, blanks and comments:
#                      ublk-qcow-attach --print gives add's arguments,
#                      paths with spaces kept whole
#   conf/bad-*         an unknown key, no image, a yes/no or number that
#                      is neither, a bad name, a missing file: exit 1 and
#                      one line naming the file and line
#   choose/*           against a stand-in ublk-qcow: no device NAME: add;
#                      device NAME QUIESCED (daemon dead): recover --name
#                      with the key file; LIVE with a live daemon:
#                      refused; the PID file gets the daemon's pid;
#                      --detach with SERVICE_RESULT=signal runs nothing,
#                      with success (or unset) del --name
#   lint               shellcheck of the scripts, where it is installed
# shellcheck source=tests/lib.sh
. "$(dirname "$0")/../lib.sh"

SYSTEMD_DIR=$REPO_ROOT/systemd
ATTACH=$SYSTEMD_DIR/ublk-qcow-attach
setup_work

# ------------------------------------------------------------ verify

# verify UNIT: installed with the programs it runs under root/, where
# systemd-analyze looks for units and commands.
verify() {
	local unit=$1 name st=0 sysunits
	name=$(basename "$unit")
	rm -rf root
	mkdir -p root/usr/sbin root/usr/bin root/etc/systemd/system root/usr/lib/systemd
	sysunits=/usr/lib/systemd/system
	[ -d "$sysunits" ] || sysunits=/lib/systemd/system
	cp -a "$sysunits" root/usr/lib/systemd/
	cp "$SYSTEMD_DIR"/ublk-qcow-* root/usr/sbin/
	cp "$REPO_ROOT/bin/ublk-qcow" root/usr/bin/ 2>/dev/null ||
		printf '#!/bin/sh\n' >root/usr/bin/ublk-qcow
	chmod +x root/usr/sbin/* root/usr/bin/*
	cp "$unit" root/etc/systemd/system/
	# the man page is the install's (its own test); not installed here
	systemd-analyze verify --man=no --root="$WORK/root" \
		"root/etc/systemd/system/$name" >"verify-$name.log" 2>&1 || st=$?
	[ "$st" = 0 ] && [ ! -s "verify-$name.log" ]
}

if ! have_cmd systemd-analyze; then
	skip verify "systemd-analyze not found (systemd)"
else
	for u in "$SYSTEMD_DIR"/*.service; do
		n=$(basename "$u")
		if verify "$u"; then
			pass "verify/$n"
		else
			fail "verify/$n" "systemd-analyze verify:"
			diag 10 <"verify-$n.log"
		fi
	done
	sed 's/^Type=forking/Type=forkin/' "$SYSTEMD_DIR/ublk-qcow@.service" \
		>"bad@.service"
	if verify "$WORK/bad@.service"; then
		fail verify/catches "a misspelt Type= went unreported"
	else
		pass verify/catches
	fi
fi

# -------------------------------------------------------------- conf

mkdir -p conf
export UBLK_QCOW_CONF_DIR=$WORK/conf UBLK_QCOW_RUN_DIR=$WORK/run

cat >conf/db.conf <<'EOF'
# every key
image = /var/lib/images/my disk.qcow2

format=qcow2
	queues = 2
depth = 64
read-only = no
cache = direct
key-file = /etc/ublk-qcow/db.key
crypto-backend = openssl
untrusted = yes
allow-dir = /srv/base images
allow-dir = /srv/other
allow-block-devices = on
snapshot = before upgrade
options = zero_copy=off,user_copy=off
EOF
cat >want.txt <<'EOF'
ublk-qcow
add
--name
db
-f
/var/lib/images/my disk.qcow2
-F
qcow2
-q
2
-d
64
--direct
--key-file
/etc/ublk-qcow/db.key
--crypto-backend
openssl
--untrusted
--allow-dir
/srv/base images
--allow-dir
/srv/other
--allow-block-devices
--snapshot
before upgrade
-o
zero_copy=off,user_copy=off
EOF
if UBLK_QCOW=ublk-qcow sh "$ATTACH" --print db >got.txt 2>got.err &&
	cmp -s got.txt want.txt && [ ! -s got.err ]; then
	pass conf/all-keys
else
	fail conf/all-keys "--print differs:"
	diff want.txt got.txt | diag 20
	diag 5 <got.err
fi

# bad_conf CASE NAME WANT CONTENT: --print NAME exits 1 with one line
# containing WANT.
bad_conf() {
	local c=$1 name=$2 want=$3 st=0
	[ -n "$4" ] && printf '%s\n' "$4" >"conf/$name.conf"
	sh "$ATTACH" --print "$name" >"$c.out" 2>"$c.err" || st=$?
	if [ "$st" != 1 ] || [ -s "$c.out" ] || [ "$(wc -l <"$c.err")" != 1 ] ||
		! grep -qF -- "$want" "$c.err"; then
		fail "conf/$c" "exit $st, stderr:"
		diag 5 <"$c.err"
	else
		pass "conf/$c"
	fi
}

bad_conf bad-key k "k.conf:2: unknown key 'sise'" "$(printf 'image = /x\nsise = 3')"
bad_conf bad-no-image ni "ni.conf: no image = PATH line" "format = raw"
bad_conf bad-yes-no yn "yn.conf:2: read-only: 'maybe' is not yes or no" \
	"$(printf 'image = /x\nread-only = maybe')"
bad_conf bad-number nb "nb.conf:1: queues: 'two' is not a number" \
	"$(printf 'queues = two\nimage = /x')"
bad_conf bad-cache ca "ca.conf:2: cache: 'none' is not writeback or direct" \
	"$(printf 'image = /x\ncache = none')"
bad_conf bad-line ln "ln.conf:1: not KEY = VALUE" "image"
bad_conf bad-empty em "em.conf:1: image: no value" "image ="
bad_conf bad-name ../k "'../k' is not a device name" ""
bad_conf bad-missing none "cannot read $WORK/conf/none.conf" ""

# ------------------------------------------------- add or recover

# A stand-in ublk-qcow: records its arguments in calls.log; `list`
# answers from $FAKE_LIST (a file with list --json's answer, or none).
cat >fake-ublk-qcow <<'EOF'
#!/bin/sh
printf '%s\n' "$*" >>"$FAKE_DIR/calls.log"
case $1 in
list)
	[ -f "$FAKE_DIR/list.json" ] || { echo "ublk-qcow: no ublk device named" >&2; exit 1; }
	cat "$FAKE_DIR/list.json"
	;;
add)
	echo /dev/ublkb7
	cp "$FAKE_DIR/after-add.json" "$FAKE_DIR/list.json"
	;;
recover) echo /dev/ublkb7 ;;
esac
exit 0
EOF
chmod +x fake-ublk-qcow
export UBLK_QCOW=$WORK/fake-ublk-qcow FAKE_DIR=$WORK
mkdir -p run
printf 'image = /img/e.qcow2\nkey-file = /k/e.key\n' >conf/e.conf

# list_json STATE PID [FILE]: what list --json shows of device 7, named e.
list_json() {
	cat >"${3:-list.json}" <<-EOF
	[
	  {
	    "id":7,
	    "device":"/dev/ublkb7",
	    "state":"$1",
	    "name":"e",
	    "path":"$WORK/run/by-name/e",
	    "image":"/img/e.qcow2",
	    "pid":$2,
	    "queue-affinity":[
	      {
	        "queue":0,
	        "cpus":"0-1",
	        "tid":999999
	      }
	    ],
	    "bitmaps":[
	      {
	        "name":"state",
	        "granularity":65536
	      }
	    ]
	  }
	]
	EOF
}

# choose CASE WANT-STATUS WANT-CALL [ENV...]: ublk-qcow-attach [--detach]
# e (by $MODE) exits WANT-STATUS and its calls other than list are
# WANT-CALL (one line; "" for none).
choose() {
	local c=$1 want_st=$2 want=$3 st=0 got
	shift 3
	rm -f calls.log
	# shellcheck disable=SC2086 # MODE: no word or one
	env "$@" sh "$ATTACH" $MODE e >"$c.out" 2>"$c.err" || st=$?
	got=$(grep -v '^list' calls.log 2>/dev/null)
	if [ "$st" != "$want_st" ] || [ "$got" != "$want" ]; then
		fail "choose/$c" "exit $st (want $want_st), ran '$got' (want '$want')"
		diag 5 <"$c.err"
		return 1
	fi
	pass "choose/$c"
}

# pid_file CASE PID: the PID file for systemd holds the daemon's pid.
pid_file() {
	if [ "$(cat run/unit-e.pid 2>/dev/null)" = "$2" ]; then
		pass "choose/$1"
	else
		fail "choose/$1" "unit-e.pid holds '$(cat run/unit-e.pid 2>/dev/null)'"
	fi
}

unset SERVICE_RESULT
MODE=
rm -f list.json
list_json LIVE 4242 after-add.json
choose add 0 "add --name e -f /img/e.qcow2 --key-file /k/e.key"
pid_file add-pid-file 4242
list_json QUIESCED 999999
choose recover-quiesced 0 "recover --name e --key-file /k/e.key"
pid_file recover-pid-file 999999
# LIVE but its daemon gone (not yet seen by the kernel): recover too
list_json LIVE 999999
choose recover-dead-pid 0 "recover --name e --key-file /k/e.key"
list_json LIVE $$
if choose served 1 "" && ! grep -q "already served by pid $$" served.err; then
	fail choose/served-message "said: $(cat served.err)"
fi

MODE=--detach
choose detach-crashed 0 "" SERVICE_RESULT=signal
choose detach-exit-code 0 "" SERVICE_RESULT=exit-code
choose detach-stop 0 "del --name e" SERVICE_RESULT=success
choose detach-by-hand 0 "del --name e"
if [ -e run/unit-e.pid ]; then
	fail choose/detach-pid-file "unit-e.pid left"
else
	pass choose/detach-pid-file
fi
rm -f list.json
choose detach-none 0 "" SERVICE_RESULT=success

# ---------------------------------------------------------- shellcheck

if have_cmd shellcheck; then
	if shellcheck -s sh "$ATTACH" >shellcheck.log 2>&1; then
		pass lint
	else
		fail lint "shellcheck:"
		diag 20 <shellcheck.log
	fi
else
	skip lint "shellcheck not installed"
fi

finish
