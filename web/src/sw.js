// PersonalOS service worker: the app shell works offline. Generated into the
// build by vite.config.js, which fills in the file list and version.
// The API (/api, /health) is never cached: it always goes to the network.
const PRECACHE = self.__POS_PRECACHE__;
const CACHE = 'pos-shell-' + self.__POS_VERSION__;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('pos-shell-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// The PWA share target (manifest share_target: POST /share,
// multipart/form-data with title, text, url and files): what was shared is
// kept in Cache Storage (the layout is lib/shareinbox.js's), then the
// browser is sent on to the share page (303), which shows it, the server's
// upload limits, and uploads it (signed out: after sign-in). Limits: at
// most SHARE_FILES_MAX files per share and SHARE_FILE_BYTES each (the
// highest file_max a server allows); the rest is counted as dropped.
const INBOX = 'pos-share-inbox';
const SHARE_FILES_MAX = 20;
const SHARE_FILE_BYTES = 1024 * 1024 * 1024;
const SHARE_TEXT_MAX = 100000;

async function receiveShare(req) {
  const to = (q) => Response.redirect(new URL('/share' + q, self.location.origin).href, 303);
  let form;
  try {
    form = await req.formData();
  } catch {
    return to('?error=unreadable');
  }
  const batch = Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 10);
  const cache = await caches.open(INBOX);
  const str = (k) => {
    const v = form.get(k);
    return typeof v === 'string' ? v.slice(0, SHARE_TEXT_MAX) : '';
  };
  let kept = 0;
  let dropped = 0;
  for (const f of form.getAll('files')) {
    if (typeof f === 'string') continue;
    if (kept >= SHARE_FILES_MAX || f.size > SHARE_FILE_BYTES) {
      dropped++;
      continue;
    }
    const headers = {
      'Content-Type': f.type || 'application/octet-stream',
      'X-Pos-Name': encodeURIComponent((f.name || 'shared-file').slice(0, 255)),
      'X-Pos-Size': String(f.size),
    };
    await cache.put(`/__share/${batch}/file/${kept}`, new Response(f, { headers }));
    kept++;
  }
  const meta = { title: str('title'), text: str('text'), url: str('url'), files: kept, dropped, at: Date.now() };
  await cache.put(`/__share/${batch}/meta`, new Response(JSON.stringify(meta), { headers: { 'Content-Type': 'application/json' } }));
  return to('?inbox=' + batch);
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method === 'POST' && url.origin === self.location.origin && url.pathname === '/share') {
    // a full disk or a failed write: the page says what was shared was not kept
    event.respondWith(receiveShare(req).catch(() => Response.redirect(new URL('/share?error=unsaved', self.location.origin).href, 303)));
    return;
  }
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname === '/api' || url.pathname === '/health') return;
  if (req.mode === 'navigate') {
    // The newest app when online; the cached shell when not.
    event.respondWith(fetch(req).catch(() => caches.match('/index.html', { cacheName: CACHE })));
    return;
  }
  event.respondWith(caches.match(req, { cacheName: CACHE }).then((hit) => hit || fetch(req)));
});
