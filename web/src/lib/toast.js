// App-wide notices: one line, optional action (e.g. Undo), auto-dismissed.
const subs = new Set();
let items = [];
let seq = 0;

function emit() {
  for (const f of subs) f(items);
}

/** @param {string} text @param {{action?: string, onAction?: () => void, kind?: string, ms?: number}} [opts] */
export function toast(text, { action, onAction, kind = 'info', ms = 6000 } = {}) {
  const id = ++seq;
  items = [...items, { id, text, action, onAction, kind }];
  emit();
  if (ms) setTimeout(() => dismiss(id), ms);
  return id;
}

export function dismiss(id) {
  items = items.filter((t) => t.id !== id);
  emit();
}

export function onToasts(f) {
  subs.add(f);
  f(items);
  return () => subs.delete(f);
}
