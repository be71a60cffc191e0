#!/bin/bash
# Regression: a process that sends its last RECORDs and exits must have
# each settle its reservation exactly once. Two bugs counted them twice
# (a real record and a "reservation-expired" estimate):
#  - the pidfd fired and the reservations expired while RECORDs were still
#    queued unread on the socket (one packet was read per event);
#  - recvmsg's ECONNRESET (the peer closed with our replies unread) closed
#    the connection, dropping the RECORDs queued before it.
# The daemon is stopped (SIGSTOP) while the client sends and exits, so
# everything is queued when it looks again.
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
tgp_setup
start_daemon --http off

# N admissions, N records sent back to back, exit: all are real records.
py - 50 1000 <<'PY' || fail "race client"
import os, sys
from tgp import *
P = os.environ['SOCK']; N = int(sys.argv[1]); base = int(sys.argv[2])
pid = os.fork()
if pid == 0:
    c = C(P)
    assert c.req(1, register('team=a'))[0] == 42
    for i in range(N):
        t, _, p = c.req(2, admit(i + 1, 'testco', 'test-model', 1000, 500))
        assert t == 43 and verdict(p) == 0
    for i in range(N):
        c.send(3, record(base + i, i + 1, 'testco', 'test-model', 1000, 100))
    os._exit(0)
_, st = os.waitpid(pid, 0)
sys.exit(st >> 8)
PY

# The same with the daemon stopped while three RECORDs are sent and the
# process exits; with "unread" a STATUS reply is left unread so that the
# daemon's recvmsg reports ECONNRESET first.
settle_stopped() { # BASE UNREAD
	py - "$1" "$DPID" "$2" <<'PY' || fail "stopped-daemon client $1"
import os, sys, time, signal
from tgp import *
P = os.environ['SOCK']; base = int(sys.argv[1]); D = int(sys.argv[2])
unread = int(sys.argv[3])
pid = os.fork()
if pid == 0:
    c = C(P)
    c.req(1, register('team=c'))
    for i in range(3):
        t, _, p = c.req(2, admit(i + 1, 'testco', 'test-model', 1000, 500))
        assert verdict(p) == 0
    if unread:
        c.send(20)
        t, _, _ = c.recv()   # the reply has come: the rest stays unread
        assert t == 45
    os.kill(D, signal.SIGSTOP)
    for i in range(3):
        c.send(3, record(base + i, i + 1, 'testco', 'test-model', 1000, 100))
    os._exit(0)
os.waitpid(pid, 0)
os.kill(D, signal.SIGCONT)
PY
}
settle_stopped 2000 0
settle_stopped 3000 1

# Until every registration is gone, then stop: all is committed.
for _ in $(seq 400); do
	st=$(raw <<<"status")
	[ "$(jget "$st" 'len(d["processes"])')" = 0 ] && break
	sleep 0.025
done
expect_eq "$(jget "$st" 'len(d["processes"])')" 0 "registrations left"
stop_daemon
expect_eq "$(sql "SELECT count(*), sum(estimated), sum(cost_nano_usd) FROM records")" \
    "56|0|67200000" "records (none estimated)"
expect_eq "$(sql "SELECT count(*) FROM records WHERE rule = 'reservation-expired'")" \
    0 "expired reservations"
echo "ok"
