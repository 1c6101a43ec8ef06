// The browser extension (extension/dist, Manifest V3) loaded unpacked into
// Debian's Chromium (playwright-core from extension/node_modules,
// persistent context, --headless=new), against the real binary on a free
// port: configure it in its options page, save a local test page (the
// service worker's save path, the one the context menu and the shortcut
// take), save it again (deduplicated: the memory is updated), save while
// the server is unreachable (queued, then sent), quick capture and
// search-as-you-type in the popup, and see it all in the API.
//
//   POS_BIN=build/personalos node tests/e2e/test_extension.mjs
//
// Exit status: 0 passed, 1 failed, 77 skipped (no build, browser or binary).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
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
  const env = { ...process.env, PERSONALOS_PWHASH_OPSLIMIT: '1', PERSONALOS_PWHASH_MEMLIMIT_KIB: '8192', PERSONALOS_LOG_REQUESTS: 'off' };
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

function startPages() {
  return new Promise((resolve) => {
    pageServer = http.createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(ARTICLE);
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

  await context.close();
  pageServer.close();
  console.log('7 passed, 0 failed');
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
