// Plugins (docs/PLUGINS.md): the catalog, install with a clear permission
// prompt, a settings form built from the plugin's schema, enable/disable,
// status, last error and the plugin's log, uninstall.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { fmtDate } from '../lib/memories.js';
import { ErrorNote, Spinner, PageTitle } from '../components.jsx';

const PERMISSION_TEXT = {
  'memories:read': 'read your memories',
  'memories:write': 'create and change your memories',
  http: 'connect to the web sites it names (and the addresses you set below)',
  kv: 'keep a little data of its own',
};

// The form fields of a settings schema; values as typed (strings), turned
// into numbers and booleans on submit.
function SettingsForm({ schema, values, onChange }) {
  const names = Object.keys(schema || {});
  if (names.length === 0) return null;
  return (
    <fieldset class="plugin-settings">
      <legend>Settings</legend>
      {names.map((name) => {
        const s = schema[name];
        const v = values[name];
        if (s.type === 'boolean') {
          return (
            <label key={name} class="check">
              <input type="checkbox" checked={!!v} onChange={(e) => onChange(name, e.currentTarget.checked)} /> {s.description || name}
            </label>
          );
        }
        return (
          <label key={name}>
            {s.description || name}
            <input type={s.type === 'number' ? 'number' : s.type === 'url' ? 'url' : 'text'} value={v == null ? '' : String(v)}
              maxLength={1024} onInput={(e) => onChange(name, e.currentTarget.value)} />
          </label>
        );
      })}
    </fieldset>
  );
}

function typed(schema, values) {
  const out = {};
  for (const [name, s] of Object.entries(schema || {})) {
    const v = values[name];
    if (v === undefined) continue;
    if (s.type === 'number') {
      const n = Number(v);
      if (v !== '' && Number.isFinite(n)) out[name] = n;
    } else if (s.type === 'boolean') out[name] = !!v;
    else out[name] = String(v);
  }
  return out;
}

function defaults(schema) {
  const out = {};
  for (const [name, s] of Object.entries(schema || {})) if (s.default !== undefined) out[name] = s.default;
  return out;
}

function Installer({ entry, onDone, onCancel }) {
  const [values, setValues] = useState(defaults(entry.settings));
  const [error, setError] = useState(null);
  const install = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      await api('POST', '/api/plugins/install', { id: entry.id, version: entry.version, grant: entry.permissions, settings: typed(entry.settings, values) });
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="panel" onSubmit={install} aria-label={`Install ${entry.name}`}>
      <h2>Install {entry.name}?</h2>
      {entry.permissions.length === 0 ? <p>This plugin needs no permissions.</p> : (
        <>
          <p>It will be able to:</p>
          <ul class="permissions">
            {entry.permissions.map((p) => <li key={p}><strong>{p}</strong>: {PERMISSION_TEXT[p] || p}</li>)}
          </ul>
          {entry.hosts.length > 0 && <p class="muted">Web sites it names: {entry.hosts.join(', ')}</p>}
        </>
      )}
      <SettingsForm schema={entry.settings} values={values} onChange={(k, v) => setValues({ ...values, [k]: v })} />
      <ErrorNote error={error} />
      <button type="submit" class="primary">Grant and install</button>{' '}
      <button type="button" class="ghost" onClick={onCancel}>Cancel</button>
    </form>
  );
}

function Installed({ p, schema, reload }) {
  const [values, setValues] = useState(p.settings || {});
  const [error, setError] = useState(null);
  const [open, setOpen] = useState(false);
  const patch = async (body) => {
    setError(null);
    try {
      await api('PATCH', '/api/plugins/' + encodeURIComponent(p.id), body);
      reload();
    } catch (err) {
      setError(err);
    }
  };
  const remove = async () => {
    if (!confirm(`Uninstall "${p.name}"? Its saved data goes too.`)) return;
    try {
      await api('DELETE', '/api/plugins/' + encodeURIComponent(p.id));
      reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <li class="plugin">
      <div class="plugin-head">
        <strong>{p.name}</strong> <span class="muted">{p.version}</span>{' '}
        <span class={'badge ' + p.status}>{p.enabled ? p.status : 'disabled'}</span>
      </div>
      {p.last_error && <p class="error-text">Last error: {p.last_error}</p>}
      <p class="muted">Granted: {p.permissions.length ? p.permissions.join(', ') : 'nothing'}</p>
      <button type="button" onClick={() => patch({ enabled: !p.enabled })}>{p.enabled ? 'Disable' : 'Enable'}</button>{' '}
      <button type="button" class="ghost" onClick={() => setOpen(!open)} aria-expanded={open}>Settings and log</button>{' '}
      <button type="button" class="danger" onClick={remove}>Uninstall</button>
      {open && (
        <div class="plugin-details">
          <form onSubmit={(e) => { e.preventDefault(); patch({ settings: typed(schema, values) }); }}>
            <SettingsForm schema={schema} values={values} onChange={(k, v) => setValues({ ...values, [k]: v })} />
            {schema && Object.keys(schema).length > 0 && <button type="submit">Save settings</button>}
          </form>
          {p.logs.length === 0 ? <p class="muted">Nothing logged.</p> : (
            <ul class="plugin-log">
              {p.logs.map((l, i) => <li key={i}><span class="muted">{fmtDate(l.at)} {l.level}</span> {l.message}</li>)}
            </ul>
          )}
        </div>
      )}
      <ErrorNote error={error} />
    </li>
  );
}

export function Plugins() {
  const [catalog, setCatalog] = useState(null);
  const [installed, setInstalled] = useState(null);
  const [installing, setInstalling] = useState(null);
  const [error, setError] = useState(null);
  const load = () => Promise.all([api('GET', '/api/plugins/available'), api('GET', '/api/plugins')])
    .then(([a, i]) => { setCatalog(a.plugins); setInstalled(i.plugins); }, setError);
  useEffect(() => {
    load();
  }, []);
  if (error) return <main id="main" class="panel"><PageTitle title="Plugins" /><ErrorNote error={error} /></main>;
  if (!catalog || !installed) return <main id="main" class="panel"><Spinner /></main>;
  const have = new Set(installed.map((p) => p.id));
  const schemaOf = (id) => (catalog.find((c) => c.id === id) || {}).settings;
  return (
    <main id="main">
      <section class="panel">
        <PageTitle title="Plugins" />
        <p class="muted">Plugins run in a sandbox, see only your memories, and can do only what you grant them.</p>
        {installed.length === 0 ? <p class="muted">No plugins installed.</p> : (
          <ul class="plugins">
            {installed.map((p) => <Installed key={p.id} p={p} schema={schemaOf(p.id)} reload={load} />)}
          </ul>
        )}
      </section>
      {installing && <Installer entry={installing} onCancel={() => setInstalling(null)} onDone={() => { setInstalling(null); load(); }} />}
      <section class="panel">
        <h2>Available</h2>
        {catalog.length === 0 ? <p class="muted">This server offers no plugins.</p> : (
          <ul class="plugins">
            {catalog.map((c) => (
              <li key={c.id} class="plugin">
                <div class="plugin-head"><strong>{c.name}</strong> <span class="muted">{c.version}</span></div>
                <p>{c.description}</p>
                {have.has(c.id) ? <p class="muted">Installed</p> : (
                  <button type="button" class="primary" onClick={() => setInstalling(c)}>Install…</button>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
    </main>
  );
}
