#!/bin/bash
# cli_grammar.sh — tollctl's command table: unique prefixes, unknown and
# ambiguous commands (listing the valid ones), --help for every command,
# bad options and arguments, and the exit codes of `tollctl --help`.
set -u
: "${B:?set B to the build dir}"
. "$(dirname "$0")/cli_common.inc"
export TOLLGATE_SOCKET=$T/none.sock HOME=$T
CTL=$B/tollctl

# run CMD...: sets rc, out, err
run() { "$@" >"$T/out" 2>"$T/err"; rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err"); }
want() { # RC ERR-TEXT (exact; "" = empty stderr)
	[ "$rc" = "$1" ] || fail "exit $rc, want $1 (stderr: $err)"
	[ "$err" = "$2" ] || fail "stderr: got '$err', want '$2'"
}
nodaemon="tollctl: no daemon on $T/none.sock (start tollgated, or set TOLLGATE_SOCKET)"
valid="valid commands: idle, policy, report, run, status, top"

# unique prefixes reach their command (here: no daemon, exit 2)
for w in s st sta status; do run $CTL $w; want 2 "$nodaemon"; done
for w in rep report; do run $CTL $w; want 2 "$nodaemon"; done
for w in t to top; do run $CTL $w --once; want 2 "$nodaemon"; done
run $CTL --socket "$T/other.sock" st
want 2 "tollctl: no daemon on $T/other.sock (start tollgated, or set TOLLGATE_SOCKET)"
run $CTL --socket="$T/other.sock" st
want 2 "tollctl: no daemon on $T/other.sock (start tollgated, or set TOLLGATE_SOCKET)"

# unknown and ambiguous commands list the valid ones
run $CTL frobnicate; want 1 "tollctl: unknown command 'frobnicate'; $valid"
run $CTL r; want 1 "tollctl: ambiguous command 'r'; $valid"
run $CTL statusx; want 1 "tollctl: unknown command 'statusx'; $valid"
run $CTL --bogus; [ "$rc" = 1 ] || fail "--bogus: exit $rc"
[ "$(head -n1 "$T/err")" = "tollctl: unknown option '--bogus'" ] || fail "--bogus: $err"
run $CTL; [ "$rc" = 1 ] || fail "no command: exit $rc"

# --help: stdout, exit 0, for tollctl and each command
run $CTL --help; want 0 ""
for code in "  0   ok" "  1   usage or other error" "  2   daemon unreachable" \
    "  3   the daemon speaks another protocol version (ours: 3)" \
    "  86 (or --budget-exit-code N) when a request was refused or the"; do
	grep -qxF -- "$code" "$T/out" || fail "tollctl --help lacks '$code'"
done
for c in run status report top policy "policy check" "policy show" "policy eval"; do
	run $CTL $c --help; want 0 ""
	[ "$(head -n1 "$T/out" | cut -d' ' -f1-3)" = "usage: tollctl ${c%% *}" ] ||
		fail "$c --help: $(head -n1 "$T/out")"
done
run $CTL ru -h; want 0 ""

# bad options and arguments: one line that names them, exit 1
run $CTL report --since x
want 1 "tollctl report: --since: expected 7d, 24h, 30m, YYYY-MM-DD or RFC3339, got 'x'"
run $CTL report --until 2025-02-30
want 1 "tollctl report: --until: expected 7d, 24h, 30m, YYYY-MM-DD or RFC3339, got '2025-02-30'"
run $CTL report --by team
want 1 "tollctl report: --by: expected model, provider, source or tag:NAME, got 'team'"
run $CTL report --format xml
want 1 "tollctl report: --format: expected table, csv or json, got 'xml'"
run $CTL report --since 1h --until 2h
want 1 "tollctl report: --until '2h' must be later than --since '1h'"
run $CTL report --frob
want 1 "tollctl report: bad option '--frob' (see tollctl report --help)"
run $CTL status --format csv
want 1 "tollctl status: --format: expected text or json, got 'csv'"
run $CTL top --format json
want 1 "tollctl top: --format json needs --once"
run $CTL run --budget abc -- true
want 1 "tollctl run: --budget: expected an amount in USD like 5 or 0.25, got 'abc'"
run $CTL run --budget -1 -- true
want 1 "tollctl run: --budget: expected an amount in USD like 5 or 0.25, got '-1'"
run $CTL run --tags team -- true
want 1 "tollctl run: --tags: expected K=V[,K=V...] (letters, digits, _ . : / - @ +), got 'team'"
run $CTL run --budget-exit-code 256 -- true
want 1 "tollctl run: --budget-exit-code: expected 0..255, got '256'"
run $CTL run --policy "$T/missing.json" -- true
want 1 "tollctl run: --policy $T/missing.json: No such file or directory"
run $CTL run
want 1 "tollctl run: no command given (tollctl run [OPTIONS] -- CMD [ARGS...])"
echo "cli_grammar: ok"
