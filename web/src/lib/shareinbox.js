// What another app shared with PersonalOS (the PWA share target, POST
// /share multipart/form-data) waits here until it is saved or discarded:
// the service worker (src/sw.js, which writes the same layout) keeps each
// share in the Cache Storage cache `pos-share-inbox`, so files survive a
// reload, going offline, and signing in first:
//
//   /__share/<batch>/meta         JSON {title, text, url, files, dropped, at,
//                                 noted: its note is saved, files wait}
//   /__share/<batch>/file/<n>     the file; headers Content-Type,
//                                 X-Pos-Name (URI-encoded), X-Pos-Size
//
// The keys are never requested from the server. Each part is deleted once
// it is saved, so a failed upload is tried again without duplicating the
// others. Logging out drops the cache like the app's other caches.

export const INBOX = 'pos-share-inbox';
const KEY = /\/__share\/([A-Za-z0-9-]{1,40})\/(meta|file\/(\d{1,3}))$/;

const available = () => typeof caches !== 'undefined';

// The shares waiting, oldest first: [{batch, meta, metaKey, files: [{key,
// name, type, size}]}]. Empty when Cache Storage is unavailable.
export async function listShared() {
  if (!available()) return [];
  let cache;
  try {
    cache = await caches.open(INBOX);
  } catch {
    return [];
  }
  const byBatch = new Map();
  const get = (b) => {
    if (!byBatch.has(b)) byBatch.set(b, { batch: b, meta: null, metaKey: null, files: [] });
    return byBatch.get(b);
  };
  for (const req of await cache.keys()) {
    const m = KEY.exec(new URL(req.url).pathname);
    if (!m) continue;
    const item = get(m[1]);
    const resp = await cache.match(req);
    if (!resp) continue;
    if (m[2] === 'meta') {
      try {
        item.meta = await resp.json();
      } catch {
        item.meta = {};
      }
      item.metaKey = req.url;
    } else {
      let name = 'shared-file';
      try {
        name = decodeURIComponent(resp.headers.get('X-Pos-Name') || '') || name;
      } catch {
        /* a malformed name keeps the default */
      }
      item.files.push({
        key: req.url,
        n: Number(m[3]),
        name,
        type: resp.headers.get('Content-Type') || 'application/octet-stream',
        size: Number(resp.headers.get('X-Pos-Size')) || 0,
      });
    }
  }
  const out = [...byBatch.values()];
  for (const i of out) i.files.sort((a, b) => a.n - b.n);
  out.sort((a, b) => ((a.meta && a.meta.at) || 0) - ((b.meta && b.meta.at) || 0));
  return out;
}

// How many files and texts wait (0 when none).
export async function sharedCount() {
  const items = await listShared();
  return items.reduce((n, i) => n + i.files.length + (i.meta && !i.meta.noted && (i.meta.title || i.meta.text || i.meta.url) ? 1 : 0), 0);
}

// The bytes of a waiting file, as a Blob.
export async function sharedBlob(key) {
  const cache = await caches.open(INBOX);
  const resp = await cache.match(key);
  if (!resp) throw new Error('the shared file is gone');
  return resp.blob();
}

export async function forget(key) {
  if (!available()) return;
  const cache = await caches.open(INBOX);
  await cache.delete(key);
}

// Replaces a share's meta (its text saved, its link still wanted by its files).
export async function putMeta(key, meta) {
  const cache = await caches.open(INBOX);
  await cache.put(key, new Response(JSON.stringify(meta), { headers: { 'Content-Type': 'application/json' } }));
}

export async function forgetAll() {
  if (available()) await caches.delete(INBOX);
}
