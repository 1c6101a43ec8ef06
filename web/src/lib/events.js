// Live events (docs/EVENTS.md): while signed in, the app follows
// GET /api/events and tells the pages what changed, so a memory created,
// edited or deleted in another tab or client shows up without a reload.
//
// EventSource cannot send the Authorization header (and the token never goes
// in a URL), so the stream is read with fetch and a streamed body through
// api() (which refreshes an expired token). On a drop it reconnects with the
// last id seen (Last-Event-ID), after a growing pause; `events.lost` means
// some events are gone, and pages reload what they show.
import { api, wroteRecently } from './api.js';

const listeners = new Set();
let ctrl = null;
let lastId = null;
let running = false;

// onLiveEvent((ev) => ...) -> unsubscribe. ev: {id, type, data}; type
// 'events.lost' asks for a full reload.
export function onLiveEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(ev) {
  for (const f of listeners) {
    try {
      f(ev);
    } catch {
      /* one page's trouble must not stop the others */
    }
  }
}

// Parses SSE text: complete events out of `buf`, the rest back.
function parse(buf, onEvent) {
  let at;
  while ((at = buf.indexOf('\n\n')) >= 0) {
    const block = buf.slice(0, at);
    buf = buf.slice(at + 2);
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
    }
    if (!data.length) continue;
    try {
      onEvent(JSON.parse(data.join('\n')));
    } catch {
      /* not JSON: not ours */
    }
  }
  return buf;
}

async function once(signal) {
  const headers = lastId ? { 'Last-Event-ID': lastId } : undefined;
  const r = await api('GET', '/api/events', undefined, {
    raw: true, accept: 'text/event-stream', signal, headers,
  });
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf = parse(buf + dec.decode(value, { stream: true }), (ev) => {
      if (ev.id) lastId = ev.id;
      emit(ev);
    });
    if (buf.length > 1 << 20) buf = ''; // a broken stream: drop, not grow
  }
}

// Starts following (idempotent); stopLiveEvents ends it (sign-out).
export function startLiveEvents() {
  if (running) return;
  running = true;
  ctrl = new AbortController();
  const signal = ctrl.signal;
  (async () => {
    let pause = 1000;
    while (running && !signal.aborted) {
      const began = Date.now();
      try {
        await once(signal);
      } catch (e) {
        if (signal.aborted || e.status === 401) break;
      }
      if (Date.now() - began > 30_000) pause = 1000; // it had been working
      await new Promise((res) => setTimeout(res, pause));
      pause = Math.min(pause * 2, 30_000);
    }
    running = false;
  })();
}

export function stopLiveEvents() {
  running = false;
  lastId = null;
  if (ctrl) ctrl.abort();
  ctrl = null;
}

// For pages: call fn (debounced a little, so a bulk import of a thousand
// memories is one reload) when a memory changes or events were lost.
// A change this tab made itself (api.js remembers its writes for a few
// seconds) is already on screen: no reload for it.
export function onMemoryChange(fn, ms = 150) {
  let t = null;
  return onLiveEvent((ev) => {
    if (!ev.type.startsWith('memory.') && ev.type !== 'events.lost') return;
    if (ev.type !== 'events.lost' && ev.data && wroteRecently(ev.data.id)) return;
    clearTimeout(t);
    t = setTimeout(() => fn(ev), ms);
  });
}
