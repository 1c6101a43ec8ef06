// What the app keeps in this browser for an account: the outbox, drafts of
// capture and chat, cached answers. Every key is bound to the account that
// wrote it, `pos.u.<user id>.<name>`, so another account signing in on the
// same browser never reads or sends it. Logging out forgets the account's
// keys (the outbox only if the user chooses; see main.jsx). Keys without an
// owner (pos.outbox, pos.capture-draft, pos.chat-draft from before this
// module) are dropped at start-up: nobody can say whose they are.
import { getSession } from './api.js';

const PREFIX = 'pos.u.';
const LEGACY = ['pos.outbox', 'pos.capture-draft', 'pos.chat-draft'];

export function currentUserId() {
  const s = getSession();
  return s && s.user && s.user.id != null ? String(s.user.id) : null;
}

function key(name, uid) {
  return uid ? PREFIX + uid + '.' + name : null;
}

// load('chat-draft', '') -> the signed-in account's value, or the fallback
// when nobody is signed in or nothing is stored. uid names another account
// explicitly (the outbox flusher pins the owner it started with).
export function load(name, fallback, uid = currentUserId()) {
  const k = key(name, uid);
  if (!k) return fallback;
  try {
    const v = JSON.parse(localStorage.getItem(k));
    return v === null ? fallback : v;
  } catch {
    return fallback;
  }
}

// Nothing is written while signed out: there is no owner to bind it to.
export function save(name, value, uid = currentUserId()) {
  const k = key(name, uid);
  if (!k) return;
  try {
    localStorage.setItem(k, JSON.stringify(value));
  } catch {
    /* full or disabled storage: the value lives only in memory */
  }
}

export function remove(name, uid = currentUserId()) {
  const k = key(name, uid);
  if (k) localStorage.removeItem(k);
}

// Removes every key of the account except the names in keep.
export function forgetAccount(uid, keep = []) {
  if (!uid) return;
  const p = PREFIX + uid + '.';
  const doomed = [];
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k && k.startsWith(p) && !keep.includes(k.slice(p.length))) doomed.push(k);
  }
  doomed.forEach((k) => localStorage.removeItem(k));
}

export function dropLegacy() {
  LEGACY.forEach((k) => localStorage.removeItem(k));
}

// Caches other than the service worker's app shell (none today; a future
// cache of API answers would be one): deleted on logout.
export async function dropApiCaches() {
  if (!('caches' in window)) return;
  try {
    const keys = await caches.keys();
    await Promise.all(keys.filter((k) => !k.startsWith('pos-shell-')).map((k) => caches.delete(k)));
  } catch {
    /* no Cache Storage (e.g. insecure context) */
  }
}
