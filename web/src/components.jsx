// Small building blocks shared by the pages.
import { Component } from 'preact';
import { memo } from 'preact/compat';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { renderMarkdown } from './lib/markdown.js';
import { onToasts, dismiss } from './lib/toast.js';
import { navigate, Link } from './lib/router.jsx';
import { fmtDate, fmtDay, dayKey, setCompleted, LAYER_HELP, LAYER_TITLE } from './lib/memories.js';
import { toast } from './lib/toast.js';
import { touchInput } from './lib/touch.js';
import { getSession } from './lib/api.js';
import { remindAt } from './lib/reminders.js';

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

// Type and layer look different: the type is a filled badge, the layer an
// outlined one with its meaning in a tooltip.
export function TypeBadge({ type }) {
  return <span class={'badge type type-' + type} title={'Type: ' + type} data-testid="type-badge">{type}</span>;
}
export function LayerBadge({ layer }) {
  return (
    <span class="badge layer" title={LAYER_TITLE} data-testid="layer-badge">
      <span class="sr-only">layer </span>{layer}{LAYER_HELP[layer] ? <span class="sr-only"> ({LAYER_HELP[layer]})</span> : null}
    </span>
  );
}

// A card in a list. Tapping it opens the memory; on a touch screen that
// includes links inside it (they are opened from the memory's page).
// Long content is clamped with "Show more". Tasks (`action`) have a done
// checkbox (metadata.completed) and their due date (metadata.due).
/** @type {import('preact').FunctionComponent<{memory: any, terms?: string[], pending?: boolean}>} */
export const MemoryItem = memo(function MemoryItem({ memory, terms = [], pending = false }) {
  const [m, setM] = useState(memory);
  const [open, setOpen] = useState(false);
  const [long, setLong] = useState(false);
  const body = useRef(null);
  useEffect(() => setM(memory), [memory]);
  useLayoutEffect(() => {
    const el = body.current && body.current.firstChild;
    if (el && !open) setLong(el.scrollHeight > el.clientHeight + 4 || (m.content || '').length > 1500);
  }, [m.content, open]);
  const go = (e) => {
    if (pending || window.getSelection().toString()) return;
    if (e.target.closest('button, input, label, .card-actions')) return;
    const a = e.target.closest('a');
    if (a && !(touchInput() && a.closest('.md'))) return; // links keep their own behaviour with a mouse
    if (a) e.preventDefault();
    navigate('/memories/' + m.id);
  };
  const mine = !m.user_id || m.user_id === getSession()?.user?.id;
  const task = m.type === 'action';
  const links = (m.related_memory_ids || []).length + (m.parent_memory_id ? 1 : 0);
  const done = !!(m.metadata && m.metadata.completed === true);
  const due = m.metadata && typeof m.metadata.due === 'string' ? m.metadata.due : null;
  const toggleDone = async (e) => {
    const want = e.target.checked;
    setM({ ...m, metadata: { ...(m.metadata || {}), completed: want } });
    try {
      setM(await setCompleted(m, want));
    } catch (err) {
      setM(m);
      toast('Could not update the task: ' + err.message, { kind: 'error' });
    }
  };
  return (
    <article class={'memory' + (pending ? ' pending' : '') + (task && done ? ' done' : '')} data-testid="memory-item" onClick={go}>
      <header class="memory-meta">
        {task && !pending && mine && (
          <label class="task-check" title={done ? 'Done: untick to reopen' : 'Mark as done'}>
            <input type="checkbox" data-testid="task-done" checked={done} onChange={toggleDone} />
            <span class="sr-only">Done</span>
          </label>
        )}
        <TypeBadge type={m.type} />
        {m.layer && <LayerBadge layer={m.layer} />}
        {due && <span class={'badge due' + (!done && due.slice(0, 10) < dayKey(new Date()) ? ' overdue' : '')} data-testid="due">due {fmtDay(due)}</span>}
        {task && !done && remindAt(m) !== null && <span class="badge due" data-testid="remind" title="Reminder">⏰ {fmtDate(m.metadata.remind_at)}</span>}
        {!pending && !mine ? (
          <span class="badge shared" data-testid="shared-badge">shared with you</span>
        ) : m.is_shared ? <span class="badge">shared</span> : null}
        {!pending && mine && links > 0 && (
          // the graph view from the timeline: this memory and its links
          <Link href={'/stats?root=' + m.id} class="badge links" data-testid="graph-from-timeline"
            title="Show its links in the graph" aria-label={`Show its ${links} ${links === 1 ? 'link' : 'links'} in the graph`}>
            {links} {links === 1 ? 'link' : 'links'}
          </Link>
        )}
        {pending ? (
          <span class="badge warn">waiting to send</span>
        ) : (
          <Link href={'/memories/' + m.id} class="when" aria-label={'Open memory from ' + fmtDate(m.created_at)}>
            <time datetime={m.created_at}>{fmtDate(m.created_at)}</time>
          </Link>
        )}
      </header>
      <div ref={body}>
        <Markdown text={m.content} terms={terms} max={open ? 0 : 1500} class={open ? '' : 'clamp'} />
      </div>
      {(long || open) && (
        <button type="button" class="linklike more" aria-expanded={open} data-testid="card-more"
          onClick={() => setOpen(!open)}>{open ? 'Show less' : 'Show more'}</button>
      )}
      {m.tags && m.tags.length > 0 && (
        <ul class="tags" aria-label="tags">
          {m.tags.map((t) => (
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

export function ErrorNote({ error, onRetry = null }) {
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

// Each page's own h1 and tab title. After an in-app navigation focus moves
// to the h1 (screen readers announce the new page, Tab continues from
// there), unless the user is typing in a field (search as you type) or the
// page puts focus somewhere itself later (the capture box, the editor).
let firstPage = true;
export function PageTitle({ title, children = null, hidden = false }) {
  const ref = useRef(null);
  useEffect(() => {
    document.title = title ? title + ' · PersonalOS' : 'PersonalOS';
  }, [title]);
  useEffect(() => {
    if (firstPage) {
      firstPage = false;
      return;
    }
    const a = /** @type {HTMLElement | null} */ (document.activeElement);
    if (a && a !== document.body && (a.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName))) return;
    if (ref.current) ref.current.focus({ preventScroll: true });
  }, []);
  return <h1 ref={ref} tabIndex={-1} class={'page-title' + (hidden ? ' sr-only' : '')}>{children || title}</h1>;
}

// A strength meter under a new-password field (lazy zxcvbn-ts; see
// lib/strength.js). Shows nothing until the checker has loaded.
let strengthMod = null;
export function PasswordStrength({ password, inputs = [] }) {
  const [state, setState] = useState(0); // 1 loaded, 2 could not load (offline)
  useEffect(() => {
    if (!strengthMod) import('./lib/strength.js').then((m) => { strengthMod = m; setState(1); }, () => setState(2));
  }, []);
  if (!password || state === 2) return null;
  if (!strengthMod) return <p class="strength muted small" aria-live="polite">Checking strength…</p>;
  const r = strengthMod.strength(password, inputs);
  return (
    <div class={'strength s' + r.score} data-testid="password-strength" data-score={r.score} aria-live="polite">
      <meter min={0} max={4} low={2} high={3} optimum={4} value={r.score} aria-label="Password strength" />
      <span><strong>{r.label}</strong>{r.score < 3 ? ' — choose a longer or less predictable password.' : ''}</span>
      {r.hint && r.score < 3 && <span class="muted small"> {r.hint}</span>}
    </div>
  );
}
