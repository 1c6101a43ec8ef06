// Counts over the user's memories (GET /api/memories/stats) and a small
// picture of how they link (GET /api/memories/graph).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { Link } from '../lib/router.jsx';
import { ErrorNote, Spinner } from '../components.jsx';

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

function Graph({ graph }) {
  if (!graph || !graph.nodes || graph.nodes.length === 0) return <p class="muted">No links between memories yet.</p>;
  const nodes = graph.nodes.slice(0, 60);
  const R = 120, C = 150;
  const pos = {};
  nodes.forEach((n, i) => {
    const a = (2 * Math.PI * i) / nodes.length;
    pos[n.id] = [C + R * Math.cos(a), C + R * Math.sin(a)];
  });
  const edges = (graph.edges || []).filter((e) => pos[e.source] && pos[e.target]);
  return (
    <svg viewBox="0 0 300 300" class="graph" role="img" aria-label={`${nodes.length} memories, ${edges.length} links`}>
      {edges.map((e, i) => (
        <line key={i} x1={pos[e.source][0]} y1={pos[e.source][1]} x2={pos[e.target][0]} y2={pos[e.target][1]} />
      ))}
      {nodes.map((n) => (
        <a key={n.id} href={'/memories/' + n.id}>
          <circle cx={pos[n.id][0]} cy={pos[n.id][1]} r="5"><title>{n.label}</title></circle>
        </a>
      ))}
    </svg>
  );
}

export function Stats() {
  const [s, setS] = useState(null);
  const [g, setG] = useState(null);
  const [error, setError] = useState(null);
  const load = () => {
    setError(null);
    api('GET', '/api/memories/stats').then(setS, setError);
    api('GET', '/api/memories/graph?limit=60').then(setG, () => setG({ nodes: [] }));
  };
  useEffect(load, []);
  if (!s) return <main id="main">{error ? <ErrorNote error={error} onRetry={load} /> : <Spinner />}</main>;
  const days = (s.per_day || []).slice(0, 30).reverse();
  const dmax = Math.max(1, ...days.map((d) => d.count));
  return (
    <main id="main" class="stats">
      <h1>Stats</h1>
      <div class="cards">
        <div class="panel card"><strong>{s.total}</strong><span>memories</span></div>
        <div class="panel card"><strong>{Number(s.average_importance || 0).toFixed(2)}</strong><span>average importance</span></div>
        <div class="panel card"><strong>{(s.per_day || []).length}</strong><span>active days</span></div>
      </div>
      {days.length > 0 && (
        <section class="panel">
          <h2>Last active days</h2>
          <div class="days" role="img" aria-label="memories per day">
            {days.map((d) => <span key={d.date} title={`${d.date}: ${d.count}`} style={{ height: `${(100 * d.count) / dmax}%` }} />)}
          </div>
        </section>
      )}
      <Bars title="By type" data={s.by_type} />
      <Bars title="By layer" data={s.by_layer} />
      <Bars title="By source" data={s.by_source} />
      <section class="panel">
        <h2>Top tags</h2>
        <ul class="tags">
          {(s.top_tags || []).map((t) => <li key={t.tag}><Link href={'/?tag=' + encodeURIComponent(t.tag)}>#{t.tag}</Link> {t.count}</li>)}
        </ul>
      </section>
      <section class="panel">
        <h2>Graph</h2>
        <Graph graph={g} />
      </section>
    </main>
  );
}
