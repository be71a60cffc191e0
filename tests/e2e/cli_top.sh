#!/bin/bash
# cli_top.sh — `tollctl top`'s live view gives the terminal back. A pty
# (python3's pty module) stands in for the terminal; its mode is read
# through the master side. Regression "top leaves the terminal with echo
# off on SIGQUIT/SIGHUP/SIGPIPE/SIGTSTP": now echo is back after q,
# SIGTERM, SIGQUIT and SIGHUP (top dies of those two), while stopped by
# SIGTSTP (and raw again after SIGCONT), and when stdout's reader is gone.
set -u
: "${B:?set B to the build dir}" "${SRC:?set SRC to the repo root}"
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }
. "$(dirname "$0")/cli_common.inc"
export HOME=$T/home TOLLGATE_SOCKET=$T/d.sock

start_tollgated

python3 - "$B/tollctl" <<'PY' || fail "see above"
import os, pty, select, signal, sys, termios, time
ctl = sys.argv[1]
signal.alarm(100)   # a hang fails instead of stalling

def echo(fd):
    return bool(termios.tcgetattr(fd)[3] & termios.ECHO)

def start(stdout=None):
    pid, fd = pty.fork()
    if pid == 0:
        if stdout is not None:
            os.dup2(stdout, 1)
        os.execv(ctl, [ctl, "top"])
    if stdout is not None:
        os.close(stdout)
    return pid, fd

def drain(fd):
    # swallow what top drew (waits up to 50 ms), so it never blocks writing
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            os.read(fd, 65536)
        except OSError:
            pass

def until_raw(pid, fd):
    # raw (echo off) once the view runs
    for _ in range(400):
        drain(fd)
        if not echo(fd):
            return
    raise SystemExit("top never entered raw mode")

def drain_wait(pid, fd, flags=0):
    while True:
        drain(fd)
        w, st = os.waitpid(pid, os.WNOHANG | flags)
        if w:
            return st

for how, want in (("q", ("exit", 0)), (signal.SIGTERM, ("exit", 0)),
                  (signal.SIGINT, ("exit", 0)), (signal.SIGQUIT, ("sig", 3)),
                  (signal.SIGHUP, ("sig", 1))):
    pid, fd = start()
    until_raw(pid, fd)
    if how == "q":
        os.write(fd, b"q")
    else:
        os.kill(pid, how)
    st = drain_wait(pid, fd)
    got = ("sig", os.WTERMSIG(st)) if os.WIFSIGNALED(st) else ("exit", os.WEXITSTATUS(st))
    assert got == want, (how, got, want)
    assert echo(fd), "echo off after %s" % how
    os.close(fd)

# Ctrl-Z: echo back while stopped, raw again after SIGCONT, then q. The
# kernel drops SIGTSTP in an orphaned process group, so top runs as a
# job of the pty's session leader here, as under a shell.
rd, wr = os.pipe()
pid, fd = pty.fork()
if pid == 0:
    os.close(rd)
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    c = os.fork()
    if c == 0:
        os.setpgid(0, 0)
        os.tcsetpgrp(0, os.getpid())
        signal.signal(signal.SIGTTOU, signal.SIG_DFL)
        os.execv(ctl, [ctl, "top"])
    try:
        os.setpgid(c, c)
    except OSError:
        pass  # EACCES: the child already exec'd, after its own setpgid
    os.write(wr, b"%d\n" % c)
    w, st = os.waitpid(c, 0)
    os._exit(os.WEXITSTATUS(st) if os.WIFEXITED(st) else 100)
os.close(wr)
top = int(os.read(rd, 64))
until_raw(pid, fd)
os.kill(top, signal.SIGTSTP)
def state(p):
    return open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[0]
for _ in range(400):
    if state(top) == "T":
        break
    time.sleep(0.05)
assert state(top) == "T", "top did not stop"
assert echo(fd), "echo off while stopped"
os.kill(top, signal.SIGCONT)
until_raw(pid, fd)
os.write(fd, b"q")
st = drain_wait(pid, fd)
assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, st
assert echo(fd), "echo off after stop and q"
os.close(fd)

# stdout's reader gone (SIGPIPE ignored, the write error ends the view)
r, w = os.pipe()
pid, fd = start(stdout=w)
os.close(r)
st = drain_wait(pid, fd)
assert os.WIFEXITED(st) and os.WEXITSTATUS(st) == 1, st
assert echo(fd), "echo off after a broken stdout"
print("cli_top: ok")
PY
