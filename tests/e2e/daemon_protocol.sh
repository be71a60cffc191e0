#!/bin/bash
# tollgated and bad messages: each gets TG_MSG_FAIL with the right code and
# text, the connection stays usable and the daemon goes on; every rejected
# message is counted.
. "$(dirname "$0")/daemon_common.inc"
start_daemon --http off

out=$(raw <<'CMDS'
garbage 40
truncated
oversize
version 9
version 0
type 99
shortpayload
unterminated
type 40
admit 1 testco test-model 10 10
register - -
register - -
admit 1 testco test-model 10 10
admit 1 testco test-model 10 10
release 1
release 1
status
CMDS
)
n=0
while IFS= read -r want; do
	n=$((n + 1))
	got=$(sed -n "${n}p" <<<"$out")
	expect_eq "$got" "$want" "reply line $n"
done <<'WANT'
fail code=1 seq=3435658993 text=bad magic
fail code=3 seq=0 text=truncated header
fail code=3 seq=3 text=message of 65636 bytes is over the 65536-byte limit
fail code=2 seq=4 text=unsupported protocol version 9 (this daemon speaks 1 to 3)
fail code=2 seq=5 text=unsupported protocol version 0 (this daemon speaks 1 to 3)
fail code=4 seq=6 text=unknown message type
fail code=3 seq=7 text=payload size does not match the message type
fail code=5 seq=8 text=unterminated string or value out of range
fail code=3 seq=9 text=payload size does not match the message type
fail code=6 seq=10 text=register first
registered daemon_version=3 page_version=2 id=1 fds=2
verdict-page version=2 rw-map=EPERM ro-map=ok
counters-page version=2 rw-map=ok shrink=EPERM
fail code=5 seq=12 text=this connection is already registered; a new process must connect anew
verdict admit_id=1 decision=allow reserved=30000 rule= reason=
fail code=5 seq=14 text=admit_id already has a reservation
ok
ok
WANT
status=$(sed -n '19p' <<<"$out")
expect_eq "$(jget "$status" 'd["health"]["rejected_messages"]')" 12 \
    "rejected_messages after 12 refused messages"
expect_eq "$(jget "$status" 'd["processes"][0]["reservations"]')" 0 \
    "reservations after RELEASE"
kill -0 "$DPID" || fail "daemon died"

# A fresh connection still works; the released admission wrote nothing.
out=$(raw <<<"status")
expect_eq "$(jget "$out" 'd["ledger"]["records"]')" 0 "records in the ledger"
expect_eq "$(jget "$out" 'len(d["processes"])')" 0 "processes after close"
stop_daemon
echo "ok"
