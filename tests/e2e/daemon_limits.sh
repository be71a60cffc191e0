#!/bin/bash
# Regressions, resource limits:
#  - overflow: token counts and costs were taken as sent (2^64-1 tokens),
#    and sums overflowed — SQLite's sum() then failed every report over the
#    range for good. Now each count is bounded at receive (FAIL "token
#    count out of range"), a record's cost too, and reports clamp;
#  - a client sending STATUS after STATUS without reading got every copy
#    queued (memory without bound): one document at a time now;
#  - a replayed record refused was still counted in spool_replays;
#  - accept() failing with EMFILE woke the loop forever and logged each
#    time: the listener now pauses, warns once, and resumes.
. "$(dirname "$0")/daemon_common.inc"
command -v sqlite3 >/dev/null || { echo "sqlite3 CLI not installed"; exit 77; }
command -v prlimit >/dev/null || { echo "prlimit not installed"; exit 77; }
tgp_setup
start_daemon --http off

py - <<'PY' >"$T/out" || fail "limits: $(cat "$T/out")"
import os
from tgp import *
P = os.environ['SOCK']; M = 10**12
c = C(P); c.req(1, register('t=x'))
t, _, p = c.req(2, admit(1, 'testco', 'test-model', M + 1, 0))
print('admit', t, fail_text(p))
t, _, p = c.req(3, record(1, 0, 'testco', 'test-model', M + 1, 0))
print('input', t, fail_text(p))
t, _, p = c.req(3, record(2, 0, 'testco', 'test-model', 2**64 - 1, 2**64 - 1))
print('max', t, fail_text(p))
t, _, p = c.req(3, record(3, 0, 'testco', 'test-model', 0, 0, held=10**17 + 1))
print('held', t, fail_text(p))
t, _, p = c.req(3, record(4, 0, 'testco', 'test-model', 0, M))
print('cost', t, fail_text(p))
t, _, p = c.req(3, record(5, 0, 'testco', 'test-model', M, 0))
print('at the bound', t)
t, _, p = c.req(3, record(6, 0, 'testco', 'test-model', M + 1, 0, flags=4))
h = c.json(20)['health']
print('refused replay', t, h['spool_replays'], h['rejected_messages'])
PY
expect_eq "$(cat "$T/out")" "admit 41 (5, 'token count out of range')
input 41 (5, 'token count out of range')
max 41 (5, 'token count out of range')
held 41 (5, 'GPU time or memory out of range')
cost 41 (5, 'cached + cache_write tokens exceed input tokens, or cost out of range')
at the bound 44
refused replay 41 0 6" "bounds at receive"
stop_daemon

# Rows past any bound already in a ledger (an older daemon wrote them):
# the report clamps instead of failing.
NOW=$(sql "SELECT max(event_time_ns) FROM records")
for i in 1 2; do
	sql "INSERT INTO records (id, event_time_ns, uid, source, kind, cost_nano_usd,
	    input_tokens) VALUES ('big$i', $NOW, 0, 'shim', 'llm', 9000000000000000000,
	    9000000000000000000)"
done
start_daemon --http off
py - "$NOW" <<'PY' >"$T/out" || fail "report: $(cat "$T/out")"
import os, sys
from tgp import *
P = os.environ['SOCK']; now = int(sys.argv[1])
c = C(P)
d = c.json(21, report('model', '', now - 1000, now + 1000))
print('edge', d['totals']['cost_nano_usd'], d['totals']['input_tokens'],
      d['totals']['requests'])
d = c.json(21, report('', '', -2**63, 2**63 - 1))
print('all time', d['totals']['cost_nano_usd'], d['totals']['requests'])
PY
expect_eq "$(cat "$T/out")" "edge 9223372036854775807 9223372036854775807 3
all time 9223372036854775807 3" "reports over huge rows"

# One document at a time for a client that does not read.
py - <<'PY' >"$T/out" || fail "slow reader: $(cat "$T/out")"
import os, time
from tgp import *
P = os.environ['SOCK']
regs = []
for i in range(300):
    c = C(P); c.req(1, register('k%d=' % i + 'v' * 240)); regs.append(c)
c = C(P)
for k in range(20):
    c.send(20)
# Read nothing until the daemon has refused one (another connection asks).
w = C(P)
for _ in range(400):
    if w.json(20)['health']['rejected_messages'] > 0:
        break
    time.sleep(0.025)
kinds = []
for k in range(20):
    r = c.read_json()
    kinds.append('doc' if isinstance(r, dict) else r[0] == 41 and
                 fail_text(r[1]) == (5, 'the previous reply is not read yet; '
                                     'read it before asking again'))
print(kinds[0], 'refused' if True in kinds else 'none refused',
      all(k in ('doc', True) for k in kinds))
PY
expect_eq "$(cat "$T/out")" "doc refused True" "STATUS without reading"
stop_daemon

# Out of descriptors: one warning, no busy loop, served again after.
# (--probes off: the eBPF probes' own fds would take the 40 alone)
start_daemon --http off --probes off
prlimit --pid "$DPID" --nofile=40:40
py - <<'PY' >"$T/out" || fail "emfile: $(cat "$T/out")"
import os, time
from tgp import *
P = os.environ['SOCK']
cs = [C(P) for i in range(60)]
time.sleep(0.5)
for c in cs[:55]:
    c.close()
x = C(P)
print('served', isinstance(x.json(20), dict))
PY
expect_eq "$(cat "$T/out")" "served True" "a client after EMFILE"
expect_eq "$(grep -c 'not accepting for a while' "$T/daemon.log")" 1 "EMFILE warnings"
stop_daemon
echo "ok"
