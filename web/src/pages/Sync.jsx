// Sync sources (GET/POST /api/sync/sources, DELETE /api/sync/sources/{id},
// POST /api/sync/start, GET /api/sync/status): list with status, add one of
// each kind, sync now, delete keeping or removing its memories. Secrets
// (passwords) are write-only: sent once, never shown back. Upload of an
// mbox, ICS or Markdown zip (POST /api/sync/uploads?kind=&name=, the file
// as the raw body). The last list is kept per account (lib/store.js) and
// shown when the page is opened offline.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from '../lib/api.js';
import { fmtDate } from '../lib/memories.js';
import { toast } from '../lib/toast.js';
import { Link } from '../lib/router.jsx';
import { ErrorNote, Spinner, PageTitle } from '../components.jsx';
import { load as loadStored, save as saveStored } from '../lib/store.js';
import { onLiveEvent } from '../lib/events.js';

// Per kind: [field, label, input type, extra]. `secret` fields are never prefilled or shown.
const KINDS = {
  imap: { label: 'Mail (IMAP)', fields: [
    ['host', 'Server', 'text', { required: true, placeholder: 'imap.example.com' }],
    ['port', 'Port', 'number', { placeholder: '993' }],
    ['tls', 'Encryption', 'select', { options: [['implicit', 'TLS (imaps)'], ['starttls', 'STARTTLS'], ['none', 'none (local test servers only)']] }],
    ['user', 'User name', 'text', { required: true, autocomplete: 'username' }],
    ['password', 'Password', 'password', { secret: true, autocomplete: 'new-password' }],
    ['folders', 'Folders (comma separated)', 'text', { placeholder: 'INBOX', list: true }],
    ['only_flagged', 'Only flagged (starred) messages', 'checkbox', {}],
  ] },
  caldav: { label: 'Calendar (CalDAV)', fields: [
    ['url', 'Server or calendar URL', 'url', { required: true, placeholder: 'https://cal.example.com/' }],
    ['user', 'User name', 'text', { autocomplete: 'username' }],
    ['password', 'Password', 'password', { secret: true, autocomplete: 'new-password' }],
  ] },
  ics_url: { label: 'Calendar feed (ICS URL)', fields: [
    ['url', 'Feed URL', 'text', { required: true, placeholder: 'https://… or webcal://…' }],
  ] },
  // File kinds: a path relative to the user's folder on the server
  // (sync_file_root/<user id>/, docs/SYNC.md); or upload the file.
  ics_file: { label: 'Calendar file (.ics)', fields: [['path', 'Path in your folder on the server', 'text', { required: true, placeholder: 'calendar.ics' }]] },
  mbox: { label: 'Mail archive (mbox)', fields: [['path', 'Path in your folder on the server', 'text', { required: true, placeholder: 'mail/archive.mbox' }]] },
  maildir: { label: 'Mail folder (Maildir)', fields: [['path', 'Path in your folder on the server', 'text', { required: true, placeholder: 'Maildir' }]] },
  markdown_dir: { label: 'Notes folder (Markdown)', fields: [['path', 'Path in your folder on the server', 'text', { required: true, placeholder: 'Notes' }]] },
};
const INTERVALS = [[0, 'manual only'], [900, 'every 15 minutes'], [3600, 'every hour'], [21600, 'every 6 hours'], [86400, 'every day'], [604800, 'every week']];

// A readable default name: the kind's label and what it points at
// ("Calendar file (.ics): basic.ics"), never an internal id.
export function defaultName(kind, config) {
  const label = KINDS[kind] ? KINDS[kind].label : kind;
  let what = config.path ? String(config.path).split('/').filter(Boolean).pop()
    : config.host ? (config.user ? config.user + ' at ' : '') + config.host
      : config.url ? String(config.url).replace(/^[a-z]+:\/\//i, '').split('/')[0] : '';
  what = what ? ': ' + what : '';
  return (label + what).slice(0, 128);
}

const shownName = (s) => (!s.name || s.name === s.kind || KINDS[s.name] ? defaultName(s.kind, s.config || {}) : s.name);

function configFrom(kind, values) {
  const config = {};
  for (const [k, , type, extra] of KINDS[kind].fields) {
    const v = values[k];
    if (type === 'checkbox') {
      if (v) config[k] = true;
    } else if (v === undefined || String(v).trim() === '') continue;
    else if (type === 'number') config[k] = Number(v);
    else if (extra.list) config[k] = String(v).split(',').map((s) => s.trim()).filter(Boolean);
    else config[k] = extra.secret ? v : String(v).trim();
  }
  return config;
}

function AddSource({ onAdded }) {
  const [kind, setKind] = useState('ics_file');
  const [name, setName] = useState('');
  const [interval, setInterval_] = useState(3600);
  const [values, setValues] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const config = configFrom(kind, values);
      const body = { kind, config, interval_s: Number(interval), name: name.trim() || defaultName(kind, config) };
      const s = await api('POST', '/api/sync/sources', body);
      setValues({}); // the password leaves the page with the request
      setName('');
      toast(`Added “${shownName(s)}”. Its first sync is queued: the status below says how it went.`);
      onAdded(s);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const set = (k, type) => (e) => setValues({ ...values, [k]: type === 'checkbox' ? e.target.checked : e.target.value });

  return (
    <form class="panel sync-add" onSubmit={submit} data-testid="sync-add">
      <h2>Add a source</h2>
      <div class="filter-grid">
        <label class="wide">Kind
          <select data-testid="sync-kind" value={kind} onChange={(e) => { setKind(e.currentTarget.value); setValues({}); setError(null); }}>
            {Object.entries(KINDS).map(([k, d]) => <option key={k} value={k}>{d.label}</option>)}
          </select>
        </label>
        <label>Name <input type="text" data-testid="sync-name" maxLength={128} value={name} placeholder={KINDS[kind].label} onInput={(e) => setName(e.currentTarget.value)} /></label>
        <label>Sync
          <select data-testid="sync-interval" value={interval} onChange={(e) => setInterval_(Number(e.currentTarget.value))}>
            {INTERVALS.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
          </select>
        </label>
      </div>
      {KINDS[kind].fields.map(([k, label, type, extra]) => type === 'checkbox' ? (
        <label key={kind + k} class="check"><input type="checkbox" checked={!!values[k]} onChange={set(k, type)} /> {label}</label>
      ) : type === 'select' ? (
        <label key={kind + k}>{label}
          <select value={values[k] || extra.options[0][0]} onChange={set(k, type)}>
            {extra.options.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
          </select>
        </label>
      ) : (
        <label key={kind + k}>{label}{extra.secret && <span class="muted"> (stored sealed; never shown again)</span>}
          <input type={type} data-testid={'sync-field-' + k} required={!!extra.required} placeholder={extra.placeholder}
            autocomplete={extra.autocomplete || 'off'} value={values[k] || ''} onInput={set(k, type)}
            min={type === 'number' ? 1 : undefined} max={type === 'number' ? 65535 : undefined} />
        </label>
      ))}
      <ErrorNote error={error} />
      <button type="submit" class="primary" data-testid="sync-add-submit" disabled={busy}>{busy ? 'Adding…' : 'Add source'}</button>
    </form>
  );
}

function statusText(s, live) {
  if (live && live.running) {
    const p = live.job && live.job.progress;
    return p && p.total ? `syncing ${p.done} of ${p.total}…` : 'syncing…';
  }
  if (live && live.job && live.job.state === 'queued') return 'queued';
  return s.status || 'idle';
}

function SourceRow({ s, live, onChanged }) {
  const [deleting, setDeleting] = useState(false);
  const [keep, setKeep] = useState(true);
  const [error, setError] = useState(null);
  const status = statusText(s, live);
  const err = (live && live.error_message) || s.error_message;

  const syncNow = async () => {
    setError(null);
    try {
      await api('POST', '/api/sync/start', { source_id: s.id });
      onChanged();
    } catch (e) {
      setError(e);
    }
  };
  const del = async (e) => {
    e.preventDefault();
    try {
      await api('DELETE', '/api/sync/sources/' + s.id + qs({ keep_memories: keep ? 'true' : 'false' }));
      toast(`Removed “${shownName(s)}”${keep ? '; its memories stay' : ' and its memories'}.`);
      onChanged();
    } catch (e2) {
      setError(e2);
    }
  };
  return (
    <li class="sync-source" data-testid="sync-source">
      <div class="memory-meta">
        <strong class="sync-name">{shownName(s)}</strong>
        <span class="badge">{KINDS[s.kind] ? KINDS[s.kind].label : s.kind}</span>
        <span class={'badge status-' + (s.status || 'idle')} data-testid="sync-status">{status}</span>
      </div>
      <p class="muted small">
        {s.last_sync_at ? 'Last sync ' + fmtDate(s.last_sync_at) : 'Not synced yet'} · {s.items_synced || 0} {s.items_synced === 1 ? 'item' : 'items'}
        {s.interval_s ? '' : ' · manual only'}
        {s.secrets && s.secrets.length > 0 && ' · ' + s.secrets.join(', ') + ' stored'}
        {' · '}<Link href={'/?source=' + encodeURIComponent(s.kind)}>show memories</Link>
      </p>
      {err && <p class="error" role="alert">Last run failed{s.failures > 1 ? ` (${s.failures} times)` : ''}: {err}</p>}
      <ErrorNote error={error} />
      {deleting ? (
        <form class="actions" onSubmit={del}>
          <fieldset>
            <legend>Remove “{shownName(s)}”?</legend>
            <label class="check"><input type="radio" name={'keep-' + s.id} checked={keep} onChange={() => setKeep(true)} /> Keep the memories it made</label>
            <label class="check"><input type="radio" name={'keep-' + s.id} checked={!keep} onChange={() => setKeep(false)} /> Delete its memories too</label>
            <div class="actions">
              <button type="submit" class="danger" data-testid="sync-delete-confirm">Remove source</button>
              <button type="button" onClick={() => setDeleting(false)}>Cancel</button>
            </div>
          </fieldset>
        </form>
      ) : (
        <div class="actions">
          <button type="button" data-testid="sync-now" onClick={syncNow} disabled={!!(live && (live.running || (live.job && live.job.state === 'queued')))}>Sync now</button>
          <button type="button" class="danger" data-testid="sync-delete" onClick={() => setDeleting(true)}>Remove…</button>
        </div>
      )}
    </li>
  );
}

const UPLOAD_KINDS = [
  ['mbox', 'Mail archive (mbox)', '.mbox,application/mbox,text/plain'],
  ['ics', 'Calendar file (.ics)', '.ics,text/calendar'],
  ['markdown_zip', 'Notes (zip of Markdown files)', '.zip,application/zip'],
];
const UPLOAD_MAX = 256 * 1024 * 1024;

// Upload a file instead of giving a server path.
function Upload({ onAdded }) {
  const [kind, setKind] = useState('ics');
  const [name, setName] = useState('');
  const [file, setFile] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const input = useRef(null);
  const submit = async (e) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    if (file.size > UPLOAD_MAX) {
      setError(new Error(`That file is ${Math.round(file.size / 1048576)} MB; uploads are limited to 256 MB.`));
      return;
    }
    setBusy(true);
    try {
      const label = UPLOAD_KINDS.find((k) => k[0] === kind)[1];
      const n = name.trim() || (label + ': ' + file.name).slice(0, 128);
      const s = await api('POST', '/api/sync/uploads' + qs({ kind, name: n }), undefined,
        { rawBody: file, contentType: file.type || 'application/octet-stream' });
      toast(`Uploaded “${(s && s.name) || n}”. It is being read into your memories: the status below says how it went.`);
      setFile(null);
      setName('');
      if (input.current) input.current.value = '';
      onAdded();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const accept = UPLOAD_KINDS.find((k) => k[0] === kind)[2];
  return (
    <form class="panel sync-add" onSubmit={submit} data-testid="sync-upload">
      <h2>Upload a file</h2>
      <p class="muted small">An mbox mail archive, an .ics calendar or a zip of Markdown notes, read once into your memories.</p>
      <div class="filter-grid">
        <label class="wide">What it is
          <select data-testid="upload-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            {UPLOAD_KINDS.map(([k, l]) => <option key={k} value={k}>{l}</option>)}
          </select>
        </label>
        <label>Name <input type="text" data-testid="upload-name" maxLength={128} value={name}
          placeholder={file ? file.name : 'from the file name'} onInput={(e) => setName(e.currentTarget.value)} /></label>
      </div>
      <label>File <input ref={input} type="file" data-testid="upload-file" accept={accept} required
        onChange={(e) => setFile(e.currentTarget.files[0] || null)} /></label>
      <ErrorNote error={error} />
      <button type="submit" class="primary" data-testid="upload-submit" disabled={busy || !file}>{busy ? 'Uploading…' : 'Upload'}</button>
    </form>
  );
}

export function Sync() {
  const [sources, setSources] = useState(() => loadStored('sync-sources', null));
  const [live, setLive] = useState({});
  const [error, setError] = useState(null);
  const [stale, setStale] = useState(false);
  const timer = useRef(null);

  const load = async () => {
    try {
      const [list, st] = await Promise.all([api('GET', '/api/sync/sources'), api('GET', '/api/sync/status')]);
      const byId = {};
      for (const x of st.sources || []) byId[x.id] = x;
      setSources(list.sources);
      saveStored('sync-sources', list.sources);
      setStale(false);
      setLive(byId);
      setError(null);
      // Poll while anything runs or waits.
      const busy = Object.values(byId).some((x) => x.running || (x.job && x.job.state !== 'done'));
      clearTimeout(timer.current);
      if (busy) timer.current = setTimeout(load, 1000);
    } catch (e) {
      // Offline: the last list stays on screen, marked as such.
      if (e.status === 0 && loadStored('sync-sources', null)) setStale(true);
      else setError(e);
    }
  };
  useEffect(() => {
    load();
    return () => clearTimeout(timer.current);
  }, []);
  // Runs and their progress arrive as live events: reload the status now.
  useEffect(() => onLiveEvent((ev) => {
    if (ev.type === 'sync.status' || ev.type === 'job.progress') load();
  }), []);

  return (
    <main id="main">
      <section class="panel">
        <PageTitle title="Sync" />
        <p class="muted">Mail, calendars and notes, pulled into your memories on a schedule or on demand.</p>
        <ErrorNote error={error} onRetry={load} />
        {stale && <p class="notice" role="status" data-testid="sync-stale">You are offline: these are your sources as last seen. Sync now and changes wait until you are back.</p>}
        {!sources ? (!error && <Spinner />) : sources.length === 0 ? <p class="muted">No sources yet.</p> : (
          <ul class="sync-list" aria-live="polite">
            {sources.map((s) => <SourceRow key={s.id} s={s} live={live[s.id]} onChanged={load} />)}
          </ul>
        )}
      </section>
      <AddSource onAdded={load} />
      <Upload onAdded={load} />
    </main>
  );
}
