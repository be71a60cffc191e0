#!/bin/bash
# cli_version.sh — tollctl refuses a daemon of another protocol version
# with one clear line and exit status 3, whether the daemon answers with
# another version in its header or with a TG_ERR_BAD_VERSION failure; a
# peer that is not tollgate at all is exit 1. The "daemon" is a tiny
# SOCK_SEQPACKET server in python3 speaking the header of lib/proto.h.
set -u
: "${B:?set B to the build dir}"
command -v python3 >/dev/null || { echo "python3 is missing"; exit 77; }
. "$(dirname "$0")/cli_common.inc"

# fake MODE: "v9" replies OK with version 9; "fail" replies FAIL code 2
# (bad version) in the version it was asked in; "junk" replies garbage.
fake() {
	python3 - "$T/fake.sock" "$1" <<'PY' &
import socket, struct, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path); s.listen(4)
while True:
    c, _ = s.accept()
    pkt = c.recv(65536)
    magic, ver, typ, ln, seq = struct.unpack("<IHHII", pkt[:16])
    if mode == "v9":
        c.send(struct.pack("<IHHII", 0x54474c31, 9, 40, 0, seq))
    elif mode == "fail":
        body = struct.pack("<I", 2) + b"unsupported protocol version".ljust(124, b"\0")
        c.send(struct.pack("<IHHII", 0x54474c31, ver, 41, len(body), seq) + body)
    else:
        c.send(b"HTTP/1.0 400 Bad Request\r\n\r\n")
    c.close()
PY
	D=$!
	for _ in $(seq 100); do [ -S "$T/fake.sock" ] && return; sleep 0.05; done
	fail "fake daemon did not start"
}
stop() { kill "$D"; wait "$D" 2>/dev/null; D=; rm -f "$T/fake.sock"; }

fake v9
$B/tollctl --socket "$T/fake.sock" status 2>"$T/err"
rc=$?
[ $rc = 3 ] || fail "v9: exit $rc, want 3"
[ "$(cat "$T/err")" = "tollctl: the daemon on $T/fake.sock speaks protocol version 9, this tollctl speaks 3 (use matching tollctl and tollgated)" ] ||
	fail "v9: $(cat "$T/err")"
# run gives the same status and starts no command
TOLLGATE_SOCKET=$T/fake.sock $B/tollctl run -- touch "$T/ran" 2>/dev/null
rc=$?
[ $rc = 3 ] || fail "run v9: exit $rc, want 3"
[ -e "$T/ran" ] && fail "run v9: the command ran"
stop

fake fail
$B/tollctl --socket "$T/fake.sock" report 2>"$T/err"
rc=$?
[ $rc = 3 ] || fail "fail: exit $rc, want 3"
[ "$(cat "$T/err")" = "tollctl: the daemon on $T/fake.sock does not accept protocol version 3: unsupported protocol version (use matching tollctl and tollgated)" ] ||
	fail "fail: $(cat "$T/err")"
stop

fake junk
$B/tollctl --socket "$T/fake.sock" top --once 2>"$T/err"
rc=$?
[ $rc = 1 ] || fail "junk: exit $rc, want 1"
[ "$(cat "$T/err")" = "tollctl: $T/fake.sock is not a tollgate daemon (bad reply)" ] ||
	fail "junk: $(cat "$T/err")"
echo "cli_version: ok"
