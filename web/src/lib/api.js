// The one way the app talks to the server: JSON in and out, the access
// token in the Authorization header (never in a URL), a silent refresh when
// it has expired, and errors as ApiError with a readable message.
//
// The session lives in localStorage so a reload or a second tab keeps it;
// refreshes are serialised across tabs with the Web Locks API, because the
// server revokes the whole session when a rotated refresh token is reused.

const KEY = 'pos.session';
const REFRESH_EARLY_MS = 30_000;

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
  // Worth trying again later (offline, server trouble) rather than fixing the input.
  get retryable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export function getSession() {
  try {
    return JSON.parse(localStorage.getItem(KEY)) || null;
  } catch {
    return null;
  }
}

export function saveSession(answer) {
  const s = {
    access_token: answer.access_token,
    refresh_token: answer.refresh_token,
    expires_at: Date.now() + (answer.expires_in || 900) * 1000,
    user: answer.user || getSession()?.user || null,
  };
  localStorage.setItem(KEY, JSON.stringify(s));
  return s;
}

export function clearSession() {
  localStorage.removeItem(KEY);
}

function lostSession(message) {
  clearSession();
  window.dispatchEvent(new CustomEvent('pos:session-lost', { detail: message }));
}

const STATUS_TEXT = {
  400: 'The request was not understood.',
  401: 'Please sign in again.',
  403: 'You are not allowed to do that.',
  404: 'Not found.',
  409: 'That conflicts with something that already exists.',
  413: 'That is too large.',
  422: 'Some of the values are not valid.',
  429: 'Too many requests; please wait a moment.',
  503: 'The server is busy or a provider is down; please try again.',
};

async function errorFrom(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    /* not JSON: fall back to the status */
  }
  const e = body && body.error;
  let msg = (e && e.message) || STATUS_TEXT[resp.status] || `The server answered ${resp.status}.`;
  // 423: encrypted data whose key is not unlocked; the server's code is terse.
  if (resp.status === 423)
    msg = 'This data is locked: it is encrypted and its owner has not signed in since the server started. ' +
      "If it is yours, sign out and in again; if it was shared with you, the owner's data is locked until they sign in.";
  return new ApiError(resp.status, (e && e.code) || 'http_' + resp.status, msg, e && e.field);
}

const OFFLINE = () => new ApiError(0, 'offline', 'Cannot reach the server. Check your connection.');

let refreshing = null;

// Gets a new token pair unless another call (or tab) already replaced the
// access token that failed. Rejects with a 401 ApiError when the session is over.
export function refreshSession(failedToken) {
  if (!refreshing) {
    const run = async () => {
      const s = getSession();
      if (!s || !s.refresh_token) throw new ApiError(401, 'no_session', 'Please sign in.');
      if (failedToken && s.access_token !== failedToken && s.expires_at - Date.now() > REFRESH_EARLY_MS) return s;
      let r;
      try {
        r = await fetch('/api/auth/refresh', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ refresh_token: s.refresh_token }),
        });
      } catch {
        throw OFFLINE();
      }
      if (r.status === 400 || r.status === 401) {
        lostSession('Your session has ended. Please sign in again.');
        throw new ApiError(401, 'session_expired', 'Your session has ended. Please sign in again.');
      }
      if (!r.ok) throw await errorFrom(r);
      return saveSession(await r.json());
    };
    const locked = navigator.locks ? navigator.locks.request('pos-refresh', run) : run();
    refreshing = locked.finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

const sessionUser = (s) => (s && s.user && s.user.id != null ? String(s.user.id) : null);

async function send(method, path, body, opts) {
  const s = getSession();
  // opts.asUser: this request carries that account's data (the outbox) and
  // must never go out with another account's token.
  if (opts.asUser && sessionUser(s) !== opts.asUser)
    throw new ApiError(401, 'account_changed', 'Another account is signed in; this was not sent.');
  const headers = { ...(opts.headers || {}), Accept: opts.accept || 'application/json' };
  const raw = opts.rawBody !== undefined; // a File/Blob sent as it is (uploads)
  if (raw) headers['Content-Type'] = opts.contentType || 'application/octet-stream';
  else if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (s && s.access_token && !opts.anonymous) headers.Authorization = 'Bearer ' + s.access_token;
  try {
    const r = await fetch(path, {
      method,
      headers,
      body: raw ? opts.rawBody : body === undefined ? undefined : JSON.stringify(body),
      signal: opts.signal,
      keepalive: opts.keepalive,
    });
    return { r, token: s && s.access_token };
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw OFFLINE();
  }
}

// api('GET', '/api/memories') -> parsed JSON (null for 204). opts: signal,
// anonymous (no token), raw (return the Response, for streams), accept,
// password (the body holds a password: a 401 means a wrong password, not an
// expired token, so no refresh and the session stays), headers (extra
// request headers, e.g. Last-Event-ID), asUser (a user id:
// refuse to send unless the session is that user's, checked before every
// attempt, also after a refresh), rawBody + contentType (send a File or
// Blob as the body instead of JSON).
export async function api(method, path, body, opts = {}) {
  const s = getSession();
  if (!opts.anonymous && s && s.refresh_token && s.expires_at - Date.now() < REFRESH_EARLY_MS) {
    try {
      await refreshSession(s.access_token);
    } catch (e) {
      if (e.status === 401) throw e;
      /* offline or server trouble: try the request with what we have */
    }
  }
  let { r, token } = await send(method, path, body, opts);
  if (r.status === 401 && !opts.anonymous && !opts.password && getSession()?.refresh_token) {
    await refreshSession(token);
    ({ r } = await send(method, path, body, opts));
    if (r.status === 401) {
      lostSession('Your session has ended. Please sign in again.');
      throw await errorFrom(r);
    }
  }
  if (!r.ok) throw await errorFrom(r);
  if (opts.raw) return r;
  const own = method !== 'GET' && path.startsWith('/api/memories');
  if (own) noteOwnWrite(MEMORY_PATH.exec(path)?.[1]);
  if (r.status === 204) return null;
  const text = await r.text();
  const json = text ? JSON.parse(text) : null;
  if (own && json) {
    noteOwnWrite(json.id);
    for (const m of Array.isArray(json.memories) ? json.memories : []) noteOwnWrite(m && m.id);
  }
  return json;
}

// upload('/api/files?name=a.pdf', file, (sent, total) => ...) -> the answer's
// JSON. The file goes as the raw body through XMLHttpRequest, whose upload
// events give progress (fetch has none); the token is refreshed first like
// api() does, and once more after a 401.
export async function upload(path, file, onProgress) {
  const once = () => new Promise((resolve, reject) => {
    const s = getSession();
    const x = new XMLHttpRequest();
    x.open('POST', path);
    x.setRequestHeader('Accept', 'application/json');
    x.setRequestHeader('Content-Type', 'application/octet-stream');
    if (s && s.access_token) x.setRequestHeader('Authorization', 'Bearer ' + s.access_token);
    if (onProgress) x.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    x.onerror = () => reject(OFFLINE());
    x.onload = () => resolve({ x, token: s && s.access_token });
    x.send(file);
  });
  const s = getSession();
  if (s && s.refresh_token && s.expires_at - Date.now() < REFRESH_EARLY_MS) {
    try { await refreshSession(s.access_token); } catch (e) { if (e.status === 401) throw e; }
  }
  let { x, token } = await once();
  if (x.status === 401 && getSession()?.refresh_token) {
    await refreshSession(token);
    ({ x } = await once());
  }
  let json = null;
  try { json = x.responseText ? JSON.parse(x.responseText) : null; } catch { json = null; }
  if (x.status < 200 || x.status > 299) {
    const e = json && json.error;
    throw new ApiError(x.status, e ? e.code : 'http_' + x.status, e ? e.message : 'The upload failed (' + x.status + ').');
  }
  if (json) noteOwnWrite(json.memory_id || json.id);
  return json;
}

// Memories this tab wrote a moment ago: their live events (lib/events.js)
// are this tab's own news, so the page does not reload under the user's
// hands (an expanded card, a half-done tap) for them.
const MEMORY_PATH = /^\/api\/memories\/([0-9a-f-]{36})/;
const OWN_WRITE_MS = 10_000;
const ownWrites = new Map();
function noteOwnWrite(id) {
  if (typeof id !== 'string') return;
  const now = Date.now();
  ownWrites.set(id, now);
  for (const [k, t] of ownWrites) if (now - t > OWN_WRITE_MS) ownWrites.delete(k);
}
/** @param {string} id */
export function wroteRecently(id) {
  const t = ownWrites.get(id);
  return t !== undefined && Date.now() - t <= OWN_WRITE_MS;
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? '?' + s : '';
}
