// The browser extension (extension/dist, Manifest V3) loaded unpacked into
// Debian's Chromium (playwright-core from extension/node_modules,
// persistent context, --headless=new), against the real binary on a free
// port: configure it in its options page, save a local test page (the
// service worker's save path, the one the context menu and the shortcut
// take), save it again (deduplicated: the memory is updated), save while
// the server is unreachable (queued, then sent), quick capture and
// search-as-you-type in the popup, and see it all in the API. Files: the
// "Save image" and "Save linked file" context menu items (their handler,
// in the service worker) fetch an image and a PDF from the local page
// server and upload them; a login page answered instead of a PDF and a
// file over the server's limit (declared, or streamed without a length)
// are refused before anything is sent; the popup's file picker uploads a
// document; each is found by a search for a phrase inside it.
//
//   POS_BIN=build/personalos node tests/e2e/test_extension.mjs
//
// Exit status: 0 passed, 1 failed, 77 skipped (no build, browser or binary).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.resolve(process.env.POS_BIN || path.join(ROOT, 'build/personalos'));
const EXT = path.resolve(process.env.POS_EXTENSION_DIR || path.join(ROOT, 'extension/dist'));
const CHROMIUM = process.env.POS_CHROMIUM || '/usr/bin/chromium';
const ARTIFACTS = path.resolve(process.env.POS_E2E_ARTIFACTS || path.join(ROOT, 'build/e2e-artifacts'));

function skip(why) {
  console.log('SKIP: ' + why);
  process.exit(77);
}
let chromium;
try {
  ({ chromium } = createRequire(path.join(ROOT, 'extension/package.json'))('playwright-core'));
} catch {
  skip('playwright-core is not installed (run scripts/build-extension or make test)');
}
if (!existsSync(path.join(EXT, 'manifest.json'))) skip(`no extension build in ${EXT} (run scripts/build-extension)`);
if (!existsSync(BIN)) skip(`no binary at ${BIN}`);
if (!existsSync(CHROMIUM)) skip(`no Chromium at ${CHROMIUM}`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}
async function waitUntil(fn, what, ms = 20_000) {
  const until = Date.now() + ms;
  let last;
  while (Date.now() < until) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last && last.message ? last.message : JSON.stringify(last)})`);
}

const children = [];
const tmpDirs = [];
let pageServer, context;
function cleanup() {
  for (const p of children) if (p.exitCode === null) p.kill('SIGTERM');
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanup);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer() {
  const port = await freePort();
  const data = mkdtempSync(path.join(os.tmpdir(), 'pos-ext-'));
  tmpDirs.push(data);
  const env = { ...process.env, PERSONALOS_PWHASH_OPSLIMIT: '1', PERSONALOS_PWHASH_MEMLIMIT_KIB: '8192', PERSONALOS_LOG_REQUESTS: 'off',
    PERSONALOS_FILE_MAX: String(FILE_MAX) };
  const p = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', data], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(p);
  const base = `http://127.0.0.1:${port}`;
  await waitUntil(async () => p.exitCode === null && (await fetch(base + '/health')).ok, 'the server');
  return base;
}

async function call(base, method, p, body, token) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, text };
}

// A local article for Readability, on 127.0.0.1.
const ARTICLE = `<!doctype html><html><head><title>The Heron Almanac</title></head><body>
<nav>Home | About | Subscribe</nav>
<article><h1>The Heron Almanac</h1>
<p>Grey herons return to the Ribble estuary every February, when the glass eels run upstream.</p>
<p>The almanac records that the oldest heronry on the river holds forty-two nests, tended by the same colony since 1911.</p>
<p>Observers should keep fifty metres from the nesting trees and never use flash photography at dusk.</p>
</article><footer>Copyright nobody</footer></body></html>`;

const FILE_MAX = 256 * 1024; // the server's file_max in this test
const sample = (name) => readFileSync(path.join(ROOT, 'tests/data/files', name));
const GALLERY = `<!doctype html><html><head><title>Field notes</title></head><body>
<img id="shot" src="/files/screenshot.png" alt="a screenshot"> <a id="report" href="/files/report.pdf">the report</a></body></html>`;
// What the page server answers for the files (the server never fetches them).
const FILES = {
  '/files/screenshot.png': () => [200, { 'Content-Type': 'image/png' }, sample('screenshot.png')],
  '/files/report.pdf': () => [200, { 'Content-Type': 'application/pdf' }, sample('report.pdf')],
  // a login page where the PDF should be
  '/files/members-only.pdf': () => [200, { 'Content-Type': 'text/html; charset=utf-8' }, '<html><body><form>Sign in</form></body></html>'],
};
let endlessSent = 0;

function startPages() {
  return new Promise((resolve) => {
    pageServer = http.createServer((req, res) => {
      const p = req.url.split('?')[0];
      if (FILES[p]) {
        const [status, headers, body] = FILES[p]();
        res.writeHead(status, { ...headers, 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
      } else if (p === '/files/huge.pdf') {
        // declares more than file_max: refused before the body is read
        res.writeHead(200, { 'Content-Type': 'application/pdf', 'Content-Length': String(FILE_MAX * 4) });
        res.end(Buffer.alloc(FILE_MAX * 4));
      } else if (p === '/files/endless.pdf') {
        // no length: the read stops at the limit
        res.writeHead(200, { 'Content-Type': 'application/pdf' });
        const chunk = Buffer.alloc(64 * 1024, 0x25);
        const more = () => {
          while (endlessSent < 64 * 1024 * 1024 && !res.destroyed) {
            endlessSent += chunk.length;
            if (!res.write(chunk)) return res.once('drain', more);
          }
          res.end();
        };
        res.on('error', () => {});
        more();
      } else if (p === '/gallery') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(GALLERY);
      } else {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
        res.end(ARTICLE);
      }
    });
    pageServer.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${pageServer.address().port}`));
  });
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true });
  const base = await startServer();
  const pages = await startPages();
  const reg = await call(base, 'POST', '/api/auth/register', { email: `ext-${Date.now()}@example.org`, password: 'correct horse battery' });
  assert(reg.status === 201, 'register');
  const tok = await call(base, 'POST', '/api/auth/tokens', { name: 'extension', scope: 'write' }, reg.json.access_token);
  assert(tok.status === 201, 'token');
  const token = tok.json.token;
  const searchApi = async (q) => (await call(base, 'GET', '/api/memories/search?mode=keyword&query=' + encodeURIComponent(q), undefined, token)).json.memories;

  const profile = mkdtempSync(path.join(os.tmpdir(), 'pos-ext-profile-'));
  tmpDirs.push(profile);
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: false, // the extension needs the new headless mode, given below
    args: ['--headless=new', `--disable-extensions-except=${EXT}`, `--load-extension=${EXT}`, '--no-sandbox', '--no-first-run'],
  });
  let [sw] = context.serviceWorkers();
  if (!sw) sw = await context.waitForEvent('serviceworker', { timeout: 20_000 });
  const extId = new URL(sw.url()).host;
  console.log('extension loaded: ' + extId);

  // 1. options: server and token
  const opts = await context.newPage();
  await opts.goto(`chrome-extension://${extId}/options.html`);
  await opts.fill('#server', base);
  await opts.fill('#token', token);
  await opts.click('button[type=submit]');
  await waitUntil(async () => (await opts.textContent('#status')).includes('Signed in as'), 'options saved');
  await opts.screenshot({ path: path.join(ARTIFACTS, 'extension-1-options.png') });
  console.log('ok   options: server URL and token saved and checked');

  // 2. save a page through the service worker's save path
  const page = await context.newPage();
  const url = pages + '/heron-almanac';
  await page.goto(url);
  const tabId = await sw.evaluate(async (u) => (await chrome.tabs.query({ url: u + '*' }))[0].id, url);
  const first = await sw.evaluate((id) => globalThis.pos.saveTab(id), tabId);
  assert(first.memory && !first.updated, 'saved: ' + JSON.stringify(first));
  let found = await searchApi('heronry');
  assert(found.length === 1, 'one memory: ' + found.length);
  const m = found[0];
  assert(m.source === 'web', 'source web');
  assert(m.metadata.url === url, 'URL in metadata');
  assert(m.content.includes('forty-two nests') && m.content.startsWith('The Heron Almanac'), 'readable text and title');
  assert(!m.content.includes('Subscribe'), 'Readability dropped the navigation');
  console.log('ok   save page: a memory with source web, the URL and the readable text');

  // 3. save again: deduplicated by URL
  const again = await sw.evaluate((id) => globalThis.pos.saveTab(id), tabId);
  assert(again.updated === true && again.memory.id === m.id, 'updated the same memory');
  found = await searchApi('heronry');
  assert(found.length === 1, 're-save did not duplicate');
  // another profile (no local record): found again through the API
  await sw.evaluate(() => chrome.storage.local.remove('byUrl'));
  const third = await sw.evaluate((id) => globalThis.pos.saveTab(id), tabId);
  assert(third.updated === true && third.memory.id === m.id, 'found by title and URL: ' + JSON.stringify(third).slice(0, 200));
  assert((await searchApi('heronry')).length === 1, 'still one memory');
  console.log('ok   re-save updates the same memory');

  // 4. a selection is saved as a quote
  await page.evaluate(() => {
    const p = document.querySelectorAll('article p')[2];
    const r = document.createRange();
    r.selectNodeContents(p);
    getSelection().removeAllRanges();
    getSelection().addRange(r);
  });
  const sel = await sw.evaluate((id) => globalThis.pos.saveTab(id), tabId);
  assert(sel.memory.content.startsWith('Observers should keep fifty metres'), 'selection saved: ' + sel.memory.content.slice(0, 80));
  assert(sel.memory.metadata.saved_as === 'selection', 'marked as selection');
  console.log('ok   save selection');

  // 5. popup: quick capture and search-as-you-type
  const popup = await context.newPage();
  await popup.goto(`chrome-extension://${extId}/popup.html`);
  await popup.fill('#capture', 'Quick capture: order birdseed for the feeder');
  await popup.click('#capture-save');
  await waitUntil(async () => (await popup.textContent('#status')).startsWith('Saved'), 'capture saved');
  assert((await searchApi('birdseed')).length === 1, 'capture in the API');
  await popup.type('#q', 'heronry', { delay: 30 });
  await waitUntil(async () => (await popup.locator('#results li').count()) >= 1 && (await popup.textContent('#results')).includes('The Heron Almanac'), 'search results');
  assert((await popup.textContent('#results')).includes(url), 'result shows the URL');
  await popup.screenshot({ path: path.join(ARTIFACTS, 'extension-2-popup-search.png') });
  console.log('ok   popup: quick capture and search as you type');

  // dark mode follows the system's colour scheme
  const bg = () => popup.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await popup.emulateMedia({ colorScheme: 'light' });
  const light = await bg();
  await popup.emulateMedia({ colorScheme: 'dark' });
  const dark = await bg();
  const lum = (c) => c.match(/\d+/g).slice(0, 3).reduce((a, b) => a + Number(b), 0);
  assert(lum(light) > 600 && lum(dark) < 150, `light ${light}, dark ${dark}`);
  await popup.screenshot({ path: path.join(ARTIFACTS, 'extension-3-popup-dark.png') });
  console.log('ok   dark mode');

  // 6. offline queue: the server unreachable, a save is queued, then sent
  const dead = `http://127.0.0.1:${await freePort()}`;
  await sw.evaluate((u) => chrome.storage.local.set({ serverUrl: u }), dead);
  await popup.fill('#capture', 'Offline thought: the kingfisher nests under the bridge');
  await popup.click('#capture-save');
  await waitUntil(async () => (await popup.textContent('#status')).includes('queued'), 'queued');
  assert((await searchApi('kingfisher')).length === 0, 'not sent while offline');
  await sw.evaluate((u) => chrome.storage.local.set({ serverUrl: u }), base);
  const sent = await sw.evaluate(() => globalThis.pos.flush());
  assert(sent === 1, 'one queued save sent: ' + sent);
  assert((await searchApi('kingfisher')).length === 1, 'the queued memory arrived');
  console.log('ok   offline queue: queued, then sent');

  // 7. files: the context menu items exist (update fails for an unknown
  // id, or one whose link patterns were refused) and their handler
  // fetches and uploads
  for (const id of ['pos-save-image', 'pos-save-file']) {
    const made = await sw.evaluate((i) => chrome.contextMenus.update(i, {}).then(() => true, (e) => e.message), id);
    assert(made === true, `menu item ${id}: ${made}`);
  }
  const waitFound = (q) => waitUntil(async () => (await searchApi(q)).length === 1 && (await searchApi(q))[0], 'a search for ' + q, 90_000);
  const gallery = await context.newPage();
  await gallery.goto(pages + '/gallery');
  const imgUrl = await gallery.$eval('#shot', (i) => i.src);
  const pdfUrl = await gallery.$eval('#report', (a) => a.href);
  const menu = (info) => sw.evaluate((i) => globalThis.pos.onMenu(i, null).then((r) => ({ ok: true, r }), (e) => ({ ok: false, code: e.code, message: e.message })), { pageUrl: pages + '/gallery', ...info });
  const img = await menu({ menuItemId: 'pos-save-image', srcUrl: imgUrl, mediaType: 'image' });
  assert(img.ok && img.r.memory && img.r.memory.type === 'file', 'image saved: ' + JSON.stringify(img).slice(0, 300));
  const imgMem = await waitFound('lighthouse keeper');
  assert(imgMem.id === img.r.memory.id && imgMem.source === 'web' && imgMem.metadata.url === imgUrl, 'the image memory, with its URL: ' + JSON.stringify(imgMem).slice(0, 300));
  const pdf = await menu({ menuItemId: 'pos-save-file', linkUrl: pdfUrl });
  assert(pdf.ok && pdf.r.memory.attachments[0].name === 'report.pdf', 'pdf saved: ' + JSON.stringify(pdf).slice(0, 300));
  const pdfMem = await waitFound('pelican migration');
  assert(pdfMem.id === pdf.r.memory.id && pdfMem.metadata.url === pdfUrl, 'the PDF memory, with its URL');
  console.log('ok   context menu: an image and a linked PDF saved as file memories, found by their text');

  const before = (await call(base, 'GET', '/api/memories', undefined, token)).json.total;
  const login = await menu({ menuItemId: 'pos-save-file', linkUrl: pages + '/files/members-only.pdf' });
  assert(!login.ok && login.code === 'type', 'an HTML answer refused: ' + JSON.stringify(login));
  const huge = await menu({ menuItemId: 'pos-save-file', linkUrl: pages + '/files/huge.pdf' });
  assert(!huge.ok && huge.code === 'too_large' && /256 KB/.test(huge.message), 'a declared length over file_max refused: ' + JSON.stringify(huge));
  const endless = await menu({ menuItemId: 'pos-save-file', linkUrl: pages + '/files/endless.pdf' });
  assert(!endless.ok && endless.code === 'too_large', 'a stream over file_max refused: ' + JSON.stringify(endless));
  assert(endlessSent < 64 * 1024 * 1024, 'the stream was not read to its end');
  assert((await call(base, 'GET', '/api/memories', undefined, token)).json.total === before, 'nothing was uploaded for the refused files');
  console.log('ok   refused before sending: a login page for a PDF, a file over the limit, a stream past the limit');

  // 8. the popup's file picker
  const popup2 = await context.newPage();
  await popup2.goto(`chrome-extension://${extId}/popup.html`);
  await waitUntil(async () => (await popup2.textContent('#file-limit')).includes('up to 256 KB each'), "the server's limit shown");
  await popup2.setInputFiles('#file', [{ name: 'notes.docx', mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', buffer: sample('notes.docx') }]);
  await waitUntil(async () => (await popup2.textContent('#status')).startsWith('Saved 1 file'), 'popup upload');
  const docMem = await waitFound('saffron greenhouse');
  assert(docMem.type === 'file' && docMem.source === 'web', 'the popup upload is a file memory');
  await popup2.setInputFiles('#file', [{ name: 'big.pdf', mimeType: 'application/pdf', buffer: Buffer.alloc(FILE_MAX + 1) }]);
  await waitUntil(async () => (await popup2.textContent('#status')).includes('larger than 256 KB'), 'popup refuses a file over the limit');
  await popup2.screenshot({ path: path.join(ARTIFACTS, 'extension-4-popup-files.png') });
  console.log('ok   popup: file picker uploads, the limit is shown and applied');

  await context.close();
  pageServer.close();
  console.log('10 passed, 0 failed');
}

main().then(
  () => process.exit(0),
  async (e) => {
    console.log('FAIL: ' + (e && e.stack ? e.stack : e));
    try {
      for (const p of context ? context.pages() : []) await p.screenshot({ path: path.join(ARTIFACTS, `extension-fail-${Math.random().toString(36).slice(2, 7)}.png`) });
    } catch {
      /* best effort */
    }
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
