// Shared memory helpers: field lists, deferred delete with undo.
import { api } from './api.js';
import { toast, dismiss } from './toast.js';

export const TYPES = ['note', 'action', 'conversation', 'event', 'email', 'file'];
export const LAYERS = ['active', 'working', 'reference', 'archive'];

// What a layer and importance mean, for tooltips and help text.
export const LAYER_HELP = {
  active: 'in use now',
  working: 'in progress',
  reference: 'to look up later',
  archive: 'kept, out of the way',
};
export const LAYER_TITLE = 'Layer: where a memory sits in your attention. ' +
  LAYERS.map((l) => l + ' = ' + LAYER_HELP[l]).join('; ') + '.';
export const IMPORTANCE_TITLE = 'Importance (0 to 1): higher ranks a memory higher in search and in the assistant\'s answers.';
export const UNDO_MS = 6000;

const hidden = new Set();     // ids deleted but still undoable
const subs = new Set();
const timers = new Map();

export function isHidden(id) {
  return hidden.has(id);
}

export function onHiddenChange(f) {
  subs.add(f);
  return () => subs.delete(f);
}

function emit() {
  for (const f of subs) f();
}

async function commit(id) {
  timers.delete(id);
  try {
    await api('DELETE', '/api/memories/' + id);
  } catch (e) {
    if (e.status !== 404) {
      hidden.delete(id);
      emit();
      toast('Could not delete: ' + e.message, { kind: 'error' });
      return;
    }
  }
  emit();
}

// Hides the memory at once and deletes it on the server when the undo
// window closes (or the page is left).
export function deleteWithUndo(memory) {
  hidden.add(memory.id);
  emit();
  const t = setTimeout(() => {
    dismiss(tid);
    commit(memory.id);
  }, UNDO_MS);
  timers.set(memory.id, t);
  const tid = toast('Memory deleted.', {
    action: 'Undo',
    ms: 0,
    onAction: () => {
      clearTimeout(timers.get(memory.id));
      timers.delete(memory.id);
      hidden.delete(memory.id);
      dismiss(tid);
      emit();
    },
  });
}

// Leaving the page commits pending deletes (keepalive survives the unload).
window.addEventListener('pagehide', () => {
  for (const [id, t] of timers) {
    clearTimeout(t);
    api('DELETE', '/api/memories/' + id, undefined, { keepalive: true }).catch(() => {});
  }
  timers.clear();
});

export function snippet(text, n = 140) {
  const s = String(text || '').replace(/\s+/g, ' ').trim();
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

// Times show in the browser's time zone, or the one chosen in Settings
// (settings.timezone, an IANA name; '' = the browser's).
let zone = '';
export function setTimeZone(tz) {
  zone = '';
  if (!tz) return;
  try {
    new Intl.DateTimeFormat(undefined, { timeZone: tz });
    zone = tz;
  } catch {
    /* unknown zone: the browser's */
  }
}
export function timeZone() {
  return zone || Intl.DateTimeFormat().resolvedOptions().timeZone;
}
const zoned = (o) => (zone ? { ...o, timeZone: zone } : o);

export function fmtDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, zoned({ dateStyle: 'medium', timeStyle: 'short' }));
}

// A date without a time (a due date, YYYY-MM-DD) as the user reads it.
export function fmtDay(day) {
  if (!day) return '';
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(day);
  if (!m) return fmtDate(day);
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], 12));
  return d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC' });
}

// The calendar day of an instant in the user's zone, as YYYY-MM-DD.
export function dayKey(d) {
  const parts = new Intl.DateTimeFormat('en-CA', zoned({ year: 'numeric', month: '2-digit', day: '2-digit' })).format(d);
  return parts.slice(0, 10);
}

// Timeline group of a memory's date, in the user's zone: Upcoming (a future
// event), Today, Yesterday, This week (the 7 days before), Earlier.
export function dayGroup(iso, now = new Date()) {
  const d = new Date(iso);
  if (isNaN(d.getTime())) return 'Earlier';
  const k = dayKey(d);
  const today = dayKey(now);
  if (k > today) return 'Upcoming';
  if (k === today) return 'Today';
  if (k === dayKey(new Date(now.getTime() - 864e5))) return 'Yesterday';
  if (k >= dayKey(new Date(now.getTime() - 7 * 864e5))) return 'This week';
  return 'Earlier';
}

// Tasks: `action` memories with metadata.completed and metadata.due.
export async function setCompleted(memory, done) {
  const metadata = { ...(memory.metadata || {}), completed: !!done };
  return api('PUT', '/api/memories/' + memory.id, { metadata });
}
