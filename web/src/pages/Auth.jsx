import { useState } from 'preact/hooks';
import { api, saveSession } from '../lib/api.js';
import { Link, navigate } from '../lib/router.jsx';
import { ErrorNote, PageTitle, PasswordStrength } from '../components.jsx';

export function Auth({ mode, notice, onSignedIn }) {
  const reg = mode === 'register';
  const p = reg ? 'register' : 'login';
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  // accounts: after the first account, registration needs an admin's invite
  const [invite, setInvite] = useState(() => new URLSearchParams(location.search).get('invite') || '');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = reg
        ? { email, password, full_name: name || undefined, invite_code: invite.trim() || undefined }
        : { email, password };
      const answer = await api('POST', '/api/auth/' + (reg ? 'register' : 'login'), body, { anonymous: true });
      saveSession(answer);
      onSignedIn(answer.user);
      navigate('/', { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" class="auth">
      <div class="panel">
        <PageTitle title={reg ? 'Create your account' : 'Sign in'}>{reg ? 'Create your account' : 'Sign in to PersonalOS'}</PageTitle>
        {notice && <p class="notice" role="status">{notice}</p>}
        <form onSubmit={submit}>
          {reg && (
            <label>
              Name (optional)
              <input type="text" autocomplete="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
            </label>
          )}
          <label>
            Email
            <input data-testid={p + '-email'} type="email" required autocomplete="email" value={email}
              onInput={(e) => setEmail(e.currentTarget.value)} />
          </label>
          <label>
            Password{reg && <span class="muted"> (at least 10 characters)</span>}
            <input data-testid={p + '-password'} type="password" required minLength={reg ? 10 : undefined}
              autocomplete={reg ? 'new-password' : 'current-password'} value={password}
              onInput={(e) => setPassword(e.currentTarget.value)} />
          </label>
          {reg && <PasswordStrength password={password} inputs={[email, name]} />}
          {reg && (
            <label>
              Invite code<span class="muted"> (from the server's admin, if it asks for one)</span>
              <input data-testid="register-invite" type="text" autocomplete="off" value={invite}
                onInput={(e) => setInvite(e.currentTarget.value)} />
            </label>
          )}
          <ErrorNote error={error} />
          <button data-testid={p + '-submit'} type="submit" class="primary" disabled={busy}>
            {busy ? 'Please wait…' : reg ? 'Create account' : 'Sign in'}
          </button>
        </form>
        <p>
          {reg ? (
            <>Already have an account? <Link href="/login">Sign in</Link></>
          ) : (
            <>New here? <Link href="/register">Create an account</Link>
              <br />Forgot your password? <Link href="/recover">Use your recovery key</Link></>
          )}
        </p>
      </div>
    </main>
  );
}
