// Search as you type: each keystroke cancels the previous request; results
// show highlighted matches (and, for a match inside a file, its page, name
// and line); chips toggle type/layer filters and show the
// filters written in the query (type:note tag:work) with a way to remove them.
// Half-typed filters are not sent (lib/filters.js) and get completions;
// the word being typed is matched as a prefix (prefix=1; a server without
// prefix matching ignores it). Conversations only show when asked for.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from '../lib/api.js';
import { highlightTerms } from '../lib/markdown.js';
import { TYPES, LAYERS, LAYER_TITLE, isHidden } from '../lib/memories.js';
import { splitQuery, inlineFilters, completions } from '../lib/filters.js';
import { load as loadStored, save as saveStored } from '../lib/store.js';
import { navigate, Link } from '../lib/router.jsx';
import { MemoryItem, ErrorNote, PageTitle } from '../components.jsx';
import { onMemoryChange } from '../lib/events.js';

// Tags and sources of the account, for completions: from the stats, kept
// per account (lib/store.js) so they are there at once next time.
function useHints() {
  const [hints, setHints] = useState(() => loadStored('hints', {}) || {});
  useEffect(() => {
    api('GET', '/api/memories/stats').then((s) => {
      const h = {
        tags: (s.top_tags || []).map((t) => (typeof t === 'string' ? t : t.tag || t.name)).filter(Boolean),
        sources: Object.keys(s.by_source || {}),
      };
      setHints(h);
      saveStored('hints', h);
    }, () => {});
  }, []);
  return hints;
}

// Where a hit matched inside a file (the API's `match`): "page 4 · name.pdf"
// and the line, its matches marked (marks are code-point offsets).
export function FileMatch({ match }) {
  const chars = Array.from(match.line || '');
  const parts = [];
  let at = 0;
  for (const [a, b] of match.marks || []) {
    if (a < at || b <= a || b > chars.length) continue;
    if (a > at) parts.push(chars.slice(at, a).join(''));
    parts.push(<mark key={a}>{chars.slice(a, b).join('')}</mark>);
    at = b;
  }
  if (at < chars.length) parts.push(chars.slice(at).join(''));
  return (
    <p class="file-match small" data-testid="file-match">
      <span class="muted" data-testid="file-match-where">
        {match.page ? `page ${match.page} · ` : ''}{match.name}
      </span>
      {' '}<q>{parts}</q>
    </p>
  );
}

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
  const [live, setLive] = useState(0); // bumped by live events
  const ctl = useRef(null);
  const hints = useHints();
  const { send: sendQ, partial } = splitQuery(q);
  const typing = q.length > 0 && !/\s$/.test(q);
  const wantsConversations = type === 'conversation' || /(^|\s)type:conversation\b/i.test(sendQ);

  // A layout effect: the request starts in the same task as the keystroke,
  // not after the next paint.
  useLayoutEffect(() => {
    if (ctl.current) ctl.current.abort();
    if (!sendQ && !type && !layer) {
      setRes(null);
      setError(null);
      return;
    }
    const c = new AbortController();
    ctl.current = c;
    setBusy(true);
    const url = '/api/memories/search' + qs({ query: sendQ || undefined, type, layer, limit: 30, include_shared: 'true',
      prefix: typing && sendQ ? '1' : undefined });
    const run = sendQ
      ? api('GET', url, undefined, { signal: c.signal })
      : api('GET', '/api/memories' + qs({ type, layer, limit: 30 }), undefined, { signal: c.signal });
    run.then((r) => {
      if (c.signal.aborted) return;
      setRes({ q: sendQ, ...r });
      setError(null);
      setBusy(false);
    }).catch((e) => {
      if (e.name === 'AbortError') return;
      setError(e);
      setBusy(false);
    });
    return () => c.abort();
  }, [sendQ, typing, type, layer, live]);

  // Another tab or client changed a memory (live events): search again.
  useEffect(() => onMemoryChange(() => setLive((n) => n + 1), 300), []);

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

  const inline = inlineFilters(q);
  const offers = completions(q, hints);
  const complete = (nq) => {
    const p = new URLSearchParams(query);
    p.set('q', nq);
    navigate('/search?' + p.toString(), { replace: true });
    const box = document.getElementById('search-input');
    if (box) box.focus();
  };
  // Highlight with the query the results are for: results on screen are
  // not re-rendered on each keystroke, only when new ones arrive.
  const terms = highlightTerms(res ? res.q : '');
  const all = res ? res.memories.filter((m) => !isHidden(m.id)) : [];
  const items = wantsConversations ? all : all.filter((m) => m.type !== 'conversation');
  const hiddenConvs = all.length - items.length;
  // A 400 while typing is a filter the server does not take yet: a quiet
  // note, not a red error; the last results stay.
  const soft = error && (error.status === 400 || error.status === 422);
  return (
    <main id="main">
      <PageTitle title={q.trim() ? 'Search: ' + q.trim() : 'Search'} hidden>Search</PageTitle>
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
          <button type="button" key={l} class={'chip layer-chip' + (layer === l ? ' on' : '')} aria-pressed={layer === l}
            title={LAYER_TITLE} onClick={() => toggle('layer', l, layer)}><span class="sr-only">layer </span>{l}</button>
        ))}
      </div>
      {offers.length > 0 && (
        <div class="chips completions" role="group" aria-label="Complete the filter" data-testid="completions">
          {offers.map((o) => (
            <button type="button" key={o.label} class="chip" onClick={() => complete(o.query)}>{o.label}</button>
          ))}
        </div>
      )}
      {partial.length > 0 && (
        <p class="muted small" role="status" data-testid="partial-filter">
          Still typing {partial.join(', ')}: not applied yet. Types: {TYPES.join(', ')}; layers: {LAYERS.join(', ')}; dates: YYYY-MM-DD.
        </p>
      )}
      {soft ? <p class="muted small" role="status">Not searched yet: {error.message}</p> : <ErrorNote error={error} />}
      {!res && !error && <p class="muted">Type to search your memories. Filters: <code>type:note</code> <code>tag:work</code> <code>"exact phrase"</code> <code>after:2026-01-01</code>.</p>}
      {res && (
        <p class="muted" aria-live="polite">
          {res.total - hiddenConvs} {res.total - hiddenConvs === 1 ? 'memory' : 'memories'}
          {typeof res.took_ms === 'number' ? ` · ${res.took_ms.toFixed ? res.took_ms.toFixed(1) : res.took_ms} ms` : ''}
          {busy ? ' · updating…' : ''}
          {hiddenConvs > 0 && <> · {hiddenConvs} in conversations <button type="button" class="linklike" onClick={() => toggle('type', 'conversation', type)}>show</button></>}
        </p>
      )}
      <section class="list" aria-label="Search results" data-query={res ? res.q : ''}>
        {items.map((m) => (m.match
          ? <div class="hit" key={m.id}><MemoryItem memory={m} terms={terms} /><FileMatch match={m.match} /></div>
          : <MemoryItem key={m.id} memory={m} terms={terms} />))}
        {res && items.length === 0 && (
          <div class="empty" data-testid="search-empty">
            <p>Nothing found for “{res.q}”.</p>
            <p>Try fewer or shorter words, another spelling, or {type || layer || inline.length ? 'removing the filters' : 'a filter such as type:action'}.</p>
            <p>
              {(type || layer) && <button type="button" onClick={() => navigate(searchUrl(q), { replace: true })}>Remove the filters</button>}{' '}
              <Link href="/">Browse the timeline</Link>{' · '}
              <Link href={'/chat'}>Ask the assistant</Link>
            </p>
          </div>
        )}
      </section>
    </main>
  );
}
