"""bench/report/dashboard.py -- index.html: a self-contained dashboard (inline CSS, JS and SVG; no
network, no CDN) comparing the freelist policies side by side in the newest run and over every
kept run (reports/*/results.json, `latest` excluded), so a regression shows as a rising line."""
import glob
import json
import os

POLICIES = ("none", "optimistic", "pessimistic", "segregated")


def summarise(res):
    """The few numbers the dashboard plots, from one results.json."""
    s = {"report": res.get("report"), "date": res.get("date", ""), "host": res.get("host", ""),
         "commit": (res.get("machine", {}).get("git_commit") or "?")[:10],
         "mode": res.get("machine", {}).get("mode", "?"), "churn": {}, "frag": {}, "bump": {}}
    for r in res.get("results", []):
        p, ns = r.get("params", {}), r.get("ns_per_op")
        subj = r.get("subject", "")
        failed = r.get("failed_ops", r.get("counters", {}).get("failures", 0)) or 0
        if r.get("suite") == "churn" and subj.startswith("lfarena-") and ns and not failed:
            shape = f"size:{p.get('size')}/segments:{p.get('segments')}/threads:{r.get('threads')}"
            s["churn"].setdefault(shape, {})[subj[len("lfarena-"):]] = ns
        elif r.get("suite") == "frag" and subj.startswith("lfarena-"):
            c = r.get("counters", {})
            s["frag"][subj[len("lfarena-"):]] = {k: c.get(k) for k in (
                "discarded_bytes", "stranded_free_bytes", "fail_with_free", "failures",
                "peak_region_bytes", "free_segments_end")} | {"ns_per_op": ns}
        elif r.get("suite") == "bump" and ns and p.get("size") == "64" and p.get("align") == "8":
            s["bump"][f"{subj}/threads:{r.get('threads')}"] = ns
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
        runs[res.get("report") or path] = summarise(res)
    if current is not None:
        runs[current.get("report")] = summarise(current)
    return sorted(runs.values(), key=lambda r: (r["date"], r["report"] or ""))


CSS = """body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.best{background:#dfd}
.none{color:#888}.optimistic{color:#2a8}.pessimistic{color:#37c}.segregated{color:#c63}select{margin:4px}
svg text{font-size:11px}.note{color:#555;font-size:12px}"""

JS = r"""
const runs = JSON.parse(document.getElementById('data').textContent);
const POL = ['none','optimistic','pessimistic','segregated'], COL = {none:'#888',optimistic:'#2a8',pessimistic:'#37c',segregated:'#c63'};
const fmt = ns => ns == null ? 'n/a' : ns >= 1e6 ? (ns/1e6).toFixed(2)+' ms' : ns >= 1e3 ? (ns/1e3).toFixed(1)+' µs' : ns.toFixed(2)+' ns';
const mib = b => b == null ? 'n/a' : (b/1048576).toFixed(2)+' MiB';
const el = (t, a={}, kids=[]) => { const e = document.createElementNS(t==='svg'||a.svg?'http://www.w3.org/2000/svg':'http://www.w3.org/1999/xhtml', t); delete a.svg;
  for (const [k,v] of Object.entries(a)) e.setAttribute(k, v); for (const k of kids) e.append(k); return e; };
const last = runs[runs.length-1];
document.getElementById('meta').textContent = `${runs.length} kept run(s); newest: ${last.report} (${last.date}, commit ${last.commit}, ${last.mode} mode)`;
function shapeKey(s){ const m = {}; s.split('/').forEach(p => { const [k,v] = p.split(':'); m[k]=v; }); return [m.size==='64'?0:1, +m.segments, +m.threads]; }
const shapes = Object.keys(last.churn).sort((a,b) => { const x=shapeKey(a), y=shapeKey(b); return x[0]-y[0]||x[1]-y[1]||x[2]-y[2]; });
// 1. side by side, newest run
const t1 = document.getElementById('side');
t1.append(el('tr',{},[el('th',{},['churn shape']), ...POL.map(p => el('th',{class:p},[p]))]));
for (const s of shapes) { const v = last.churn[s]; const best = Math.min(...POL.filter(p=>v[p]).map(p=>v[p]));
  t1.append(el('tr',{},[el('td',{},[s]), ...POL.map(p => el('td',{class: v[p]===best?'best':''},[fmt(v[p])]))])); }
const t2 = document.getElementById('frag');
const FK = [['discarded_bytes','discarded',mib],['stranded_free_bytes','stranded free',mib],['fail_with_free','failures with free',x=>x],['failures','failures',x=>x],['peak_region_bytes','peak region',mib],['free_segments_end','free segments at end',x=>x],['ns_per_op','ns/op',fmt]];
t2.append(el('tr',{},[el('th',{},['metric']), ...POL.map(p => el('th',{class:p},[p]))]));
for (const [k,label,f] of FK) t2.append(el('tr',{},[el('td',{},[label]), ...POL.map(p => el('td',{},[String(last.frag[p] ? f(last.frag[p][k]) : 'n/a')]))]));
// 2. over time: a log-scale line chart per selected shape
function chart(svg, series, ylabel) {
  svg.innerHTML = ''; const W = 900, H = 320, L = 70, R = 130, T = 15, B = 45;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`); svg.setAttribute('width', W); svg.setAttribute('height', H);
  const ys = series.flatMap(s => s.pts.map(p => p[1])).filter(v => v > 0);
  if (!ys.length) { svg.append(el('text',{svg:1,x:L,y:40},['no data'])); return; }
  let lo = Math.log10(Math.min(...ys)), hi = Math.log10(Math.max(...ys)); if (hi - lo < 0.3) { lo -= 0.15; hi += 0.15; }
  const n = runs.length, X = i => L + (n === 1 ? (W-L-R)/2 : i*(W-L-R)/(n-1)), Y = v => T + (hi - Math.log10(v))*(H-T-B)/(hi-lo);
  for (let d = Math.floor(lo); d <= Math.ceil(hi); d++) for (const m of [1,2,5]) { const v = m*10**d, lv = Math.log10(v); if (lv < lo || lv > hi) continue;
    svg.append(el('line',{svg:1,x1:L,x2:W-R,y1:Y(v),y2:Y(v),stroke:'#eee'}), el('text',{svg:1,x:L-6,y:Y(v)+4,'text-anchor':'end'},[ylabel(v)])); }
  runs.forEach((r,i) => svg.append(el('text',{svg:1,x:X(i),y:H-B+16,'text-anchor':'middle'},[r.date.slice(0,10)]), el('text',{svg:1,x:X(i),y:H-B+30,'text-anchor':'middle',fill:'#888'},[r.commit.slice(0,7)])));
  series.forEach((s,k) => { const pts = s.pts.filter(p => p[1] > 0);
    if (pts.length > 1) svg.append(el('polyline',{svg:1,fill:'none',stroke:s.color,'stroke-width':2,points:pts.map(p=>`${X(p[0])},${Y(p[1])}`).join(' ')}));
    for (const p of pts) { const c = el('circle',{svg:1,cx:X(p[0]),cy:Y(p[1]),r:4,fill:s.color}); c.append(el('title',{svg:1},[`${s.name}: ${ylabel(p[1])} (${runs[p[0]].report})`])); svg.append(c); }
    svg.append(el('text',{svg:1,x:W-R+10,y:T+14+16*k,fill:s.color},[s.name])); });
}
const sel = document.getElementById('shape');
for (const s of shapes) sel.append(el('option',{value:s},[s]));
sel.value = shapes.find(s => s.startsWith('size:mixed/segments:20000/threads:1')) || shapes[0];
const draw = () => chart(document.getElementById('time'), POL.map(p => ({name:p, color:COL[p], pts: runs.map((r,i) => [i, (r.churn[sel.value]||{})[p]])})), fmt);
sel.onchange = draw; draw();
chart(document.getElementById('bump'), [{name:'lfarena-heap / raw-atomic', color:'#c53', pts: runs.map((r,i) => [i, r.bump['lfarena-heap/threads:1'] / r.bump['raw-atomic/threads:1']])}], v => v.toFixed(2)+'x');
"""


def render(runs):
    data = json.dumps(runs).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lfarena freelist policies</title>
<style>{CSS}</style></head><body>
<h1>lfarena: freelist policies across runs</h1>
<p id="meta"></p>
<p class="note">Self-contained (no network). Generated by bench/report/generate.py from every kept
reports/*/results.json. ns/op = wall-clock time per free+allocate pair (churn). Lower is better;
the sorted freelist is O(n) in the number of free segments.</p>
<h2>Policies side by side: churn cost (newest run)</h2><table id="side"></table>
<h2>Policies side by side: fragmentation (newest run)</h2><table id="frag"></table>
<h2>Churn cost over runs</h2>
<label>shape <select id="shape"></select></label><br><svg id="time"></svg>
<h2>Single-thread bump: lfarena-heap / raw atomic fetch_add over runs (64 B; target 1.25x)</h2>
<svg id="bump"></svg>
<script type="application/json" id="data">{data}</script>
<script>{JS}</script>
</body></html>
"""
