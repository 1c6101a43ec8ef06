// Captures that could not be sent (offline, server trouble) wait here, in
// localStorage, and are sent again when the connection returns, when the
// app starts, and every 20 s while any are waiting. Nothing typed is lost.
import { api } from './api.js';

const KEY = 'pos.outbox';
const listeners = new Set();

export function pending() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || [];
  } catch {
    return [];
  }
}

function store(items) {
  localStorage.setItem(KEY, JSON.stringify(items));
  for (const f of listeners) f(items);
}

export function onOutbox(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

export function enqueue(body) {
  const item = { cid: crypto.randomUUID ? crypto.randomUUID() : String(Date.now() + Math.random()), body, queued_at: new Date().toISOString() };
  store([...pending(), item]);
  return item;
}

let flushing = null;

// Sends what waits, oldest first; stops at the first failure that a retry
// may cure. Items the server refuses (4xx) stay, marked with the error, so
// the user can copy or discard them. Returns the memories created.
export function flush() {
  if (flushing) return flushing;
  flushing = (async () => {
    const created = [];
    for (const item of pending()) {
      if (item.error) continue;
      try {
        const m = await api('POST', '/api/memories', item.body);
        created.push(m);
        store(pending().filter((i) => i.cid !== item.cid));
      } catch (e) {
        if (e.retryable || e.status === 401) break;
        store(pending().map((i) => (i.cid === item.cid ? { ...i, error: e.message } : i)));
      }
    }
    return created;
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}

export function discard(cid) {
  store(pending().filter((i) => i.cid !== cid));
}
