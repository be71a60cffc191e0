#!/usr/bin/env python3
# run_pty.py — runs a command on a new pseudo-terminal (its controlling
# terminal, as in an interactive shell), for the e2e tests of `tollctl run`.
#
#   run_pty.py [--after-text TEXT | --after-file FILE]
#              [--keys KEYS] [--kill-self SIG,...] -- CMD [ARGS...]
#
# Once TEXT appeared in the output (or FILE exists), types KEYS (Python
# escapes: '\x03' is Ctrl-C) and/or sends the signals (names without SIG)
# to the command's pid, in order. Prints the output, then "exit=N" or
# "signal=N". A command still running after 60 s is killed ("TIMEOUT"):
# a hang fails the test instead of stalling it.
import os, pty, select, signal, sys, time

args = sys.argv[1:]
cut = args.index("--")
opts, argv = args[:cut], args[cut + 1:]
text = file = None
keys = b""
sigs = []
i = 0
while i < len(opts):
    o, v = opts[i], opts[i + 1]
    if o == "--after-text":
        text = v.encode()
    elif o == "--after-file":
        file = v
    elif o == "--keys":
        keys = v.encode().decode("unicode_escape").encode("latin1")
    elif o == "--kill-self":
        sigs = [getattr(signal, "SIG" + s) for s in v.split(",")]
    i += 2

pid, fd = pty.fork()
if pid == 0:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.execvp(argv[0], argv)

out, sent, st, t0 = b"", False, None, time.time()
while st is None:
    if not sent and ((text and text in out) or (file and os.path.exists(file))):
        if keys:
            os.write(fd, keys)
        for s in sigs:
            os.kill(pid, s)
        sent = True
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            out += os.read(fd, 4096)
        except OSError:
            pass
    w, status = os.waitpid(pid, os.WNOHANG)
    if w:
        st = status
    elif time.time() - t0 > 60:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print("TIMEOUT")
        break
# what is left in the pty after the exit
while True:
    r, _, _ = select.select([fd], [], [], 0)
    if not r:
        break
    try:
        d = os.read(fd, 4096)
    except OSError:
        break
    if not d:
        break
    out += d
sys.stdout.write(out.decode(errors="replace").replace("\r\n", "\n"))
if st is not None:
    if os.WIFSIGNALED(st):
        print("signal=%d" % os.WTERMSIG(st))
    else:
        print("exit=%d" % os.WEXITSTATUS(st))
