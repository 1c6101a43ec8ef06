// Files to PersonalOS: an image or a linked file (PDF, document, e-mail,
// calendar…) fetched by the browser — the extension's own fetch; the
// server never fetches the URL — and uploaded as a `file` memory
// (POST /api/files?name=&source=web&tags=web&url=<where it came from>),
// whose text the server extracts offline and indexes. Also the popup's
// file picker and drop zone (uploadFile with progress).
//
// Limits, checked before the work: the server's per-file limit
// (GET /api/files/limits, file_max) is applied to the declared
// Content-Length before the body is read and to the bytes as they arrive
// (the read stops, and nothing is sent, at one byte over); the answer's
// Content-Type must be one the server extracts text from, so a login page
// or an error page answered instead of the file is refused.
import { ApiError, api, getSettings } from './api.js';

export const DEFAULT_FILE_MAX = 32 * 1024 * 1024; // the server's default file_max

// The types the server reads text from (docs/FILES.md), by MIME type and by
// file extension (for servers that answer application/octet-stream).
const TYPES = {
  'application/pdf': '.pdf',
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'image/gif': '.gif',
  'image/webp': '.webp',
  'image/tiff': '.tiff',
  'image/bmp': '.bmp',
  'text/plain': '.txt',
  'text/markdown': '.md',
  'text/csv': '.csv',
  'text/calendar': '.ics',
  'message/rfc822': '.eml',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': '.docx',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': '.pptx',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': '.xlsx',
  'application/vnd.oasis.opendocument.text': '.odt',
  'application/vnd.oasis.opendocument.presentation': '.odp',
  'application/vnd.oasis.opendocument.spreadsheet': '.ods',
};
const EXTENSIONS = new Set([...Object.values(TYPES), '.jpeg', '.tif', '.markdown']);

// Links the "Save linked file" menu item is offered on (match patterns).
export const FILE_LINK_PATTERNS = ['pdf', 'docx', 'pptx', 'xlsx', 'odt', 'odp', 'ods', 'eml', 'ics', 'txt', 'md', 'csv', 'png', 'jpg', 'jpeg', 'gif', 'webp', 'tif', 'tiff']
  .flatMap((e) => [`*://*/*.${e}`, `*://*/*.${e}?*`, `*://*/*.${e.toUpperCase()}`]);

const extOf = (name) => {
  const m = /\.[A-Za-z0-9]{1,9}$/.exec(name || '');
  return m ? m[0].toLowerCase() : '';
};

// Is a file of this type (and name) one the server extracts text from?
export function acceptable(type, name) {
  const t = (type || '').split(';')[0].trim().toLowerCase();
  if (TYPES[t]) return true;
  if (t === '' || t === 'application/octet-stream' || t === 'binary/octet-stream') return EXTENSIONS.has(extOf(name));
  return false;
}

// The file name for a fetched URL: Content-Disposition's filename, else the
// last path segment, with the extension of its type when it has none.
export function nameFor(url, type, disposition) {
  let name = '';
  const m = /filename\*=UTF-8''([^;]+)|filename="?([^";]+)"?/i.exec(disposition || '');
  if (m) {
    try {
      name = decodeURIComponent(m[1] || m[2]);
    } catch {
      name = m[2] || '';
    }
  }
  if (!name) {
    try {
      const u = new URL(url);
      if (u.protocol !== 'data:') name = decodeURIComponent(u.pathname.split('/').pop() || '');
    } catch {
      /* not a URL */
    }
  }
  name = name.replace(/[\\/\x00-\x1f"]/g, '_').slice(0, 200) || 'file';
  const want = TYPES[(type || '').split(';')[0].trim().toLowerCase()];
  if (want && !extOf(name)) name += want;
  return name;
}

let limitsCache = null;
// The server's upload limits {file_max, quota_bytes, used_bytes}; the
// default file_max when the server is older or cannot be asked.
export async function fileLimits(fresh = false) {
  if (!limitsCache || fresh) {
    limitsCache = api('GET', '/api/files/limits').catch((e) => {
      limitsCache = null;
      if (e instanceof ApiError && e.status === 404) return { file_max: DEFAULT_FILE_MAX, quota_bytes: 0, used_bytes: 0 };
      throw e;
    });
  }
  return limitsCache;
}

export class FileRefused extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

const mb = (n) => (n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : Math.max(1, Math.round(n / 1024)) + ' KB');

// Fetches url (http, https or data:) with at most max bytes; a Blob typed
// as answered. Throws FileRefused for a wrong type or a file over max.
export async function fetchCapped(url, max) {
  const u = new URL(url);
  if (!['http:', 'https:', 'data:'].includes(u.protocol)) throw new FileRefused('unsupported', 'Only http, https and data: addresses can be saved');
  const ctl = new AbortController();
  // credentials: the cookies of the site, as the page the user sees it has
  const r = await fetch(url, { credentials: 'include', signal: ctl.signal, redirect: 'follow' });
  if (!r.ok) throw new FileRefused('fetch_failed', `The file could not be fetched (HTTP ${r.status})`);
  const type = (r.headers.get('Content-Type') || '').split(';')[0].trim().toLowerCase();
  const name = nameFor(r.url || url, type, r.headers.get('Content-Disposition'));
  if (!acceptable(type, name)) {
    ctl.abort();
    throw new FileRefused('type', `Not a file PersonalOS reads (${type || 'no type'})`);
  }
  const declared = Number(r.headers.get('Content-Length'));
  if (declared > max) {
    ctl.abort();
    throw new FileRefused('too_large', `The file is ${mb(declared)}; the server takes at most ${mb(max)}`);
  }
  if (!r.body) return { blob: new Blob([], { type: type || 'application/octet-stream' }), name, type };
  const reader = r.body.getReader();
  const parts = [];
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    got += value.byteLength;
    if (got > max) {
      ctl.abort();
      throw new FileRefused('too_large', `The file is larger than the server's limit of ${mb(max)}`);
    }
    parts.push(value);
  }
  return { blob: new Blob(parts, { type: type || 'application/octet-stream' }), name, type };
}

// Uploads a Blob as a new file memory. onProgress(sent, total) when given
// (XMLHttpRequest, in pages only: the service worker has no XHR).
export async function uploadFile(blob, { name, url, source = 'web', tags = 'web' }, onProgress) {
  const { serverUrl, token } = await getSettings();
  if (!token) throw new ApiError(0, 'not_configured', 'Set the server URL and a personal API token in the options');
  const q = new URLSearchParams({ name, source, tags });
  if (url && /^https?:/i.test(url) && url.length <= 2048) q.set('url', url);
  const target = serverUrl + '/api/files?' + q;
  const headers = { Authorization: 'Bearer ' + token, Accept: 'application/json', 'Content-Type': 'application/octet-stream' };
  let status, text;
  if (onProgress && typeof XMLHttpRequest !== 'undefined') {
    ({ status, text } = await new Promise((resolve, reject) => {
      const x = new XMLHttpRequest();
      x.open('POST', target);
      for (const [k, v] of Object.entries(headers)) x.setRequestHeader(k, v);
      x.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : blob.size);
      x.onerror = () => reject(new TypeError('Cannot reach the server'));
      x.onload = () => resolve({ status: x.status, text: x.responseText });
      x.send(blob);
    }));
  } else {
    const r = await fetch(target, { method: 'POST', headers, body: blob });
    status = r.status;
    text = await r.text();
  }
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON */
  }
  if (status < 200 || status > 299) {
    const e = (json && json.error) || {};
    throw new ApiError(status, e.code, e.message);
  }
  return json;
}

// The context menu's path: fetch what `url` points at (an image's src, a
// link's href) and save it, with `url` in metadata. Checks the limit first.
export async function saveFileUrl(url) {
  const limits = await fileLimits();
  const { blob, name } = await fetchCapped(url, limits.file_max);
  if (limits.quota_bytes > 0 && limits.used_bytes + blob.size > limits.quota_bytes)
    throw new FileRefused('quota', 'The file would take your account over its storage quota');
  const memory = await uploadFile(blob, { name, url: /^https?:/i.test(url) ? url : undefined });
  limitsCache = null; // usage changed
  return { memory };
}
