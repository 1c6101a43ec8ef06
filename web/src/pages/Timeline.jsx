// Home: the capture box and the timeline, with filters and infinite scroll.
// Memories are grouped Upcoming / Today / Yesterday / This week / Earlier in
// the user's time zone. Conversations (chat turns saved as memories) are
// left out unless the Conversations filter (type=conversation) is on.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from '../lib/api.js';
import { pending, onOutbox, discard } from '../lib/outbox.js';
import { TYPES, LAYERS, LAYER_TITLE, isHidden, onHiddenChange, dayGroup } from '../lib/memories.js';
import { navigate } from '../lib/router.jsx';
import { MemoryItem, ErrorNote, Spinner, PageTitle } from '../components.jsx';
import { Capture } from './Capture.jsx';
import { onMemoryChange } from '../lib/events.js';

const PAGE = 30;

function useHidden() {
  const [, force] = useState(0);
  useEffect(() => onHiddenChange(() => force((n) => n + 1)), []);
}

function filtersFrom(query) {
  const f = {};
  for (const k of ['type', 'layer', 'tag', 'source', 'after', 'before', 'shared']) if (query.get(k)) f[k] = query.get(k);
  return f;
}

export function Timeline({ query, focusCapture }) {
  const filters = filtersFrom(query);
  const fkey = JSON.stringify(filters);
  const [items, setItems] = useState([]);
  const [more, setMore] = useState(true);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState(null);
  const [queued, setQueued] = useState(pending());
  const sentinel = useRef(null);
  const state = useRef({ offset: 0, loading: false, gen: 0 });
  useHidden();
  useEffect(() => onOutbox(setQueued), []);

  const load = useCallback(async (reset) => {
    const s = state.current;
    if (s.loading && !reset) return;
    if (reset) {
      s.gen++;
      s.offset = 0;
    }
    const gen = s.gen;
    s.loading = true;
    setLoading(true);
    setError(null);
    try {
      const r = await api('GET', '/api/memories' + qs({ ...filters, limit: PAGE, offset: s.offset }));
      if (gen !== s.gen) return;
      s.offset += r.memories.length;
      setItems((old) => {
        const base = reset ? [] : old;
        const seen = new Set(base.map((m) => m.id));
        return [...base, ...r.memories.filter((m) => !seen.has(m.id))];
      });
      setMore(r.has_more);
    } catch (e) {
      if (gen === s.gen) setError(e);
    } finally {
      if (gen === s.gen) {
        s.loading = false;
        setLoading(false);
      }
    }
  }, [fkey]);

  useEffect(() => {
    setItems([]);
    setMore(true);
    load(true);
  }, [fkey]);

  useEffect(() => {
    if (!sentinel.current || !more) return;
    const io = new IntersectionObserver((es) => {
      if (es.some((e) => e.isIntersecting) && !state.current.loading && !error) load(false);
    }, { rootMargin: '600px' });
    io.observe(sentinel.current);
    return () => io.disconnect();
  }, [more, load, error, items.length]);

  // Another tab or client changed a memory (live events): reload.
  useEffect(() => onMemoryChange(() => load(true)), [load]);

  // The outbox may have sent something: reload the first page.
  const prevQueued = useRef(queued.length);
  useEffect(() => {
    if (queued.length < prevQueued.current) load(true);
    prevQueued.current = queued.length;
  }, [queued.length]);

  // A saved memory goes where the list's order (newest created_at first)
  // puts it, not blindly on top: above a memory dated in the future it
  // would split "Today" in two and remount the cards below it.
  const onSaved = (m) => {
    if (!m) return;
    setItems((old) => {
      if (old.some((x) => x.id === m.id)) return old;
      const at = old.findIndex((x) => String(x.created_at) <= String(m.created_at));
      return at < 0 ? [...old, m] : [...old.slice(0, at), m, ...old.slice(at)];
    });
  };

  const setFilter = (k, v) => {
    const q = new URLSearchParams(query);
    if (v) q.set(k, v);
    else q.delete(k);
    const s = q.toString();
    navigate('/' + (s ? '?' + s : ''), { replace: true });
  };

  const convs = filters.type === 'conversation';
  const shown = items.filter((m) => !isHidden(m.id) && (convs || filters.type || m.type !== 'conversation'));
  const hiddenConvs = filters.type ? 0 : items.filter((m) => m.type === 'conversation').length;
  const groups = [];
  for (const m of shown) {
    const g = dayGroup(m.created_at);
    // The key is the group's name (the n-th "Today" if the order ever
    // repeats one), so cards keep their state when a memory is added above.
    if (!groups.length || groups[groups.length - 1].name !== g) {
      const n = groups.filter((x) => x.name === g).length;
      groups.push({ name: g, key: n ? g + n : g, items: [] });
    }
    groups[groups.length - 1].items.push(m);
  }
  return (
    <main id="main">
      <PageTitle title="Timeline" hidden />
      <Capture onSaved={onSaved} autoFocus={focusCapture} />
      <details class="filters panel" open={Object.keys(filters).length > 0}>
        <summary>Filters{Object.keys(filters).length ? ` (${Object.keys(filters).length})` : ''}</summary>
        <div class="filter-grid">
          <label>Type
            <select value={filters.type || ''} onChange={(e) => setFilter('type', e.currentTarget.value)}>
              <option value="">any</option>
              {TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
            </select>
          </label>
          <label title={LAYER_TITLE}>Layer
            <select value={filters.layer || ''} onChange={(e) => setFilter('layer', e.currentTarget.value)}>
              <option value="">any</option>
              {LAYERS.map((t) => <option key={t} value={t}>{t}</option>)}
            </select>
          </label>
          <label>Tag
            <input type="text" value={filters.tag || ''} onChange={(e) => setFilter('tag', e.currentTarget.value.trim())} />
          </label>
          <label>Source
            <input type="text" value={filters.source || ''} onChange={(e) => setFilter('source', e.currentTarget.value.trim())} />
          </label>
          <label class="check">
            <input type="checkbox" data-testid="filter-conversations" checked={convs}
              onChange={(e) => setFilter('type', e.currentTarget.checked ? 'conversation' : '')} /> Conversations
          </label>
          <label class="check">
            <input type="checkbox" data-testid="filter-shared" checked={filters.shared === 'with_me'}
              onChange={(e) => setFilter('shared', e.currentTarget.checked ? 'with_me' : '')} /> Shared with me
          </label>
          <label>From
            <input type="date" value={(filters.after || '').slice(0, 10)}
              onChange={(e) => setFilter('after', e.currentTarget.value ? e.currentTarget.value + 'T00:00:00Z' : '')} />
          </label>
          <label>To
            <input type="date" value={(filters.before || '').slice(0, 10)}
              onChange={(e) => setFilter('before', e.currentTarget.value ? e.currentTarget.value + 'T23:59:59Z' : '')} />
          </label>
        </div>
        {Object.keys(filters).length > 0 && (
          <button type="button" class="ghost" onClick={() => navigate('/', { replace: true })}>Clear filters</button>
        )}
      </details>
      <section aria-label="Timeline" class="list">
        {queued.map((q) => (
          <div key={q.cid}>
            <MemoryItem memory={{ id: q.cid, ...q.body, created_at: q.queued_at }} pending />
            {q.error && (
              <p class="error" role="alert">
                The server refused this one: {q.error}{' '}
                <button type="button" onClick={() => discard(q.cid)}>Discard</button>
              </p>
            )}
          </div>
        ))}
        {groups.map((g, gi) => (
          <section key={g.key} aria-labelledby={'group-' + gi} class="list" data-testid="timeline-group">
            <h2 id={'group-' + gi} class="group-title">{g.name}</h2>
            {g.items.map((m) => <MemoryItem key={m.id} memory={m} />)}
          </section>
        ))}
        {hiddenConvs > 0 && (
          <p class="muted small" data-testid="hidden-conversations">
            {hiddenConvs} chat {hiddenConvs === 1 ? 'turn is' : 'turns are'} kept under{' '}
            <button type="button" class="linklike" onClick={() => setFilter('type', 'conversation')}>Conversations</button>.
          </p>
        )}
        {!loading && !error && shown.length === 0 && !more && queued.length === 0 && (
          <p class="empty">{filters.shared ? 'Nobody has shared a memory with you yet.' : Object.keys(filters).length ? 'Nothing matches these filters.' : 'No memories yet. Capture your first one above.'}</p>
        )}
        <ErrorNote error={error} onRetry={() => load(items.length === 0)} />
        {loading && <Spinner />}
        <div ref={sentinel} class="sentinel" aria-hidden="true" />
      </section>
    </main>
  );
}
