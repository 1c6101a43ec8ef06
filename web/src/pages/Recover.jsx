// Signed out, password forgotten: the recovery key shown when encryption
// was turned on sets a new password (POST /api/auth/encryption/recover).
import { useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { Link, navigate } from '../lib/router.jsx';
import { ErrorNote, PageTitle } from '../components.jsx';

export function Recover({ onDone }) {
  const [f, setF] = useState({ email: '', key: '', pw: '', pw2: '' });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });

  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    if (f.pw !== f.pw2) return setError(new Error('The new passwords do not match.'));
    setBusy(true);
    try {
      await api('POST', '/api/auth/encryption/recover',
        { email: f.email.trim(), recovery_key: f.key.trim(), new_password: f.pw }, { anonymous: true });
      onDone('Your password is changed. Sign in with the new one.');
      navigate('/login', { replace: true });
    } catch (err) {
      // one answer for an unknown email, no encryption and a wrong key (no enumeration)
      setError(err.status === 401 ? new Error('That email and recovery key do not match (or encryption is not on for the account).') : err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="auth">
      <div class="panel">
        <PageTitle title="Reset your password" />
        <p class="muted">With encryption on, the recovery key you stored when you turned it on sets a new password. Your memories stay readable.</p>
        <form onSubmit={submit}>
          <label>Email <input type="email" required autocomplete="email" data-testid="recover-email" value={f.email} onInput={set('email')} /></label>
          <label>Recovery key <input type="text" required autocomplete="off" spellcheck={false} data-testid="recover-key" value={f.key} onInput={set('key')} /></label>
          <label>New password <span class="muted">(at least 10 characters)</span>
            <input type="password" required minLength={10} autocomplete="new-password" data-testid="recover-password" value={f.pw} onInput={set('pw')} /></label>
          <label>New password again
            <input type="password" required minLength={10} autocomplete="new-password" data-testid="recover-password2" value={f.pw2} onInput={set('pw2')} /></label>
          <ErrorNote error={error} />
          <button type="submit" class="primary" data-testid="recover-submit" disabled={busy}>{busy ? 'Please wait…' : 'Set new password'}</button>
        </form>
        <p><Link href="/login">Back to sign in</Link></p>
      </div>
    </main>
  );
}
