// One memory: read, edit (content, type, tags, layer, importance), delete
// with undo, its related memories, sharing (owner only) and "Memorize"
// (a background job whose created/linked memories are listed). A memory
// shared with the user is read-only.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, getSession } from '../lib/api.js';
import { TYPES, LAYERS, deleteWithUndo, fmtDate, snippet } from '../lib/memories.js';
import { navigate, Link } from '../lib/router.jsx';
import { Markdown, ErrorNote, Spinner } from '../components.jsx';
import { parseTags } from './Capture.jsx';

export function Detail({ id }) {
  const [m, setM] = useState(null);
  const [error, setError] = useState(null);
  const [edit, setEdit] = useState(null);
  const [saving, setSaving] = useState(false);
  const [related, setRelated] = useState([]);

  const load = () => {
    setError(null);
    api('GET', '/api/memories/' + encodeURIComponent(id)).then(setM, setError);
  };
  useEffect(() => {
    setM(null);
    setEdit(null);
    load();
  }, [id]);

  useEffect(() => {
    if (!m) return;
    const ids = (m.related_memory_ids || []).slice(0, 10);
    if (m.parent_memory_id) ids.unshift(m.parent_memory_id);
    Promise.all(ids.map((r) => api('GET', '/api/memories/' + r).catch(() => null)))
      .then((rs) => setRelated(rs.filter(Boolean)));
  }, [m && m.id, m && m.updated_at]);

  const startEdit = () => setEdit({
    content: m.content, type: m.type, layer: m.layer, tags: (m.tags || []).join(', '),
    importance_score: m.importance_score ?? 0.5,
  });

  const save = async (e) => {
    e.preventDefault();
    setSaving(true);
    setError(null);
    try {
      const body = { ...edit, tags: parseTags(edit.tags), importance_score: Number(edit.importance_score) };
      setM(await api('PUT', '/api/memories/' + m.id, body));
      setEdit(null);
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

  if (!m) return <main id="main">{error ? <ErrorNote error={error} onRetry={load} /> : <Spinner />}</main>;
  const set = (k) => (e) => setEdit({ ...edit, [k]: e.target.value });
  return (
    <main id="main">
      <article class="panel detail">
        <header class="memory-meta">
          <span class={'badge type-' + m.type}>{m.type}</span>
          <span class="badge">{m.layer}</span>
          <time datetime={m.created_at}>{fmtDate(m.created_at)}</time>
          <span class="muted">· {m.source} · importance {Number(m.importance_score ?? 0).toFixed(1)}</span>
          {m.is_shared && !shared && <span class="badge" title={(m.shared_with || []).join(', ')}>shared</span>}
        </header>
        {shared && (
          <p class="notice" data-testid="shared-notice">Shared with you by another account (owner id {m.user_id.slice(0, 8)}…). You can read it; only its owner can change it.</p>
        )}
        {edit ? (
          <form onSubmit={save} class="edit">
            <label>Content (Markdown)
              <textarea data-testid="edit-content" rows={8} value={edit.content} onInput={set('content')} />
            </label>
            <div class="capture-row">
              <label>Type <select value={edit.type} onChange={set('type')}>{TYPES.map((t) => <option key={t}>{t}</option>)}</select></label>
              <label>Layer <select value={edit.layer} onChange={set('layer')}>{LAYERS.map((t) => <option key={t}>{t}</option>)}</select></label>
              <label class="grow">Tags <input type="text" value={edit.tags} onInput={set('tags')} /></label>
            </div>
            <label>Importance {Number(edit.importance_score).toFixed(1)}
              <input type="range" min="0" max="1" step="0.1" value={edit.importance_score} onInput={set('importance_score')} />
            </label>
            <ErrorNote error={error} />
            <div class="actions">
              <button type="submit" class="primary" data-testid="edit-save" disabled={saving}>Save</button>
              <button type="button" onClick={() => setEdit(null)}>Cancel</button>
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
      {!shared && !edit && <Sharing m={m} onChange={setM} />}
      <MemorizeResult id={m.id} />
      {related.length > 0 && (
        <section class="panel" aria-label="Related memories">
          <h2>Related</h2>
          <ul class="related">
            {related.map((r) => (
              <li key={r.id}><Link href={'/memories/' + r.id}>{snippet(r.content, 100)}</Link></li>
            ))}
          </ul>
        </section>
      )}
    </main>
  );
}

// ---- Memorize: POST /api/memories/{id}/memorize, then follow GET /api/jobs/{id}.
// The result lives in a small store so the button (in the actions row) and
// the result panel (below the memory) share it.
const jobs = new Map(); // memory id -> {state, job, error}
const jobSubs = new Set();
const emitJobs = () => jobSubs.forEach((f) => f());
function useJob(id) {
  const [, force] = useState(0);
  useEffect(() => {
    const f = () => force((n) => n + 1);
    jobSubs.add(f);
    return () => jobSubs.delete(f);
  }, []);
  return jobs.get(id);
}

async function startMemorize(id) {
  jobs.set(id, { state: 'running' });
  emitJobs();
  try {
    const { job_id } = await api('POST', '/api/memories/' + id + '/memorize');
    for (let wait = 300; ; wait = Math.min(wait * 1.5, 3000)) {
      const j = await api('GET', '/api/jobs/' + job_id);
      if (j.status === 'done' || (j.status === 'failed')) {
        jobs.set(id, { state: j.status, job: j });
        break;
      }
      jobs.set(id, { state: 'running', job: j });
      emitJobs();
      await new Promise((r) => setTimeout(r, wait));
    }
  } catch (e) {
    jobs.set(id, { state: 'error', error: e });
  }
  emitJobs();
}

function Memorize({ id }) {
  const j = useJob(id);
  const running = j && j.state === 'running';
  return (
    <button type="button" data-testid="memorize" disabled={running} onClick={() => startMemorize(id)}
      title="Extract facts, tasks, events and follow-ups into memories of their own">
      {running ? 'Memorizing…' : 'Memorize'}
    </button>
  );
}

function MemoryLinks({ ids, testid }) {
  const [items, setItems] = useState({});
  useEffect(() => {
    Promise.all(ids.map((i) => api('GET', '/api/memories/' + i).catch(() => null)))
      .then((rs) => setItems(Object.fromEntries(rs.filter(Boolean).map((r) => [r.id, r]))));
  }, [ids.join()]);
  return (
    <ul class="related">
      {ids.map((i) => (
        <li key={i}><Link href={'/memories/' + i} data-testid={testid}>{items[i] ? snippet(items[i].content, 100) : i}</Link>
          {items[i] && <span class="muted"> · {items[i].type}</span>}</li>
      ))}
    </ul>
  );
}

function MemorizeResult({ id }) {
  const j = useJob(id);
  if (!j) return null;
  const r = j.job && j.job.result;
  return (
    <section class="panel" aria-live="polite" data-testid="memorize-result">
      <h2>Memorize</h2>
      {j.state === 'running' && <p class="muted" role="status">Reading the memory{j.job && j.job.attempts > 1 ? ` (attempt ${j.job.attempts})` : ''}…</p>}
      {j.state === 'error' && <ErrorNote error={j.error} onRetry={() => startMemorize(id)} />}
      {j.state === 'failed' && <ErrorNote error={{ message: 'The job failed: ' + (j.job.last_error || 'unknown error') }} onRetry={() => startMemorize(id)} />}
      {j.state === 'done' && r && (
        <>
          <p>{r.found ? `Found ${r.found} item${r.found === 1 ? '' : 's'}` : 'Nothing to extract was found'}{r.extractor ? ` (${r.extractor === 'model' ? 'language model' : 'rules'})` : ''}.</p>
          {r.created && r.created.length > 0 && (<><h3>New memories</h3><MemoryLinks ids={r.created} testid="memorize-created" /></>)}
          {r.linked && r.linked.length > 0 && (<><h3>Linked to existing memories</h3><MemoryLinks ids={r.linked} testid="memorize-linked" /></>)}
        </>
      )}
    </section>
  );
}

// ---- Sharing (owner only): POST /api/memories/{id}/share, DELETE …/share/{email}.
function Sharing({ m, onChange }) {
  const [emails, setEmails] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const input = useRef(null);
  const list = m.shared_with || [];

  const share = async (e) => {
    e.preventDefault();
    const es = emails.split(/[\s,;]+/).map((x) => x.trim()).filter(Boolean);
    if (!es.length) return;
    setBusy(true);
    setError(null);
    try {
      onChange(await api('POST', '/api/memories/' + m.id + '/share', { emails: es }));
      setEmails('');
    } catch (err) {
      setError(err);
      input.current && input.current.focus();
    } finally {
      setBusy(false);
    }
  };
  const revoke = async (email) => {
    setError(null);
    try {
      await api('DELETE', '/api/memories/' + m.id + '/share/' + encodeURIComponent(email));
      onChange({ ...m, shared_with: list.filter((x) => x !== email), is_shared: list.length > 1 });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section class="panel" aria-label="Sharing" data-testid="sharing">
      <h2>Sharing</h2>
      {list.length === 0 ? <p class="muted">Only you can see this memory.</p> : (
        <ul class="share-list">
          {list.map((e) => (
            <li key={e} data-testid="share-recipient"><span>{e}</span>
              <button type="button" class="ghost" onClick={() => revoke(e)} aria-label={'Stop sharing with ' + e}>Stop sharing</button></li>
          ))}
        </ul>
      )}
      <form class="capture-row" onSubmit={share}>
        <label class="grow">Share with (emails of accounts on this server)
          <input ref={input} type="text" data-testid="share-emails" inputmode="email" autocomplete="off" value={emails}
            placeholder="friend@example.com" onInput={(e) => setEmails(e.target.value)} />
        </label>
        <button type="submit" data-testid="share-submit" disabled={busy}>Share</button>
      </form>
      <ErrorNote error={error} />
      <p class="muted small">They can read it, not change it. Stopping takes effect at once.</p>
    </section>
  );
}
