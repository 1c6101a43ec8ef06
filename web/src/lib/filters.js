// Filters typed into the search box (type:note tag:work after:2026-01-01):
// which are complete, which are still being typed, and what could complete
// the one under the cursor. Half-typed filters are left out of the request
// (no red error while typing) and offered completions instead.
import { TYPES, LAYERS } from './memories.js';

const FILTER_RE = /(^|\s)(-?)([a-z_]+):("[^"]*"|\S*)/gi;
const DATE_RE = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+Z?)?$/;
export const KEYS = ['type', 'layer', 'tag', 'source', 'after', 'before'];

export function complete(key, value) {
  const v = value.replace(/^"|"$/g, '');
  if (!v) return false;
  if (key === 'type') return TYPES.includes(v.toLowerCase());
  if (key === 'layer') return LAYERS.includes(v.toLowerCase());
  if (key === 'after' || key === 'before') return DATE_RE.test(v);
  return true;
}

// -> {send: the query to send, partial: [half-typed filter texts]}
export function splitQuery(q) {
  const partial = [];
  const send = q.replace(FILTER_RE, (all, sp, neg, key, value) => {
    const k = key.toLowerCase();
    if (!KEYS.includes(k)) return all; // not a filter we know: plain words
    if (complete(k, value)) return all;
    partial.push((neg + key + ':' + value).trim());
    return sp;
  });
  return { send: send.replace(/\s+/g, ' ').trim(), partial };
}

// The complete filters written in the query, for chips.
export function inlineFilters(q) {
  return [...q.matchAll(FILTER_RE)]
    .filter((m) => KEYS.includes(m[3].toLowerCase()) && complete(m[3].toLowerCase(), m[4]))
    .map((m) => m[0].trim());
}

// Completions for the last word when it is a filter being typed:
// [{label, query}] where query is the whole new query.
export function completions(q, hints = {}) {
  const m = /(^|\s)(-?)([a-z_]*)(:?)(\S*)$/i.exec(q);
  if (!m) return [];
  const [, , neg, key, colon, value] = m;
  const head = q.slice(0, q.length - (neg + key + colon + value).length);
  const k = key.toLowerCase();
  if (!colon) {
    // "ty" -> "type:" etc., only once at least two letters are typed.
    if (k.length < 2) return [];
    return KEYS.filter((x) => x.startsWith(k) && x !== k).map((x) => ({ label: x + ':', query: head + neg + x + ':' }));
  }
  let values = [];
  if (k === 'type') values = TYPES;
  else if (k === 'layer') values = LAYERS;
  else if (k === 'tag') values = hints.tags || [];
  else if (k === 'source') values = hints.sources || [];
  else if (k === 'after' || k === 'before') {
    const d = new Date();
    const iso = (x) => x.toISOString().slice(0, 10);
    const week = new Date(d.getTime() - 7 * 864e5);
    const month = new Date(d.getFullYear(), d.getMonth(), 1, 12);
    values = [iso(d), iso(week), iso(month)];
  }
  const v = value.toLowerCase();
  return values.filter((x) => String(x).toLowerCase().startsWith(v) && String(x).toLowerCase() !== v).slice(0, 8)
    .map((x) => {
      const val = /\s/.test(x) ? '"' + x + '"' : x;
      return { label: k + ':' + val, query: head + neg + k + ':' + val + ' ' };
    });
}
