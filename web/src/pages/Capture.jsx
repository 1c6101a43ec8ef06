// The capture box: Markdown text plus type, tags, layer and importance.
// Enter saves, Shift+Enter starts a new line; on touch screens (no
// Shift+Enter on a phone keyboard) Enter is a new line and Save saves.
// Type, layer, tags and importance go back to their defaults after each
// save, and all of them are on screen (no hidden choice files the next
// note wrongly). The draft survives reloads
// (kept per account: another account never sees it);
// text that cannot be sent goes to the outbox and is retried.
// Files dropped or pasted on the box become `file` memories (POST
// /api/files, with the box's tags), one after another with progress.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from '../lib/api.js';
import { filesOf, uploadAll, UploadProgress } from './Files.jsx';
import { toInstant, reminderSet } from '../lib/reminders.js';
import { enqueue, flush } from '../lib/outbox.js';
import { load as loadStored, save as saveStored } from '../lib/store.js';
import { toast } from '../lib/toast.js';
import { TYPES, LAYERS } from '../lib/memories.js';
import { ErrorNote } from '../components.jsx';
import { touchInput } from '../lib/touch.js';

const DRAFT = 'capture-draft'; // per account, lib/store.js

function loadDraft() {
  const d = loadStored(DRAFT, {});
  return d && typeof d === 'object' ? d : {};
}

export const DEFAULTS = { type: 'note', tags: '', layer: 'active', importance: 0.5, due: '', remind: '' };


export function parseTags(s) {
  return [...new Set(String(s || '').split(/[,\s]+/).map((t) => t.replace(/^#/, '').trim()).filter(Boolean))];
}

export function Capture({ onSaved, autoFocus }) {
  const d = loadDraft();
  const [content, setContent] = useState(d.content || '');
  const [type, setType] = useState(d.type || DEFAULTS.type);
  const [tags, setTags] = useState(d.tags || DEFAULTS.tags);
  const [layer, setLayer] = useState(d.layer || DEFAULTS.layer);
  const [importance, setImportance] = useState(d.importance ?? DEFAULTS.importance);
  const [due, setDue] = useState(d.due || DEFAULTS.due);
  const [remind, setRemind] = useState(d.remind || DEFAULTS.remind);
  const touch = touchInput();
  const [more, setMore] = useState(false);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState(null);
  const [over, setOver] = useState(false);
  const ref = useRef(null);

  const sendFiles = async (files) => {
    if (!files.length || busy) return;
    setBusy(true);
    setError(null);
    try {
      const tagList = parseTags(tags).join(',');
      const ms = await uploadAll(files, (name) => '/api/files' + qs({ name, tags: tagList }),
        (name, fraction) => setProgress(name ? { name, fraction } : null));
      ms.forEach((m) => onSaved && onSaved(m));
      toast(ms.length === 1 ? 'File saved: its text is being read.' : ms.length + ' files saved: their text is being read.');
    } catch (e) {
      setProgress(null);
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  const onDrop = (e) => {
    setOver(false);
    const fs = filesOf(e);
    if (!fs.length) return;
    e.preventDefault();
    sendFiles(fs);
  };
  const onPaste = (e) => {
    const fs = filesOf(e);
    if (!fs.length) return; // text pastes as text
    e.preventDefault();
    sendFiles(fs);
  };

  useEffect(() => {
    saveStored(DRAFT, { content, type, tags, layer, importance, due, remind });
  }, [content, type, tags, layer, importance, due, remind]);
  useEffect(() => {
    if (autoFocus) ref.current.focus();
  }, [autoFocus]);

  const reset = () => {
    setContent('');
    setType(DEFAULTS.type);
    setTags(DEFAULTS.tags);
    setLayer(DEFAULTS.layer);
    setImportance(DEFAULTS.importance);
    setDue(DEFAULTS.due);
    setRemind(DEFAULTS.remind);
    setMore(false);
  };

  const save = async () => {
    const text = content.trim();
    if (!text || busy) return;
    const body = { content: text, type, layer, tags: parseTags(tags), importance_score: Number(importance), source: 'web' };
    const remindAt = type === 'action' ? toInstant(remind) : null;
    if (type === 'action') body.metadata = { completed: false, ...(due ? { due } : {}), ...(remindAt ? { remind_at: remindAt } : {}) };
    setBusy(true);
    setError(null);
    try {
      const m = await api('POST', '/api/memories', body);
      reset();
      if (remindAt) reminderSet();
      onSaved && onSaved(m);
      flush().then((ms) => ms.forEach((x) => onSaved && onSaved(x)));
    } catch (e) {
      if (e.retryable) {
        enqueue(body);
        reset();
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
    if (e.key !== 'Enter' || e.isComposing) return;
    // Ctrl/Cmd+Enter saves everywhere; plain Enter only with a keyboard.
    if (e.ctrlKey || e.metaKey || (!e.shiftKey && !touch)) {
      e.preventDefault();
      save();
    }
  };
  const hint = touch ? 'Save button saves' : 'Enter saves, Shift+Enter new line';

  return (
    <form class={'capture panel' + (over ? ' drop-over' : '')} onSubmit={(e) => { e.preventDefault(); save(); }} aria-label="Capture a memory"
      onDragOver={(e) => { if (e.dataTransfer && [...e.dataTransfer.types].includes('Files')) { e.preventDefault(); setOver(true); } }}
      onDragLeave={() => setOver(false)} onDrop={onDrop} data-testid="capture-form">
      <label class="sr-only" for="capture-input">{'New memory (Markdown; ' + hint + ')'}</label>
      <textarea id="capture-input" ref={ref} data-testid="capture-input" rows={3} value={content}
        placeholder={'Capture a thought, a task, a link… (' + hint + ')'}
        onInput={(e) => setContent(e.currentTarget.value)} onKeyDown={onKey} onPaste={onPaste} maxLength={1048576} />
      <div class="capture-row">
        <label>
          <span class="sr-only">Type</span>
          <select value={type} onChange={(e) => setType(e.currentTarget.value)} aria-label="Type" data-testid="capture-type">
            {TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        </label>
        <label>
          <span class="sr-only">Layer</span>
          <select value={layer} onChange={(e) => setLayer(e.currentTarget.value)} aria-label="Layer" data-testid="capture-layer"
            title="Layer: active (in use now), working (in progress), reference (to look up), archive (kept, out of the way)">
            {LAYERS.map((l) => <option key={l} value={l}>{l}</option>)}
          </select>
        </label>
        {type === 'action' && (
          <label>
            <span class="sr-only">Due date</span>
            <input type="date" value={due} onInput={(e) => setDue(e.currentTarget.value)} aria-label="Due date" data-testid="capture-due" title="Due date" />
          </label>
        )}
        {type === 'action' && (
          <label>
            <span class="sr-only">Remind me at</span>
            <input type="datetime-local" value={remind} onInput={(e) => setRemind(e.currentTarget.value)} aria-label="Remind me at"
              data-testid="capture-remind" title="Remind me at (this device's clock)" />
          </label>
        )}
        <label class="grow">
          <span class="sr-only">Tags</span>
          <input type="text" value={tags} placeholder="tags, comma separated" aria-label="Tags" data-testid="capture-tags"
            onInput={(e) => setTags(e.currentTarget.value)} onKeyDown={onKey} />
        </label>
        <button type="button" class="ghost" aria-expanded={more} onClick={() => setMore(!more)}
          title="Importance">
          {more ? 'Less' : 'Importance' + (Number(importance) !== DEFAULTS.importance ? ' ' + Number(importance).toFixed(1) : '')}
        </button>
        <button type="submit" class="primary" data-testid="capture-submit" disabled={busy || !content.trim()}>
          Save
        </button>
      </div>
      {more && (
        <div class="capture-row">
          <label class="grow" title="How much this matters: higher ranks it higher in search and the assistant's answers">
            Importance {Number(importance).toFixed(1)} <span class="muted small">(higher ranks it higher in search and answers)</span>
            <input type="range" min="0" max="1" step="0.1" value={importance}
              onInput={(e) => setImportance(e.currentTarget.value)} />
          </label>
        </div>
      )}
      <UploadProgress p={progress} />
      <ErrorNote error={error} />
    </form>
  );
}
