// Personal API tokens: list, create (the secret is shown once), revoke.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { fmtDate } from '../lib/memories.js';
import { ErrorNote, Spinner, PageTitle } from '../components.jsx';

export function Tokens() {
  const [list, setList] = useState(null);
  const [name, setName] = useState('');
  const [scope, setScope] = useState('read');
  const [secret, setSecret] = useState(null);
  const [error, setError] = useState(null);
  const load = () => api('GET', '/api/auth/tokens').then((r) => setList(r.tokens), setError);
  useEffect(() => {
    load();
  }, []);

  const create = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const t = await api('POST', '/api/auth/tokens', { name: name.trim(), scope });
      setSecret(t);
      setName('');
      load();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (t) => {
    if (!confirm(`Revoke "${t.name}"? Programs using it will stop working.`)) return;
    try {
      await api('DELETE', '/api/auth/tokens/' + t.id);
      load();
    } catch (err) {
      setError(err);
    }
  };
  const copy = () => navigator.clipboard && navigator.clipboard.writeText(secret.token);

  return (
    <main id="main">
      <section class="panel">
        <PageTitle title="API tokens" />
        <p class="muted">Tokens let scripts and tools use your memories. <em>read</em> tokens can only read.</p>
        <form onSubmit={create} class="capture-row">
          <label class="grow">Name <input type="text" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
          <label>Scope
            <select value={scope} onChange={(e) => setScope(e.currentTarget.value)}>
              <option value="read">read</option>
              <option value="write">write</option>
            </select>
          </label>
          <button type="submit" class="primary">Create token</button>
        </form>
        {secret && (
          <div class="notice" role="status">
            <p>Copy the token for “{secret.name}” now; it will not be shown again.</p>
            <code class="secret">{secret.token}</code>{' '}
            <button type="button" onClick={copy}>Copy</button>{' '}
            <button type="button" class="ghost" onClick={() => setSecret(null)}>Done</button>
          </div>
        )}
        <ErrorNote error={error} />
      </section>
      <section class="panel">
        {!list ? <Spinner /> : list.length === 0 ? <p class="muted">No tokens.</p> : (
          <table class="tokens">
            <thead><tr><th>Name</th><th>Scope</th><th>Created</th><th>Last used</th><th><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {list.map((t) => (
                <tr key={t.id}>
                  <td data-label="Name">{t.name}</td><td data-label="Scope">{t.scope}</td>
                  <td data-label="Created">{fmtDate(t.created_at)}</td><td data-label="Last used">{t.last_used_at ? fmtDate(t.last_used_at) : 'never'}</td>
                  <td class="token-actions"><button type="button" class="danger" onClick={() => revoke(t)}>Revoke</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </main>
  );
}
