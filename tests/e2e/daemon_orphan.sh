#!/bin/bash
# Regression: a live process whose connection closes (a shim that lost its
# socket) keeps its reservations. They were once dropped at the close — a
# run could overspend its budget while the request was in flight — and the
# close then waited 20 ms on the main loop for each such connection. Now
# they stay as an "orphan" of the process: another process's admission
# still sees them; the process registering again adopts them and its
# RECORD settles them once; if it exits instead, each becomes an
# estimated record ("reservation-expired").
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
tgp_setup
start_daemon --http off

py - <<'PY' >"$T/out" || fail "orphan clients: $(cat "$T/out")"
import os, sys
from tgp import *
P = os.environ['SOCK']; tok = 'orphan-run-1'
ctl = C(P)
assert ctl.req(22, run_begin(tok, 3000000))[0] == 40
def run_state():
    st = ctl.json(20)
    r = [r for r in st['runs'] if r['token'] == tok][0]
    return r['reserved_nano_usd'], r['spent_nano_usd']
to_a_r, to_a_w = os.pipe(); from_a_r, from_a_w = os.pipe()
a = os.fork()
if a == 0:
    c = C(P)
    c.req(1, register('who=a', tok))
    t, _, p = c.req(2, admit(1, 'testco', 'test-model', 1000, 500))
    assert verdict(p) == 0
    c.close()                       # the socket is lost, A lives on
    os.write(from_a_w, b'1'); os.read(to_a_r, 1)
    c = C(P)                        # reconnects and settles
    assert c.req(1, register('who=a', tok))[0] == 42
    t, _, p = c.req(3, record(5001, 1, 'testco', 'test-model', 1000, 500))
    assert t == 44, t
    os.write(from_a_w, b'2'); os.read(to_a_r, 1)
    os._exit(0)
os.read(from_a_r, 1)
print('closed', run_state())
b = C(P)                            # another process of the run
b.req(1, register('who=b', tok))
t, _, p = b.req(2, admit(1, 'testco', 'test-model', 1000, 500))
print('other admit', t, verdict(p))
os.write(to_a_w, b'g'); os.read(from_a_r, 1)
print('settled', run_state())
t, _, p = b.req(2, admit(2, 'testco', 'cheap', 1000, 500))
print('cheap admit', verdict(p))
assert b.req(4, struct.pack('<Q', 2))[0] == 40   # RELEASE: nothing left
os.write(to_a_w, b'g'); os.waitpid(a, 0)
PY
expect_eq "$(cat "$T/out")" "closed (2000000, 0)
other admit 43 2
settled (0, 2000000)
cheap admit 0" "run money across the lost socket"

# A process that closes its socket and then exits: estimated records, from
# the orphan's pidfd, none before.
py - <<'PY' >"$T/out2" || fail "orphan exit: $(cat "$T/out2")"
import os, sqlite3
from tgp import *
P = os.environ['SOCK']
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    c = C(P)
    c.req(1, register('who=c'))
    for i in (1, 2):
        t, _, p = c.req(2, admit(i, 'testco', 'test-model', 1000, 500))
        assert verdict(p) == 0
    c.close()
    os.read(r, 1)
    os._exit(0)
ctl = C(P)
st = ctl.json(20)                   # after C's close was seen? poll:
import time
for _ in range(400):
    st = ctl.json(20)
    if not [p for p in st['processes'] if p['tags'] == 'who=c']:
        break
    time.sleep(0.025)
print('written before exit', st['health']['records_written'])
os.write(w, b'x'); os.waitpid(pid, 0)
print('pid', pid)
PY
CPID=$(sed -n 's/^pid //p' "$T/out2")
# The same process settles over another connection it holds, or replays
# its own spooled record: released once, nothing left to expire.
py - <<'PY' >"$T/out3" || fail "other connection: $(cat "$T/out3")"
import os
from tgp import *
P = os.environ['SOCK']
pid = os.fork()
if pid == 0:
    c1 = C(P); c1.req(1, register('who=d'))
    c2 = C(P); c2.req(1, register('who=d'))
    for i in (7, 8):
        assert verdict(c1.req(2, admit(i, 'testco', 'cheap', 10, 10))[2]) == 0
    c1.close()
    assert c2.req(3, record(7001, 7, 'testco', 'cheap', 10, 10))[0] == 44
    assert c2.req(3, record(7002, 8, 'testco', 'cheap', 10, 10, flags=4,
                            pid=os.getpid(), exe='/bin/d'))[0] == 44
    os._exit(0)
_, st = os.waitpid(pid, 0)
print('exit', st)
PY
expect_eq "$(cat "$T/out3")" "exit 0" "settling over another connection"
# A's record and B's refusal.
expect_eq "$(sed -n 's/^written before exit //p' "$T/out2")" 2 "records before the exit"
for _ in $(seq 400); do
	[ "$(sql "SELECT count(*) FROM records")" = 6 ] && break
	sleep 0.025
done
stop_daemon
expect_eq "$(sql "SELECT id != '', admit_id, estimated, cost_nano_usd, rule, tags FROM records
    ORDER BY admit_id, estimated, refused")" "1|1|0|2000000||who=a
1|1|0|0|run-budget|who=b
1|1|1|2000000|reservation-expired|who=c
1|2|1|2000000|reservation-expired|who=c
1|7|0|3000||who=d
1|8|0|3000||who=d" "ledger"
expect_eq "$(sql "SELECT DISTINCT pid FROM records WHERE estimated = 1")" "$CPID" \
    "estimated records' pid"
echo "ok"
