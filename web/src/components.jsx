// Small building blocks shared by the pages.
import { Component } from 'preact';
import { memo } from 'preact/compat';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { renderMarkdown } from './lib/markdown.js';
import { onToasts, dismiss } from './lib/toast.js';
import { navigate, Link } from './lib/router.jsx';
import { fmtDate } from './lib/memories.js';
import { getSession } from './lib/api.js';

// Sanitized Markdown. `max` trims long content before rendering (lists).
export function Markdown({ text, terms = [], max = 0, class: cls = '' }) {
  const ref = useRef(null);
  const key = terms.join('\u0000');
  useLayoutEffect(() => {
    const t = max && text && text.length > max ? text.slice(0, max) + '…' : text;
    ref.current.replaceChildren(renderMarkdown(t, terms));
  }, [text, key, max]);
  return <div ref={ref} class={'md ' + cls} />;
}

export const MemoryItem = memo(function MemoryItem({ memory, terms, pending }) {
  const open = (e) => {
    // Links inside the content keep their own behaviour.
    if (pending || e.target.closest('a') || window.getSelection().toString()) return;
    navigate('/memories/' + memory.id);
  };
  return (
    <article class={'memory' + (pending ? ' pending' : '')} data-testid="memory-item" onClick={open}>
      <header class="memory-meta">
        <span class={'badge type-' + memory.type}>{memory.type}</span>
        {memory.layer && <span class="badge">{memory.layer}</span>}
        {!pending && memory.user_id && memory.user_id !== getSession()?.user?.id ? (
          <span class="badge shared" data-testid="shared-badge">shared with you</span>
        ) : memory.is_shared ? <span class="badge">shared</span> : null}
        {pending ? (
          <span class="badge warn">waiting to send</span>
        ) : (
          <Link href={'/memories/' + memory.id} class="when" aria-label={'Open memory from ' + fmtDate(memory.created_at)}>
            <time datetime={memory.created_at}>{fmtDate(memory.created_at)}</time>
          </Link>
        )}
        {typeof memory.score === 'number' && <span class="score" title="relevance">{memory.score.toFixed(3)}</span>}
      </header>
      <Markdown text={memory.content} terms={terms} max={1500} class="clamp" />
      {memory.tags && memory.tags.length > 0 && (
        <ul class="tags" aria-label="tags">
          {memory.tags.map((t) => (
            <li key={t}>#{t}</li>
          ))}
        </ul>
      )}
    </article>
  );
}, (a, b) => a.memory === b.memory && a.pending === b.pending && (a.terms || []).join('\u0000') === (b.terms || []).join('\u0000'));

export function Toasts() {
  const [items, setItems] = useState([]);
  useEffect(() => onToasts(setItems), []);
  return (
    <div class="toasts" role="status" aria-live="polite">
      {items.map((t) => (
        <div key={t.id} class={'toast ' + t.kind}>
          <span>{t.text}</span>
          {t.action && (
            <button type="button" data-testid="toast-action" onClick={t.onAction}>
              {t.action}
            </button>
          )}
          <button type="button" class="ghost" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

export function ErrorNote({ error, onRetry }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      <span>{error.message || String(error)}</span>
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

// Any rendering failure shows a readable page, never a blank one.
export class ErrorBoundary extends Component {
  state = { error: null };
  componentDidCatch(error) {
    this.setState({ error });
  }
  render() {
    if (this.state.error)
      return (
        <div class="panel" role="alert">
          <h1>Something went wrong</h1>
          <p>The page could not be shown: {String(this.state.error.message || this.state.error)}</p>
          <p>Your typed text is kept. You can go back or reload.</p>
          <button type="button" onClick={() => this.setState({ error: null })}>Try again</button>{' '}
          <button type="button" onClick={() => location.reload()}>Reload</button>
        </div>
      );
    return this.props.children;
  }
}

export function Spinner({ label = 'Loading…' }) {
  return <p class="muted" role="status">{label}</p>;
}

// lazy(() => import('./pages/X.jsx'), 'X'): a component whose code loads on
// first use. `inline` components show nothing while loading; pages show a
// spinner (and a readable error when the chunk cannot be fetched).
export function lazy(load, name, { inline = false } = {}) {
  let Comp = null;
  let loading = null;
  return function Lazy(props) {
    const [, done] = useState(0);
    const [error, setError] = useState(null);
    useEffect(() => {
      if (Comp) return;
      loading = loading || load().then((m) => (Comp = m[name]));
      loading.then(() => done(1), (e) => { loading = null; setError(e); });
    }, []);
    if (Comp) return <Comp {...props} />;
    if (inline) return error ? <ErrorNote error={{ message: 'Could not load this part of the page: ' + error.message }} /> : null;
    return <main id="main">{error ? <ErrorNote error={{ message: 'Could not load this page: ' + error.message }} onRetry={() => location.reload()} /> : <Spinner />}</main>;
  };
}
