// Profile, AI persona and privacy tier (PATCH /api/auth/me); the layer
// policy (Lifecycle.jsx).
import { useEffect, useState } from 'preact/hooks';
import { api } from '../lib/api.js';
import { setTimeZone } from '../lib/memories.js';
import { save as saveStored } from '../lib/store.js';
import { toast } from '../lib/toast.js';
import { ErrorNote, Spinner, PageTitle } from '../components.jsx';
import { Link } from '../lib/router.jsx';
import { LifecyclePolicy } from './Lifecycle.jsx';

const TRAITS = [
  ['formality', 'Formality', 'casual', 'formal'],
  ['verbosity', 'Verbosity', 'brief', 'detailed'],
  ['humor', 'Humor', 'serious', 'playful'],
  ['proactivity', 'Proactivity', 'waits to be asked', 'suggests on its own'],
];
const TOGGLES = [
  ['use_emojis', 'Use emojis'],
  ['provide_suggestions', 'Offer suggestions'],
  ['ask_clarifying_questions', 'Ask clarifying questions'],
];
const TIERS = [
  ['local', 'Local', 'Nothing leaves this server: no outside model sees your content.'],
  ['hybrid', 'Hybrid', 'Embeddings stay local; the assistant may use an outside model.'],
  ['cloud', 'Cloud', 'Outside providers may be used for embeddings and the assistant.'],
];

const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC', browserZone];

export function Settings({ onUser }) {
  const [form, setForm] = useState(null);
  const [error, setError] = useState(null);
  const [saving, setSaving] = useState(false);

  const load = () =>
    api('GET', '/api/auth/me').then((u) => {
      setForm({
        full_name: u.full_name || '', email: u.email, privacy_tier: u.privacy_tier || 'local',
        timezone: (u.settings && typeof u.settings.timezone === 'string' && u.settings.timezone) || '',
        persona: { ...u.ai_persona, expertise: (u.ai_persona?.expertise_areas || []).join(', ') },
      });
    }, setError);
  useEffect(() => {
    load();
  }, []);

  if (!form) return <main id="main">{error ? <ErrorNote error={error} onRetry={load} /> : <Spinner />}</main>;
  const p = form.persona;
  const setP = (k, v) => setForm({ ...form, persona: { ...p, [k]: v } });

  const save = async (e) => {
    e.preventDefault();
    setSaving(true);
    setError(null);
    try {
      const { expertise, ...persona } = p;
      persona.expertise_areas = expertise.split(',').map((s) => s.trim()).filter(Boolean);
      const u = await api('PATCH', '/api/auth/me', {
        full_name: form.full_name, privacy_tier: form.privacy_tier, ai_persona: persona,
        settings: { timezone: form.timezone || null },
      });
      setTimeZone(form.timezone);
      saveStored('timezone', form.timezone);
      onUser && onUser(u);
      toast('Settings saved.');
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  };

  return (
    <main id="main">
      <form class="panel settings" onSubmit={save}>
        <PageTitle title="Settings" />
        <p><Link href="/settings/security" data-testid="security-link">Security &amp; privacy</Link>: encryption, password, what leaves this machine, delete account.</p>
        <p><Link href="/settings/export" data-testid="export-link">Export &amp; import</Link>: take all your memories with you, or bring them in from another app.</p>
        <p><Link href="/plugins" data-testid="plugins-link">Plugins</Link>: weather, auto-tagging, tasks and more, each with only the permissions you grant.</p>
        <fieldset>
          <legend>Profile</legend>
          <label>Name <input type="text" value={form.full_name} onInput={(e) => setForm({ ...form, full_name: e.currentTarget.value })} /></label>
          <p class="muted">Signed in as {form.email}</p>
        </fieldset>
        <fieldset>
          <legend>Time zone</legend>
          <label>Show times in
            <select data-testid="timezone" value={form.timezone} onChange={(e) => setForm({ ...form, timezone: e.currentTarget.value })}>
              <option value="">This browser's time zone ({browserZone})</option>
              {zones.map((z) => <option key={z} value={z}>{z}</option>)}
            </select>
          </label>
        </fieldset>
        <fieldset>
          <legend>Assistant persona</legend>
          <label>Name <input type="text" maxLength={100} value={p.name || ''} onInput={(e) => setP('name', e.currentTarget.value)} /></label>
          {TRAITS.map(([k, label, lo, hi]) => (
            <label key={k} class="slider">
              <span>{label}: <strong>{p[k] ?? 5}</strong> <span class="muted">(0 {lo} – 10 {hi})</span></span>
              <input type="range" min="0" max="10" step="1" value={p[k] ?? 5} aria-valuetext={`${p[k]} of 10`}
                onInput={(e) => setP(k, Number(e.currentTarget.value))} />
            </label>
          ))}
          {TOGGLES.map(([k, label]) => (
            <label key={k} class="check">
              <input type="checkbox" checked={!!p[k]} onChange={(e) => setP(k, e.currentTarget.checked)} /> {label}
            </label>
          ))}
          <label>Expertise areas (comma separated)
            <input type="text" value={p.expertise} onInput={(e) => setP('expertise', e.currentTarget.value)} />
          </label>
          <label>Extra instructions
            <textarea rows={4} maxLength={4000} value={p.system_prompt_additions || ''}
              onInput={(e) => setP('system_prompt_additions', e.currentTarget.value)} />
          </label>
        </fieldset>
        <fieldset>
          <legend>Privacy tier</legend>
          {TIERS.map(([v, label, help]) => (
            <label key={v} class="check">
              <input type="radio" name="tier" value={v} checked={form.privacy_tier === v}
                onChange={() => setForm({ ...form, privacy_tier: v })} /> <strong>{label}</strong> — {help}
            </label>
          ))}
        </fieldset>
        <ErrorNote error={error} />
        <button type="submit" class="primary" disabled={saving}>{saving ? 'Saving…' : 'Save settings'}</button>
      </form>
      <LifecyclePolicy />
    </main>
  );
}
