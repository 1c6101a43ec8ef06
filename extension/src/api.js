// The PersonalOS API as the extension uses it: settings (server URL and a
// personal API token in chrome.storage.local), one fetch helper, the save
// path with deduplication by URL, and the offline queue.
//
// Deduplication: a page or link saved again updates the memory made the
// first time (PUT /api/memories/{id}) instead of adding another. The map
// URL -> memory id lives in chrome.storage.local; when it has no entry
// (another profile), a keyword search on the title finds a memory with the
// same metadata.url. (The REST API has no lookup by URL or external_id.)
//
// Offline queue: a save that cannot reach the server (network error, 5xx)
// is queued in chrome.storage.local and sent again, in order, by flush()
// (every minute, at start-up, and after each successful call).

export const CONTENT_MAX_BYTES = 1024 * 1024; // the server's limit per memory
const QUEUE_MAX = 500;

export async function getSettings() {
  const s = await chrome.storage.local.get(['serverUrl', 'token']);
  return { serverUrl: (s.serverUrl || 'http://127.0.0.1:8420').replace(/\/+$/, ''), token: s.token || '' };
}

export async function setSettings({ serverUrl, token }) {
  await chrome.storage.local.set({ serverUrl: serverUrl.trim().replace(/\/+$/, ''), token: token.trim() });
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || 'HTTP ' + status);
    this.status = status;
    this.code = code;
  }
}

// Throws ApiError for an HTTP error answer, TypeError when offline.
export async function api(method, path, body) {
  const { serverUrl, token } = await getSettings();
  if (!token) throw new ApiError(0, 'not_configured', 'Set the server URL and a personal API token in the options');
  const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(serverUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (!r.ok) {
    const e = (json && json.error) || {};
    throw new ApiError(r.status, e.code, e.message);
  }
  return json;
}

// Cuts a string to at most `max` UTF-8 bytes, on a character boundary.
export function cutBytes(s, max = CONTENT_MAX_BYTES) {
  const enc = new TextEncoder().encode(s);
  if (enc.length <= max) return s;
  let end = max;
  while (end > 0 && (enc[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(enc.subarray(0, end));
}

const offline = (e) => e instanceof TypeError || (e instanceof ApiError && (e.status >= 500 || e.status === 429));

// The memory saved earlier for a URL when this profile has no record of it
// (another browser, a reinstall): a keyword search on the saved title, then
// the exact URL in metadata. Best effort: null when not found.
async function findSaved(url, title) {
  if (!title) return null;
  try {
    const res = await api('GET', '/api/memories/search?mode=keyword&limit=20&query=' + encodeURIComponent(title.replace(/["():*^-]/g, ' ')));
    const hit = res.memories.find((m) => m.source === 'web' && m.metadata && m.metadata.url === url);
    return hit ? hit.id : null;
  } catch {
    return null;
  }
}

async function send(item) {
  // item: { body, dedupeUrl }
  const { byUrl = {} } = await chrome.storage.local.get('byUrl');
  let id = item.dedupeUrl && byUrl[item.dedupeUrl];
  if (!id && item.dedupeUrl) id = await findSaved(item.dedupeUrl, item.body.metadata && item.body.metadata.title);
  let m;
  if (id) {
    try {
      m = await api('PUT', '/api/memories/' + id, item.body);
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 404)) throw e;
    }
  }
  const updated = Boolean(m);
  if (!m) m = await api('POST', '/api/memories', item.body);
  if (item.dedupeUrl) {
    const { byUrl: now = {} } = await chrome.storage.local.get('byUrl');
    now[item.dedupeUrl] = m.id;
    await chrome.storage.local.set({ byUrl: now });
  }
  return { memory: m, updated };
}

// Saves a memory now, or queues it when the server cannot be reached.
// Returns { memory, updated } or { queued: true }; throws ApiError for a
// refusal (bad token, invalid input) that retrying would not fix.
export async function save(body, dedupeUrl) {
  const item = { body, dedupeUrl: dedupeUrl || null };
  try {
    const { memory, updated } = await send(item);
    flush().catch(() => {});
    return { memory, updated };
  } catch (e) {
    if (!offline(e)) throw e;
    await enqueue(item);
    return { queued: true };
  }
}

async function enqueue(item) {
  const { queue = [] } = await chrome.storage.local.get('queue');
  queue.push({ ...item, queuedAt: Date.now() });
  while (queue.length > QUEUE_MAX) queue.shift();
  await chrome.storage.local.set({ queue });
}

export async function queueLength() {
  const { queue = [] } = await chrome.storage.local.get('queue');
  return queue.length;
}

let flushing = null;
// Sends queued saves in order; stops at the first that still cannot go.
export function flush() {
  if (!flushing) {
    flushing = (async () => {
      let sent = 0;
      for (;;) {
        const { queue = [] } = await chrome.storage.local.get('queue');
        if (!queue.length) break;
        try {
          await send(queue[0]);
          sent++;
        } catch (e) {
          if (offline(e)) break;
          // refused for good (e.g. invalid): drop it rather than block the queue
        }
        const { queue: q = [] } = await chrome.storage.local.get('queue');
        q.shift();
        await chrome.storage.local.set({ queue: q });
      }
      return sent;
    })().finally(() => {
      flushing = null;
    });
  }
  return flushing;
}

export async function search(query, limit = 8) {
  return api('GET', '/api/memories/search?limit=' + limit + '&query=' + encodeURIComponent(query));
}
