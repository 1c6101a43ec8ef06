// Counts over the user's memories (GET /api/memories/stats) with a chart of
// memories per day (uPlot: dated axis, legend, the app's colours in light
// and dark), 90-day lines by type, layer and source, the importance and
// access distributions, and how memories link (GET /api/memories/graph,
// edges by type and strength) drawn with cytoscape: labelled nodes, a
// click or Enter opens the memory, and the same links listed below for keyboards and screen readers. Loaded lazily
// (both libraries stay out of the first load). Charts and graph are drawn
// again when the system switches between light and dark.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import cytoscape from 'cytoscape';
import { api } from '../lib/api.js';
import { Link, navigate, useLocation } from '../lib/router.jsx';
import { snippet, dayKey } from '../lib/memories.js';
import { ErrorNote, Spinner, PageTitle } from '../components.jsx';

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';

// 'light' or 'dark', following the system while the page is open: the
// charts and the graph read the app's colours when drawn, so they are
// drawn again when it changes (each records the text colour it used in
// data-text, which tests/e2e/test_intel.mjs checks).
const darkQuery = () => (typeof window.matchMedia === 'function' ? window.matchMedia('(prefers-color-scheme: dark)') : null);
function useScheme() {
  const [dark, setDark] = useState(() => !!darkQuery()?.matches);
  useEffect(() => {
    const q = darkQuery();
    if (!q) return undefined;
    const on = () => setDark(q.matches);
    q.addEventListener('change', on);
    return () => q.removeEventListener('change', on);
  }, []);
  return dark ? 'dark' : 'light';
}

function Bars({ title, data }) {
  const entries = Object.entries(data || {});
  const max = Math.max(1, ...entries.map(([, v]) => v));
  return (
    <section class="panel">
      <h2>{title}</h2>
      <table class="bars">
        <tbody>
          {entries.map(([k, v]) => (
            <tr key={k}>
              <th scope="row">{k}</th>
              <td><meter min="0" max={max} value={v} aria-label={`${k}: ${v}`} /></td>
              <td class="num">{v}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

// The last 30 days up to today (days after today, e.g. future calendar
// events, are not activity), zeros included.
export function lastDays(perDay, n = 30, now = new Date()) {
  const counts = new Map((perDay || []).map((d) => [d.date, d.count]));
  const out = [];
  for (let i = n - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - i, 12));
    const k = d.toISOString().slice(0, 10);
    out.push({ date: k, t: d.getTime() / 1000, count: counts.get(k) || 0 });
  }
  return out;
}

function PerDay({ days }) {
  const box = useRef(null);
  const scheme = useScheme();
  useEffect(() => {
    if (!box.current) return;
    const width = Math.max(280, box.current.clientWidth);
    const accent = css('--accent'), text = css('--text'), line = css('--line');
    box.current.dataset.text = text;
    const axis = { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line } };
    const plot = new uPlot({
      width, height: 220,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [{ ...axis }, { ...axis, label: 'memories', labelSize: 20, values: (u, ts) => ts.map((v) => (Number.isInteger(v) ? v : '')) }],
      series: [
        { label: 'Day', value: (u, v) => (v == null ? '' : new Date(v * 1000).toISOString().slice(0, 10)) },
        { label: 'Memories written', stroke: accent, fill: accent, width: 1, paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } },
      ],
      legend: { show: true },
    }, [days.map((d) => d.t), days.map((d) => d.count)], box.current);
    const resize = () => plot.setSize({ width: Math.max(280, box.current.clientWidth), height: 220 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [days.map((d) => d.count).join(','), scheme]);
  return (
    <section class="panel">
      <h2>Memories per day, last 30 days</h2>
      <div ref={box} class="chart" data-testid="chart-per-day" role="img"
        aria-label={`Bar chart: memories written per day from ${days[0].date} to ${days[days.length - 1].date}`} />
      <details>
        <summary>As a table</summary>
        <table class="bars small">
          <thead><tr><th scope="col">Day</th><th scope="col" class="num">Memories</th></tr></thead>
          <tbody>{days.filter((d) => d.count).map((d) => <tr key={d.date}><td>{d.date}</td><td class="num">{d.count}</td></tr>)}</tbody>
        </table>
      </details>
    </section>
  );
}

// The last n days of a series ([{date, counts: {key: n}}]) as one row per
// key, zeros included: { days: [{date, t}], keys, rows: {key: [n...]} }.
export function seriesDays(series, n = 90, now = new Date()) {
  const byDate = new Map((series || []).map((d) => [d.date, d.counts || {}]));
  const days = lastDays([], n, now);
  const keys = [...new Set((series || []).flatMap((d) => Object.keys(d.counts || {})))].sort();
  const rows = Object.fromEntries(keys.map((k) => [k, days.map((d) => (byDate.get(d.date) || {})[k] || 0)]));
  return { days, keys, rows };
}

const PALETTE = ['--accent', '#d9822b', '#2b9d8f', '#9b59b6', '#c0392b', '#7f8c8d', '#27ae60', '#f1c40f'];

// Memories per day over 90 days, one line per type, layer or source.
function SeriesChart({ title, series, testid }) {
  const box = useRef(null);
  const { days, keys, rows } = seriesDays(series);
  const sig = keys.map((k) => k + rows[k].join('.')).join(',');
  const scheme = useScheme();
  useEffect(() => {
    if (!box.current || keys.length === 0) return;
    const text = css('--text'), line = css('--line');
    box.current.dataset.text = text;
    const colour = (i) => (PALETTE[i % PALETTE.length].startsWith('--') ? css(PALETTE[i % PALETTE.length]) : PALETTE[i % PALETTE.length]);
    const axis = { stroke: text, grid: { stroke: line, width: 1 }, ticks: { stroke: line } };
    const plot = new uPlot({
      width: Math.max(280, box.current.clientWidth), height: 200,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      axes: [{ ...axis }, { ...axis, values: (u, ts) => ts.map((v) => (Number.isInteger(v) ? v : '')) }],
      series: [
        { label: 'Day', value: (u, v) => (v == null ? '' : new Date(v * 1000).toISOString().slice(0, 10)) },
        ...keys.map((k, i) => ({ label: k, stroke: colour(i), width: 1.5, points: { show: false } })),
      ],
      legend: { show: true },
    }, [days.map((d) => d.t), ...keys.map((k) => rows[k])], box.current);
    const resize = () => plot.setSize({ width: Math.max(280, box.current.clientWidth), height: 200 });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [sig, scheme]);
  if (keys.length === 0) return null;
  return (
    <section class="panel">
      <h2>{title}</h2>
      <div ref={box} class="chart" data-testid={testid} role="img"
        aria-label={`Line chart: ${title.toLowerCase()}, ${keys.join(', ')}`} />
      <details>
        <summary>As a table</summary>
        <table class="bars small">
          <thead><tr><th scope="col">Day</th>{keys.map((k) => <th scope="col" class="num" key={k}>{k}</th>)}</tr></thead>
          <tbody>{days.map((d, i) => (keys.some((k) => rows[k][i]) ? (
            <tr key={d.date}><td>{d.date}</td>{keys.map((k) => <td class="num" key={k}>{rows[k][i]}</td>)}</tr>) : null))}</tbody>
        </table>
      </details>
    </section>
  );
}

// cytoscape inserts an inline <style> (which the app's CSP blocks) unless
// an element with this id exists; the one rule it holds is in style.css
// (.graph-view { position: relative }).
function noInlineStyle() {
  const id = '__________cytoscape_stylesheet';
  if (document.getElementById(id)) return;
  const t = document.createElement('template');
  t.id = id;
  document.head.appendChild(t);
}

function Graph({ graph }) {
  const box = useRef(null);
  const nodes = ((graph && graph.nodes) || []).slice(0, 60);
  const ids = new Set(nodes.map((n) => n.id));
  const edges = ((graph && graph.edges) || []).filter((e) => ids.has(e.source) && ids.has(e.target));
  // Plain words for labels: no Markdown marks, no link targets.
  const label = (n) => snippet(String(n.label || n.content || n.id).replace(/\]\([^)]*\)/g, ']').replace(/[#*_`>[\]]/g, ''), 28);
  const scheme = useScheme();
  useEffect(() => {
    if (!box.current || nodes.length === 0) return;
    const accent = css('--accent'), text = css('--text'), line = css('--muted'), bg = css('--panel');
    box.current.dataset.text = text;
    noInlineStyle();
    const cy = cytoscape({
      container: box.current,
      elements: [
        ...nodes.map((n) => ({ data: { id: n.id, label: label(n) } })),
        ...edges.map((e, i) => ({ data: { id: 'e' + i, source: e.source, target: e.target,
          type: e.type || 'related', w: 1 + 2.5 * Math.max(0, Math.min(1, Number(e.strength ?? 1))) } })),
      ],
      style: [
        { selector: 'node', style: { 'background-color': accent, label: 'data(label)', color: text, 'font-size': 11,
          'text-valign': 'bottom', 'text-margin-y': 4, 'text-outline-color': bg, 'text-outline-width': 2, width: 14, height: 14,
          'text-wrap': 'ellipsis', 'text-max-width': '110px' } },
        // Width follows the link's strength (auto-links: their similarity);
        // duplicates are dashed, a parent link points at the parent.
        { selector: 'edge', style: { 'line-color': line, width: 'data(w)', 'curve-style': 'straight' } },
        { selector: 'edge[type = "duplicate"]', style: { 'line-style': 'dashed', 'line-color': accent } },
        { selector: 'edge[type = "parent"]', style: { 'target-arrow-shape': 'triangle', 'target-arrow-color': line } },
      ],
      // Linked memories: a force layout; none linked: a grid with room for labels.
      layout: edges.length ? { name: 'cose', animate: false, randomize: false, nodeRepulsion: () => 9000, idealEdgeLength: () => 90 }
        : { name: 'grid', avoidOverlap: true, avoidOverlapPadding: 40, padding: 20 },
      userZoomingEnabled: true, wheelSensitivity: 0.3,
    });
    cy.on('tap', 'node', (e) => navigate('/memories/' + e.target.id()));
    return () => cy.destroy();
  }, [nodes.map((n) => n.id).join(','), edges.length, scheme]);
  if (nodes.length === 0) return <p class="muted">No links between memories yet.</p>;
  return (
    <>
      <div ref={box} class="graph-view" data-testid="graph" aria-hidden="true" />
      <p class="muted small">{nodes.length} memories, {edges.length} links. Click a memory to open it.</p>
      <details>
        <summary>The memories in the graph</summary>
        <ul class="related">
          {nodes.map((n) => <li key={n.id}><Link href={'/memories/' + n.id} data-testid="graph-link">{label(n)}</Link></li>)}
        </ul>
      </details>
    </>
  );
}

export function Stats() {
  const [s, setS] = useState(null);
  const [g, setG] = useState(null);
  const [error, setError] = useState(null);
  // ?root=<id> (from a memory's page): the graph around that memory
  const root = useLocation().query.get('root');
  const load = () => {
    setError(null);
    api('GET', '/api/memories/stats').then(setS, setError);
    const q = root ? `root=${encodeURIComponent(root)}&depth=2&limit=60` : 'limit=60';
    api('GET', '/api/memories/graph?' + q).then(setG, () => setG({ nodes: [] }));
  };
  useEffect(load, [root]);
  if (!s) return <main id="main"><PageTitle title="Stats" />{error ? <ErrorNote error={error} onRetry={load} /> : <Spinner />}</main>;
  const today = dayKey(new Date());
  const active = (s.per_day || []).filter((d) => d.date <= today && d.count > 0).length;
  const days = lastDays(s.per_day);
  return (
    <main id="main" class="stats">
      <PageTitle title="Stats" />
      <div class="cards">
        <div class="panel card"><strong>{s.total}</strong><span>memories</span></div>
        <div class="panel card" title="Importance runs from 0 to 1: higher ranks a memory higher in search and answers">
          <strong>{Number(s.average_importance || 0).toFixed(2)}</strong><span>average importance (0–1)</span></div>
        <div class="panel card" data-testid="active-days"><strong>{active}</strong><span>active days (up to today)</span></div>
      </div>
      <PerDay days={days} />
      <Bars title="By type" data={s.by_type} />
      <Bars title="By layer" data={s.by_layer} />
      <Bars title="By source" data={s.by_source} />
      {s.series && <SeriesChart title="By type, last 90 days" series={s.series.by_type} testid="chart-series-type" />}
      {s.series && <SeriesChart title="By layer, last 90 days" series={s.series.by_layer} testid="chart-series-layer" />}
      {s.series && <SeriesChart title="By source, last 90 days" series={s.series.by_source} testid="chart-series-source" />}
      {s.importance_distribution && <Bars title="Importance" data={Object.fromEntries(s.importance_distribution.map((b) => [`${b.from.toFixed(1)}–${b.to.toFixed(1)}`, b.count]))} />}
      {s.access_distribution && <Bars title="Times opened" data={Object.fromEntries(s.access_distribution.map((b) => [b.accesses, b.count]))} />}
      <section class="panel">
        <h2>Top tags</h2>
        {(s.top_tags || []).length === 0 ? <p class="muted">No tags counted yet.</p> : (
          <ul class="tags">
            {(s.top_tags || []).map((t) => <li key={t.tag}><Link href={'/?tag=' + encodeURIComponent(t.tag)}>#{t.tag}</Link> {t.count}</li>)}
          </ul>
        )}
      </section>
      <section class="panel" id="graph">
        <h2>{root ? 'Graph around a memory' : 'Graph'}</h2>
        {root && <p class="small"><Link href="/stats" data-testid="graph-whole">Show the whole graph</Link></p>}
        <Graph graph={g} />
      </section>
    </main>
  );
}
