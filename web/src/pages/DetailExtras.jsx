// The memory detail's Memorize action and result, and its Sharing panel
// (loaded with the first detail page that shows them).
import { useEffect, useRef, useState } from 'preact/hooks';
import { plainText } from '../lib/markdown.js';
import { api } from '../lib/api.js';
import { snippet } from '../lib/memories.js';
import { Link } from '../lib/router.jsx';
import { ErrorNote } from '../components.jsx';
import { onLiveEvent } from '../lib/events.js';

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
      if (j.status === 'done' || j.status === 'failed' || j.status === 'cancelled') {
        jobs.set(id, { state: j.status, job: j });
        break;
      }
      jobs.set(id, { state: 'running', job: j });
      emitJobs();
      // the job's own live event (job.progress) ends the wait early
      await new Promise((r) => {
        const t = setTimeout(done, wait);
        const off = onLiveEvent((ev) => ev.type === 'job.progress' && ev.data && ev.data.id === job_id && done());
        function done() {
          clearTimeout(t);
          off();
          r();
        }
      });
    }
  } catch (e) {
    jobs.set(id, { state: 'error', error: e });
  }
  emitJobs();
}

export function Memorize({ id }) {
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
        <li key={i}><Link href={'/memories/' + i} data-testid={testid}>{items[i] ? snippet(plainText(items[i].content), 100) : i}</Link>
          {items[i] && <span class="muted"> · {items[i].type}</span>}</li>
      ))}
    </ul>
  );
}

export function MemorizeResult({ id }) {
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
export function Sharing({ m, onChange }) {
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
            placeholder="friend@example.com" onInput={(e) => setEmails(e.currentTarget.value)} />
        </label>
        <button type="submit" data-testid="share-submit" disabled={busy}>Share</button>
      </form>
      <ErrorNote error={error} />
      <p class="muted small">They can read it, not change it. Stopping takes effect at once.</p>
    </section>
  );
}
