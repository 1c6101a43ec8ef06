// Export & import (docs/EXPORT.md): an export is a job (POST
// /api/export/memories, progress from GET /api/export/status/{id}, the file
// from GET /api/export/download/{id}); an import uploads a file to POST
// /api/import and follows its job (GET /api/jobs/{id}) to the per-item
// errors. A passphrase seals an export and opens a sealed file.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { fmtDate } from '../lib/memories.js';
import { ErrorNote, PageTitle } from '../components.jsx';

const EXPORT_FORMATS = [
  ['json', 'PersonalOS JSON — everything, lossless; import it back here'],
  ['jsonl', 'JSON Lines — one memory per line, for scripts'],
  ['markdown', 'Markdown zip — one file per memory, opens in Obsidian'],
  ['csv', 'CSV — a spreadsheet of the memories'],
];
const SECTIONS = [
  ['memories', 'Memories'],
  ['relationships', 'Links between memories'],
  ['conversations', 'Assistant conversations'],
  ['persona', 'Assistant persona'],
  ['settings', 'Settings'],
  ['sync_sources', 'Sync sources (without their passwords)'],
];
const IMPORT_FORMATS = [
  ['json', 'PersonalOS JSON'],
  ['jsonl', 'PersonalOS JSON Lines'],
  ['markdown', 'PersonalOS Markdown zip'],
  ['obsidian', 'Obsidian vault (zip)'],
  ['chatgpt', 'ChatGPT conversations.json'],
  ['claude', 'Claude conversations.json'],
  ['takeout-keep', 'Google Keep (Takeout zip)'],
  ['csv', 'CSV with a header row'],
];
const POLL_MS = 700;

// Polls `fetchOne` until `finished(answer)`, calling `onEach` with every
// answer; stops when the component goes away (the returned ref's flag).
function usePoller() {
  const alive = useRef(true);
  useEffect(() => () => { alive.current = false; }, []);
  return async (fetchOne, finished, onEach) => {
    for (;;) {
      const a = await fetchOne();
      if (!alive.current) return null;
      onEach(a);
      if (finished(a)) return a;
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
  };
}

function Progress({ value, label }) {
  const pct = Math.round((value || 0) * 100);
  return (
    <p class="job-progress">
      <progress max="100" value={pct} aria-label={label} /> <span>{pct}%</span>
    </p>
  );
}

function ExportPanel() {
  const [format, setFormat] = useState('json');
  const [folders, setFolders] = useState('type');
  const [include, setInclude] = useState(SECTIONS.map(([k]) => k));
  const [seal, setSeal] = useState(false);
  const [pass, setPass] = useState('');
  const [status, setStatus] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const poll = usePoller();

  const toggle = (k) => setInclude(include.includes(k) ? include.filter((x) => x !== k) : [...include, k]);
  const start = async (e) => {
    e.preventDefault();
    setError(null);
    setStatus(null);
    setBusy(true);
    try {
      const body = { format, include };
      if (format === 'markdown') body.folders = folders;
      if (seal) body.passphrase = pass;
      const { id } = await api('POST', '/api/export/memories', body);
      setPass('');
      await poll(() => api('GET', '/api/export/status/' + id),
        (s) => s.status !== 'queued' && s.status !== 'running', setStatus);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  // The download needs the bearer token, so it is fetched and handed to the
  // browser as a Blob rather than a plain link.
  const download = async () => {
    setError(null);
    try {
      const r = await api('GET', '/api/export/download/' + status.id, undefined, { raw: true, accept: '*/*' });
      const cd = r.headers.get('Content-Disposition') || '';
      const m = /filename="([^"]+)"/.exec(cd);
      const url = URL.createObjectURL(await r.blob());
      const a = document.createElement('a');
      a.href = url;
      a.download = m ? m[1] : 'personalos-export';
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section class="panel" aria-labelledby="export-title">
      <h2 id="export-title">Export</h2>
      <p class="muted">Take everything with you. The file is kept for you on the server until it expires.</p>
      <form onSubmit={start} class="settings" data-testid="export-form">
        <fieldset>
          <legend>Format</legend>
          {EXPORT_FORMATS.map(([k, label]) => (
            <label class="radio" key={k}>
              <input type="radio" name="export-format" value={k} checked={format === k} onChange={() => setFormat(k)} /> {label}
            </label>
          ))}
        </fieldset>
        {format === 'markdown' && (
          <label>Folders
            <select value={folders} onChange={(e) => setFolders(e.currentTarget.value)}>
              <option value="type">by type</option>
              <option value="date">by date</option>
            </select>
          </label>
        )}
        <fieldset>
          <legend>What to include</legend>
          {SECTIONS.map(([k, label]) => (
            <label class="check" key={k}>
              <input type="checkbox" checked={include.includes(k)} onChange={() => toggle(k)} /> {label}
            </label>
          ))}
        </fieldset>
        <label class="check">
          <input type="checkbox" checked={seal} onChange={(e) => setSeal(e.currentTarget.checked)} data-testid="export-seal" /> Seal the file with a passphrase
        </label>
        {seal && (
          <label>Passphrase (8 characters or more; without it the file cannot be opened)
            <input type="password" autocomplete="new-password" minLength={8} maxLength={1024} required value={pass}
              onInput={(e) => setPass(e.currentTarget.value)} data-testid="export-passphrase" />
          </label>
        )}
        <button type="submit" class="primary" disabled={busy || include.length === 0} data-testid="export-start">
          {busy ? 'Exporting…' : 'Export'}
        </button>
      </form>
      {status && (
        <div role="status" data-testid="export-status" data-status={status.status}>
          {(status.status === 'queued' || status.status === 'running') && <Progress value={status.progress} label="Export progress" />}
          {status.status === 'done' && (
            <p>
              {status.items} memories, {Math.max(1, Math.round(status.bytes / 1024))} KiB.{' '}
              <button type="button" onClick={download} data-testid="export-download">Download</button>{' '}
              <span class="muted">Available until {fmtDate(status.expires_at)}.</span>
            </p>
          )}
          {status.status === 'failed' && <p class="error">The export failed: {status.error || 'unknown error'}.</p>}
          {status.status === 'expired' && <p class="muted">This export has expired; start a new one.</p>}
        </div>
      )}
      <ErrorNote error={error} />
    </section>
  );
}

function ImportPanel() {
  const [format, setFormat] = useState('json');
  const [file, setFile] = useState(null);
  const [pass, setPass] = useState('');
  const [job, setJob] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const poll = usePoller();

  const start = async (e) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setJob(null);
    setBusy(true);
    try {
      const headers = pass ? { 'X-Passphrase': pass } : undefined;
      const { job_id: id } = await api('POST', '/api/import?format=' + encodeURIComponent(format), undefined,
        { rawBody: file, contentType: 'application/octet-stream', headers });
      setPass('');
      await poll(() => api('GET', '/api/jobs/' + id),
        (j) => !['queued', 'running'].includes(j.status), setJob);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const progress = job && job.total ? job.done / job.total : 0;
  const res = job && job.result;

  return (
    <section class="panel" aria-labelledby="import-title">
      <h2 id="import-title">Import</h2>
      <p class="muted">Bring memories in from a PersonalOS export or another app. Importing the same file twice adds nothing twice.</p>
      <form onSubmit={start} class="settings" data-testid="import-form">
        <label>From
          <select value={format} onChange={(e) => setFormat(e.currentTarget.value)} data-testid="import-format">
            {IMPORT_FORMATS.map(([k, label]) => <option key={k} value={k}>{label}</option>)}
          </select>
        </label>
        <label>File
          <input type="file" required onChange={(e) => setFile(e.currentTarget.files[0] || null)} data-testid="import-file" />
        </label>
        <label>Passphrase (only for a sealed PersonalOS export)
          <input type="password" autocomplete="off" maxLength={1024} value={pass}
            onInput={(e) => setPass(e.currentTarget.value)} data-testid="import-passphrase" />
        </label>
        <button type="submit" class="primary" disabled={busy || !file} data-testid="import-start">
          {busy ? 'Importing…' : 'Import'}
        </button>
      </form>
      {job && (
        <div role="status" data-testid="import-status" data-status={job.status}>
          {(job.status === 'queued' || job.status === 'running') && <Progress value={progress} label="Import progress" />}
          {res && (
            <p data-testid="import-result">
              Added {res.added}, already there {res.unchanged}, skipped {res.skipped}
              {res.conversations ? `, ${res.conversations} conversations` : ''}.
            </p>
          )}
          {job.status === 'failed' && <p class="error">The import stopped: {job.last_error || 'unknown error'}.</p>}
          {job.item_errors && job.item_errors.length > 0 && (
            <details open={job.item_errors.length <= 20}>
              <summary>{job.item_errors.length} item(s) not imported</summary>
              <ul class="item-errors" data-testid="import-errors">
                {job.item_errors.map((e) => (
                  <li key={e.position}>Item {e.position + 1}: {e.message} <span class="muted">({e.code})</span></li>
                ))}
              </ul>
            </details>
          )}
        </div>
      )}
      <ErrorNote error={error} />
    </section>
  );
}

export function Export() {
  return (
    <main id="main">
      <PageTitle title="Export & import" />
      <ExportPanel />
      <ImportPanel />
    </main>
  );
}
