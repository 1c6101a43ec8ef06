// Task reminders (issue 22, item 6): an `action` memory may carry
// metadata.remind_at (an RFC 3339 instant). While the app is open, each
// reminder of the signed-in account that falls due shows a notice with
// "Open" and, when the person allowed it, a system notification. Fired
// reminders are remembered per account (store.js), so a reload does not
// repeat them; a reminder missed while the app was closed is shown on the
// next visit if it is less than a day old. The server keeps no schedule:
// reminders ride on the memory (docs/WEB.md, "Tasks and reminders").
import { api } from './api.js';
import { load, save } from './store.js';
import { toast, dismiss } from './toast.js';
import { navigate } from './router.jsx';

const POLL_MS = 5 * 60 * 1000; // re-read the tasks (edits from other devices)
const LATE_MS = 24 * 3600 * 1000; // how late a missed reminder is still shown
const HORIZON_MS = 24 * 3600 * 1000; // timers are armed this far ahead
const FIRED = 'reminders-fired';

let timers = new Map(); // memory id -> timeout
let poll = null;

export function remindAt(m) {
  const r = m && m.metadata && m.metadata.remind_at;
  const t = typeof r === 'string' ? Date.parse(r) : NaN;
  return Number.isFinite(t) ? t : null;
}

function key(m) {
  return m.id + '@' + m.metadata.remind_at;
}

function fire(m) {
  timers.delete(m.id);
  const fired = load(FIRED, []);
  if (fired.includes(key(m))) return;
  save(FIRED, [...fired, key(m)].slice(-500));
  const text = (m.content || '').split('\n')[0].slice(0, 120);
  const id = toast('Reminder: ' + text, {
    action: 'Open',
    onAction: () => {
      dismiss(id);
      navigate('/memories/' + m.id);
    },
    kind: 'reminder',
    ms: 0,
  });
  try {
    if (typeof Notification !== 'undefined' && Notification.permission === 'granted') {
      const n = new Notification('Reminder', { body: text, tag: 'pos-' + m.id });
      n.onclick = () => {
        window.focus();
        navigate('/memories/' + m.id);
      };
    }
  } catch {
    /* notifications unavailable: the notice is enough */
  }
}

// Arms timers for the given tasks; replaces what was armed before.
export function schedule(tasks, now = Date.now()) {
  for (const t of timers.values()) clearTimeout(t);
  timers = new Map();
  const fired = load(FIRED, []);
  for (const m of tasks) {
    const at = remindAt(m);
    if (at === null || m.type !== 'action' || m.metadata.completed === true) continue;
    if (fired.includes(key(m)) || at < now - LATE_MS || at > now + HORIZON_MS) continue;
    timers.set(m.id, setTimeout(() => fire(m), Math.max(0, at - now)));
  }
}

async function refresh() {
  try {
    const r = await api('GET', '/api/memories?type=action&limit=200&sort=newest');
    schedule((r && r.memories) || []);
  } catch {
    /* offline or signed out: keep what is armed */
  }
}

// Starts (or restarts, after a sign-in or a saved task) the reminders of
// the signed-in account; stop() on sign-out.
export function startReminders() {
  stopReminders();
  refresh();
  poll = setInterval(refresh, POLL_MS);
  window.addEventListener('pos:tasks-changed', refresh);
}

export function stopReminders() {
  if (poll) clearInterval(poll);
  poll = null;
  window.removeEventListener('pos:tasks-changed', refresh);
  for (const t of timers.values()) clearTimeout(t);
  timers = new Map();
}

// After a reminder was set: ask once for permission to notify (a user
// gesture is needed), then re-read the tasks.
export function reminderSet() {
  try {
    if (typeof Notification !== 'undefined' && Notification.permission === 'default') Notification.requestPermission();
  } catch {
    /* unavailable */
  }
  window.dispatchEvent(new Event('pos:tasks-changed'));
}

// datetime-local value (the user's clock) <-> RFC 3339 instant.
export function toInstant(local) {
  const t = local ? new Date(local) : null;
  return t && Number.isFinite(t.getTime()) ? t.toISOString() : null;
}

export function toLocalInput(iso) {
  const t = iso ? new Date(iso) : null;
  if (!t || !Number.isFinite(t.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${p(t.getMonth() + 1)}-${p(t.getDate())}T${p(t.getHours())}:${p(t.getMinutes())}`;
}
