#!/usr/bin/env bash
# Start a throwaway single-node Ceph cluster with a RADOS Gateway (S3 with Object Lock) for the
# archiver's real-WORM test tier:
#
#     scripts/rgw-up.sh [DATA_DIR] [PORT]
#
# One monitor, one OSD on memstore (in memory: nothing survives a stop), no cephx, and an RGW
# user with fixed, public, throwaway test keys. Everything lives in DATA_DIR (default
# ${TMPDIR:-/tmp}/archiver-rgw); the gateway listens on 127.0.0.1:PORT (default 7480).
# On success the only line on stdout is the endpoint, e.g. http://127.0.0.1:7480, so
#     ARCHIVER_TEST_RGW_ENDPOINT=$(scripts/rgw-up.sh DIR PORT)
# works; progress goes to stderr. Running it again while the cluster is up just prints the
# endpoint. Stop with scripts/rgw-down.sh DATA_DIR.
#
# Needs the Debian packages radosgw ceph-mon ceph-osd ceph-common (tested with Ceph 16.2).
# Environment: RGW_MON_PORT (default: a free port), RGW_MEMSTORE_BYTES (default 1 GiB),
# RGW_START_TIMEOUT seconds per step (default 90).
set -euo pipefail

# The keys are public on purpose: the cluster only listens on 127.0.0.1 and holds test data.
readonly ACCESS_KEY="ARCHIVERTESTACCESSKEY"
readonly SECRET_KEY="archiver-throwaway-test-secret-key"
readonly KMS_KEY_ID="archiver-test"   # SSE-KMS key of RGW's "testing" KMS backend
readonly MARKER="archiver-rgw-test-cluster"

DATA_DIR=${1:-${TMPDIR:-/tmp}/archiver-rgw}
PORT=${2:-7480}
TIMEOUT=${RGW_START_TIMEOUT:-90}
MEMSTORE_BYTES=${RGW_MEMSTORE_BYTES:-1073741824}

log() { echo "rgw-up: $*" >&2; }
die() {
    echo "rgw-up: error: $*" >&2
    if [[ -n ${STARTED:-} ]]; then
        echo "rgw-up: stop what was started with: $(dirname "$0")/rgw-down.sh $DATA_DIR" >&2
    fi
    exit 1
}

[[ $PORT =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 65536)) || die "PORT must be a TCP port number, not '$PORT'"
for tool in ceph ceph-mon ceph-osd radosgw radosgw-admin monmaptool python3; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; install: apt-get install -y radosgw ceph-mon ceph-osd ceph-common"
done
mkdir -p "$DATA_DIR"
DATA_DIR=$(cd "$DATA_DIR" && pwd)
CONF="$DATA_DIR/ceph.conf"
ENDPOINT="http://127.0.0.1:$PORT"

# ceph.conf is parsed by every tool: a path with spaces or '$' would break it.
[[ $DATA_DIR =~ ^[A-Za-z0-9_./-]+$ ]] || die "DATA_DIR may hold only letters, digits and _ . / - ('$DATA_DIR')"

http_ok() {  # the gateway answers HTTP on the endpoint (any status: anonymous requests get 200 or 403)
    python3 - "$1" <<'EOF'
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
except OSError:
    sys.exit(1)
EOF
}

port_free() {
    python3 - "$1" <<'EOF'
import socket, sys
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
EOF
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

daemon_alive() {  # the daemon named $1 (mon.a, osd.0, client.rgw.a) of THIS cluster is running
    local pidfile="$DATA_DIR/run/$1.pid" pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF"
}

wait_for() {  # wait_for WHAT COMMAND...: retry COMMAND once a second until it succeeds or TIMEOUT
    local what=$1 i
    shift
    for ((i = 0; i < TIMEOUT; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    die "$what did not come up within ${TIMEOUT}s; logs: $DATA_DIR/log"
}

user_ready() {
    radosgw-admin -c "$CONF" user info --uid=archiver-test 2>/dev/null | grep -qF "\"$ACCESS_KEY\""
}

# Already up (this script ran before): nothing to do.
if [[ -f $DATA_DIR/$MARKER ]] && daemon_alive client.rgw.a && daemon_alive osd.0 && daemon_alive mon.a; then
    grep -qF "endpoint=127.0.0.1:$PORT" "$CONF" || die "a cluster is already running in $DATA_DIR on another port; stop it with scripts/rgw-down.sh $DATA_DIR"
    http_ok "$ENDPOINT" && user_ready || die "the cluster in $DATA_DIR runs but does not answer; restart it with scripts/rgw-down.sh $DATA_DIR"
    log "already running"
    echo "$ENDPOINT"
    exit 0
fi

# A leftover of an earlier run (memstore lost its data when the OSD stopped): start afresh.
if [[ -f $DATA_DIR/$MARKER ]]; then
    log "cleaning up a stopped cluster in $DATA_DIR"
    "$(dirname "$0")/rgw-down.sh" "$DATA_DIR" >&2
    mkdir -p "$DATA_DIR"
elif [[ -n $(ls -A "$DATA_DIR") ]]; then
    die "$DATA_DIR is not empty and was not made by this script; give an empty or new folder"
fi

port_free "$PORT" || die "port $PORT on 127.0.0.1 is in use; pass another PORT"
MON_PORT=${RGW_MON_PORT:-$(free_port)}
port_free "$MON_PORT" || die "monitor port $MON_PORT on 127.0.0.1 is in use; set RGW_MON_PORT"

touch "$DATA_DIR/$MARKER"
STARTED=1
mkdir -p "$DATA_DIR/mon" "$DATA_DIR/osd0" "$DATA_DIR/run" "$DATA_DIR/log"
FSID=$(python3 -c 'import uuid; print(uuid.uuid4())')
KMS_SECRET=$(python3 -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())')
cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = 127.0.0.1:$MON_PORT
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
ms bind ipv6 = false
# radosgw asks for a "secure" monitor connection, which auth "none" cannot give: allow crc.
ms mon client mode = crc secure
client mount timeout = $TIMEOUT
run dir = $DATA_DIR/run
log file = $DATA_DIR/log/\$name.log
admin socket = $DATA_DIR/run/\$name.asok
pid file = $DATA_DIR/run/\$name.pid
osd objectstore = memstore
memstore device bytes = $MEMSTORE_BYTES

[mon.a]
mon data = $DATA_DIR/mon

[osd.0]
osd data = $DATA_DIR/osd0

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = $KMS_KEY_ID=$KMS_SECRET
EOF

CEPH=(ceph -c "$CONF" --connect-timeout 10)
SETUP_LOG="$DATA_DIR/log/setup.log"  # what the ceph tools print while the cluster is assembled

log "monitor on 127.0.0.1:$MON_PORT"
monmaptool --create --add a "127.0.0.1:$MON_PORT" --fsid "$FSID" "$DATA_DIR/monmap" >>"$SETUP_LOG" 2>&1 \
    || die "monmaptool failed: $SETUP_LOG"
ceph-mon -c "$CONF" --mkfs -i a --monmap "$DATA_DIR/monmap" >>"$SETUP_LOG" 2>&1 || die "ceph-mon --mkfs failed: $SETUP_LOG"
ceph-mon -c "$CONF" -i a 2>>"$SETUP_LOG" || die "ceph-mon failed to start; see $DATA_DIR/log/mon.a.log"
wait_for "the monitor" "${CEPH[@]}" mon stat

log "OSD on memstore"
OSD_ID=$("${CEPH[@]}" osd create 2>>"$SETUP_LOG")
[[ $OSD_ID == 0 ]] || die "expected OSD id 0 from a new cluster, got '$OSD_ID'"
ceph-osd -c "$CONF" -i 0 --mkfs >>"$SETUP_LOG" 2>&1 || die "ceph-osd --mkfs failed: $SETUP_LOG"
{
    "${CEPH[@]}" osd crush add-bucket localhost host
    "${CEPH[@]}" osd crush move localhost root=default
    "${CEPH[@]}" osd crush add osd.0 1.0 host=localhost
} >>"$SETUP_LOG" 2>&1 || die "placing the OSD in the CRUSH map failed: $SETUP_LOG"
ceph-osd -c "$CONF" -i 0 2>>"$SETUP_LOG" || die "ceph-osd failed to start; see $DATA_DIR/log/osd.0.log"
osd_up() { "${CEPH[@]}" osd dump --format json | python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["osds"][0]["up"] else 1)'; }
wait_for "the OSD" osd_up

log "gateway on $ENDPOINT"
radosgw -c "$CONF" -n client.rgw.a 2>>"$SETUP_LOG" || die "radosgw failed to start; see $DATA_DIR/log/client.rgw.a.log"
wait_for "the gateway" http_ok "$ENDPOINT"
if ! user_ready; then
    radosgw-admin -c "$CONF" user create --uid=archiver-test --display-name="archiver test" \
        --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >>"$SETUP_LOG" 2>&1 || die "creating the RGW user failed: $SETUP_LOG"
fi
wait_for "the test user" user_ready
log "up: access key $ACCESS_KEY, secret key $SECRET_KEY, SSE-KMS key id $KMS_KEY_ID"
echo "$ENDPOINT"
