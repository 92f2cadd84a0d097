#!/usr/bin/env python3
"""Helpers for bench/run.sh: parse load-generator output into JSON lines,
and turn the raw lines of one run into the table and the results file.

  tool.py wrk OUT                     -> JSON (from the WRKJSON line of report.lua)
  tool.py h2load OUT LOG              -> JSON (h2load summary + percentiles from --log-file)
  tool.py report RAW.jsonl FACTS.json OUT.json   -> prints the table, writes OUT.json
"""
import json
import re
import statistics
import sys


def wrk(out):
    for line in open(out):
        if line.startswith("WRKJSON "):
            d = json.loads(line[8:])
            secs = d["duration_us"] / 1e6
            errs = sum(d["errors"].values())
            return {"tool": "wrk", "requests": d["requests"], "rps": d["requests"] / secs,
                    "p50_ms": d["p50_us"] / 1000, "p99_ms": d["p99_us"] / 1000,
                    "max_ms": d["max_us"] / 1000, "errors": errs, "non2xx": d["errors"]["status"],
                    "bytes_per_req": d["bytes"] / max(d["requests"], 1)}
    return {"tool": "wrk", "failed": open(out).read()[-400:]}


def h2load(out, log):
    text = open(out).read()
    d = {"tool": "h2load"}
    m = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
    if not m:
        return {"tool": "h2load", "failed": text[-400:]}
    d["rps"] = float(m.group(3))
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", text)
    d["requests"] = int(m.group(3))
    d["errors"] = int(m.group(5)) + int(m.group(6)) + int(m.group(7))
    m = re.search(r"status codes: (\d+) 2xx", text)
    d["non2xx"] = max(0, d["requests"] - int(m.group(1)))
    m = re.search(r"traffic: .*?\((\d+)\) total, .*?\((\d+)\) headers .*?, .*?\((\d+)\) data", text)
    if m:
        d["data_bytes_per_req"] = int(m.group(3)) / max(d["requests"], 1)
    lat = []
    for line in open(log):
        parts = line.split()
        if len(parts) >= 3:
            lat.append(int(parts[2]))
    lat.sort()
    if lat:
        d["p50_ms"] = lat[len(lat) // 2] / 1000
        d["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] / 1000
        d["max_ms"] = lat[-1] / 1000
    return d


SCEN = [
    ("passthrough", "HTTP/1.1 GET passthrough, 1 KiB"),
    ("secured", "the same through channel + citizen JWT + BOLA + per-citizen rate limit + signing"),
    ("cache", "cache hit (onestop cache, nginx proxy_cache, HAProxy cache)"),
    ("grpc", "gRPC unary over h2c"),
    ("routes", "10,000-route table, requests spread over all"),
    ("overview", "citizen overview, 30 departments"),
    ("idle", "RSS with 10,000 idle keep-alive connections"),
]
TARGETS = ["direct", "onestop", "nginx", "haproxy", "pingora", "onestop-8"]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=0):
    if x is None:
        return "—"
    return f"{x:,.{nd}f}"


def report(raw, facts_path, out):
    rows = [json.loads(l) for l in open(raw) if l.strip()]
    facts = json.load(open(facts_path))
    res = {"machine": facts, "scenarios": {}}
    for sid, _ in SCEN:
        res["scenarios"][sid] = {}
        for t in TARGETS:
            rs = [r for r in rows if r.get("scenario") == sid and r.get("target") == t]
            if not rs:
                continue
            if sid == "idle":
                r = rs[-1]
                res["scenarios"][sid][t] = r
                continue
            if any("note" in r for r in rs):
                res["scenarios"][sid][t] = rs[-1]
                continue
            ok = [r for r in rs if "rps" in r]
            extra = {k: v for r in ok for k, v in r.items()
                     if k in ("slowest_dept_ms", "items_ok_in_sample", "connections", "what")}
            res["scenarios"][sid][t] = {
                **extra,
                "rounds": len(rs),
                "rps": med(r["rps"] for r in ok),
                "p50_ms": med(r.get("p50_ms") for r in ok),
                "p99_ms": med(r.get("p99_ms") for r in ok),
                "cpu_us_per_req": med(r.get("cpu_us_per_req") for r in ok),
                "errors": sum(r.get("errors", 0) for r in ok),
                "non2xx": sum(r.get("non2xx", 0) for r in ok),
                "verified": all(r.get("verified", True) for r in ok),
                "runs": rs,
            }
    # Ratios against nginx and against bare pingora (the framework's floor).
    # The secured scenario runs on onestop alone: its ratios are against
    # nginx's and bare pingora's passthrough of the same 1 KiB answer.
    passthrough = res["scenarios"].get("passthrough", {})
    for sid, d in res["scenarios"].items():
        ref = passthrough if sid == "secured" else d
        ng = ref.get("nginx") or {}
        bare = passthrough.get("pingora") or {}
        for t, r in d.items():
            if sid == "idle":
                if ng.get("rss_mb") and r.get("rss_mb"):
                    r["rss_vs_nginx"] = r["rss_mb"] / ng["rss_mb"]
                if r.get("open") and r.get("rss_mb") is not None and r.get("rss_before_mb") is not None:
                    r["kb_per_conn"] = (r["rss_mb"] - r["rss_before_mb"]) * 1024 / r["open"]
                continue
            if ng.get("rps") and r.get("rps"):
                r["rps_vs_nginx"] = r["rps"] / ng["rps"]
            if ng.get("p99_ms") and r.get("p99_ms"):
                r["p99_vs_nginx"] = r["p99_ms"] / ng["p99_ms"]
            if ng.get("cpu_us_per_req") and r.get("cpu_us_per_req"):
                r["cpu_vs_nginx"] = r["cpu_us_per_req"] / ng["cpu_us_per_req"]
            if sid in ("passthrough", "secured", "cache") and bare.get("cpu_us_per_req") and r.get("cpu_us_per_req"):
                r["cpu_vs_pingora"] = r["cpu_us_per_req"] / bare["cpu_us_per_req"]
    res["targets"] = targets(res)
    json.dump(res, open(out, "w"), indent=1)
    print_table(res)


def targets(res):
    s = res["scenarios"]
    out = []

    def get(sid, t, k):
        return (s.get(sid, {}).get(t) or {}).get(k)

    def add(name, value, goal, ok):
        out.append({"target": name, "measured": value, "goal": goal,
                    "met": None if ok is None else bool(ok)})

    def at_most(name, value, goal):
        add(name, value, f"<= {goal}", None if value is None else value <= goal)

    # Issue 19: CPU per request against the framework's floor and nginx.
    at_most("passthrough CPU/req vs bare pingora", get("passthrough", "onestop", "cpu_vs_pingora"), 1.15)
    at_most("secured CPU/req vs bare pingora", get("secured", "onestop", "cpu_vs_pingora"), 1.30)
    at_most("floor: bare pingora CPU/req vs nginx", get("passthrough", "pingora", "cpu_vs_nginx"), 1.25)
    at_most("passthrough CPU/req vs nginx", get("passthrough", "onestop", "cpu_vs_nginx"), 1.45)
    r = get("passthrough", "onestop", "rps_vs_nginx")
    add("passthrough req/s vs nginx", r, ">= 0.7", None if r is None else r >= 0.7)
    c, n = get("cache", "onestop", "cpu_us_per_req"), get("passthrough", "nginx", "cpu_us_per_req")
    at_most("cache hit CPU/req vs nginx passthrough", c / n if c and n else None, 0.75)
    at_most("idle keep-alive KB per connection", get("idle", "onestop", "kb_per_conn"), 18.0)
    r = get("passthrough", "onestop", "p99_vs_nginx")
    add("passthrough p99 vs nginx", r, "<= 1.2", None if r is None else r <= 1.2)
    r = get("cache", "onestop", "rps_vs_nginx")
    add("cache hit req/s vs nginx proxy_cache", r, ">= 1.0", None if r is None else r >= 1.0)
    r = get("grpc", "onestop", "rps_vs_nginx")
    add("gRPC unary req/s vs nginx grpc_pass", r, ">= 1.0", None if r is None else r >= 1.0)
    m = res["machine"].get("route_match_10k_ns")
    add("route match, 10k routes, median (criterion)", m, "< 1000 ns", None if m is None else m < 1000)
    small = res["machine"].get("route_match_100_ns")
    r = m / small if m and small else None
    add("route match, 10k routes vs 100 routes", r, "<= 2.0", None if r is None else r <= 2.0)
    o = s.get("overview", {}).get("onestop") or {}
    if o.get("p50_ms") is not None and o.get("slowest_dept_ms") is None:
        o["slowest_dept_ms"] = (s.get("overview", {}).get("direct") or {}).get("p50_ms")
    if o.get("p50_ms") is not None and o.get("slowest_dept_ms") is not None:
        add("overview p50 - slowest department", o["p50_ms"] - o["slowest_dept_ms"], "<= 2 ms",
            o["p50_ms"] - o["slowest_dept_ms"] <= 2)
    else:
        add("overview p50 - slowest department", None, "<= 2 ms", None)
    r = get("idle", "onestop", "rss_mb")
    add("onestop RSS with 10k idle connections (MB)", r, "< 150", None if r is None else r < 150)
    return out


def print_table(res):
    m = res["machine"]
    print()
    print(f"machine: {m.get('cores')} cores, {m.get('cpu')}; kernel {m.get('kernel')}; "
          f"load {m.get('load_start')} at start, {m.get('load_end')} at end")
    print(f"tools: {m.get('versions')}")
    print(f"load: wrk/h2load {m.get('load_desc')}")
    print()
    hdr = (f"{'scenario':<12} {'target':<8} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs/req':>10} "
           f"{'CPU÷nginx':>9} {'CPU÷pingora':>11} {'req/s÷nginx':>11} {'p99÷nginx':>9}  notes")
    print(hdr)
    print("-" * len(hdr))
    for sid, _ in SCEN:
        d = res["scenarios"].get(sid, {})
        if sid == "idle":
            for t in TARGETS:
                r = d.get(t)
                if not r:
                    continue
                note = (f"{r.get('open', '?')} open, {r.get('failed', '?')} failed; before: {fmt(r.get('rss_before_mb'), 1)} MB; "
                        f"{fmt(r.get('kb_per_conn'), 1)} KB per connection")
                print(f"{'idle RSS':<12} {t:<8} {fmt(r.get('rss_mb'), 1) + ' MB':>9} {'':>7} {'':>7} {'':>10} "
                      f"{'':>9} {'':>11} {fmt(r.get('rss_vs_nginx'), 2):>11} {'':>9}  {note}")
            continue
        if not d:
            print(f"{sid:<12} {'—':<8} not run")
            continue
        for t in TARGETS:
            r = d.get(t)
            if not r:
                continue
            if "note" in r:
                print(f"{sid:<12} {t:<8} {r['note']}")
                continue
            notes = []
            if r.get("errors"):
                notes.append(f"{r['errors']} errors")
            if r.get("non2xx"):
                notes.append(f"{r['non2xx']} non-2xx")
            if not r.get("verified", True):
                notes.append("NOT VERIFIED (see log)")
            print(f"{sid:<12} {t:<8} {fmt(r.get('rps')):>9} {fmt(r.get('p50_ms'), 2):>7} {fmt(r.get('p99_ms'), 2):>7} "
                  f"{fmt(r.get('cpu_us_per_req'), 1):>10} {fmt(r.get('cpu_vs_nginx'), 2):>9} {fmt(r.get('cpu_vs_pingora'), 2):>11} "
                  f"{fmt(r.get('rps_vs_nginx'), 2):>11} {fmt(r.get('p99_vs_nginx'), 2):>9}  {'; '.join(notes)}")
    print()
    print("targets:")
    for t in res["targets"]:
        v = t["measured"]
        mark = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        vs = "—" if v is None else (f"{v:,.2f}" if isinstance(v, float) else str(v))
        print(f"  {t['target']:<46} {vs:>10}  goal {t['goal']:<10} {mark}")


PROFILE_GROUPS = [
    ("kernel: scheduler, wake-ups, context switches", r"\[k\] (finish_task_switch|_raw_spin_unlock_irqrestore|__schedule|schedule|try_to_wake_up|_raw_spin_unlock_irq|exit_to_user_mode|futex|do_futex|ttwu|select_task_rq|enqueue_task|dequeue_task|psi_)"),
    ("kernel: TCP/loopback and socket syscalls", r"\[k\] .*(tcp|inet|sock|skb|loopback|ip_|ipv4|netif|net_rx|__dev_queue|raw_local_deliver|_copy_|copy_user|fdget|fput|do_syscall|epoll|ep_|syscall|softirq|entry_SYSCALL|rcu|sk_)"),
    ("kernel: file writes (access log)", r"\[k\] .*(ext4|filemap|vfs_write|generic_perform_write|jbd2|block_write|folio)"),
    ("kernel: other", r"\[k\] "),
    ("malloc/free (glibc)", r"\[\.\] (_int_malloc|_int_free|malloc|cfree|free|realloc|unlink_chunk|malloc_consolidate|_int_realloc|calloc|tcache)"),
    ("memcpy/memmove", r"\[\.\] __mem(move|cpy|set)"),
    ("access log (serde_json, tracing, fmt)", r"\[\.\] .*(serde_json|tracing|core::fmt|zmij|itoa|ryu|write_all|fmt::write|__write|__libc_write)"),
    ("onestop's own phases", r"\[\.\] .*onestop_"),
    ("pingora", r"\[\.\] .*pingora"),
    ("tokio runtime, channels, timers", r"\[\.\] .*(tokio|poll_fn|MaybeDone|futures)"),
    ("HTTP parsing and headers (http, httparse, bytes)", r"\[\.\] .*(http::|httparse|bytes::)"),
    ("other user space", r"\[\.\] "),
]


def profile(path):
    import re as _re
    sums = {g: 0.0 for g, _ in PROFILE_GROUPS}
    for line in open(path):
        m = _re.match(r"\s*([\d.]+)%\s+(\[[k.]\] .*)", line)
        if not m:
            continue
        pct, sym = float(m.group(1)), m.group(2)
        for g, rx in PROFILE_GROUPS:
            if _re.match(rx, sym):
                sums[g] += pct
                break
    for g, _ in PROFILE_GROUPS:
        print(f"{sums[g]:6.1f} %  {g}")


if __name__ == "__main__":
    if sys.argv[1] == "profile":
        profile(sys.argv[2])
        sys.exit(0)
    cmd = sys.argv[1]
    if cmd == "wrk":
        print(json.dumps(wrk(sys.argv[2])))
    elif cmd == "h2load":
        print(json.dumps(h2load(sys.argv[2], sys.argv[3])))
    elif cmd == "report":
        report(sys.argv[2], sys.argv[3], sys.argv[4])
