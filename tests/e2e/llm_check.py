# llm_check.py — the one checker of the LLM e2e tests (tests/e2e/shim_*.sh,
# through llm_check in llm_common.inc; not a test itself). Run it with
# Debian's /usr/bin/python3:
#
#   llm_check.py LOG DB PRICES PROVIDERS WALL_MS
#                [--least MS] [--tls TRANSPORT] [--client FILE [--by-model]]
#
# The last K records of the ledger DB against the last K lines of the fake
# provider's --log LOG, in order; K is the number of PROVIDERS, the
# ledger's provider name for each request (comma-separated). Each record
# must have the provider's model, endpoint, status and token counts, be
# neither estimated nor refused, and cost what the price table PRICES
# says: looked up as lib/prices.h does (provider/model, model, then
# without a date suffix), pico-USD per token = USD per Mtok × 10^6
# exactly, rounded once to nano-USD; no entry: cost 0 and unpriced. Its
# latency lies in [MS, WALL_MS] (MS: 0 unless --least).
#   --tls TRANSPORT  each request came over TLS as TRANSPORT (http/1.1, h2)
#   --client FILE    the client's own lines, one per request ({call, api,
#                    model, usage}: the usage as the client parsed it) must
#                    equal the provider's too
#   --by-model       pair the lines and records each sorted by model
#                    (requests made at once), not in order
# Prints what differs and exits 1; exits 0 when all agree.
import argparse, json, re, sqlite3, sys
from decimal import Decimal

TOKENS = ("input_tokens", "output_tokens", "cached_tokens",
          "cache_write_tokens", "reasoning_tokens")

def undated(m):
    x = re.sub(r"-\d{4}-\d{2}-\d{2}$", "", m)
    return x if x != m else re.sub(r"-\d{8}$", "", m)

def price(table, prov, m):
    for name in (m, undated(m)):
        for key in (prov + "/" + name, name):
            if key in table:
                return table[key]
    return None

def pico(p, key, dflt):
    return int(p.get(key, p.get(dflt, 0)) * 1000000)

def cost(table, prov, m, t):
    """(cost_nano_usd, unpriced) of tokens t as the price table says."""
    p = price(table, prov, m)
    if p is None:
        return 0, 1
    unc = t["input_tokens"] - t["cached_tokens"] - t["cache_write_tokens"]
    c = (unc * pico(p, "input_usd_per_mtok", "input_usd_per_mtok")
         + t["cached_tokens"] * pico(p, "cached_input_usd_per_mtok", "input_usd_per_mtok")
         + t["cache_write_tokens"] * pico(p, "cache_write_usd_per_mtok", "input_usd_per_mtok")
         + t["output_tokens"] * pico(p, "output_usd_per_mtok", "output_usd_per_mtok"))
    return (c + 500) // 1000, 0

# The client's usage object in the ledger's meanings (DESIGN.md): input
# includes cache reads and writes, output includes reasoning.
def ledger_tokens(api, u):
    d = lambda o, f: (u.get(o) or {}).get(f) or 0
    if api == "chat.completions":
        return dict(input_tokens=u["prompt_tokens"], output_tokens=u["completion_tokens"],
                    cached_tokens=d("prompt_tokens_details", "cached_tokens"),
                    cache_write_tokens=0,
                    reasoning_tokens=d("completion_tokens_details", "reasoning_tokens"))
    if api == "responses":
        return dict(input_tokens=u["input_tokens"], output_tokens=u["output_tokens"],
                    cached_tokens=d("input_tokens_details", "cached_tokens"),
                    cache_write_tokens=0,
                    reasoning_tokens=d("output_tokens_details", "reasoning_tokens"))
    if api == "messages":
        cr = u.get("cache_read_input_tokens") or 0
        cw = u.get("cache_creation_input_tokens") or 0
        return dict(input_tokens=u["input_tokens"] + cr + cw,
                    output_tokens=u["output_tokens"], cached_tokens=cr,
                    cache_write_tokens=cw, reasoning_tokens=0)
    raise SystemExit("unknown api " + api)

def client_differs(name, s, l, t):
    """What the client parsed that differs from what the provider sent."""
    bad = []
    if s["api"] != l["api"] or s["model"] != l["model"]:
        bad.append("%s: the client saw %s %s, the provider sent %s %s"
                   % (name, s["api"], s["model"], l["api"], l["model"]))
    if s["usage"] != l["usage"]:
        bad.append("%s: the client parsed usage %s, the provider sent %s"
                   % (name, s["usage"], l["usage"]))
    st = ledger_tokens(s["api"], s["usage"])
    if st != t:
        bad.append("%s: the client's usage means %s, the provider's log %s" % (name, st, t))
    return bad

def record_differs(a, name, prov, l, r, table):
    """What record r has that the provider's line l and the prices do not say."""
    bad = []
    t = l["tokens"]
    c, unpriced = cost(table, prov, l["model"], t)
    want = {f: t[f] for f in TOKENS}
    want.update(provider=prov, model=l["model"], endpoint=l["path"].split("?")[0],
                http_status=l["status"], cost_nano_usd=c, unpriced=unpriced,
                estimated=0, refused=0, kind="llm", source="shim")
    for f, v in want.items():
        if r[f] != v:
            bad.append("%s %s: record has %r, want %r" % (name, f, r[f], v))
    if not a.least <= r["latency_ms"] <= a.wall_ms:
        bad.append("%s: latency_ms %d not in [%d, %d]"
                   % (name, r["latency_ms"], a.least, a.wall_ms))
    if a.tls and (not l["tls"] or l["transport"] != a.tls):
        bad.append("%s came as %s, tls %s" % (name, l["transport"], l["tls"]))
    return bad

def main():
    ap = argparse.ArgumentParser()
    for name in ("log", "db", "prices", "providers"):
        ap.add_argument(name)
    ap.add_argument("wall_ms", type=int)
    ap.add_argument("--least", type=int, default=0)
    ap.add_argument("--tls")
    ap.add_argument("--client")
    ap.add_argument("--by-model", action="store_true")
    a = ap.parse_args()
    provs = a.providers.split(",")
    k = len(provs)
    L = [json.loads(l) for l in open(a.log)][-k:]
    con = sqlite3.connect(a.db)
    con.row_factory = sqlite3.Row
    R = list(con.execute("SELECT * FROM records ORDER BY seq DESC LIMIT ?", (k,)))[::-1]
    S = [json.loads(l) for l in open(a.client)] if a.client else None
    table = json.load(open(a.prices), parse_float=Decimal)["models"]
    if a.by_model:
        for x in (S, L, R):
            if x is not None:
                x.sort(key=lambda e: e["model"])
    bad = ["want %d %s, have %d" % (k, what, len(x))
           for what, x in (("client lines", S), ("log lines", L), ("records", R))
           if x is not None and len(x) != k]
    for i, (l, r, prov) in enumerate(zip(L, R, provs)):
        name = S[i]["call"] if S and i < len(S) else "request %d" % l["n"]
        if not l["complete"] or l["tokens"] is None:
            bad.append("%s: the provider did not complete it" % name)
            continue
        if S is not None and i < len(S):
            bad += client_differs(name, S[i], l, l["tokens"])
        bad += record_differs(a, name, prov, l, r, table)
    print("\n".join(bad))
    sys.exit(1 if bad else 0)

main()
