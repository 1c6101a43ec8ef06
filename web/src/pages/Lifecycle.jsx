// The layer lifecycle policy (GET/PUT /api/memories/lifecycle/policy) and a
// button to apply it now (POST /api/memories/lifecycle/run); shown on the
// Settings page. docs/LIFECYCLE.md explains each number.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { toast } from '../lib/toast.js';
import { ErrorNote } from '../components.jsx';

export const POLICY_FIELDS = [
  ['active_days', 'Days a memory stays active', 3650],
  ['current_days', 'A tag used within this many days is current (working)', 3650],
  ['reference_accesses', 'Opened at least this many times …', 1000000],
  ['reference_days', '… the last within this many days: reference', 3650],
  ['archive_days', 'Unused for this many days: archive', 3650],
];

// "active->archive: 3, active->working: 1", or "nothing moved".
export function movedText(moved) {
  const e = Object.entries(moved || {});
  return e.length ? e.map(([k, n]) => `${k.replace('->', ' → ')}: ${n}`).join(', ') : 'nothing moved';
}

export function LifecyclePolicy() {
  const [policy, setPolicy] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState(null);
  useEffect(() => {
    api('GET', '/api/memories/lifecycle/policy').then(setPolicy, setError);
  }, []);
  if (!policy) return error ? <ErrorNote error={error} /> : null;
  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setPolicy(await api('PUT', '/api/memories/lifecycle/policy', policy));
      toast('Layer policy saved.');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      const r = await api('POST', '/api/memories/lifecycle/run', {});
      setResult(movedText(r.moved));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel settings" onSubmit={save} data-testid="lifecycle-policy">
      <h2>Memory layers</h2>
      <p class="muted">Memories move between active, working, reference and archive by these rules.
        A layer you pick by hand, and pinned memories, stay put.</p>
      <fieldset>
        <legend>Layer policy</legend>
        {POLICY_FIELDS.map(([k, label, max]) => (
          <label key={k}>{label}
            <input type="number" min="1" max={max} step="1" required value={policy[k]} data-testid={'policy-' + k}
              onInput={(e) => setPolicy({ ...policy, [k]: Number(e.currentTarget.value) })} />
          </label>
        ))}
      </fieldset>
      <ErrorNote error={error} />
      <button type="submit" class="primary" disabled={busy}>Save layer policy</button>{' '}
      <button type="button" disabled={busy} onClick={run} data-testid="lifecycle-run">Apply now</button>
      {result && <p role="status" data-testid="lifecycle-result">{result}</p>}
    </form>
  );
}
