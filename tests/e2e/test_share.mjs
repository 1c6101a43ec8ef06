// The PWA share target of the web app: the manifest declares
// share_target (GET /share?title&text&url), and opening that URL signed in
// (what the browser does when the user shares to the installed app) turns
// the shared text or link into a memory and opens it. playwright-core
// (web/node_modules) drives Debian's Chromium against the real binary.
//
//   POS_BIN=build/personalos node tests/e2e/test_share.mjs
//
// Exit status: 0 passed, 1 failed, 77 skipped (no web build, browser or binary).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.resolve(process.env.POS_BIN || path.join(ROOT, 'build/personalos'));
const WEB_ROOT = path.resolve(process.env.POS_WEB_ROOT || path.join(ROOT, 'web/dist'));
const CHROMIUM = process.env.POS_CHROMIUM || '/usr/bin/chromium';

function skip(why) {
  console.log('SKIP: ' + why);
  process.exit(77);
}
let chromium;
try {
  ({ chromium } = createRequire(path.join(ROOT, 'web/package.json'))('playwright-core'));
} catch {
  skip('playwright-core is not installed (run scripts/build-web or make test)');
}
if (!existsSync(path.join(WEB_ROOT, 'index.html'))) skip(`no web build in ${WEB_ROOT} (run scripts/build-web)`);
if (!existsSync(BIN)) skip(`no binary at ${BIN}`);
if (!existsSync(CHROMIUM)) skip(`no Chromium at ${CHROMIUM}`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}
const children = [];
const tmpDirs = [];
process.on('exit', () => {
  for (const p of children) if (p.exitCode === null) p.kill('SIGTERM');
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

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

async function call(base, method, p, body, token) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = 'Bearer ' + token;
  const r = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, text };
}

async function main() {
  const port = await freePort();
  const data = mkdtempSync(path.join(os.tmpdir(), 'pos-share-'));
  tmpDirs.push(data);
  const env = { ...process.env, PERSONALOS_PWHASH_OPSLIMIT: '1', PERSONALOS_PWHASH_MEMLIMIT_KIB: '8192', PERSONALOS_LOG_REQUESTS: 'off' };
  const p = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data', data, '--web', WEB_ROOT], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(p);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(base + '/health')).ok) break;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }

  // the manifest declares the share target
  const man = await (await fetch(base + '/manifest.webmanifest')).json();
  assert(man.share_target && man.share_target.action === '/share' && man.share_target.method === 'GET', 'share_target');
  assert(man.share_target.params.text === 'text' && man.share_target.params.url === 'url', 'params');
  console.log('ok   manifest share_target');

  const reg = await call(base, 'POST', '/api/auth/register', { email: `share-${Date.now()}@example.org`, password: 'correct horse battery' });
  assert(reg.status === 201, 'register');
  const token = reg.json.access_token;

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(base + '/login');
    await page.evaluate((a) => {
      localStorage.setItem('pos.session', JSON.stringify({ access_token: a.access_token, refresh_token: a.refresh_token, expires_at: Date.now() + 600000, user: a.user }));
    }, reg.json);

    // a shared link with a title (what a browser's share sheet sends)
    const q = new URLSearchParams({ title: 'Tide tables for Porthcurno', text: 'Low tide at 14:20 on Saturday', url: 'http://example.org/tides' });
    await page.goto(base + '/share?' + q);
    await page.waitForURL(/\/memories\/[0-9a-f-]{36}$/, { timeout: 20_000 });
    const id = page.url().split('/').pop();
    const m = (await call(base, 'GET', '/api/memories/' + id, undefined, token)).json;
    assert(m.content.includes('Low tide at 14:20') && m.content.includes('Tide tables for Porthcurno'), 'content: ' + m.content);
    assert(m.source === 'share' && m.metadata.url === 'http://example.org/tides', 'source and url');
    console.log('ok   a shared link becomes a memory and opens');

    // text only, with the link inside it (as Android apps share)
    await page.goto(base + '/share?' + new URLSearchParams({ text: 'Read later http://example.org/essay' }));
    await page.waitForURL(/\/memories\/[0-9a-f-]{36}$/, { timeout: 20_000 });
    const m2 = (await call(base, 'GET', '/api/memories/' + page.url().split('/').pop(), undefined, token)).json;
    assert(m2.content === 'Read later http://example.org/essay' && m2.metadata.url === 'http://example.org/essay', 'text share: ' + JSON.stringify(m2));
    console.log('ok   shared text with a link inside');

    // nothing shared: nothing saved
    const before = (await call(base, 'GET', '/api/memories', undefined, token)).json.total;
    await page.goto(base + '/share');
    await page.getByText('Nothing was shared').waitFor({ timeout: 20_000 });
    assert((await call(base, 'GET', '/api/memories', undefined, token)).json.total === before, 'nothing saved');
    console.log('ok   an empty share saves nothing');
  } finally {
    await browser.close();
  }
  console.log('3 passed, 0 failed');
}

main().then(
  () => process.exit(0),
  (e) => {
    console.log('FAIL: ' + (e && e.stack ? e.stack : e));
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
