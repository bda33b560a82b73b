#!/usr/bin/env bash
# Stop the test cluster started by scripts/rgw-up.sh and remove its folder:
#
#     scripts/rgw-down.sh [DATA_DIR]
#
# Stops only the daemons whose pid files are in DATA_DIR and whose command line names that
# cluster's ceph.conf (never by process name), and deletes DATA_DIR only if rgw-up.sh made it.
# Safe to run twice, or on a cluster that already died.
set -euo pipefail

readonly MARKER="archiver-rgw-test-cluster"
DATA_DIR=${1:-${TMPDIR:-/tmp}/archiver-rgw}

log() { echo "rgw-down: $*" >&2; }

if [[ ! -d $DATA_DIR ]]; then
    log "nothing to stop: $DATA_DIR does not exist"
    exit 0
fi
DATA_DIR=$(cd "$DATA_DIR" && pwd)
if [[ ! -f $DATA_DIR/$MARKER ]]; then
    echo "rgw-down: error: $DATA_DIR was not made by scripts/rgw-up.sh; not touching it" >&2
    exit 1
fi
CONF="$DATA_DIR/ceph.conf"

ours() {  # the pid in pid file $1 is a live daemon of this cluster
    local pid
    [[ -s $1 ]] || return 1
    pid=$(<"$1")
    [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF"
}

# Gateway first, monitor last: each daemon can still reach the ones it depends on while stopping.
for name in client.rgw.a osd.0 mon.a; do
    pidfile="$DATA_DIR/run/$name.pid"
    ours "$pidfile" || continue
    pid=$(<"$pidfile")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        ours "$pidfile" || break
        sleep 0.2
    done
    if ours "$pidfile"; then
        log "$name did not stop within 10s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
done
rm -rf -- "$DATA_DIR"
log "stopped and removed $DATA_DIR"
