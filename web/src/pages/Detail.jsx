// One memory: read, edit (content, type, tags, layer, importance), delete
// with undo, its related memories, sharing (owner only) and "Memorize"
// (a background job whose created/linked memories are listed). A memory
// shared with the user is read-only.
import { useEffect, useRef, useState } from 'preact/hooks';
import { plainText } from '../lib/markdown.js';
import { api, getSession, wroteRecently } from '../lib/api.js';
import { toInstant, toLocalInput, reminderSet, remindAt } from '../lib/reminders.js';
import { TYPES, LAYERS, IMPORTANCE_TITLE, LAYER_TITLE, deleteWithUndo, fmtDate, fmtDay, snippet, setCompleted } from '../lib/memories.js';
import { navigate, Link, setLeaveGuard } from '../lib/router.jsx';
import { Markdown, ErrorNote, Spinner, PageTitle, TypeBadge, LayerBadge, lazy } from '../components.jsx';
import { parseTags } from './Capture.jsx';
import { onLiveEvent } from '../lib/events.js';
import { Attachments } from './Files.jsx';

// Sharing and Memorize load with their first use (they are not needed for
// the first screen).
const Memorize = lazy(() => import('./DetailExtras.jsx'), 'Memorize', { inline: true });
const MemorizeResult = lazy(() => import('./DetailExtras.jsx'), 'MemorizeResult', { inline: true });
const Sharing = lazy(() => import('./DetailExtras.jsx'), 'Sharing', { inline: true });

export function Detail({ id }) {
  const [m, setM] = useState(null);
  const [error, setError] = useState(null);
  const [edit, setEdit] = useState(null);
  const [saving, setSaving] = useState(false);
  const [related, setRelated] = useState([]);
  const [preview, setPreview] = useState(false);
  const editor = useRef(null);
  const editing = useRef(false);
  editing.current = !!edit;

  const load = () => {
    setError(null);
    api('GET', '/api/memories/' + encodeURIComponent(id)).then(setM, setError);
  };
  useEffect(() => {
    setM(null);
    setEdit(null);
    load();
  }, [id]);

  // This memory changed in another tab or client (live events): show the
  // new version unless it is being edited here; a delete shows as not found.
  useEffect(() => onLiveEvent((ev) => {
    const mine = ev.data && ev.data.id === id;
    if (mine && wroteRecently(id)) return; // this tab's own change, already shown
    if ((ev.type === 'memory.updated' && mine && !editing.current) || ev.type === 'events.lost') load();
    if (ev.type === 'memory.deleted' && mine) load();
  }), [id]);

  useEffect(() => {
    if (!m) return;
    const ids = (m.related_memory_ids || []).slice(0, 10);
    if (m.parent_memory_id) ids.unshift(m.parent_memory_id);
    Promise.all(ids.map((r) => api('GET', '/api/memories/' + r).catch(() => null)))
      .then((rs) => setRelated(rs.filter(Boolean)));
  }, [m && m.id, m && m.updated_at]);

  const original = (x) => ({
    content: x.content, type: x.type, layer: x.layer, tags: (x.tags || []).join(', '),
    importance_score: x.importance_score ?? 0.5,
    due: (x.metadata && typeof x.metadata.due === 'string' ? x.metadata.due : '').slice(0, 10),
    remind: toLocalInput(x.metadata && x.metadata.remind_at),
  });
  const startEdit = () => {
    setPreview(false);
    setEdit(original(m));
  };
  const dirty = !!(edit && m && JSON.stringify({ ...edit, importance_score: Number(edit.importance_score) })
    !== JSON.stringify({ ...original(m), importance_score: Number(original(m).importance_score) }));

  // Unsaved edits: leaving the page asks first.
  const dirtyRef = useRef(false);
  dirtyRef.current = dirty;
  useEffect(() => setLeaveGuard(() => (dirtyRef.current ? 'You have unsaved changes to this memory. Leave and lose them?' : null)), []);

  // Focus goes into the editor when it opens.
  useEffect(() => {
    if (edit && !preview && editor.current && document.activeElement !== editor.current) editor.current.focus();
  }, [!!edit, preview]);

  const cancel = () => {
    if (dirty && !window.confirm('Discard your changes to this memory?')) return;
    setEdit(null);
  };
  // In the editor: Esc cancels, Ctrl/Cmd+Enter saves.
  const onEditKey = (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      cancel();
    } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      save(e);
    }
  };

  const save = async (e) => {
    e.preventDefault();
    if (saving) return;
    setSaving(true);
    setError(null);
    try {
      const { due, remind, ...rest } = edit;
      const remindAt = toInstant(remind);
      const body = { ...rest, tags: parseTags(edit.tags), importance_score: Number(edit.importance_score) };
      // A task's due date lives in metadata; the rest of metadata is kept.
      if (edit.type === 'action' || due) {
        const metadata = { ...(m.metadata || {}) };
        if (due) metadata.due = due;
        else delete metadata.due;
        if (remindAt) metadata.remind_at = remindAt;
        else delete metadata.remind_at;
        if (edit.type === 'action' && metadata.completed === undefined) metadata.completed = false;
        body.metadata = metadata;
      }
      setM(await api('PUT', '/api/memories/' + m.id, body));
      setEdit(null);
      if (remindAt) reminderSet();
    } catch (err) {
      setError(err); // the edit stays on screen
    } finally {
      setSaving(false);
    }
  };

  const del = () => {
    deleteWithUndo(m);
    navigate('/');
  };

  const me = getSession()?.user;
  const shared = m && me && m.user_id && m.user_id !== me.id;

  if (!m && error && error.status === 404)
    return (
      <main id="main">
        <div class="panel" data-testid="not-found">
          <PageTitle title="Memory not found" />
          <p>This memory does not exist, or it was deleted, or it belongs to another account.</p>
          <p><Link href="/" class="button">Back to the timeline</Link>{' '}
            <button type="button" class="ghost" onClick={() => history.back()}>Go back</button></p>
        </div>
      </main>
    );
  if (!m) return <main id="main"><PageTitle title="Memory" hidden />{error ? <ErrorNote error={error} onRetry={load} /> : <Spinner />}</main>;
  const set = (k) => (e) => setEdit({ ...edit, [k]: e.target.value });
  return (
    <main id="main">
      <PageTitle title={snippet(plainText(m.content), 50) || 'Memory'} hidden>Memory: {snippet(plainText(m.content), 80)}</PageTitle>
      <article class="panel detail">
        <header class="memory-meta">
          {m.type === 'action' && !shared && (
            <label class="task-check" title="Done">
              <input type="checkbox" data-testid="detail-done" checked={!!(m.metadata && m.metadata.completed === true)}
                onChange={(e) => setCompleted(m, e.currentTarget.checked).then(setM, setError)} /> Done
            </label>
          )}
          <TypeBadge type={m.type} />
          <LayerBadge layer={m.layer} />
          {m.metadata && typeof m.metadata.due === 'string' && <span class="badge due">due {fmtDay(m.metadata.due)}</span>}
          {remindAt(m) !== null && <span class="badge due" data-testid="detail-remind">reminder {fmtDate(m.metadata.remind_at)}</span>}
          <time datetime={m.created_at}>{fmtDate(m.created_at)}</time>
          <span class="muted">· {m.source} · <span title={IMPORTANCE_TITLE}>importance {Number(m.importance_score ?? 0).toFixed(1)}</span></span>
          {m.is_shared && !shared && <span class="badge" title={(m.shared_with || []).join(', ')}>shared</span>}
        </header>
        {shared && (
          <p class="notice" data-testid="shared-notice">Shared with you by another account (owner id {m.user_id.slice(0, 8)}…). You can read it; only its owner can change it.</p>
        )}
        {edit ? (
          <form onSubmit={save} class="edit" onKeyDown={onEditKey} aria-label="Edit memory">
            <div class="edit-head">
              <span id="edit-label">Content (Markdown) <span class="muted small">Ctrl+Enter saves, Esc cancels</span></span>
              <button type="button" class="ghost" aria-pressed={preview} data-testid="edit-preview" onClick={() => setPreview(!preview)}>
                {preview ? 'Edit' : 'Preview'}
              </button>
            </div>
            {preview ? (
              <div class="preview" data-testid="edit-preview-body" aria-label="Preview"><Markdown text={edit.content} /></div>
            ) : (
              <textarea ref={editor} aria-labelledby="edit-label" data-testid="edit-content" rows={8} value={edit.content} onInput={set('content')} />
            )}
            <div class="capture-row">
              <label>Type <select value={edit.type} onChange={set('type')}>{TYPES.map((t) => <option key={t}>{t}</option>)}</select></label>
              <label title={LAYER_TITLE}>Layer <select value={edit.layer} onChange={set('layer')}>{LAYERS.map((t) => <option key={t}>{t}</option>)}</select></label>
              <label class="grow">Tags <input type="text" value={edit.tags} onInput={set('tags')} /></label>
              {edit.type === 'action' && (
                <label>Due <input type="date" data-testid="edit-due" value={edit.due} onInput={set('due')} /></label>
              )}
              {edit.type === 'action' && (
                <label>Remind me <input type="datetime-local" data-testid="edit-remind" value={edit.remind} onInput={set('remind')} /></label>
              )}
            </div>
            <label title={IMPORTANCE_TITLE}>Importance {Number(edit.importance_score).toFixed(1)} <span class="muted small">(0–1: higher ranks it higher in search and answers)</span>
              <input type="range" min="0" max="1" step="0.1" value={edit.importance_score} onInput={set('importance_score')} />
            </label>
            <ErrorNote error={error} />
            <div class="actions">
              <button type="submit" class="primary" data-testid="edit-save" disabled={saving}>Save</button>
              <button type="button" data-testid="edit-cancel" onClick={cancel}>Cancel</button>
            </div>
          </form>
        ) : (
          <>
            <Markdown text={m.content} />
            {m.tags && m.tags.length > 0 && (
              <ul class="tags" aria-label="tags">
                {m.tags.map((t) => <li key={t}><Link href={'/?tag=' + encodeURIComponent(t)}>#{t}</Link></li>)}
              </ul>
            )}
            <ErrorNote error={error} />
            {!shared && (
              <div class="actions">
                <button type="button" data-testid="memory-edit" onClick={startEdit}>Edit</button>
                <Memorize id={m.id} />
                <button type="button" class="danger" data-testid="memory-delete" onClick={del}>Delete</button>
              </div>
            )}
          </>
        )}
      </article>
      {!edit && <Attachments m={m} shared={shared} onChange={load} />}
      <MemorizeResult id={m.id} />
      {!shared && <p class="small"><Link href={'/stats?root=' + m.id} data-testid="graph-from-memory">Show its links in the graph</Link></p>}
      {!shared && !edit && <Sharing m={m} onChange={setM} />}
      {related.length > 0 && (
        <section class="panel" aria-label="Related memories">
          <h2>Related</h2>
          <ul class="related">
            {related.map((r) => (
              <li key={r.id}><Link href={'/memories/' + r.id}>{snippet(plainText(r.content), 100)}</Link></li>
            ))}
          </ul>
        </section>
      )}
    </main>
  );
}

