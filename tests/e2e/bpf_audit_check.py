# bpf_audit_check.py — the checker of tests/e2e/bpf_audit.sh (not a test
# itself), llm_check.py's rules for the records of one process:
#
#   bpf_audit_check.py LOG DB PRICES PROVIDERS WALL_MS PID SOURCES
#                      [--client FILE] [--tls TRANSPORT]
#
# The records of pid PID (in seq order) against the last K lines of the
# fake provider's log, K the number of PROVIDERS: each must be what
# llm_check.py wants of a record (provider, model, endpoint, status,
# tokens, cost, not estimated, latency ≤ WALL_MS) but come from its
# source in SOURCES (shim or ebpf, comma-separated like PROVIDERS; one
# for all). --tls holds for the ebpf records (the probes see TLS only).
# Filtering by pid keeps other processes of the host out: an audit daemon
# sees every process's TLS. Prints what differs, exit 1.
import os, sqlite3, sys

# llm_check.py's functions, without running its main()
_src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "llm_check.py")).read()
assert _src.endswith("\nmain()\n"), "llm_check.py no longer ends in main()"
L = {"__name__": "llm_check"}
exec(compile(_src[:-len("main()\n")], "llm_check.py", "exec"), L)

def main():
    ap = L["argparse"].ArgumentParser()
    for name in ("log", "db", "prices", "providers"):
        ap.add_argument(name)
    ap.add_argument("wall_ms", type=int)
    ap.add_argument("pid", type=int)
    ap.add_argument("sources")
    ap.add_argument("--client")
    ap.add_argument("--tls")
    a = ap.parse_args()
    a.least = 0
    provs = a.providers.split(",")
    k = len(provs)
    srcs = a.sources.split(",")
    srcs = srcs * k if len(srcs) == 1 else srcs
    assert len(srcs) == k and set(srcs) <= {"shim", "ebpf"}, a.sources
    tls = a.tls
    json = L["json"]
    lines = [json.loads(l) for l in open(a.log)][-k:]
    con = sqlite3.connect(a.db)
    con.row_factory = sqlite3.Row
    recs = [dict(r) for r in con.execute(
        "SELECT * FROM records WHERE pid = ? ORDER BY seq", (a.pid,))]
    cli = [json.loads(l) for l in open(a.client)] if a.client else None
    table = json.load(open(a.prices), parse_float=L["Decimal"])["models"]
    bad = ["want %d %s, have %d" % (k, what, len(x))
           for what, x in (("client lines", cli), ("log lines", lines),
                           ("records of pid %d" % a.pid, recs))
           if x is not None and len(x) != k]
    for i, (l, r, prov) in enumerate(zip(lines, recs, provs)):
        name = cli[i]["call"] if cli and i < len(cli) else "request %d" % l["n"]
        if not l["complete"] or l["tokens"] is None:
            bad.append("%s: the provider did not complete it" % name)
            continue
        if cli is not None and i < len(cli):
            bad += L["client_differs"](name, cli[i], l, l["tokens"])
        if r["source"] != srcs[i]:
            bad.append("%s source: record has %r, want %r"
                       % (name, r["source"], srcs[i]))
        r["source"] = "shim"  # what record_differs holds it to
        a.tls = tls if srcs[i] == "ebpf" else None
        bad += L["record_differs"](a, name, prov, l, r, table)
    print("\n".join(bad))
    sys.exit(1 if bad else 0)

main()
