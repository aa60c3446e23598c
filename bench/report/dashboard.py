"""bench/report/dashboard.py -- index.html: a self-contained dashboard (inline CSS, JS and SVG; no
network, no CDN) over every kept report (reports/*/results.json, `latest` excluded): the freelist
policies side by side with the peers users would pick instead, multi-thread scaling, the history
of each policy across reports, and the newest report's "Changes since" (compare.py U test).

The page logic is dashboard.js (inlined). Every chart is an <svg class="chart"> whose data points
carry class "mark", and the script records its own errors in #js-errors: check_dashboard.py
renders the page in headless Chromium and fails on a JavaScript error or a chart without marks."""
import glob
import json
import os

import changes
from jsonsafe import finite

# Churn subjects, in table order. `none` reuses nothing (a free only counts the bytes as
# discarded), so its cost is shown apart and never competes for "best".
POLICIES = ("optimistic", "pessimistic", "segregated", "segregated-tlc")
PEERS = ("glibc", "jemalloc", "mimalloc", "tcmalloc", "pmr-sync-pool")
NOT_COMPARABLE = ("none",)
BUMP_SUBJECTS = ("lfarena-heap", "lfarena-heap-tlc", "raw-atomic", "mimalloc", "glibc",
                 "jemalloc", "tcmalloc")
SIGNIFICANT_ROWS = 40  # per direction, in the dashboard (report.md lists them all)


def _failed(r):
    return (r.get("failed_ops", r.get("counters", {}).get("failures", 0)) or 0) > 0


def summarise(res):
    """The few numbers the dashboard plots, from one results.json."""
    m = res.get("machine", {})
    s = {"report": str(res.get("report") or ""), "date": str(res.get("date") or ""), "host": res.get("host", ""),
         "commit": (m.get("git_commit") or "?")[:10], "mode": m.get("mode", "?"),
         "cores": m.get("cores"), "churn": {}, "frag": {}, "bump": {}}
    for r in res.get("results", []):
        p, ns = r.get("params", {}), r.get("ns_per_op")
        subj = r.get("subject", "")
        name = subj[len("lfarena-"):] if subj.startswith("lfarena-") else subj
        if r.get("suite") == "churn" and ns and not _failed(r):
            if name in POLICIES + PEERS + NOT_COMPARABLE:
                shape = f"size:{p.get('size')}/segments:{p.get('segments')}"
                s["churn"].setdefault(shape, {}).setdefault(str(r.get("threads")), {})[name] = ns
        elif r.get("suite") == "frag" and subj.startswith("lfarena-"):
            c = r.get("counters", {})
            s["frag"][name] = {k: c.get(k) for k in (
                "discarded_bytes", "stranded_free_bytes", "fail_with_free", "failures",
                "peak_region_bytes", "free_segments_end")} | {"ns_per_op": ns}
        elif (r.get("suite") == "bump" and ns and p.get("size") == "64"
              and p.get("align") == "8" and subj in BUMP_SUBJECTS):
            s["bump"].setdefault(subj, {})[str(r.get("threads"))] = ns
    ch = res.get("changes")
    if ch and isinstance(ch.get("rows"), list):
        # The same selection and order as report.md (changes.significant), trimmed for the page.
        slim = lambda r: {k: r[k] for k in ("name", "old", "new", "change", "p_value",  # noqa: E731
                                            "time_unit")}
        worse, better = changes.significant(ch, +1), changes.significant(ch, -1)
        reps = [n for r in ch["rows"] for n in r.get("repetitions") or [] if n]
        s["changes"] = {
            "baseline": ch.get("baseline"), "alpha": ch.get("alpha"),
            "compared": ch.get("compared"), "min_repetitions": min(reps) if reps else 0,
            "regressions": [slim(r) for r in worse[:SIGNIFICANT_ROWS]],
            "improvements": [slim(r) for r in better[:SIGNIFICANT_ROWS]],
            "n_regressions": len(worse), "n_improvements": len(better)}
    return s


def collect_runs(reports_dir, current=None):
    runs = {}
    for path in glob.glob(os.path.join(reports_dir, "*", "results.json")):
        if os.path.basename(os.path.dirname(path)) == "latest":
            continue
        try:
            with open(path, encoding="utf-8") as f:
                res = json.load(f)
        except (OSError, ValueError):
            continue
        if not isinstance(res, dict):
            continue  # not a report's results.json
        res["date"] = str(res.get("date") or "")
        runs[res.get("report") or path] = summarise(res)
    if current is not None:
        runs[current.get("report")] = summarise(current)
    return sorted(runs.values(), key=lambda r: (str(r["date"]), str(r["report"] or "")))


CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1250px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}
td{white-space:nowrap}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.best{background:#dfd}
.peer{background:#f7f7fb}th.peer{background:#ececf6}.nc{color:#999;background:#fafafa}
.gap{border:none;width:6px;padding:0}.worse{color:#b22}.better{color:#282}
select{margin:4px}svg text{font-size:11px}.note{color:#555;font-size:12px}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:2px 0 10px 60px;font-size:12px}
.legend span{white-space:nowrap}.legend i{display:inline-block;width:18px;height:0;
border-top:3px solid;vertical-align:middle;margin-right:4px}#js-errors{color:#b22}"""


def render(runs):
    # Every "<" escaped: no "</script>" or "<!--" in the data can end or confuse the data block.
    data = json.dumps(finite(runs), allow_nan=False).replace("<", "\\u003c")
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "dashboard.js"),
              encoding="utf-8") as f:
        js = f.read()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lfarena freelist policies</title>
<style>{CSS}</style>
<script>/* First, before anything can fail: record every script error in the page. */
window.addEventListener('error', e => {{ const p = document.getElementById('js-errors');
  if (p) p.textContent += (e.message || String(e)) + '\\n'; }});</script></head><body>
<h1>lfarena: freelist policies across reports</h1>
<pre id="js-errors"></pre>
<p id="meta"></p>
<p class="note">Self-contained (no network). Generated by bench/report/generate.py from every kept
reports/*/results.json. Churn: wall-clock ns per free+allocate pair, lower is better; peers are
the allocators a user would pick instead, measured in the same run on the same machine.
<b>none</b> reuses nothing (a free only counts its bytes as discarded and the next allocation
bumps), so its cost is shown apart and is not comparable.</p>
<h2>Changes since the previous report</h2><div id="changes"></div>
<h2>Churn cost: policies and peers (newest report)</h2>
<label>threads <select id="side-threads"></select></label>
<table id="side" class="data"></table>
<h2>Multi-thread scaling (newest report)</h2>
<p class="note">Aggregate throughput of all threads (million operations per wall-clock second,
log scale); a line that rises with the threads scales.</p>
<label>churn shape <select id="scale-shape"></select></label>
<svg id="scale-churn" class="chart"></svg><div class="legend" id="scale-churn-legend"></div>
<svg id="scale-bump" class="chart"></svg><div class="legend" id="scale-bump-legend"></div>
<h2>Fragmentation per policy (newest report)</h2><table id="frag" class="data"></table>
<h2>Churn cost per policy over reports</h2>
<label>shape <select id="shape"></select></label>
<svg id="time" class="chart"></svg><div class="legend" id="time-legend"></div>
<h2>Single-thread bump: lfarena-heap / raw atomic fetch_add over reports (64 B; target 1.25x)</h2>
<svg id="bump" class="chart"></svg><div class="legend" id="bump-legend"></div>
<script type="application/json" id="data">{data}</script>
<script>{js}</script>
</body></html>
"""
