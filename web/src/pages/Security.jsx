// Settings → Security & privacy: encryption at rest (POST /api/auth/encryption,
// the recovery key shown once), change password, what leaves the machine
// (GET /api/auth/me `privacy`), delete the account (DELETE /api/auth/me).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, clearSession } from '../lib/api.js';
import { toast } from '../lib/toast.js';
import { Link } from '../lib/router.jsx';
import { ErrorNote, Spinner, PageTitle } from '../components.jsx';

const LEAVES = [
  ['chat_to_remote_model', 'Chat messages and the memories they use go to a remote language model'],
  ['embeddings_to_remote_provider', 'Memory text goes to a remote embeddings provider'],
  ['memu', 'Memories are sent to MemU (remote memory service)'],
];
const PROVIDERS = [['chat', 'Assistant'], ['embeddings', 'Embeddings'], ['memu', 'MemU']];
const PROVIDER_TEXT = { builtin: 'built in (this server)', local: 'local (this machine)', remote: 'remote', off: 'off' };

function Password({ label, value, onInput, testid, autocomplete = 'current-password' }) {
  const isNew = autocomplete === 'new-password';
  return (
    <label>{label}{isNew && <span class="muted"> (at least 10 characters)</span>}
      <input type="password" required minLength={isNew ? 10 : undefined} autocomplete={autocomplete}
        data-testid={testid} value={value} onInput={(e) => onInput(e.currentTarget.value)} />
    </label>
  );
}

function Encryption({ enc, onChanged }) {
  const [asking, setAsking] = useState(false);
  const [pw, setPw] = useState('');
  const [key, setKey] = useState(null);
  const [stored, setStored] = useState(false);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const turnOn = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api('POST', '/api/auth/encryption', { password: pw }, { password: true });
      setPw('');
      setAsking(false);
      setKey(r.recovery_key);
      onChanged();
    } catch (err) {
      setError(err.status === 401 ? new Error('That password is not right.') : err);
    } finally {
      setBusy(false);
    }
  };
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(key);
      toast('Recovery key copied.');
    } catch {
      toast('Could not copy; select the key and copy it by hand.', { kind: 'warn' });
    }
  };

  const state = enc ? enc.state : 'off';
  return (
    <fieldset data-testid="encryption">
      <legend>Encryption at rest</legend>
      {key ? (
        <div class="notice" role="alert" data-testid="recovery-box">
          <p><strong>Your recovery key.</strong> It is shown only this once. Without it and your password your memories cannot be recovered.</p>
          <p><code class="secret" data-testid="recovery-key">{key}</code></p>
          <p><button type="button" onClick={copy}>Copy</button></p>
          <label class="check"><input type="checkbox" data-testid="recovery-stored" checked={stored} onChange={(e) => setStored(e.currentTarget.checked)} /> I have stored the recovery key somewhere safe</label>
          <button type="button" class="primary" data-testid="recovery-done" disabled={!stored} onClick={() => { setKey(null); setStored(false); }}>Done</button>
        </div>
      ) : state === 'off' ? (
        <>
          <p data-testid="encryption-state">Off. Your memories are stored as plain text in the server's database.</p>
          <p class="muted">With encryption on, the database, its indexes and backups hold only ciphertext of your memories. They are readable only while you are signed in. If you lose both your password and the recovery key, the data is gone.</p>
          {asking ? (
            <form onSubmit={turnOn}>
              <Password label="Your password" value={pw} onInput={setPw} testid="encryption-password" />
              <ErrorNote error={error} />
              <div class="actions">
                <button type="submit" class="primary" data-testid="encryption-confirm" disabled={busy}>{busy ? 'Turning on…' : 'Turn on encryption'}</button>
                <button type="button" onClick={() => { setAsking(false); setPw(''); setError(null); }}>Cancel</button>
              </div>
            </form>
          ) : (
            <button type="button" class="primary" data-testid="encryption-on" onClick={() => setAsking(true)}>Turn on encryption…</button>
          )}
        </>
      ) : null}
      {state === 'encrypting' && (
        <p data-testid="encryption-state">Encrypting your existing memories: {enc.progress || 0} of {enc.total || 0}{' '}
          <progress max={enc.total || 1} value={enc.progress || 0} aria-label="Encryption progress" /></p>
      )}
      {state === 'on' && (
        <p data-testid="encryption-state">On. Your memories are encrypted at rest{enc.unlocked ? ' and unlocked for this session.' : '; they are locked until you sign in.'}</p>
      )}
    </fieldset>
  );
}

function ChangePassword() {
  const [f, setF] = useState({ old: '', new1: '', new2: '' });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    if (f.new1 !== f.new2) return setError(new Error('The new passwords do not match.'));
    setBusy(true);
    try {
      const answer = await api('POST', '/api/auth/password', { old_password: f.old, new_password: f.new1 }, { password: true });
      setF({ old: '', new1: '', new2: '' });
      // accounts: the other sessions and the API tokens are revoked
      const r = (answer && answer.revoked) || {};
      toast('Password changed.' + ((r.sessions || r.api_tokens)
        ? ` Signed out ${r.sessions || 0} other session(s); revoked ${r.api_tokens || 0} API token(s).` : ''));
    } catch (err) {
      setError(err.status === 401 ? new Error('The current password is not right.') : err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit}>
      <fieldset>
        <legend>Change password</legend>
        <Password label="Current password" value={f.old} onInput={(v) => setF({ ...f, old: v })} testid="pw-old" />
        <Password label="New password" value={f.new1} onInput={(v) => setF({ ...f, new1: v })} testid="pw-new" autocomplete="new-password" />
        <Password label="New password again" value={f.new2} onInput={(v) => setF({ ...f, new2: v })} testid="pw-new2" autocomplete="new-password" />
        <ErrorNote error={error} />
        <button type="submit" data-testid="pw-submit" disabled={busy}>Change password</button>
      </fieldset>
    </form>
  );
}

function Privacy({ privacy }) {
  if (!privacy) return null;
  const leaves = privacy.leaves_machine || {};
  const out = LEAVES.filter(([k]) => leaves[k]);
  return (
    <fieldset data-testid="privacy">
      <legend>What leaves this machine</legend>
      <p>Privacy tier: <strong>{privacy.tier}</strong> (<Link href="/settings">change</Link>)</p>
      {out.length === 0 ? (
        <p data-testid="privacy-nothing">Nothing: with this server's providers, no memory text leaves the machine.</p>
      ) : (
        <ul>{out.map(([k, t]) => <li key={k}>{t}</li>)}</ul>
      )}
      <table class="tokens">
        <caption class="sr-only">Providers</caption>
        <tbody>
          {PROVIDERS.filter(([k]) => privacy.providers && privacy.providers[k]).map(([k, l]) => (
            <tr key={k}><th scope="row">{l}</th><td>{PROVIDER_TEXT[privacy.providers[k]] || privacy.providers[k]}</td></tr>
          ))}
        </tbody>
      </table>
    </fieldset>
  );
}

function DeleteAccount() {
  const [open, setOpen] = useState(false);
  const [pw, setPw] = useState('');
  const [error, setError] = useState(null);
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      await api('DELETE', '/api/auth/me', { password: pw }, { password: true });
      clearSession();
      window.dispatchEvent(new CustomEvent('pos:session-lost', { detail: 'Your account and all its memories have been deleted.' }));
    } catch (err) {
      setError(err.status === 401 ? new Error('That password is not right.') : err);
    }
  };
  return (
    <fieldset class="danger-zone">
      <legend>Delete account</legend>
      <p>Deletes your account, every memory, conversation, token and sync source. This cannot be undone.</p>
      {open ? (
        <form onSubmit={submit}>
          <Password label="Your password, to confirm" value={pw} onInput={setPw} testid="delete-password" />
          <ErrorNote error={error} />
          <div class="actions">
            <button type="submit" class="danger" data-testid="delete-account-confirm">Delete my account for good</button>
            <button type="button" onClick={() => { setOpen(false); setPw(''); }}>Cancel</button>
          </div>
        </form>
      ) : (
        <button type="button" class="danger" data-testid="delete-account" onClick={() => setOpen(true)}>Delete account…</button>
      )}
    </fieldset>
  );
}

export function Security() {
  const [me, setMe] = useState(null);
  const [error, setError] = useState(null);
  const timer = useRef(null);
  const load = () => api('GET', '/api/auth/me').then((u) => {
    setMe(u);
    clearTimeout(timer.current);
    if (u.encryption && u.encryption.state === 'encrypting') timer.current = setTimeout(load, 1500);
  }, setError);
  useEffect(() => {
    load();
    return () => clearTimeout(timer.current);
  }, []);

  if (!me) return <main id="main">{error ? <ErrorNote error={error} onRetry={load} /> : <Spinner />}</main>;
  return (
    <main id="main">
      <section class="panel settings">
        <p><Link href="/settings">← Settings</Link></p>
        <PageTitle title="Security & privacy" />
        <Encryption enc={me.encryption} onChanged={load} />
        <ChangePassword />
        <Privacy privacy={me.privacy} />
        <DeleteAccount />
      </section>
    </main>
  );
}
