// Shared memory helpers: field lists, deferred delete with undo.
import { api } from './api.js';
import { toast, dismiss } from './toast.js';

export const TYPES = ['note', 'action', 'conversation', 'event', 'email', 'file'];
export const LAYERS = ['active', 'working', 'reference', 'archive'];
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

export function fmtDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
