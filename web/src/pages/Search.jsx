// Search as you type: each keystroke cancels the previous request; results
// show highlighted matches; chips toggle type/layer filters and show the
// filters written in the query (type:note tag:work) with a way to remove them.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from '../lib/api.js';
import { highlightTerms } from '../lib/markdown.js';
import { TYPES, LAYERS, isHidden } from '../lib/memories.js';
import { navigate } from '../lib/router.jsx';
import { MemoryItem, ErrorNote } from '../components.jsx';

const FILTER_RE = /(^|\s)(-?[a-z_]+):("[^"]*"|\S+)/gi;

export function searchUrl(q, extra = {}) {
  return '/search' + qs({ q, ...extra });
}

export function Search({ query }) {
  const q = query.get('q') || '';
  const type = query.get('type') || '';
  const layer = query.get('layer') || '';
  const [res, setRes] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const ctl = useRef(null);

  // A layout effect: the request starts in the same task as the keystroke,
  // not after the next paint.
  useLayoutEffect(() => {
    if (ctl.current) ctl.current.abort();
    if (!q.trim() && !type && !layer) {
      setRes(null);
      setError(null);
      return;
    }
    const c = new AbortController();
    ctl.current = c;
    setBusy(true);
    const url = '/api/memories/search' + qs({ query: q.trim() || undefined, type, layer, limit: 30, include_shared: 'true' });
    const run = q.trim()
      ? api('GET', url, undefined, { signal: c.signal })
      : api('GET', '/api/memories' + qs({ type, layer, limit: 30 }), undefined, { signal: c.signal });
    run.then((r) => {
      if (c.signal.aborted) return;
      setRes({ q, ...r });
      setError(null);
      setBusy(false);
    }).catch((e) => {
      if (e.name === 'AbortError') return;
      setError(e);
      setBusy(false);
    });
    return () => c.abort();
  }, [q, type, layer]);

  const toggle = (k, v, cur) => {
    const p = new URLSearchParams(query);
    if (cur === v) p.delete(k);
    else p.set(k, v);
    navigate('/search?' + p.toString(), { replace: true });
  };
  const removeFilter = (text) => {
    const p = new URLSearchParams(query);
    p.set('q', q.replace(text, ' ').replace(/\s+/g, ' ').trim());
    navigate('/search?' + p.toString(), { replace: true });
  };

  const inline = [...q.matchAll(FILTER_RE)].map((m) => m[0].trim());
  // Highlight with the query the results are for: results on screen are
  // not re-rendered on each keystroke, only when new ones arrive.
  const terms = highlightTerms(res ? res.q : '');
  const items = res ? res.memories.filter((m) => !isHidden(m.id)) : [];
  return (
    <main id="main">
      <h1 class="sr-only">Search</h1>
      <div class="chips" role="group" aria-label="Filters">
        {inline.map((f) => (
          <button type="button" key={f} class="chip on" onClick={() => removeFilter(f)} aria-label={'Remove filter ' + f}>
            {f} ×
          </button>
        ))}
        {TYPES.map((t) => (
          <button type="button" key={t} class={'chip' + (type === t ? ' on' : '')} aria-pressed={type === t}
            onClick={() => toggle('type', t, type)}>{t}</button>
        ))}
        {LAYERS.map((l) => (
          <button type="button" key={l} class={'chip' + (layer === l ? ' on' : '')} aria-pressed={layer === l}
            onClick={() => toggle('layer', l, layer)}>{l}</button>
        ))}
      </div>
      <ErrorNote error={error} />
      {!res && !error && <p class="muted">Type to search your memories. Filters: <code>type:note</code> <code>tag:work</code> <code>"exact phrase"</code> <code>after:2026-01-01</code>.</p>}
      {res && (
        <p class="muted" aria-live="polite">
          {res.total} {res.total === 1 ? 'memory' : 'memories'}
          {typeof res.took_ms === 'number' ? ` · ${res.took_ms.toFixed ? res.took_ms.toFixed(1) : res.took_ms} ms` : ''}
          {busy ? ' · updating…' : ''}
        </p>
      )}
      <section class="list" aria-label="Search results" data-query={res ? res.q : ''}>
        {items.map((m) => <MemoryItem key={m.id} memory={m} terms={terms} />)}
        {res && res.total === 0 && <p class="empty">Nothing found for “{res.q}”.</p>}
      </section>
    </main>
  );
}
