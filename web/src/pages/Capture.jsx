// The capture box: Markdown text plus type, tags, layer and importance.
// Enter saves, Shift+Enter starts a new line. The draft survives reloads
// (kept per account: another account never sees it);
// text that cannot be sent goes to the outbox and is retried.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { enqueue, flush } from '../lib/outbox.js';
import { load as loadStored, save as saveStored } from '../lib/store.js';
import { toast } from '../lib/toast.js';
import { TYPES, LAYERS } from '../lib/memories.js';
import { ErrorNote } from '../components.jsx';

const DRAFT = 'capture-draft'; // per account, lib/store.js

function loadDraft() {
  const d = loadStored(DRAFT, {});
  return d && typeof d === 'object' ? d : {};
}

export function parseTags(s) {
  return [...new Set(String(s || '').split(/[,\s]+/).map((t) => t.replace(/^#/, '').trim()).filter(Boolean))];
}

export function Capture({ onSaved, autoFocus }) {
  const d = loadDraft();
  const [content, setContent] = useState(d.content || '');
  const [type, setType] = useState(d.type || 'note');
  const [tags, setTags] = useState(d.tags || '');
  const [layer, setLayer] = useState(d.layer || 'active');
  const [importance, setImportance] = useState(d.importance ?? 0.5);
  const [more, setMore] = useState(false);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const ref = useRef(null);

  useEffect(() => {
    saveStored(DRAFT, { content, type, tags, layer, importance });
  }, [content, type, tags, layer, importance]);
  useEffect(() => {
    if (autoFocus) ref.current.focus();
  }, [autoFocus]);

  const save = async () => {
    const text = content.trim();
    if (!text || busy) return;
    const body = { content: text, type, layer, tags: parseTags(tags), importance_score: Number(importance), source: 'web' };
    setBusy(true);
    setError(null);
    try {
      const m = await api('POST', '/api/memories', body);
      setContent('');
      onSaved && onSaved(m);
      flush().then((ms) => ms.forEach((x) => onSaved && onSaved(x)));
    } catch (e) {
      if (e.retryable) {
        enqueue(body);
        setContent('');
        toast(e.status === 0 ? 'You are offline: saved here, it will be sent when you are back online.'
          : 'The server could not save it now: kept here and retried shortly.', { kind: 'warn' });
        onSaved && onSaved(null);
      } else {
        setError(e); // kept in the box to fix
      }
    } finally {
      setBusy(false);
    }
  };

  const onKey = (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      save();
    }
  };

  return (
    <form class="capture panel" onSubmit={(e) => { e.preventDefault(); save(); }} aria-label="Capture a memory">
      <label class="sr-only" for="capture-input">New memory (Markdown; Enter saves, Shift+Enter for a new line)</label>
      <textarea id="capture-input" ref={ref} data-testid="capture-input" rows={3} value={content}
        placeholder="Capture a thought, a task, a link… (Enter saves, Shift+Enter new line)"
        onInput={(e) => setContent(e.target.value)} onKeyDown={onKey} maxLength={1048576} />
      <div class="capture-row">
        <label>
          <span class="sr-only">Type</span>
          <select value={type} onChange={(e) => setType(e.target.value)} aria-label="Type">
            {TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        </label>
        <label class="grow">
          <span class="sr-only">Tags</span>
          <input type="text" value={tags} placeholder="tags, comma separated" aria-label="Tags"
            onInput={(e) => setTags(e.target.value)} onKeyDown={onKey} />
        </label>
        <button type="button" class="ghost" aria-expanded={more} onClick={() => setMore(!more)}>
          {more ? 'Less' : 'More'}
        </button>
        <button type="submit" class="primary" data-testid="capture-submit" disabled={busy || !content.trim()}>
          Save
        </button>
      </div>
      {more && (
        <div class="capture-row">
          <label>
            Layer{' '}
            <select value={layer} onChange={(e) => setLayer(e.target.value)}>
              {LAYERS.map((l) => <option key={l} value={l}>{l}</option>)}
            </select>
          </label>
          <label class="grow">
            Importance {Number(importance).toFixed(1)}
            <input type="range" min="0" max="1" step="0.1" value={importance}
              onInput={(e) => setImportance(e.target.value)} />
          </label>
        </div>
      )}
      <ErrorNote error={error} />
    </form>
  );
}
