// bench/report/dashboard.js -- the logic of index.html (inlined by dashboard.py; data in #data).
// Charts are plain SVG: every data point is a <circle class="mark">, so check_dashboard.py can
// tell an empty chart from a drawn one; legends are HTML below each chart, so they never clip.
'use strict';
const runs = JSON.parse(document.getElementById('data').textContent);
const POL = ['optimistic', 'pessimistic', 'segregated', 'segregated-tlc'];
const PEERS = ['glibc', 'jemalloc', 'mimalloc', 'tcmalloc', 'pmr-sync-pool'];
const NC = ['none'];
const COL = {
  none: '#aaa', optimistic: '#2a8', pessimistic: '#37c', segregated: '#c63',
  'segregated-tlc': '#e0a020', glibc: '#777', jemalloc: '#a5a', mimalloc: '#333',
  tcmalloc: '#58b', 'pmr-sync-pool': '#b96', 'lfarena-heap': '#c63',
  'lfarena-heap-tlc': '#e0a020', 'raw-atomic': '#2a8',
};
const isPeer = s => PEERS.includes(s) || !s.startsWith('lfarena') && !POL.includes(s) && !NC.includes(s);
const fmt = ns => ns == null ? 'n/a' : ns >= 1e6 ? (ns / 1e6).toFixed(2) + ' ms'
  : ns >= 1e3 ? (ns / 1e3).toFixed(1) + ' µs' : ns.toFixed(2) + ' ns';
const mops = v => v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toPrecision(2);
const mib = b => b == null ? 'n/a' : (b / 1048576).toFixed(2) + ' MiB';
const SVG = 'http://www.w3.org/2000/svg';
function el(tag, attrs = {}, kids = []) {
  const svg = attrs.svg; delete attrs.svg;
  const e = svg ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
}
const last = runs[runs.length - 1];
document.getElementById('meta').textContent = `${runs.length} kept report(s); newest: ` +
  `${last.report} (${last.date}, commit ${last.commit}, ${last.mode} mode, ${last.cores || '?'} cores)`;

// Shapes sorted: 64 B before mixed, then by segments.
const shapeKey = s => { const m = {}; s.split('/').forEach(p => { const [k, v] = p.split(':'); m[k] = v; });
  return [m.size === '64' ? 0 : 1, +m.segments]; };
const byShape = (a, b) => { const x = shapeKey(a), y = shapeKey(b); return x[0] - y[0] || x[1] - y[1]; };
const shapes = Object.keys(last.churn).sort(byShape);
const threadsOf = run => [...new Set(Object.values(run.churn).flatMap(t => Object.keys(t)))].sort((a, b) => a - b);
function options(select, values, preferred) {
  for (const v of values) select.append(el('option', { value: v }, [v]));
  select.value = values.includes(preferred) ? preferred : values[0];
}

// ---- changes since the previous report -----------------------------------------------------
(function changes() {
  const box = document.getElementById('changes'), ch = last.changes;
  if (!ch) {
    box.append(el('p', { class: 'note' }, ['The newest report was not compared with an earlier one ' +
      '(ci/bench.sh --full --compare reports/<earlier report> does).']));
    return;
  }
  box.append(el('p', {}, [`Against ${ch.baseline}: ${ch.compared} benchmarks compared with Google ` +
    `Benchmark's compare.py (two-sided Mann-Whitney U test, alpha ${ch.alpha}); ` +
    `${ch.n_regressions} significant regressions, ${ch.n_improvements} significant improvements.` +
    (ch.min_repetitions < 9 ? ` Only ${ch.min_repetitions} repetitions: not meaningful (9+ needed).` : '')]));
  for (const [title, rows, cls] of [['Regressions (slower)', ch.regressions, 'worse'],
    ['Improvements (faster)', ch.improvements, 'better']]) {
    if (!rows.length) { box.append(el('p', {}, [`${title}: none.`])); continue; }
    const t = el('table', { class: 'data' });
    t.append(el('tr', {}, ['benchmark', 'before', 'after', 'change', 'p-value'].map(h => el('th', {}, [h]))));
    for (const r of rows) {
      t.append(el('tr', {}, [el('td', {}, [r.name]), el('td', {}, [`${r.old.toPrecision(4)} ${r.time_unit}`]),
        el('td', {}, [`${r.new.toPrecision(4)} ${r.time_unit}`]),
        el('td', { class: cls }, [`${(r.change * 100).toFixed(1)}%`]), el('td', {}, [r.p_value.toFixed(4)])]));
    }
    box.append(el('p', {}, [title + ':']), t);
  }
})();

// ---- churn table: policies, peers, and `none` apart ----------------------------------------
const sideThreads = document.getElementById('side-threads');
options(sideThreads, threadsOf(last), '1');
function sideTable() {
  const t = document.getElementById('side'), th = sideThreads.value;
  t.replaceChildren();
  const gap = () => el('td', { class: 'gap' });
  t.append(el('tr', {}, [el('th', {}, ['churn shape']), ...POL.map(p => el('th', { style: `color:${COL[p]}` }, [p])),
    el('th', {}, ['best policy / mimalloc']), gap(), ...PEERS.map(p => el('th', { class: 'peer' }, [p])), gap(),
    el('th', { class: 'nc', title: 'reuses nothing: not comparable' }, ['none (not comparable)'])]));
  for (const s of shapes) {
    const v = (last.churn[s] || {})[th] || {};
    const vals = POL.map(p => v[p]).filter(x => x);
    const best = vals.length ? Math.min(...vals) : null;
    const ratio = best && v.mimalloc ? (best / v.mimalloc).toFixed(2) + 'x' : 'n/a';
    t.append(el('tr', {}, [el('td', {}, [s]), ...POL.map(p => el('td', { class: v[p] === best ? 'best' : '' }, [fmt(v[p])])),
      el('td', {}, [ratio]), gap(), ...PEERS.map(p => el('td', { class: 'peer' }, [fmt(v[p])])), gap(),
      el('td', { class: 'nc' }, [fmt(v.none)])]));
  }
}
sideThreads.onchange = sideTable; sideTable();

// ---- a log-scale line chart: x = categories, series = [{name, color, dash, ref, pts: [[xi, y]]}]
function chart(id, xs, series, yfmt, opts = {}) {
  const svg = document.getElementById(id), legend = document.getElementById(id + '-legend');
  svg.replaceChildren(); legend.replaceChildren();
  const W = 960, H = opts.height || 320, L = 70, R = 60, T = 15, B = 45;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`); svg.setAttribute('width', W); svg.setAttribute('height', H);
  const ys = series.flatMap(s => s.pts.map(p => p[1])).filter(v => v > 0 && isFinite(v));
  if (!ys.length) { svg.append(el('text', { svg: 1, x: L, y: 40, class: 'empty' }, ['no data'])); return; }
  let lo = Math.log10(Math.min(...ys)), hi = Math.log10(Math.max(...ys));
  if (hi - lo < 0.3) { lo -= 0.15; hi += 0.15; }
  const n = xs.length, X = i => L + (n === 1 ? (W - L - R) / 2 : i * (W - L - R) / (n - 1));
  const Y = v => T + (hi - Math.log10(v)) * (H - T - B) / (hi - lo);
  for (let d = Math.floor(lo); d <= Math.ceil(hi); d++) for (const m of [1, 2, 5]) {
    const v = m * 10 ** d, lv = Math.log10(v); if (lv < lo || lv > hi) continue;
    svg.append(el('line', { svg: 1, x1: L, x2: W - R, y1: Y(v), y2: Y(v), stroke: '#eee' }),
      el('text', { svg: 1, x: L - 6, y: Y(v) + 4, 'text-anchor': 'end' }, [yfmt(v)]));
  }
  const every = Math.max(1, Math.ceil(n / 12)); // at most about 12 labels: many reports stay legible
  xs.forEach((x, i) => {
    if (i % every !== 0 && i !== n - 1) return;
    const [a, b] = Array.isArray(x) ? x : [x, ''];
    svg.append(el('text', { svg: 1, x: X(i), y: H - B + 16, 'text-anchor': 'middle' }, [a]),
      el('text', { svg: 1, x: X(i), y: H - B + 30, 'text-anchor': 'middle', fill: '#888' }, [b]));
  });
  if (opts.xlabel) svg.append(el('text', { svg: 1, x: W - R, y: H - 4, 'text-anchor': 'end', fill: '#555' }, [opts.xlabel]));
  for (const s of series) {
    const pts = s.pts.filter(p => p[1] > 0 && isFinite(p[1]));
    if (!pts.length) continue;
    const dash = s.dash ? { 'stroke-dasharray': '6 4' } : {};
    if (pts.length > 1) svg.append(el('polyline', { svg: 1, fill: 'none', stroke: s.color, 'stroke-width': 2, ...dash,
      points: pts.map(p => `${X(p[0])},${Y(p[1])}`).join(' ') }));
    for (const p of pts) {
      // A reference line (a target) is drawn but is not data: no class "mark".
      const c = el('circle', { svg: 1, class: s.ref ? 'ref' : 'mark', cx: X(p[0]), cy: Y(p[1]), r: 4, fill: s.color });
      c.append(el('title', { svg: 1 }, [`${s.name}: ${yfmt(p[1])}` + (opts.tip ? ` (${opts.tip(p[0])})` : '')]));
      svg.append(c);
    }
    legend.append(el('span', {}, [el('i', { style: `border-color:${s.color};border-top-style:${s.dash ? 'dashed' : 'solid'}` }), s.name]));
  }
}
const colour = (s, i) => COL[s] || `hsl(${(i * 67) % 360},55%,45%)`;

// ---- multi-thread scaling, newest report ---------------------------------------------------
const scaleShape = document.getElementById('scale-shape');
options(scaleShape, shapes, 'size:64/segments:1000');
function scaling() {
  const per = last.churn[scaleShape.value] || {}, th = Object.keys(per).sort((a, b) => a - b);
  if (!th.length) { chart('scale-churn', [], [], mops); return; }
  const subjects = [...POL, ...PEERS, ...NC];
  chart('scale-churn', th.map(t => [`${t} thread${t === '1' ? '' : 's'}`, '']), subjects.map((s, i) => ({
    name: NC.includes(s) ? `${s} (not comparable)` : s, color: colour(s, i), dash: isPeer(s) || NC.includes(s),
    pts: th.map((t, k) => [k, per[t] && per[t][s] ? 1e3 / per[t][s] : null]) })), mops,
  { xlabel: `churn ${scaleShape.value}: M pairs/s` });
}
scaleShape.onchange = scaling; scaling();
(function bumpScaling() {
  const subj = Object.keys(last.bump);
  const th = [...new Set(subj.flatMap(s => Object.keys(last.bump[s])))].sort((a, b) => a - b);
  chart('scale-bump', th.map(t => [`${t} thread${t === '1' ? '' : 's'}`, '']), subj.map((s, i) => ({
    name: s, color: colour(s, i), dash: isPeer(s) && s !== 'raw-atomic',
    pts: th.map((t, k) => [k, last.bump[s][t] ? 1e3 / last.bump[s][t] : null]) })), mops,
  { xlabel: 'bump 64 B, align 8: M allocations/s' });
})();

// ---- fragmentation, newest report ----------------------------------------------------------
(function frag() {
  const t = document.getElementById('frag'), pol = ['optimistic', 'pessimistic', 'segregated', 'none'];
  const FK = [['discarded_bytes', 'discarded', mib], ['stranded_free_bytes', 'stranded free', mib],
    ['fail_with_free', 'failures with free', x => x], ['failures', 'failures', x => x],
    ['peak_region_bytes', 'peak region', mib], ['free_segments_end', 'free segments at end', x => x],
    ['ns_per_op', 'ns/op', fmt]];
  t.append(el('tr', {}, [el('th', {}, ['metric']), ...pol.map(p => el('th', NC.includes(p) ? { class: 'nc' } : { style: `color:${COL[p]}` },
    [NC.includes(p) ? `${p} (reuses nothing)` : p]))]));
  for (const [k, label, f] of FK) {
    t.append(el('tr', {}, [el('td', {}, [label]), ...pol.map(p => el('td', NC.includes(p) ? { class: 'nc' } : {},
      [String(last.frag[p] ? f(last.frag[p][k]) : 'n/a')]))]));
  }
})();

// ---- history across reports ----------------------------------------------------------------
const runXs = runs.map(r => [r.date.slice(0, 10), r.commit.slice(0, 7)]);
const tip = i => runs[i].report;
const sel = document.getElementById('shape');
const histShapes = shapes.flatMap(s => threadsOf(last).map(t => `${s}/threads:${t}`));
options(sel, histShapes, 'size:mixed/segments:20000/threads:1');
function history() {
  if (!sel.value) { chart('time', runXs, [], fmt); return; } // no churn in the newest report
  const [size, segments, threads] = sel.value.split('/'), shape = `${size}/${segments}`, t = threads.split(':')[1];
  const subjects = [...POL, 'mimalloc', ...NC];
  chart('time', runXs, subjects.map((s, i) => ({
    name: NC.includes(s) ? `${s} (not comparable)` : s === 'mimalloc' ? 'mimalloc (peer)' : s,
    color: colour(s, i), dash: s === 'mimalloc' || NC.includes(s),
    pts: runs.map((r, k) => [k, ((r.churn[shape] || {})[t] || {})[s]]) })), fmt, { tip });
}
sel.onchange = history; history();
chart('bump', runXs, [{ name: 'lfarena-heap / raw-atomic, 1 thread', color: '#c53',
  pts: runs.map((r, k) => [k, (r.bump['lfarena-heap'] || {})['1'] / (r.bump['raw-atomic'] || {})['1']]) },
{ name: 'target 1.25x', color: '#999', dash: true, ref: true, pts: runs.map((r, k) => [k, 1.25]) }],
v => v.toFixed(2) + 'x', { tip, height: 260 });
