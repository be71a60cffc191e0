#!/bin/bash
# Regressions:
#  - a REPLAYED record (another, earlier process's request) released the
#    replaying registration's own reservation with the same admit_id, so
#    the run's budget stopped seeing a request still in flight;
#  - permissions (DESIGN.md: a non-root user sees only that user's rows):
#    STATUS and TOP showed every user's processes and runs — run tokens
#    included — and a non-root process could join another user's run by
#    its token, spend its budget, and replay records into it with a forged
#    pid and exe. Now: filtered documents; a REGISTER naming another user's
#    run is registered unattached; such a replay is not counted in the run;
#    a non-root sender's replays carry its own pid and exe.
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "needs root (setuid to nobody)"; exit 77; }
tgp_setup
chmod 755 "$T"
start_daemon --http off

py - <<'PY' >"$T/out" || fail "replay: $(cat "$T/out")"
import os
from tgp import *
P = os.environ['SOCK']; tok = 'xrel'
ctl = C(P); ctl.req(22, run_begin(tok, 3000000))
def run_state():
    r = [r for r in ctl.json(20)['runs'] if r['token'] == tok][0]
    return r['reserved_nano_usd'], r['spent_nano_usd']
y = C(P); y.req(1, register('', tok))
t, _, p = y.req(2, admit(1, 'testco', 'test-model', 1000, 500))
print('admit', verdict(p), run_state())
t, _, p = y.req(3, record(31337, 1, 'testco', 'cheap', 10, 10, flags=4,
                          pid=99999, exe='/bin/other'))
print('replay', t, run_state())
z = C(P); z.req(1, register('', tok))
t, _, p = z.req(2, admit(1, 'testco', 'test-model', 1000, 500))
print('second admit', verdict(p))
t, _, p = y.req(3, record(31338, 1, 'testco', 'test-model', 1000, 500))
print('settle', t, run_state())
PY
expect_eq "$(cat "$T/out")" "admit 0 (2000000, 0)
replay 44 (2000000, 0)
second admit 2
settle 44 (0, 2000000)" "a replay keeps the replayer's reservation"

py - <<'PY' >"$T/out" || fail "permissions: $(cat "$T/out")"
import os, sys
from tgp import *
P = os.environ['SOCK']; tok = 'rootrun-secret-token'
root = C(P)
assert root.req(22, run_begin(tok, 10000000, 'team=root'))[0] == 40
rp = C(P); rp.req(1, register('team=root', tok))
pid = os.fork()
if pid == 0:
    os.setgid(65534); os.setuid(65534)
    c = C(P); st = c.json(20)
    print('nobody status', [p['uid'] for p in st['processes']], st['runs'])
    print('nobody top', [p['uid'] for p in c.json(24)['processes']])
    j = C(P); t, _, _ = j.req(1, register('x', tok))
    st = c.json(20)
    print('nobody joins', t, [(p['uid'], p['run']) for p in st['processes']],
          [r['token'] for r in st['runs']])
    t, _, p = j.req(2, admit(1, 'testco', 'test-model', 1000, 1000))
    print('nobody admit', verdict(p))
    t, _, p = j.req(3, record(777001, 1, 'testco', 'test-model', 4000000, 0))
    print('nobody record', t)
    t, _, p = c.req(3, record(777002, 0, 'testco', 'test-model', 1000000, 0,
                              flags=4, pid=1, exe='/usr/sbin/sshd', run=tok))
    print('nobody replay', t)
    t, _, p = c.req(23, run_end(tok))
    print('nobody run-end', t, fail_text(p))
    sys.stdout.flush()
    os._exit(0)
os.waitpid(pid, 0)
t, _, p = root.req(3, record(777003, 0, 'testco', 'cheap', 1000, 0, flags=4,
                             pid=4242, exe='/bin/spooled', run=tok))
print('root replay', t)
st = root.json(20)
print('root sees', sorted({p['uid'] for p in st['processes']}),
      [(r['token'], r['spent_nano_usd'], r['processes']) for r in st['runs']])
print('child', pid)
PY
CHILD=$(sed -n 's/^child //p' "$T/out")
expect_eq "$(grep -v '^child ' "$T/out")" "nobody status [] []
nobody top []
nobody joins 42 [(65534, '')] []
nobody admit 0
nobody record 44
nobody replay 44
nobody run-end 41 (7, 'run belongs to another user')
root replay 44
root sees [0] [('rootrun-secret-token', 100000, 1), ('xrel', 2000000, 0)]" "what another user sees and spends"
stop_daemon
PYEXE=$(python3 -c 'import os,sys; print(os.path.realpath(sys.executable))')
expect_eq "$(sql "SELECT id != '', uid, pid = $CHILD, exe, run FROM records WHERE uid = 65534
    ORDER BY input_tokens")" "1|65534|1|$PYEXE|
1|65534|1|$PYEXE|" "nobody's rows: its own pid/exe, no run"
expect_eq "$(sql "SELECT uid, pid, exe, run, cost_nano_usd FROM records WHERE uid = 0 AND replayed = 1
    AND model = 'cheap' ORDER BY pid")" "0|4242|/bin/spooled|rootrun-secret-token|100000
0|99999|/bin/other||3000" "root's replay keeps its origin"
echo "ok"
