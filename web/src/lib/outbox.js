// Captures that could not be sent (offline, server trouble) wait here, in
// localStorage under the signed-in account's key (lib/store.js), and are
// sent again when the connection returns, when the app starts, and every
// 20 s while any are waiting. Nothing typed is lost.
//
// Privacy: a queued item belongs to the account that captured it. It is
// only listed while that account is signed in and only sent with that
// account's token: flush() pins the owner it started with and every POST
// checks that the session still belongs to that owner (api opts.asUser).
import { api } from './api.js';
import { currentUserId, load, save } from './store.js';

const NAME = 'outbox';
const listeners = new Set();

export function pending(uid = currentUserId()) {
  const v = load(NAME, [], uid);
  return Array.isArray(v) ? v : [];
}

function store(uid, items) {
  save(NAME, items, uid);
  for (const f of listeners) f(pending());
}

export function onOutbox(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

// Announces a change made elsewhere (logout, another account signing in).
export function outboxChanged() {
  for (const f of listeners) f(pending());
}

export function enqueue(body) {
  const uid = currentUserId();
  const item = { cid: crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random()), body, queued_at: new Date().toISOString() };
  if (!uid) return item; // signed out: no owner, nothing kept
  store(uid, [...pending(uid), item]);
  return item;
}

let flushing = null;

// Sends what waits, oldest first; stops at the first failure that a retry
// may cure. Items the server refuses (4xx) stay, marked with the error, so
// the user can copy or discard them. Returns the memories created.
export function flush() {
  if (flushing) return flushing;
  const uid = currentUserId();
  if (!uid) return Promise.resolve([]);
  flushing = (async () => {
    const created = [];
    for (const item of pending(uid)) {
      if (item.error) continue;
      try {
        const m = await api('POST', '/api/memories', item.body, { asUser: uid });
        created.push(m);
        store(uid, pending(uid).filter((i) => i.cid !== item.cid));
      } catch (e) {
        if (e.retryable || e.status === 401) break;
        store(uid, pending(uid).map((i) => (i.cid === item.cid ? { ...i, error: e.message } : i)));
      }
    }
    return created;
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}

export function discard(cid) {
  const uid = currentUserId();
  if (uid) store(uid, pending(uid).filter((i) => i.cid !== cid));
}
