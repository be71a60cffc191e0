#!/bin/bash
# run_signals.sh — signals, stops and leftovers of `tollctl run`, with the
# real private tollgated. A pty (python3's pty module, tests/e2e/run_pty.py)
# stands in for an interactive terminal. Regressions:
# - "Ctrl-C ignored whenever CMD is not running": a terminal Ctrl-C while
#   tollctl waited for CMD's leftovers was dropped (SI_KERNEL); now it
#   ends the wait at once.
# - "signals sent to the whole process group reach CMD twice": without a
#   terminal CMD now leads its own process group, so kill -USR1 -PGID of
#   tollctl's group reaches CMD once (through tollctl).
# - "signals the caller ignored are un-ignored": a SIGHUP ignored by the
#   caller (nohup) stays ignored in tollctl and in CMD.
# - "after Ctrl-C tollctl exits 130 instead of dying of SIGINT": it now
#   dies of SIGINT after its summary (unless the budget gate fired).
# - "tollctl hangs forever when CMD stops itself": tollctl stops too, and
#   continues CMD when it is continued.
# - "grandchildren that ignore SIGTERM survive without a cgroup": the kill
#   phase sends SIGKILL on every pass, to re-parented ones too.
# - "--linger 0 message wording".
set -u
: "${B:?set B to the build dir}" "${SRC:?set SRC to the repo root}"
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }

. "$(dirname "$0")/cli_common.inc"
isolate
CTL=$B/tollctl PTY="python3 $SRC/tests/e2e/run_pty.py"
RU=$B/tests/progs/report_usage

# until FILE: wait (bounded) for FILE to exist
until_file() {
	for _ in $(seq 600); do [ -e "$1" ] && return 0; sleep 0.05; done
	return 1
}

# (1) Ctrl-C while tollctl waits for a leftover that ignores SIGINT: the
# wait ends at once (SIGTERM); CMD's status 0.
$PTY --after-text 'waiting up to 30 s' --keys '\x03' -- \
	"$CTL" run -- sh -c '(trap "" INT; exec sleep 60) & exit 0' >"$T/o1"
grep -q '^exit=0$' "$T/o1" || fail "(1) $(cat "$T/o1")"
grep -q 'still running after a signal; terminating them' "$T/o1" ||
	fail "(1) $(cat "$T/o1")"

# (2) Ctrl-C while CMD runs: CMD gets one SIGINT (from the terminal, not
# forwarded again), dies of it, and tollctl dies of SIGINT after the
# summary.
$PTY --after-file "$T/r2" --keys '\x03' -- \
	"$CTL" run -- sh -c "touch '$T/r2'; exec sleep 60" >"$T/o2"
grep -q '^signal=2$' "$T/o2" || fail "(2) $(cat "$T/o2")"
grep -q 'tollctl run: 0 requests, tokens in 0 / out 0, cost \$0.000000, budget none, refused 0$' "$T/o2" || fail "(2) summary: $(cat "$T/o2")"
# ... and without a terminal, CMD dying of SIGINT (or SIGQUIT) all the same
python3 - "$CTL" <<'PY' || fail "(2b)"
import subprocess, sys
for sig in ("INT", "QUIT"):
    p = subprocess.run([sys.argv[1], "run", "--", "sh", "-c", "kill -%s $$" % sig],
                       stderr=subprocess.DEVNULL, start_new_session=True)
    want = -2 if sig == "INT" else -3
    assert p.returncode == want, (sig, p.returncode)
PY
# ... but the budget gate's status wins
setsid "$CTL" run --budget 0.001 -- \
	sh -c "'$RU' openai gpt-4o 1000 200 1 >/dev/null; kill -INT \$\$" 2>/dev/null
rc=$?
[ $rc = 86 ] || fail "(2c) exit $rc, want 86"

# (3) signals counted in CMD: tollctl's process group gets SIGUSR1 once,
# then tollctl's pid SIGUSR2 (forwarded after the USR1, lower numbers are
# delivered first): CMD exits with the number of SIGUSR1 it got: 1.
cat >"$T/count.py" <<'PY'
import os, signal, sys, time
n = 0
def usr1(s, f):
    global n
    n += 1
def usr2(s, f):
    sys.exit(n)
signal.signal(signal.SIGUSR1, usr1)
signal.signal(signal.SIGUSR2, usr2)
open(sys.argv[1], "w").close()
for _ in range(1200):
    time.sleep(0.05)
sys.exit(99)
PY
python3 - "$CTL" "$T/count.py" "$T/r3" <<'PY' || fail "(3)"
import os, signal, subprocess, sys, time
ctl, count, ready = sys.argv[1:]
p = subprocess.Popen([ctl, "run", "--", "python3", count, ready],
                     stderr=subprocess.DEVNULL, start_new_session=True)
for _ in range(600):
    if os.path.exists(ready):
        break
    time.sleep(0.05)
os.killpg(p.pid, signal.SIGUSR1)   # the whole group tollctl leads
os.kill(p.pid, signal.SIGUSR2)
rc = p.wait(60)
assert rc == 1, "CMD counted %d SIGUSR1, want 1" % rc
PY
# with a terminal, SIGUSR1 to tollctl's pid is forwarded once
rm -f "$T/r3b"
$PTY --after-file "$T/r3b" --kill-self USR1,USR2 -- \
	"$CTL" run -- python3 "$T/count.py" "$T/r3b" >"$T/o3"
grep -q '^exit=1$' "$T/o3" || fail "(3b) $(cat "$T/o3")"

# (4) SIGHUP ignored by the caller stays ignored: in tollctl (CMD's
# parent) and in CMD (SigIgn bit 0 of /proc/PID/status)
hupbit='import sys
def ign(pid):
    for l in open("/proc/%s/status" % pid):
        if l.startswith("SigIgn:"):
            return int(l.split()[1], 16) & 1
print(ign(sys.argv[1]), ign("self"))'
python3 - "$CTL" "$hupbit" <<'PY' || fail "(4)"
import os, signal, subprocess, sys
ctl, code = sys.argv[1:]
def run(ignore):
    pre = (lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN)) if ignore else None
    out = subprocess.run([ctl, "run", "--", "sh", "-c",
                          'exec python3 -c "$1" $PPID', "sh", code],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         preexec_fn=pre, start_new_session=True)
    return out.stdout.decode().strip()
assert run(True) == "1 1", run(True)
assert run(False) == "0 0", run(False)
PY

# (5) CMD stops itself: tollctl stops too (the caller sees it stopped);
# SIGCONT to tollctl continues CMD, which then finishes.
python3 - "$CTL" <<'PY' || fail "(5)"
import os, signal, subprocess, sys
p = subprocess.Popen([sys.argv[1], "run", "--", "sh", "-c",
                      'kill -STOP $$; echo resumed'], stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, start_new_session=True)
signal.alarm(60)   # a hang fails the test instead of stalling it
pid, st = os.waitpid(p.pid, os.WUNTRACED)
assert os.WIFSTOPPED(st), st
os.kill(p.pid, signal.SIGCONT)
out = p.stdout.read().decode()
pid, st = os.waitpid(p.pid, 0)
assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, st
assert out == "resumed\n", out
PY

# (6) a leftover that ignores SIGTERM, and its own child that ignores it
# too: both are killed in the kill phase. As root, also as nobody, who
# may not create a cgroup here: the no-cgroup path (SIGKILL on every
# pass, to the grandchild re-parented to tollctl as well).
# A and B write their pids once they ignore SIGTERM; CMD exits after that
cat >"$T/nest.sh" <<'EOF'
d=$1
sh -c 'trap "" TERM; echo $$ >"$1/a.pid"
	sh -c '"'"'trap "" TERM; echo $$ >"$1/b.pid"; exec sleep 60'"'"' b "$1" &
	wait' a "$d" &
until [ -s "$d/a.pid" ] && [ -s "$d/b.pid" ]; do sleep 0.05; done
exit 0
EOF
nest() { # PREFIX...: run the nest under "$@" tollctl
	: >"$T/a.pid"; : >"$T/b.pid"
	"$@" "$CTL" run --linger 0 -- sh "$T/nest.sh" "$T" 2>"$T/e6"
}
nest setsid
rc=$?
[ $rc = 0 ] || fail "(6) exit $rc: $(cat "$T/e6")"
grep -qx 'tollctl run: processes of the command still running (--linger 0); terminating them' \
	"$T/e6" || fail "(6) wording: $(cat "$T/e6")"
grep -q 'waiting up to' "$T/e6" && fail "(6) --linger 0 says it waits"
survivors() {
	for f in a b; do
		p=$(cat "$T/$f.pid")
		[ -n "$p" ] || fail "(6$1) no pid of $f"
		kill -0 "$p" 2>/dev/null && fail "(6$1) $f ($p) survived"
	done
	return 0
}
survivors
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T" && mkdir -m 777 "$T/nobody" || fail "(6b) mkdir"
	chmod 666 "$T/a.pid" "$T/b.pid" "$T/e6"
	HOME=$T/nobody TOLLGATE_STATE_DIR=$T/nobody/state \
		XDG_RUNTIME_DIR=$T/nobody TOLLGATE_SPOOL_DIR=$T/nobody/spool \
		nest setsid setpriv --reuid=65534 --regid=65534 --clear-groups
	rc=$?
	[ $rc = 0 ] || fail "(6b) exit $rc: $(cat "$T/e6")"
	survivors b
fi
echo "run_signals: ok"
